"""The contrastive strategy's pair length: what the encoder saw in each epoch of training.

The widths are read from the model itself (a PyTorch forward pre-hook on every embedding layer
while it trains), not from a setting: a batch of texts is padded to its longest text, so its
width is the number of tokens each text was cut to when the texts are longer than that."""

from __future__ import annotations

from collections import defaultdict
from collections.abc import Iterator
from contextlib import contextmanager

import pytest
import torch

import transferkit
from transferkit.search.study import TrialHooks
from transferkit.store import RunStore

FAST = dict(epochs=2, batch_size=8, seed=0)


@contextmanager
def widths_seen() -> Iterator[tuple[dict[int, set[int]], TrialHooks]]:
    """The token widths the encoder trained on, by epoch (``seen[epoch]``), and hooks that
    count the epochs (to pass to the run; set ``max_length`` on them to cut texts)."""
    seen: dict[int, set[int]] = defaultdict(set)
    epoch = [0]

    def pre(module, args):
        if isinstance(module, torch.nn.Embedding) and module.training and args:
            seen[epoch[0]].add(int(args[0].shape[-1]))

    def on_epoch(metrics):
        epoch[0] += 1

    handle = torch.nn.modules.module.register_module_forward_pre_hook(pre)
    try:
        yield seen, TrialHooks(on_epoch=on_epoch)
    finally:
        handle.remove()


def test_a_search_hook_cuts_the_texts_of_the_epochs_it_names(tiny_bert, topics_csv):
    with widths_seen() as (seen, hooks):
        hooks.max_length = lambda epoch: 4 if epoch == 0 else None
        r = transferkit.fit(
            str(topics_csv), model=f"hf:{tiny_bert}", strategy="contrastive", hooks=hooks, **FAST
        )
    assert len(r.history) == 2
    assert seen[0] == {4}  # 7 words + 2 specials cut to 4
    assert seen[1] == {9}  # then the whole texts


@pytest.mark.parametrize("hook, want", [(None, [{6}, {6}]), (4, [{4}, {6}])])
def test_the_pair_length_cuts_every_epoch_and_the_shorter_limit_wins(
    tiny_bert, topics_csv, hook, want
):
    with widths_seen() as (seen, hooks):
        hooks.max_length = (lambda epoch: hook if epoch == 0 else None) if hook else None
        r = transferkit.fit(
            str(topics_csv),
            model=f"hf:{tiny_bert}",
            strategy="contrastive",
            contrastive_pair_length=6,
            hooks=hooks,
            **FAST,
        )
    assert [seen[0], seen[1]] == want
    info = RunStore().get(r.run_id).extra["strategy_info"]
    assert info["pair_length"] == 6
    assert r.model.backbone.data_config.max_length == 64  # the head reads full-length texts
