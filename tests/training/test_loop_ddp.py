"""The loop and its collectives under a real ``torchrun`` with two processes (gloo on CPU): the
group a run forms, and a group with a backend per device (``cpu:gloo,cuda:gloo``, the shape of
the ``cpu:gloo,cuda:nccl`` group of GPU runs, which this CPU machine cannot form): CPU-tensor
collectives work in both; two processes train as one process does (with gradient accumulation,
whose micro-steps skip DDP's all-reduce); a stop asked on one rank stops both at the same step."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import ddp_worker
import pytest

from transferkit import distributed
from transferkit.errors import UserError

WORKER = Path(ddp_worker.__file__)
BACKENDS = ["ours", "cpu:gloo,cuda:gloo"]


@pytest.fixture(scope="module", params=BACKENDS)
def ranks(request, tmp_path_factory) -> list[dict]:
    """Both ranks' results of one ``torchrun --nproc-per-node 2`` of the worker."""
    out = tmp_path_factory.mktemp("ddp")
    cmd = [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
    p = subprocess.run(
        [*cmd, str(WORKER), str(out), request.param],
        capture_output=True,
        text=True,
        timeout=300,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
    )
    assert p.returncode == 0, p.stderr[-3000:]
    return [json.loads((out / f"rank{r}.json").read_text()) for r in range(2)]


@pytest.fixture(scope="module")
def one_process() -> dict:
    """The same trainings in this process: the reference."""
    assert not distributed.is_initialized()
    return {"acc1": ddp_worker.train(1), "acc2": ddp_worker.train(2)}


def test_backend_is_chosen_per_device():
    assert distributed.backend_for("cuda", nccl_available=True) == "cpu:gloo,cuda:nccl"
    assert distributed.backend_for("cuda", nccl_available=False) == "gloo"
    assert distributed.backend_for("cpu", nccl_available=True) == "gloo"
    assert distributed.backend_for("cpu", nccl_available=False) == "gloo"


def test_more_processes_than_gpus_on_a_node_is_a_clear_error():
    distributed.check_gpu_count(1, 2)  # the second of two GPUs: fine
    with pytest.raises(UserError, match=r"node has 1 GPU\(s\).*--nproc-per-node 1"):
        distributed.check_gpu_count(1, 1)
    with pytest.raises(UserError, match="--device cpu"):
        distributed.check_gpu_count(0, 0)


def test_cpu_tensor_collectives_work(ranks):
    for res in ranks:
        c = res["collectives"]
        assert c["any_rank"] == [True, False, True]
        assert c["mean"] == 1.5
        assert c["gathered"] == [{"rank": 0}, {"rank": 1}]
        assert c["broadcast"] == "from 0"
    assert {res["collectives"]["backend"] for res in ranks} <= {"gloo", "cpu:gloo,cuda:gloo"}


def test_gradients_are_reduced_only_when_asked(ranks):
    unsynced = ranks[0]["collectives"]["grad_sync_False"]
    assert unsynced[0] != unsynced[1]  # each rank kept its own gradient
    synced = ranks[0]["collectives"]["grad_sync_True"]
    assert synced[0] == synced[1] == [[1.5, 1.5]]  # the mean of inputs 1 and 2


@pytest.mark.parametrize("accumulate", [1, 2])
def test_two_processes_train_as_one(ranks, one_process, accumulate):
    key = f"acc{accumulate}"
    ref = one_process[key]
    for res in ranks:
        got = res[key]
        for a, b in zip(got["weights"], ref["weights"], strict=True):
            assert a == pytest.approx(b, abs=1e-5)
        for e, f in zip(got["history"], ref["history"], strict=True):
            assert e == pytest.approx(f, abs=1e-5)
        # one gradient all-reduce per optimiser step: none on accumulation micro-steps
        steps = ddp_worker.STEPS * ddp_worker.EPOCHS
        assert got["all_reduces"] == steps // accumulate
        assert got["loss_calls"] == steps
        # the stop checks: the first step of each epoch and every 8 steps after it
        assert got["asked"]["n"] == 2 * ddp_worker.EPOCHS


def test_a_stop_on_one_rank_stops_every_rank_at_the_same_step(ranks):
    zero, one = (res["stop"] for res in ranks)
    assert one["stopped"] == "rank 1 stops"
    assert zero["stopped"] == "another process was stopped"
    # rank 1 asked at its second check (step 8 of 12): both stopped there, weights in step
    assert zero["loss_calls"] == one["loss_calls"] == 8
    assert zero["weights"] == one["weights"]
