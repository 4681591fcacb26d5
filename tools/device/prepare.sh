#!/usr/bin/env bash
# Prepare the GPU check here (with network): fill the git-ignored wheelhouse
# .whl/ with what the GPU machine lacks (tools/device/wheelhouse.txt, wheels
# for CPython 3.12 / manylinux x86-64), the onedl-mmcv wheel with CUDA ops
# that tools/device/build_mmcv_wheel.sh built (most of an hour, once per
# machine), onedl-mmcv's source (the fallback build there) and a wheel of
# onedl-mmdetection, and check that it fits the 64 MiB the device tool
# carries.
#
#   bash tools/device/prepare.sh            # fill .whl/ (idempotent)
#   bash tools/device/prepare.sh --check    # only check what is there
#
# Then, with the device tool: run `bash tools/device/check.sh` with carry
# [".whl"] (the README's "Measuring on a GPU" gives the call).
set -euo pipefail
cd "$(dirname "$0")/../.."
WHL=${WHL:-.whl}
LIST=tools/device/wheelhouse.txt
LIMIT_MIB=${LIMIT_MIB:-56}  # of the 64 MiB the tree may take with it
PY=${PYTHON:-$( [ -x .venv-onedl/bin/python ] && echo .venv-onedl/bin/python || echo python3)}
CACHE=${MMDET_CAUSAL_CACHE:-$HOME/.cache/mmdet_causal}/wheels/cuda-${TORCH_CUDA_ARCH_LIST:-9.0}
PLATFORMS=(manylinux_2_28_x86_64 manylinux_2_27_x86_64 manylinux_2_24_x86_64
           manylinux_2_17_x86_64 manylinux2014_x86_64 manylinux1_x86_64)
MMCV=onedl-mmcv==2.3.6
MMDET=onedl-mmdetection==3.5.1

mkdir -p "$WHL"
if [ "${1:-}" != "--check" ]; then
  args=(--no-deps --only-binary=:all: --python-version 3.12
        --implementation cp --abi cp312 --abi abi3 --abi none)
  for p in "${PLATFORMS[@]}"; do args+=(--platform "$p"); done
  args+=(--platform any)
  grep -v '^\s*\(#\|$\)' "$LIST" | while read -r req; do
    name=${req%%==*}
    if ls "$WHL" | grep -qi "^${name//-/_}-${req##*==}-"; then
      echo "[prepare] $req: there"
      continue
    fi
    echo "[prepare] $req"
    "$PY" -m pip download -q "${args[@]}" -d "$WHL" "$req"
  done
  if ! ls "$WHL"/onedl_mmcv-2.3.6.tar.gz >/dev/null 2>&1; then
    echo "[prepare] $MMCV (source, the fallback)"
    "$PY" -m pip download -q --no-deps --no-binary=:all: --no-build-isolation \
      -d "$WHL" "$MMCV"
  fi
  if ! ls "$WHL"/onedl_mmdetection-3.5.1-py3-none-any.whl >/dev/null 2>&1; then
    echo "[prepare] $MMDET (a wheel of its source)"
    "$PY" -m pip wheel -q --no-deps --no-binary=:all: -w "$WHL" "$MMDET"
  fi
  if ! ls "$WHL"/onedl_mmcv-2.3.6-cp312-*.whl >/dev/null 2>&1; then
    if ls "$CACHE"/onedl_mmcv-2.3.6-cp312-*.whl >/dev/null 2>&1; then
      echo "[prepare] $MMCV with CUDA ops (built here, cached in $CACHE)"
      cp "$CACHE"/onedl_mmcv-2.3.6-cp312-*.whl "$WHL/"
    else
      echo "[prepare] no prebuilt $MMCV: run tools/device/build_mmcv_wheel.sh (most of an hour); the check would build it on the GPU machine instead"
    fi
  fi
fi

# one file per requirement, one version each, mmcv's source, the size
fail=0
grep -v '^\s*\(#\|$\)' "$LIST" | while read -r req; do
  name=${req%%==*}; version=${req##*==}
  n=$(ls "$WHL" | grep -ci "^${name//-/_}-${version}-" || true)
  if [ "$n" != 1 ]; then
    echo "[prepare] $req: $n wheels in $WHL (need exactly 1)"; exit 1
  fi
done || fail=1
[ -f "$WHL/onedl_mmcv-2.3.6.tar.gz" ] || { echo "[prepare] no onedl-mmcv source"; fail=1; }
ls "$WHL"/onedl_mmdetection-3.5.1-py3-none-any.whl >/dev/null 2>&1 || { echo "[prepare] no onedl-mmdetection wheel"; fail=1; }
ls "$WHL"/onedl_mmcv-2.3.6-cp312-*.whl >/dev/null 2>&1 || echo "[prepare] warning: no prebuilt onedl-mmcv (the check builds it there, 6-8 of its 9 minutes)"
size=$(du -sm "$WHL" | cut -f1)
echo "[prepare] $WHL: $(ls "$WHL" | wc -l) files, ${size} MiB (limit ${LIMIT_MIB})"
[ "$size" -le "$LIMIT_MIB" ] || { echo "[prepare] too large"; fail=1; }
exit $fail
