#!/usr/bin/env bash
# Build, here and ahead of time, the mmcv the GPU machine needs: the default
# stack's onedl-mmcv 2.3.6 with CUDA ops for one architecture
# (TORCH_CUDA_ARCH_LIST, default 9.0: the H200), for CPython 3.12 against
# torch 2.11.0+cu130, the GPU machine's torch, which is exactly the torch of
# this project's .venv-onedl (make setup).
#
#   bash tools/device/build_mmcv_wheel.sh          # build (or reuse) and check
#   bash tools/device/build_mmcv_wheel.sh --check  # only check the cached wheel
#
# Resumable: the source is unpacked under work_dirs/mmcv_cuda_build and
# built in place with ninja, so a stopped build goes on from its compiled
# units. Built once per machine: the wheel is kept in
# ~/.cache/mmdet_causal/wheels/cuda-<arch>/ (MMDET_CAUSAL_CACHE) and copied
# into the wheelhouse (.whl) by tools/device/prepare.sh. The check: the
# wheel's size, that mmcv.ops loads its CUDA extension here with torch's
# CUDA libraries and no GPU, and the newest GLIBC/GLIBCXX versions it needs.
set -euo pipefail
cd "$(dirname "$0")/../.."
PY=${PYTHON:-.venv-onedl/bin/python}
PY="$(cd "$(dirname "$PY")" && pwd)/$(basename "$PY")"  # used after a cd
ARCH=${TORCH_CUDA_ARCH_LIST:-9.0}
VERSION=2.3.6
CACHE=${MMDET_CAUSAL_CACHE:-$HOME/.cache/mmdet_causal}/wheels/cuda-$ARCH
BUILD=work_dirs/mmcv_cuda_build
say() { printf '[mmcv-cuda] %s\n' "$*"; }

# the toolkit behind the nvcc on PATH (a wrapper script on this machine)
if [ -z "${CUDA_HOME:-}" ]; then
    nvcc=$(command -v nvcc) || { say "no nvcc: install the CUDA 13.0 toolkit or set CUDA_HOME"; exit 1; }
    real=$(grep -o '/[^ "]*/bin/nvcc' "$nvcc" | head -n1 || true)
    CUDA_HOME=$(dirname "$(dirname "${real:-$(readlink -f "$nvcc")}")")
fi
export CUDA_HOME

"$PY" - <<'EOF' || exit 1
import sys, torch
want = ((3, 12), '2.11.0', '13.0')
have = (sys.version_info[:2], torch.__version__.split('+')[0], torch.version.cuda)
if have != want:
    sys.exit(f'[mmcv-cuda] this interpreter has Python {have[0]}, torch '
             f'{have[1]} for CUDA {have[2]}; the GPU machine needs a build '
             f'for {want}: use .venv-onedl (make setup)')
EOF

wheel=$(ls "$CACHE"/onedl_mmcv-$VERSION-cp312-cp312-*.whl 2>/dev/null | head -n1 || true)
if [ -z "$wheel" ] && [ "${1:-}" != "--check" ]; then
    src="$BUILD/onedl_mmcv-$VERSION"
    if [ ! -f "$src/setup.py" ]; then
        mkdir -p "$BUILD"
        "$PY" -m pip download -q --no-deps --no-binary=:all: --no-build-isolation \
            -d "$BUILD" "onedl-mmcv==$VERSION"
        tar -xzf "$BUILD/onedl_mmcv-$VERSION.tar.gz" -C "$BUILD"
    fi
    # torch's CUDA libraries come as pip packages, their headers (cusparse.h,
    # cublas_v2.h, ...) under nvidia/cu13/include; a bare toolkit has none of them
    nv_inc=$("$PY" -c 'import nvidia, os; print(os.path.join(list(nvidia.__path__)[0], "cu13", "include"))' 2>/dev/null || true)
    [ -f "$nv_inc/cusparse.h" ] || { say "no cusparse.h under $nv_inc: install torch 2.11.0+cu130 from PyPI (make setup)"; exit 1; }
    export CPATH="$nv_inc${CPATH:+:$CPATH}"
    say "building onedl-mmcv $VERSION with CUDA ops for sm_${ARCH/./} (CUDA_HOME=$CUDA_HOME; most of an hour on 2 cores; resumable)"
    start=$(date +%s)
    mkdir -p "$CACHE"
    (cd "$src" && MMCV_WITH_OPS=1 FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST="$ARCH" \
        MAX_JOBS="${MAX_JOBS:-$(nproc)}" "$PY" setup.py -q bdist_wheel -d dist) 2>&1 \
        | tee "$BUILD/build.log" | awk -v t0="$start" -f tools/misc/mmcv_build_progress.awk
    [ "${PIPESTATUS[0]}" -eq 0 ] || { say "build failed; see $BUILD/build.log"; exit 1; }
    cp "$src"/dist/onedl_mmcv-$VERSION-cp312-cp312-*.whl "$CACHE/"
    wheel=$(ls "$CACHE"/onedl_mmcv-$VERSION-cp312-cp312-*.whl | head -n1)
    say "built in $(( $(date +%s) - start )) s: $wheel"
fi
[ -n "$wheel" ] || { say "no cached wheel in $CACHE: run without --check"; exit 1; }

# the check: size, import with CUDA ops and no GPU, symbol versions
site=$(mktemp -d)
trap 'rm -rf "$site"' EXIT
"$PY" -m pip install -q --no-deps --no-index --target "$site" "$wheel"
ext=$(ls "$site"/mmcv/_ext*.so)
PYTHONPATH="$site" CUDA_VISIBLE_DEVICES= "$PY" - "$site" <<'EOF'
import sys
import mmcv, torch
from mmcv.ops import RoIAlign, nms  # noqa: F401  (loads mmcv._ext)
from mmcv.utils import ext_loader
assert mmcv.__file__.startswith(sys.argv[1]), mmcv.__file__
ext = ext_loader.load_ext('_ext', ['nms', 'roi_align_forward'])
print('[mmcv-cuda] imports: mmcv', mmcv.__version__, 'from', sys.argv[1],
      '| torch', torch.__version__, '| GPU visible:', torch.cuda.is_available())
EOF
if ! objdump -p "$ext" | grep -q 'NEEDED.*libcudart\|NEEDED.*libc10_cuda'; then
    say "$ext links no CUDA library: it was built without CUDA ops"; exit 1
fi
glibc=$(objdump -T "$ext" | grep -o 'GLIBC_[0-9.]*' | sort -uV | tail -n1)
glibcxx=$(objdump -T "$ext" | grep -o 'GLIBCXX_[0-9.]*' | sort -uV | tail -n1)
say "wheel: $(basename "$wheel"), $(du -m "$wheel" | cut -f1) MiB; needs $glibc, $glibcxx"
