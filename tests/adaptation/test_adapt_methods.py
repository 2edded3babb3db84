"""Every registered adaptation method through the same checks: forward, backward, a short fit
on tiny data, seeded determinism, and a save / load round trip of the resulting model."""

from __future__ import annotations

import dataclasses

import numpy as np
import pytest
import torch
from adapt_data import SMALL, one_thread, write_domains  # noqa: F401 (fixture)

from transferkit.adaptation import DEEP_METHODS, SHALLOW_METHODS, AdaptationNet
from transferkit.config import AdaptConfig
from transferkit.runs.adapt.domains import load_domains, seed_indices
from transferkit.runs.adapt.members import fit_shallow, raw_features, train_deep
from transferkit.zoo import create_backbone
from transferkit.zoo.checkpoint import TransferModel, load_model, save_model


@pytest.fixture(scope="module")
def domains(tmp_path_factory):
    src, tgt = write_domains(tmp_path_factory.mktemp("domains"))
    fields = {f.name for f in dataclasses.fields(AdaptConfig)}
    cfg = AdaptConfig(
        source=src,
        target=tgt,
        **{k: v for k, v in SMALL.items() if k in fields},
        options={"hidden": SMALL["hidden"]},
    )
    data = load_domains(cfg)
    return cfg, data, seed_indices(data, cfg, 0)


def _backbone():
    return create_backbone("tiny-cnn", image_size=8)


def _fit(name, cfg, data, idx, tmp_path):
    backbone = _backbone()
    if name in DEEP_METHODS:
        return train_deep(backbone, 3, data, idx, cfg, name, 1.0, 0, torch.device("cpu"), tmp_path)
    feats = raw_features(backbone, data, idx, cfg, torch.device("cpu"), None)
    return fit_shallow(backbone, 3, data, idx, feats, cfg, name, 0)


DEEP = DEEP_METHODS.list()


@pytest.mark.parametrize("name", DEEP)
def test_deep_forward_and_backward(name):
    torch.manual_seed(0)
    method = DEEP_METHODS.get(name)(
        trade_off=1.0, **({"hidden": 16} if DEEP_METHODS.get(name).options else {})
    )
    net = AdaptationNet(TransferModel(_backbone(), 3), method)
    net.train()
    xs, xt = torch.randn(6, 3, 8, 8), torch.randn(6, 3, 8, 8)
    logits, term = net(xs, xt, 0.5)
    assert logits.shape == (6, 3) and term.ndim == 0 and torch.isfinite(term)
    (torch.nn.functional.cross_entropy(logits, torch.arange(6) % 3) + term).backward()
    assert all(p.grad is not None for p in net.classifier.parameters())
    extra = list(net.extra.parameters())
    assert all(p.grad is not None and p.grad.abs().sum() > 0 for p in extra)
    if method.uses_target:
        assert term.item() != 0.0


@pytest.mark.parametrize("name", DEEP_METHODS.list() + SHALLOW_METHODS.list())
def test_short_fit_is_seeded_and_round_trips(name, domains, tmp_path):
    cfg, data, idx = domains
    a = _fit(name, cfg, data, idx, tmp_path / "a")
    b = _fit(name, cfg, data, idx, tmp_path / "b")
    for k, v in a.model.state_dict().items():
        assert torch.equal(v, b.model.state_dict()[k]), k
    assert a.scores == b.scores
    assert np.isfinite(a.scores["risk"]) and 0.0 <= a.scores["source_val_accuracy"] <= 1.0
    save_model(a.model, tmp_path / "saved", data.source.classes)
    loaded, classes = load_model(tmp_path / "saved")
    x = torch.randn(4, 3, 8, 8)
    a.model.eval()
    loaded.eval()
    with torch.no_grad():
        assert torch.allclose(a.model(x), loaded(x), atol=1e-6)
    assert classes == data.source.classes


def _first_bn_input_mean(model, dataset, indices, batch_size):
    """Mean over batches of the channel means the first BatchNorm layer receives (eval mode;
    with momentum None, precise BN's running mean is this average over its batches)."""
    from transferkit.adaptation.task import embed

    bn = next(m for m in model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    seen = []
    hook = bn.register_forward_hook(lambda m, inp, out: seen.append(inp[0].mean((0, 2, 3))))
    model.eval()
    embed(model, dataset, indices, torch.device("cpu"), batch_size)
    hook.remove()
    return bn, torch.stack(seen).mean(0)


def test_adabn_keeps_source_weights_and_takes_batchnorm_statistics_from_the_target(
    domains, tmp_path
):
    cfg, data, idx = domains
    ada = _fit("adabn", cfg, data, idx, tmp_path / "adabn")
    src = _fit("source-only", cfg, data, idx, tmp_path / "src")
    # the same training (source batches only, same seed): identical weights, other statistics
    for k, v in ada.model.state_dict().items():
        if k.endswith(("running_mean", "running_var", "num_batches_tracked")):
            continue
        assert torch.equal(v, src.model.state_dict()[k]), k
    bn, target_mean = _first_bn_input_mean(ada.model, data.view, idx["target"], cfg.batch_size)
    _, source_mean = _first_bn_input_mean(ada.model, data.source, idx["train"], cfg.batch_size)
    assert (source_mean - target_mean).norm() > 0.1 * target_mean.norm()  # a real shift
    assert torch.allclose(bn.running_mean, target_mean, atol=1e-4, rtol=1e-4)
    src_bn = next(m for m in src.model.modules() if isinstance(m, torch.nn.BatchNorm2d))
    assert (src_bn.running_mean - target_mean).norm() > 10 * (bn.running_mean - target_mean).norm()
