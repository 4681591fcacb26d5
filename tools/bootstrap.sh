#!/usr/bin/env bash
# Set up the project's own virtual environment (.venv) on a fresh machine.
#
# Idempotent: every step checks what is already there and skips itself, so a
# second run takes seconds. Used by `make demo`, `make test` and `.ci/run`.
#
#   1. create .venv (python3 -m venv) unless it exists,
#   2. install torch 2.13.0 unless some torch is already importable,
#   3. build mmcv 2.1.0 with its compiled ops from the PyPI source unless
#      `mmcv.ops` imports (there is no prebuilt mmcv wheel for this stack),
#   4. install this package in editable mode with its runtime and test
#      requirements, unless nothing they list changed since the last run.
#
# Environment: PYTHON (interpreter for the venv, default python3), VENV
# (default .venv), TORCH_SPEC (default torch==2.13.0), MAX_JOBS (parallel
# compile jobs for mmcv, default: number of cores).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
VENV="${VENV:-.venv}"
PYTHON="${PYTHON:-python3}"
TORCH_SPEC="${TORCH_SPEC:-torch==2.13.0}"
CONSTRAINTS="$ROOT/requirements/constraints.txt"
PY="$VENV/bin/python"

say() { printf '[bootstrap] %s\n' "$*"; }
pip_install() { "$PY" -m pip install --disable-pip-version-check -c "$CONSTRAINTS" "$@"; }

if [ ! -x "$PY" ]; then
    say "creating virtual environment $VENV"
    "$PYTHON" -m venv "$VENV"
fi

if ! "$PY" -c 'import torch' 2>/dev/null; then
    say "installing $TORCH_SPEC"
    # Not under our constraints: torch declares setuptools>=77, which the
    # mmcv build below downgrades on purpose (pip only warns; torch does not
    # need setuptools at run time).
    "$PY" -m pip install --disable-pip-version-check -q "$TORCH_SPEC" 'numpy<2'
fi

# mmcv's setup.py needs torch importable and pkg_resources (setuptools<70);
# build helpers must be present before --no-build-isolation.
if ! "$PY" -c 'import pkg_resources, wheel' 2>/dev/null; then
    pip_install -q 'setuptools<70' wheel
fi

if ! "$PY" -c 'from mmcv.ops import RoIAlign, nms' 2>/dev/null; then
    jobs="${MAX_JOBS:-$(nproc 2>/dev/null || echo 2)}"
    log="$VENV/mmcv-build.log"
    say "building mmcv 2.1.0 with compiled ops ($jobs jobs; 10-25 min on 2 cores, cached by pip afterwards)"
    say "full log: $log"
    start=$(date +%s)
    # pip -v shows every compiled unit; print one short line per unit, with
    # the elapsed and remaining time, so the build visibly progresses
    # without flooding the terminal.
    set +e
    MMCV_WITH_OPS=1 MAX_JOBS="$jobs" FORCE_CUDA=0 \
        "$PY" -m pip install --disable-pip-version-check -c "$CONSTRAINTS" \
        -v --no-build-isolation 'mmcv==2.1.0' 2>&1 | tee "$log" \
        | awk -v t0="$start" -f tools/misc/mmcv_build_progress.awk
    status=${PIPESTATUS[0]}
    set -e
    if [ "$status" -ne 0 ]; then
        say "mmcv build failed (exit $status); the last lines of $log:"
        tail -n 40 "$log"
        exit "$status"
    fi
    "$PY" -c 'from mmcv.ops import RoIAlign, nms' || {
        say "mmcv installed without its compiled ops; delete $VENV and rerun, or see $log"; exit 1; }
    say "mmcv with ops installed in $(( $(date +%s) - start )) s (a cached wheel is reused)"
fi

stamp="$VENV/.mmdet_causal.stamp"
digest=$(cat setup.py requirements/*.txt | sha256sum | cut -d' ' -f1)
if [ ! -f "$stamp" ] || [ "$(cat "$stamp")" != "$digest" ] \
        || ! "$PY" -c 'import mmdet_causal, mmdet, lvis, hotcoco, pytest' 2>/dev/null; then
    say "installing mmdet-causal (editable) with runtime and test requirements"
    pip_install -q -r requirements/mminstall.txt -r requirements/runtime.txt \
        -r requirements/tests.txt
    pip_install -q --no-build-isolation --no-deps -e .
    echo "$digest" > "$stamp"
fi
"$PY" -c 'import mmdet_causal, torch, mmcv, mmdet; from mmcv.ops import RoIAlign, nms; print("[bootstrap] ready: torch", torch.__version__, "mmcv", mmcv.__version__, "mmdet", mmdet.__version__, "mmdet_causal", mmdet_causal.__version__)'
