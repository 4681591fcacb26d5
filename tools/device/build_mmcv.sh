#!/usr/bin/env bash
# Build mmcv 2.1.0 from the carried source into $SITE, with its ops:
#   bash tools/device/build_mmcv.sh cuda   # CUDA ops for $ARCH only
#   bash tools/device/build_mmcv.sh cpu    # CPU ops (the GPU hidden)
# One progress line per compiled unit; the full log in $OUT.
set -uo pipefail
mode=${1:?cuda or cpu}
: "${PY:=python3}" "${WHL:=.whl}" "${SITE:?}" "${OUT:?}" "${ARCH:=}"
env_args=(MMCV_WITH_OPS=1 MAX_JOBS="$(nproc)")
if [ "$mode" = cuda ]; then
  env_args+=(FORCE_CUDA=1 TORCH_CUDA_ARCH_LIST="$ARCH")
else
  env_args+=(FORCE_CUDA=0 CUDA_VISIBLE_DEVICES=)
fi
env "${env_args[@]}" "$PY" -m pip install -v --no-index --no-deps \
  --no-build-isolation --no-cache-dir --target "$SITE" \
  "$WHL/mmcv-2.1.0.tar.gz" 2>&1 | tee "$OUT/mmcv_build_$mode.log" \
  | "$PY" tools/device/build_progress.py
exit "${PIPESTATUS[0]}"
