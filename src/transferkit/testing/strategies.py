"""``check_strategy``: the contract of a transfer strategy (:mod:`transferkit.strategies`).

A strategy is checked the way a user meets it, through ``transferkit.fit`` and
``transferkit.predict``, in a run store of its own in a temporary folder (the user's store is
never touched): it trains on tiny data, or refuses the data with a
:class:`~transferkit.errors.UserError` that names itself or the model; the same seed gives the
same predictions; the run's folder alone predicts what the trained model predicted (even after
the source model is gone); and its own options are documented, valid by default and
range-checked before anything loads.
"""

from __future__ import annotations

import shutil
import tempfile
from pathlib import Path
from typing import Any

import numpy as np

from transferkit.errors import UserError
from transferkit.testing._common import (
    Check,
    bounded_options,
    expect,
    flag,
    options_declared,
    resolve_entry,
    run_checks,
)
from transferkit.testing._data import band_images
from transferkit.testing.strategy_facts import check_strategy_facts as facts

#: A short recipe: two epochs of small batches, seeded.
FAST = {"epochs": 2, "batch_size": 8, "seed": 0}


def check_strategy(
    strategy: str | type,
    *,
    data: str | None = None,
    model: str = "tiny-cnn",
    **fit_options: Any,
) -> None:
    """Check a registered strategy (by name or by its class); raise an AssertionError naming
    the strategy and the failed check.

    By default it fits ``tiny-cnn`` on three classes of 24 px grey images written to a
    temporary folder; ``data`` and ``model`` check it on other data (a text CSV and a text
    encoder, ``hf:PATH``), ``fit_options`` are passed to ``transferkit.fit``. A local model
    (``hf:PATH``, ``file:PATH``) is copied first and the copy deleted before predicting, to
    show that the run's folder is enough.

    Example, for a strategy of one's own::

        from transferkit.strategies import STRATEGIES, Strategy
        from transferkit.testing import check_strategy

        @STRATEGIES.register("my-strategy")
        class MyStrategy(Strategy):
            def fit(self, ctx):
                ...

        def test_my_strategy():
            check_strategy("my-strategy")
            check_strategy(MyStrategy, data="texts.csv", model="minilm-l6")
    """
    from transferkit.strategies import STRATEGIES

    name, cls = resolve_entry(STRATEGIES, strategy, "strategy")
    with tempfile.TemporaryDirectory(prefix="transferkit-check-") as tmp:
        fits = _Fits(name, Path(tmp), data, model, fit_options)
        run_checks("strategy", name, _first_checks(cls, fits))
        if not fits.refused:  # a strategy that refused the data has nothing more to show
            run_checks(
                "strategy",
                name,
                [
                    ("gives the same predictions for the same seed", fits.seeded),
                    ("its run alone predicts what the trained model predicted", fits.from_run),
                ],
            )


def _first_checks(cls: type, fits: _Fits) -> list[Check]:
    """What a strategy shows before its result is examined: its options, its facts, and
    a first fit (or a refusal of the data that names it)."""
    return [
        ("declares its options with help and valid defaults", lambda: options_declared(cls)),
        ("checks its options before loading anything", fits.options_range_checked),
        ("declares the facts the search, explain and reports read", lambda: facts(cls)),
        ("trains, or refuses the data naming itself or the model", fits.first),
    ]


def _private_copy(model: str, folder: Path) -> tuple[str, Path | None]:
    """``model``, or for a local folder (``hf:PATH``, ``file:PATH``) a copy of it in
    ``folder`` and the copy's path (deleted later, to show the run does not need it)."""
    prefix, sep, rest = model.partition(":")
    if sep and prefix in ("hf", "file") and Path(rest).is_dir():
        copy = Path(shutil.copytree(rest, folder / "model"))
        return f"{prefix}:{copy}", copy
    return model, None


class _Fits:
    """The fits one check makes, in a temporary run store under ``tmp``."""

    def __init__(
        self, name: str, tmp: Path, data: str | None, model: str, options: dict[str, Any]
    ) -> None:
        from transferkit.store import RunStore

        self.name, self.store = name, RunStore(tmp / "store")
        self.options = {**FAST, **options}
        if data is None:
            data = band_images(tmp / "images")
            self.options.setdefault("image_size", 16)
        self.data = data
        self.model, self.copy = _private_copy(model, tmp)
        self.refused = False
        self.result = None

    def _fit(self, data: str | None = None, **options: Any):
        import transferkit

        kw = {**self.options, **options}
        return transferkit.fit(
            data or self.data, model=self.model, strategy=self.name, store=self.store, **kw
        )

    def options_range_checked(self) -> None:
        """Each option below its bound is refused, naming its flag, before the (missing)
        data is looked at."""
        from transferkit.strategies import STRATEGIES

        for dest, low in bounded_options(STRATEGIES, self.name):
            try:
                self._fit("no-such-data", **{dest: low - 1})
            except UserError as e:
                expect(
                    flag(dest) in str(e),
                    f"{dest}={low - 1} was refused without naming {flag(dest)}: {e}",
                )
                continue
            raise AssertionError(f"{flag(dest)} {low - 1} (below its bound {low}) was accepted")

    def first(self) -> None:
        try:
            self.result = self._fit()
        except UserError as e:
            text = str(e)
            expect(
                self.name in text.lower() or self.model in text,
                f"it refused {self.data} with a UserError that names neither the strategy "
                f"nor the model {self.model}: {text}",
            )
            self.refused = True
            return
        r = self.result
        expect(0.0 <= r.accuracy <= 1.0, f"test accuracy {r.accuracy} is not in [0, 1]")
        expect(r.metrics.get("test_n", 0) > 0, "the run was tested on no examples")

    def seeded(self) -> None:
        from transferkit.store.artifacts import load_predictions

        first = load_predictions(self.result.artifact_dir)["proba"]
        again = load_predictions(self._fit().artifact_dir)["proba"]
        expect(
            np.array_equal(first, again),
            f"two fits with seed {self.options['seed']} gave test probabilities that differ by "
            f"up to {np.abs(first - again).max():.3g}",
        )

    def from_run(self) -> None:
        import transferkit
        from transferkit.store.artifacts import load_predictions

        if self.copy is not None:
            shutil.rmtree(self.copy)  # from here on, the run's folder must be enough
        r = self.result
        rows = {
            row["item"]: row for row in transferkit.predict(r.run_id, self.data, store=self.store)
        }
        saved = load_predictions(r.artifact_dir)
        ds = transferkit.load_dataset(self.data)
        for i, p in zip(saved["indices"], saved["proba"]):
            got = np.array([rows[ds.item_name(int(i))][f"p_{c}"] for c in r.classes])
            expect(
                np.allclose(got, p, atol=1e-4),
                f"predict from the run gave {got.round(4)} for {ds.item_name(int(i))}, the "
                f"trained model {np.round(p, 4)}",
            )
