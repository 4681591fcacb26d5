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
# study on the generator's second long-tailed preset, longtail2). PY names
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

steps=("$@")
[ ${#steps[@]} -gt 0 ] || steps=(1600 6400 second)
for s in "${steps[@]}"; do
    echo "[campaign $(date +%H:%M:%S)] step $s"
    "step_$s"
done
echo "[campaign $(date +%H:%M:%S)] done: ${steps[*]}"
