#!/usr/bin/env bash
# The GPU check, run on the GPU machine from the repository root with the
# wheelhouse prepared by tools/device/prepare.sh (carried as .whl):
#
#   bash tools/device/check.sh OUT_DIR [--dry-run]
#
# 1. installs the wheelhouse into a temporary folder on PYTHONPATH;
# 2. builds mmcv 2.1.0 with CUDA ops for this GPU's architecture only, all
#    cores, progress lines, within BUILD_TIMEOUT seconds (default 420);
#    if that fails, builds its CPU ops instead (enough for the head
#    benchmark) and says so in the JSON;
# 3. runs the CUDA tests (tests/test_cuda), the numpy-2 checks (the CPU
#    tests of the heads, the sweep and the metric, on the machine's numpy
#    2), the head benchmark and the full-size HTC R50 training-step
#    benchmark on the GPU (the latter only with CUDA ops);
# 4. writes OUT_DIR/gpu_check.json (GPU, versions, build mode, every step's
#    status and seconds), the benchmarks' JSONs and logs.tar.gz (every
#    step's output and mmcv's full build log).
#
# --dry-run prints the steps and checks the inputs without installing,
# building or running anything (tests/test_tools/test_device_kit.py).
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:?usage: check.sh OUT_DIR [--dry-run]}
DRY=0
[ "${2:-}" = "--dry-run" ] && DRY=1
mkdir -p "$OUT"
WHL=${WHL:-.whl}
SITE=${SITE:-/tmp/mmdet_causal_site}
BUILD_TIMEOUT=${BUILD_TIMEOUT:-420}
TEST_TIMEOUT=${TEST_TIMEOUT:-240}
BENCH_TIMEOUT=${BENCH_TIMEOUT:-300}
PY=${PYTHON:-python3}
STEPS="$OUT/steps.jsonl"
: > "$STEPS"
T0=$(date +%s)

log() { echo "[check $(date +%H:%M:%S) +$(( $(date +%s) - T0 ))s] $*"; }

# step NAME TIMEOUT CMD...: run (or, dry, print) one step; its status and
# seconds go to steps.jsonl, its output to OUT/NAME.log
step() {
  local name=$1 limit=$2; shift 2
  log "$name: $*"
  if [ $DRY = 1 ]; then
    echo "{\"step\": \"$name\", \"status\": \"dry-run\", \"seconds\": 0}" >> "$STEPS"
    return 0
  fi
  local start=$(date +%s) rc
  timeout "$limit" "$@" > "$OUT/$name.log" 2>&1
  rc=$?
  local secs=$(( $(date +%s) - start )) status=ok
  [ $rc = 0 ] || status=failed
  [ $rc = 124 ] && status=timeout
  echo "{\"step\": \"$name\", \"status\": \"$status\", \"rc\": $rc, \"seconds\": $secs}" >> "$STEPS"
  log "$name: $status (${secs}s)"
  tail -n 5 "$OUT/$name.log" | sed 's/^/    /'
  return $rc
}

# inputs
[ -f "$WHL/mmcv-2.1.0.tar.gz" ] || { log "no $WHL/mmcv-2.1.0.tar.gz: run tools/device/prepare.sh here first"; exit 2; }
n=$(ls "$WHL"/*.whl 2>/dev/null | wc -l)
[ "$n" -gt 0 ] || { log "no wheels in $WHL"; exit 2; }
log "inputs: $n wheels and mmcv's source in $WHL"

step install 120 "$PY" -m pip install -q --no-index --no-deps --no-compile \
  --no-cache-dir --upgrade --target "$SITE" "$WHL"/*.whl
export PYTHONPATH="$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}"

if [ $DRY = 1 ]; then
  ARCH=9.0
else
  ARCH=$("$PY" -c 'import torch; print("%d.%d" % torch.cuda.get_device_capability())')
fi

# mmcv: CUDA ops for this GPU only; CPU ops if that does not finish in time
export PY WHL SITE OUT ARCH
MMCV_OPS=cuda
if ! step mmcv_cuda "$BUILD_TIMEOUT" bash tools/device/build_mmcv.sh cuda; then
  MMCV_OPS=cpu
  log "mmcv with CUDA ops did not build within ${BUILD_TIMEOUT}s: CPU ops"
  step mmcv_cpu 600 bash tools/device/build_mmcv.sh cpu || MMCV_OPS=none
fi

step imports 120 "$PY" -c 'import mmcv, mmdet, mmengine, mmdet_causal, numpy
from mmcv.ops import RoIAlign, nms
print("mmcv", mmcv.__version__, "mmdet", mmdet.__version__, "numpy", numpy.__version__)'

export MMDET_CAUSAL_MMCV_OPS=$MMCV_OPS
step cuda_tests "$TEST_TIMEOUT" "$PY" -m pytest -q -p no:cacheprovider \
  tests/test_cuda
step numpy2_tests "$TEST_TIMEOUT" "$PY" -m pytest -q -p no:cacheprovider \
  -x tests/test_models tests/test_apis/test_debias_sweep.py \
  tests/test_evaluation/test_fast_lvis_metric.py
step bench_head "$BENCH_TIMEOUT" "$PY" benchmarks/bench_head.py \
  --device cuda --json "$OUT/bench_head_cuda.json"
if [ "$MMCV_OPS" = cuda ] || [ $DRY = 1 ]; then
  step bench_train_step "$BENCH_TIMEOUT" "$PY" \
    benchmarks/bench_train_step.py --device cuda --synthetic 800x1333 \
    --iters 20 --stock configs/htc/htc_r50_fpn_1x_lvis-v1.py \
    --causal configs/htc/htc-causal_r50_fpn_1x_lvis-v1.py \
    --cfg-options model.backbone.init_cfg=None \
    --json "$OUT/bench_train_step_cuda.json"
fi

DRY=$DRY MMCV_OPS=$MMCV_OPS ARCH=$ARCH OUT=$OUT TOTAL=$(( $(date +%s) - T0 )) \
  "$PY" - <<'PYEOF'
import json, os, platform, subprocess
out = os.environ['OUT']
report = dict(
    dry_run=os.environ['DRY'] == '1',
    mmcv_ops=os.environ['MMCV_OPS'],
    cuda_arch=os.environ['ARCH'],
    total_s=int(os.environ['TOTAL']),
    python=platform.python_version(),
    steps=[json.loads(line) for line in open(os.path.join(out, 'steps.jsonl'))])
try:
    import numpy, torch
    report.update(
        numpy=numpy.__version__, torch=torch.__version__,
        cuda=torch.version.cuda,
        gpu=torch.cuda.get_device_name(0) if torch.cuda.is_available()
        else None)
except ImportError as e:
    report['import_error'] = str(e)
for name in ('bench_head_cuda', 'bench_train_step_cuda'):
    path = os.path.join(out, name + '.json')
    if os.path.exists(path):
        report[name] = json.load(open(path))
json.dump(report, open(os.path.join(out, 'gpu_check.json'), 'w'), indent=1)
print(json.dumps({k: v for k, v in report.items() if k != 'steps'}, indent=1)[:2000])
PYEOF
# the device tool brings back at most 8 files: the logs travel as one
if [ $DRY = 0 ]; then
  (cd "$OUT" && tar czf logs.tar.gz ./*.log steps.jsonl && rm -f ./*.log)
fi
log "done: $OUT/gpu_check.json"
