"""Pretraining one's own source model, each method, and using it like any backbone."""

from __future__ import annotations

import json

import numpy as np
import pytest
import torch
from conftest import run_cli
from PIL import Image

import transferkit
from transferkit.errors import UserError
from transferkit.pretraining import METHODS
from transferkit.pretraining.contrastive import nt_xent
from transferkit.pretraining.vae import vae_loss
from transferkit.runs.pretrain import pretrain
from transferkit.store import RunStore
from transferkit.zoo import create_backbone, list_zoo

SMALL = dict(arch="cnn-small", epochs=1, batch_size=32, max_examples=160, image_size=16)


# multitask needs several sources and refuses one: tests/runs/test_pretrain_multitask.py
@pytest.mark.parametrize("method", [m for m in sorted(METHODS) if m != "multitask"])
def test_each_method_pretrains_saves_and_transfers(method):
    r = pretrain("builtin:digits", method=method, name=f"d-{method}", **SMALL)
    rec = RunStore().get(r.run_id)
    assert rec.kind == "pretrain" and rec.status == "done" and rec.name == f"d-{method}"
    assert rec.data_fingerprint == transferkit.load_dataset("builtin:digits").fingerprint
    assert np.isfinite(r.metrics["val_loss"])
    by_name = create_backbone(f"d-{method}")
    by_run = create_backbone(f"run:{r.run_id}")
    assert by_name.identity == by_run.identity
    x = torch.randn(3, 1, 16, 16)
    by_name.eval()
    feats = by_name.forward_features(x)
    assert feats.shape == (3, by_name.num_features)
    if method == "vae":
        assert by_name.num_features == 64  # the posterior mean is the feature
    assert (by_name.source_head is not None) == (method == "supervised")
    names = [row["name"] for row in list_zoo()]
    assert f"d-{method}" in names
    f = transferkit.fit(
        "builtin:mnist5k", model=f"d-{method}", strategy="linear", labels_per_class=5, max_test=100
    )
    assert 0.0 <= f.metrics["test_accuracy"] <= 1.0


def test_supervised_pretraining_beats_fresh_weights_on_transfer():
    r = pretrain(
        "builtin:digits",
        method="supervised",
        arch="cnn-small",
        epochs=3,
        batch_size=64,
        image_size=16,
        lr=3e-3,
    )
    common = dict(strategy="linear", labels_per_class=10, max_test=300, image_size=16, seed=0)
    pre = transferkit.fit("builtin:mnist5k", model=f"run:{r.run_id}", **common)
    assert pre.metrics["test_accuracy"] > 0.5


def test_losses_match_their_formulas():
    torch.manual_seed(0)
    z = torch.randn(8, 5)
    # NT-Xent by the definition, anchor by anchor
    zn = torch.nn.functional.normalize(z, dim=1)
    n, t, total = 4, 0.5, 0.0
    for i in range(8):
        j = (i + n) % 8
        sims = torch.stack([zn[i] @ zn[k] / t for k in range(8) if k != i])
        total += -(zn[i] @ zn[j] / t - torch.logsumexp(sims, 0))
    assert nt_xent(z, t).item() == pytest.approx(total.item() / 8, abs=1e-5)
    x, recon = torch.randn(4, 1, 3, 3), torch.randn(4, 1, 3, 3)
    mu, logvar = torch.randn(4, 2), torch.randn(4, 2)
    kl = sum(0.5 * (torch.exp(logvar[i]) + mu[i] ** 2 - 1 - logvar[i]).sum() for i in range(4)) / 4
    rec = sum(((x[i] - recon[i]) ** 2).sum() for i in range(4)) / 4
    total, r, k = vae_loss(recon, x, mu, logvar, beta=0.5)
    assert r.item() == pytest.approx(rec.item(), rel=1e-5)
    assert k.item() == pytest.approx(kl.item(), rel=1e-5)
    assert total.item() == pytest.approx(rec.item() + 0.5 * kl.item(), rel=1e-5)


def test_bad_pretraining_inputs(tmp_path):
    flat = tmp_path / "flat"
    flat.mkdir()
    rng = np.random.default_rng(0)
    for i in range(12):  # unlabelled, mixed sizes and channels
        size = 20 + i
        arr = rng.integers(0, 255, (size, size, 3) if i % 2 else (size, size), dtype=np.uint8)
        Image.fromarray(arr).save(flat / f"{i}.png")
    with pytest.raises(UserError, match="needs labels"):
        pretrain(str(flat), method="supervised", **SMALL)
    with pytest.raises(UserError, match="batch size"):
        pretrain(str(flat), method="contrastive", **{**SMALL, "batch_size": 1})
    with pytest.raises(UserError, match="latent"):
        pretrain(str(flat), method="vae", latent_dim=0, **SMALL)
    with pytest.raises(UserError, match="pretrained weights"):
        pretrain(str(flat), method="autoencoder", from_pretrained=True, **SMALL)
    r = pretrain(str(flat), method="autoencoder", **SMALL)  # unlabelled, mixed sizes: fine
    assert RunStore().get(r.run_id).status == "done"


@pytest.mark.slow
def test_nan_loss_stops_with_a_clear_message_and_keeps_checkpoint():
    p = run_cli(
        "pretrain",
        "--data",
        "builtin:digits",
        "--method",
        "autoencoder",
        "--arch",
        "cnn-small",
        "--image-size",
        "16",
        "--max-examples",
        "160",
        "--epochs",
        "3",
        "--lr",
        "1e30",
        "--json",
    )
    assert p.returncode == 2, p.stderr
    assert "loss" in p.stderr and "Traceback" not in p.stderr
    runs = RunStore().list(kind="pretrain")
    assert runs[0].status == "failed"


@pytest.mark.slow
def test_cli_pretrain_then_fit(tmp_path):
    p = run_cli(
        "pretrain",
        "--data",
        "builtin:digits",
        "--method",
        "contrastive",
        "--arch",
        "cnn-small",
        "--image-size",
        "16",
        "--max-examples",
        "160",
        "--epochs",
        "1",
        "--batch-size",
        "32",
        "--name",
        "my-src",
        "--json",
        check=0,
    )
    assert json.loads(p.stdout)["name"] == "my-src"
    z = run_cli("zoo", "--json", check=0)
    assert "my-src" in [r["name"] for r in json.loads(z.stdout)]
    f = run_cli(
        "fit",
        "--data",
        "builtin:mnist5k",
        "--model",
        "my-src",
        "--strategy",
        "linear",
        "--labels-per-class",
        "5",
        "--max-test",
        "100",
        "--json",
        check=0,
    )
    assert 0 <= json.loads(f.stdout)["test_accuracy"] <= 1


def _write_idx(path, arr):
    import struct

    arr = np.asarray(arr, np.uint8)
    path.write_bytes(
        bytes([0, 0, 0x08, arr.ndim]) + struct.pack(f">{arr.ndim}I", *arr.shape) + arr.tobytes()
    )


def test_pretraining_leaves_out_an_official_test_split(tmp_path):
    rng = np.random.default_rng(0)
    for prefix, n in (("train", 60), ("t10k", 20)):
        _write_idx(tmp_path / f"{prefix}-images-idx3-ubyte", rng.integers(0, 255, (n, 16, 16)))
        _write_idx(tmp_path / f"{prefix}-labels-idx1-ubyte", np.arange(n) % 3)
    r = pretrain(
        str(tmp_path),
        method="autoencoder",
        arch="cnn-small",
        epochs=1,
        batch_size=16,
        image_size=16,
    )
    splits = RunStore().get(r.run_id).extra["splits"]
    assert splits["official_test_left_out"] == 20
    assert splits["train"] + splits["val"] == 60
