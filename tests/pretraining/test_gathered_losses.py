"""Contrastive and image-text pretraining under real `torchrun` (two processes, gloo): the
negatives are the whole global batch, so the gradients DDP averages equal those of one process
holding the whole batch, also when the processes hold different numbers of examples and share
a text; with each process's own negatives they would not."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from pathlib import Path

import pytest

SCRIPT = Path(__file__).with_name("ddp_losses.py")


@pytest.mark.slow
def test_gathered_losses_give_the_gradients_of_the_whole_batch():
    p = subprocess.run(
        [sys.executable, "-m", "torch.distributed.run", "--standalone", "--nproc-per-node", "2"]
        + [str(SCRIPT)],
        capture_output=True,
        text=True,
        env={**os.environ, "OMP_NUM_THREADS": "1"},
        timeout=300,
    )
    assert p.returncode == 0, p.stderr[-3000:]
    diff = json.loads(p.stdout.strip().splitlines()[-1])
    assert diff["contrastive_gathered"] < 1e-6 and diff["image_text_gathered"] < 1e-6, diff
    # the check can fail: each process's own negatives give other gradients
    assert diff["contrastive_local"] > 1e-3 and diff["image_text_local"] > 1e-3, diff
