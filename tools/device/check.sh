#!/usr/bin/env bash
# The GPU check, one command, run on the GPU machine from the repository
# root with the wheelhouse that tools/device/prepare.sh filled (carried as
# .whl):
#
#   bash tools/device/check.sh OUT_DIR [--dry-run]
#
# Everything within DEADLINE seconds (default 530, under 9 minutes): a step
# runs for the lesser of its own limit and the time left (minus a reserve
# for the report), under `timeout -k`, or is recorded as "skipped:
# deadline". Whatever happens, also when the command is stopped from
# outside (SIGTERM/SIGINT at the device tool's 10-minute limit), a trap
# writes OUT_DIR/gpu_check.json (GPU, versions, every step's status and
# seconds) and OUT_DIR/logs.tar.gz (every step's output); OUT_DIR holds at
# most 8 files. Steps, the most valuable first:
#
#   install       the wheelhouse into a folder on PYTHONPATH
#   mmcv          the prebuilt onedl-mmcv (CUDA ops for sm_90) loads and
#                 runs an op on the GPU; else it is built here from its
#                 source for this GPU (mmcv_build), else with CPU ops
#   cuda_tests    tests/test_cuda (fp16/bf16 against fp32, the average on
#                 CUDA = CPU, tiny HTC train step and predict)
#   mission_*     the product's own command: tools/dist_train.sh
#                 configs/htc_causal_lvis.py 1 for 4 short epochs on a
#                 generated set with LVIS v1's 1203 categories (1024 px
#                 images, resized to 1333x800 as for LVIS), then
#                 tools/test.py ... --eval bbox segm on it
#   bench_head    benchmarks/bench_head.py --device cuda (LVIS shapes)
#   bench_train_step  full-size HTC R50 at 1333x800, causal vs stock
#   sweep_gpu     the sweep's detections equal model.predict, on the GPU
#   numpy2_tests  the CPU suite's heads, sweep and metric tests on the
#                 machine's numpy 2, in parallel (xdist), without -x
#
# --dry-run checks the inputs and records every step as "dry-run" without
# running anything (tests/test_tools/test_device_kit.py).
set -uo pipefail
cd "$(dirname "$0")/../.."
OUT=${1:?usage: check.sh OUT_DIR [--dry-run]}
DRY=0
[ "${2:-}" = "--dry-run" ] && DRY=1
mkdir -p "$OUT"
OUT=$(cd "$OUT" && pwd)
WHL=${WHL:-.whl}
WORK=${WORK:-/tmp/mmdet_causal_check}
SITE=$WORK/site
LOGS=$WORK/logs
DEADLINE=${DEADLINE:-530}
RESERVE=${RESERVE:-15}  # seconds kept for the report
PY=${PYTHON:-python3}
REPORT_PY=${REPORT_PYTHON:-$PY}
export PYTHON=$PY  # tools/dist_train.sh runs it
T0=$(date +%s)
CHILD=
mkdir -p "$SITE" "$LOGS"
: > "$LOGS/steps.jsonl"
MMCV_OPS=unknown
ARCH=9.0

log() { echo "[check $(date +%H:%M:%S) +$(( $(date +%s) - T0 ))s] $*" | tee -a "$LOGS/check.log"; }
record() {  # NAME STATUS RC SECONDS
    printf '{"step": "%s", "status": "%s", "rc": %s, "seconds": %s}\n' \
        "$1" "$2" "$3" "$4" >> "$LOGS/steps.jsonl"
}

# the report, whatever happened; once
REPORTED=0
report() {
    [ $REPORTED = 1 ] && return
    REPORTED=1
    DRY=$DRY MMCV_OPS=$MMCV_OPS ARCH=$ARCH OUT=$OUT LOGS=$LOGS \
        TOTAL=$(( $(date +%s) - T0 )) DEADLINE=$DEADLINE timeout -k 2 10 "$REPORT_PY" - <<'PYEOF' \
        || printf '{"error": "the report could not be written by %s", "total_s": %s}\n' "$REPORT_PY" "$(( $(date +%s) - T0 ))" > "$OUT/gpu_check.json"
import json, os, platform
out, logs = os.environ['OUT'], os.environ['LOGS']
steps = [json.loads(line) for line in open(os.path.join(logs, 'steps.jsonl'))]
report = dict(
    dry_run=os.environ['DRY'] == '1', mmcv_ops=os.environ['MMCV_OPS'],
    cuda_arch=os.environ['ARCH'], total_s=int(os.environ['TOTAL']),
    deadline_s=int(os.environ['DEADLINE']), python=platform.python_version(),
    steps=steps)
try:
    import numpy, torch
    report.update(numpy=numpy.__version__, torch=torch.__version__,
                  cuda=torch.version.cuda,
                  gpu=torch.cuda.get_device_name(0)
                  if torch.cuda.is_available() else None)
except Exception as e:  # noqa: BLE001
    report['import_error'] = repr(e)
for name in sorted(os.listdir(out)):
    if name.endswith('.json') and name != 'gpu_check.json':
        try:
            report[name[:-5]] = json.load(open(os.path.join(out, name)))
        except ValueError:
            report[name[:-5]] = 'unreadable'
json.dump(report, open(os.path.join(out, 'gpu_check.json'), 'w'), indent=1)
print(json.dumps({k: v for k, v in report.items() if k != 'steps'})[:1500])
PYEOF
    (cd "$LOGS" && tar czf "$OUT/logs.tar.gz" .) 2>/dev/null
    log "report: $OUT/gpu_check.json, $OUT/logs.tar.gz ($(ls "$OUT" | wc -l) files)"
}
trap report EXIT
# a step runs in the background and is waited for, so that a signal is
# handled at once (bash defers traps until a foreground command ends)
stopped() {
    [ -n "$CHILD" ] && kill -TERM "$CHILD" 2>/dev/null
    log "stopped from outside"
    record stopped killed 143 0
    exit 143
}
trap stopped TERM INT

# step NAME LIMIT CMD...: run one step for min(LIMIT, time left), its output
# in the logs; status ok / failed / timeout / skipped: deadline / dry-run
step() {
    local name=$1 limit=$2; shift 2
    local left=$(( DEADLINE - RESERVE - ($(date +%s) - T0) ))
    [ "$limit" -gt "$left" ] && limit=$left
    log "$name (limit ${limit}s): $*"
    if [ $DRY = 1 ]; then record "$name" dry-run 0 0; return 0; fi
    if [ "$limit" -le 0 ]; then record "$name" "skipped: deadline" null 0; return 1; fi
    local start rc secs status=ok
    start=$(date +%s)
    timeout -k 5 "$limit" "$@" > "$LOGS/$name.log" 2>&1 &
    CHILD=$!
    wait "$CHILD"
    rc=$?
    CHILD=
    secs=$(( $(date +%s) - start ))
    [ $rc = 0 ] || status=failed
    { [ $rc = 124 ] || [ $rc = 137 ]; } && status=timeout
    record "$name" "$status" "$rc" "$secs"
    log "$name: $status (${secs}s)"
    tail -n 4 "$LOGS/$name.log" | sed 's/^/    /'
    return $rc
}
skip() { record "$1" "skipped: $2" null 0; log "$1: skipped ($2)"; }

# inputs
MMCV_SRC=$(ls "$WHL"/onedl_mmcv-*.tar.gz 2>/dev/null | head -n1)
n=$(ls "$WHL"/*.whl 2>/dev/null | wc -l)
if [ "$n" -eq 0 ]; then
    log "no wheels in $WHL: run tools/device/prepare.sh here first"; exit 2
fi
log "inputs: $n wheels${MMCV_SRC:+ and $(basename "$MMCV_SRC")} in $WHL"

step install 120 "$PY" -m pip install -q --no-index --no-deps --no-compile \
    --no-cache-dir --upgrade --target "$SITE" "$WHL"/*.whl
export PYTHONPATH="$SITE:$PWD${PYTHONPATH:+:$PYTHONPATH}"

if [ $DRY = 0 ]; then
    ARCH=$(timeout -k 2 20 "$PY" -c 'import torch; print("%d.%d" % torch.cuda.get_device_capability())' 2>/dev/null) || ARCH=
    [ -n "$ARCH" ] || { ARCH=9.0; log "GPU architecture unreadable: 9.0 (the H200's)"; }
fi
export ARCH PY WHL SITE

# mmcv: the prebuilt CUDA ops, else a build for this GPU, else CPU ops
CUDA_OP='import torch; from mmcv.ops import nms; b = torch.tensor([[0., 0, 10, 10], [1, 1, 10, 10]], device="cuda"); s = torch.tensor([0.9, 0.8], device="cuda"); print(nms(b, s, 0.5)[1].tolist())'
if step mmcv 90 "$PY" -c "$CUDA_OP"; then
    MMCV_OPS=cuda
elif [ -n "$MMCV_SRC" ] && MMCV_SRC=$MMCV_SRC step mmcv_build 420 \
        bash tools/device/build_mmcv.sh cuda && step mmcv_rebuilt 60 "$PY" -c "$CUDA_OP"; then
    MMCV_OPS=cuda-built-here
elif [ -n "$MMCV_SRC" ] && MMCV_SRC=$MMCV_SRC step mmcv_cpu 300 bash tools/device/build_mmcv.sh cpu; then
    MMCV_OPS=cpu
else
    MMCV_OPS=none
fi
[ $DRY = 1 ] && MMCV_OPS=dry-run
export MMDET_CAUSAL_MMCV_OPS=${MMCV_OPS%%-*}

step cuda_tests 150 "$PY" -m pytest -q -p no:cacheprovider tests/test_cuda

if [ "$MMCV_OPS" = none ]; then
    skip mission_data "no mmcv ops"; skip mission_train "no mmcv ops"; skip mission_test "no mmcv ops"
else
    DATA=$WORK/lvis_like
    ANN=$DATA/annotations/lvis_v1_train.json
    PATHS=(train_dataloader.dataset.data_root="$DATA/" val_dataloader.dataset.data_root="$DATA/"
           test_dataloader.dataset.data_root="$DATA/"
           val_dataloader.dataset.ann_file=annotations/lvis_v1_train.json
           test_dataloader.dataset.ann_file=annotations/lvis_v1_train.json
           val_evaluator.ann_file="$ANN" test_evaluator.ann_file="$ANN")
    step mission_data 60 "$PY" tools/device/mission_data.py "$DATA" \
    && step mission_train 180 bash tools/dist_train.sh configs/htc_causal_lvis.py 1 \
        --work-dir "$WORK/mission" --cfg-options model.backbone.init_cfg=None \
        train_cfg.max_epochs=4 train_cfg.val_interval=100 \
        default_hooks.checkpoint.interval=4 "${PATHS[@]}" \
    && step mission_test 120 "$PY" tools/test.py configs/htc_causal_lvis.py \
        "$WORK/mission/epoch_4.pth" --work-dir "$WORK/mission" --eval bbox segm \
        --metrics-out "$OUT/mission_metrics.json" --cfg-options "${PATHS[@]}"
fi

step bench_head 120 "$PY" benchmarks/bench_head.py --device cuda \
    --json "$OUT/bench_head_cuda.json"
if [ "${MMCV_OPS%%-*}" = cuda ] || [ $DRY = 1 ]; then
    step bench_train_step 150 "$PY" benchmarks/bench_train_step.py --device cuda \
        --synthetic 800x1333 --iters 20 \
        --stock configs/htc/htc_r50_fpn_1x_lvis-v1.py \
        --causal configs/htc/htc-causal_r50_fpn_1x_lvis-v1.py \
        --cfg-options model.backbone.init_cfg=None \
        --json "$OUT/bench_train_step_cuda.json"
    MMDET_CAUSAL_TEST_DEVICE=cuda step sweep_gpu 120 "$PY" -m pytest -q \
        -p no:cacheprovider tests/test_apis/test_debias_sweep.py
else
    skip bench_train_step "no CUDA ops"; skip sweep_gpu "no CUDA ops"
fi

step numpy2_tests 150 "$PY" -m pytest -q -p no:cacheprovider -n auto \
    tests/test_models tests/test_apis/test_debias_sweep.py \
    tests/test_evaluation/test_fast_lvis_metric.py
log "done"
