#!/usr/bin/env bash
# Set up the project's own virtual environment for one stack on a fresh
# machine.
#
# Idempotent: every step checks what is already there and skips itself, so a
# second run takes seconds. Used by `make demo`, `make test` and `.ci/run`.
#
#   STACK=upstream  OpenMMLab's own mmengine 0.10.7, mmcv 2.1.0, mmdet 3.3.0
#                   on Python 3.11, torch 2.13.0 (CPU), numpy 2;
#   STACK=onedl     the maintained fork (onedl-mmengine 0.10.12, onedl-mmcv
#                   2.3.6, onedl-mmdetection 3.5.1) on Python 3.12,
#                   torch 2.11.0 (the GPU machine's), numpy 2.
#
#   1. create the stack's venv (.venv-$STACK) unless it exists,
#   2. install the stack's torch unless some torch is already importable,
#   3. build the stack's mmcv with its compiled ops from its source
#      distribution unless `mmcv.ops` imports (neither line has a prebuilt
#      wheel for these torch versions),
#   4. install this package in editable mode with the stack's OpenMMLab
#      packages and the runtime and test requirements, unless nothing they
#      list changed since the last run.
#
# Environment: STACK (default onedl), PYTHON (interpreter for the venv;
# default: the stack's Python version, found on PATH or under pyenv), VENV
# (default .venv-$STACK), TORCH_SPEC, MAX_JOBS (parallel compile jobs for
# mmcv, default: number of cores).
set -euo pipefail

ROOT="$(cd "$(dirname "${BASH_SOURCE[0]}")/.." && pwd)"
cd "$ROOT"
STACK="${STACK:-onedl}"
case "$STACK" in
    upstream)
        want_python=3.11; torch_default='torch==2.13.0'
        mmcv_spec='mmcv==2.1.0'; suffix=''
        # mmcv 2.1.0's setup.py imports pkg_resources (setuptools < 70)
        build_tools=('setuptools<70' wheel)
        build_check='import pkg_resources, wheel' ;;
    onedl)
        want_python=3.12; torch_default='torch==2.11.0'
        mmcv_spec='onedl-mmcv==2.3.6'; suffix='-onedl'
        # its pyproject's build requirements (no build isolation below)
        build_tools=('setuptools>=80' 'packaging>=24.2' wheel)
        build_check='import wheel, setuptools, packaging; assert int(setuptools.__version__.split(".")[0]) >= 80' ;;
    *)
        echo "[bootstrap] unknown STACK=$STACK; use STACK=upstream or STACK=onedl" >&2
        exit 2 ;;
esac
VENV="${VENV:-.venv-$STACK}"
TORCH_SPEC="${TORCH_SPEC:-$torch_default}"
CONSTRAINTS="$ROOT/requirements/constraints$suffix.txt"
MMINSTALL="$ROOT/requirements/mminstall$suffix.txt"
PY="$VENV/bin/python"

say() { printf '[bootstrap] %s\n' "$*"; }
pip_install() { "$PY" -m pip install --disable-pip-version-check -c "$CONSTRAINTS" "$@"; }

# The stack's interpreter: $PYTHON, else pythonX.Y on PATH (pyenv's shim may
# refuse until a version is selected), else pyenv's own copy.
find_python() {
    local candidate
    for candidate in ${PYTHON:-} "python$want_python" \
            "$(pyenv root 2>/dev/null || echo "$HOME/.pyenv")"/versions/"$want_python".*/bin/python"$want_python"; do
        if [ -n "$candidate" ] && "$candidate" -c 'import sys' 2>/dev/null; then
            echo "$candidate"; return
        fi
    done
    say "no Python $want_python found for STACK=$STACK; install it or set PYTHON" >&2
    exit 1
}

if [ ! -x "$PY" ]; then
    python=$(find_python)
    say "creating virtual environment $VENV ($STACK stack, $("$python" -V 2>&1))"
    "$python" -m venv "$VENV"
fi
have=$("$PY" -c 'import sys; print("%d.%d" % sys.version_info[:2])')
[ -n "${PYTHON:-}" ] || [ "$have" = "$want_python" ] || {
    say "$VENV has Python $have, the $STACK stack is tested on $want_python: delete $VENV or set PYTHON"; exit 1; }

if ! "$PY" -c 'import torch' 2>/dev/null; then
    say "installing $TORCH_SPEC"
    # Not under our constraints: torch declares setuptools>=77, which the
    # upstream mmcv build downgrades on purpose (pip only warns; torch does
    # not need setuptools at run time).
    "$PY" -m pip install --disable-pip-version-check -q "$TORCH_SPEC" \
        "$(grep -m1 '^numpy' "$CONSTRAINTS" || echo numpy)"
fi

# mmcv's setup.py needs torch importable and its build tools present before
# --no-build-isolation.
if ! "$PY" -c "$build_check" 2>/dev/null; then
    pip_install -q "${build_tools[@]}"
fi

if ! "$PY" -c 'from mmcv.ops import RoIAlign, nms' 2>/dev/null; then
    jobs="${MAX_JOBS:-$(nproc 2>/dev/null || echo 2)}"
    log="$VENV/mmcv-build.log"
    say "building $mmcv_spec with compiled ops ($jobs jobs; 10-25 min on 2 cores, cached by pip afterwards)"
    say "full log: $log"
    start=$(date +%s)
    # pip -v shows every compiled unit; print one short line per unit, with
    # the elapsed and remaining time, so the build visibly progresses
    # without flooding the terminal.
    set +e
    MMCV_WITH_OPS=1 MAX_JOBS="$jobs" FORCE_CUDA=0 \
        "$PY" -m pip install --disable-pip-version-check -c "$CONSTRAINTS" \
        -v --no-build-isolation --no-binary "${mmcv_spec%%==*}" "$mmcv_spec" 2>&1 \
        | tee "$log" | awk -v t0="$start" -f tools/misc/mmcv_build_progress.awk
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
    say "installing mmdet-causal (editable) with the $STACK stack, runtime and test requirements"
    pip_install -q -r "$MMINSTALL" -r requirements/runtime.txt \
        -r requirements/tests.txt
    pip_install -q --no-build-isolation --no-deps -e .
    echo "$digest" > "$stamp"
fi
"$PY" -c 'import sys, mmdet_causal, numpy, torch, mmcv, mmdet, mmengine; from mmcv.ops import RoIAlign, nms; print("[bootstrap] ready ('"$STACK"'): Python %d.%d.%d" % sys.version_info[:3], "torch", torch.__version__, "numpy", numpy.__version__, "mmcv", mmcv.__version__, "mmdet", mmdet.__version__, "mmengine", mmengine.__version__, "mmdet_causal", mmdet_causal.__version__)'
