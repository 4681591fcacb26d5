#!/usr/bin/env bash
# The long-tail campaign: every study the README reports, one after the
# other, each resuming from its run records (and an interrupted training
# from its last checkpoint). Safe to stop and to start again at any time;
# a finished step costs seconds (its records are cached).
#
#   bash benchmarks/long_tail/campaign.sh            # all steps
#   bash benchmarks/long_tail/campaign.sh 6400       # one step by name
#
# Steps: 1600 (the short-schedule study, all six models), 6400 (four times
# the budget, 3 seeds, every model's seed 0 with its curve; the probes'
# stock and causal seed-0 records are reused), second (the 1600-iteration
# study on the generator's second long-tailed preset, longtail2), tables
# (the tables read across the finished studies, in seconds, pasted into
# the study page and the README where they mark them). PY names
# the interpreter (default: .venv-upstream, the stack the study was made
# on); LT_DATA and LT2_DATA existing copies of the two sets (default:
# generated under data/; a run's config names its data's absolute path, so
# records made under /work/main/data/long_tail are served only to a
# campaign that reads the same path).
set -euo pipefail
cd "$(dirname "${BASH_SOURCE[0]}")/../.."
PY="${PY:-.venv-upstream/bin/python}"
study() { "$PY" benchmarks/long_tail/run.py ${LT_DATA:+--data-root "$LT_DATA"} "$@"; }

step_1600() {
    study
}

step_6400() {
    local out=benchmarks/long_tail/study_6400
    mkdir -p "$out/runs"
    # the probes trained stock and causal seed 0 with these very inputs
    for m in stock causal; do
        [ -f "$out/runs/${m}_seed0.json" ] \
            || cp "benchmarks/long_tail/probe_6400/runs/${m}_seed0.json" \
                "$out/runs/"
    done
    study --iters 6400 --checkpoint-every 400 --curve-every 1600 \
        --curve-models all --out "$out" --work-dir work_dirs/long_tail_6400
}

step_second() {
    # the second long-tailed set (the generator's longtail2 preset, or a
    # copy of it in LT2_DATA), 1600 iterations, 3 seeds, all six models
    "$PY" benchmarks/long_tail/run.py --preset longtail2 \
        ${LT2_DATA:+--data-root "$LT2_DATA"} \
        --out benchmarks/long_tail/study_longtail2 \
        --work-dir work_dirs/long_tail2
}

step_tables() {
    # the tables read across studies, from the records of the finished
    # ones: the selection rules of each, the two sets side by side, the
    # two budgets side by side (ranks, curves, slopes), and the study's
    # conclusions claim by claim on both sets, at both budgets, and on all
    # three studies at once (bbox AP, the README's)
    local lt=benchmarks/long_tail
    "$PY" $lt/selection_rules.py $lt --out $lt/selection_rules
    if [ -f $lt/study_longtail2/results_study.json ]; then
        "$PY" $lt/selection_rules.py $lt/study_longtail2 \
            --out $lt/study_longtail2/selection_rules
        "$PY" $lt/schedule.py $lt $lt/study_longtail2 \
            --labels longtail longtail2 --md $lt/study_sets.md
        "$PY" $lt/conclusions.py $lt $lt/study_longtail2 \
            --labels longtail longtail2 --md $lt/study_conclusions_sets.md
    fi
    if [ -f $lt/study_6400/results_study.json ]; then
        "$PY" $lt/selection_rules.py $lt/study_6400 \
            --out $lt/study_6400/selection_rules
        "$PY" $lt/schedule.py $lt $lt/study_6400 --md $lt/study_schedule.md \
            --json $lt/study_schedule.json --png $lt/study_schedule.png
        "$PY" $lt/conclusions.py $lt $lt/study_6400 \
            --md $lt/study_conclusions_schedule.md
    fi
    if [ -f $lt/study_6400/results_study.json ] \
        && [ -f $lt/study_longtail2/results_study.json ]; then
        # the README's reading: every conclusion on both sets and budgets
        "$PY" $lt/conclusions.py $lt $lt/study_6400 $lt/study_longtail2 \
            --labels "longtail 1600 it." "longtail 6400 it." \
            "longtail2 1600 it." --columns bbox_AP \
            --md $lt/study_conclusions.md
    fi
    # the pages' copies of them (the blocks they mark)
    "$PY" $lt/paste.py docs/long_tail_study.md README.md
}

steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(1600 6400 second tables)
for s in "${steps[@]}"; do
    echo "[campaign $(date +%H:%M:%S)] step $s"
    "step_$s"
done
echo "[campaign $(date +%H:%M:%S)] done: ${steps[*]}"
