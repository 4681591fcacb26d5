#!/usr/bin/env bash
# The fallback when the prebuilt wheel does not load on the GPU machine:
# build onedl-mmcv from its carried source ($MMCV_SRC) into $SITE:
#   bash tools/device/build_mmcv.sh cuda   # CUDA ops for $ARCH only
#   bash tools/device/build_mmcv.sh cpu    # CPU ops (the GPU hidden)
# One progress line per compiled unit on stdout (the check keeps it).
set -uo pipefail
mode=${1:?cuda or cpu}
: "${PY:=python3}" "${SITE:?}" "${MMCV_SRC:?}" "${ARCH:=9.0}"
env_args=(MMCV_WITH_OPS=1 MAX_JOBS="$(nproc)")
if [ "$mode" = cuda ]; then
  env_args+=(FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST="$ARCH")
else
  env_args+=(FORCE_CUDA=0 CUDA_VISIBLE_DEVICES=)
fi
env "${env_args[@]}" "$PY" -m pip install -v --no-index --no-deps \
  --no-build-isolation --no-cache-dir --upgrade --target "$SITE" "$MMCV_SRC" 2>&1 \
  | "$PY" tools/device/build_progress.py
exit "${PIPESTATUS[0]}"
