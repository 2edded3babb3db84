"""``check_score``: the contract of a transferability score (:mod:`transferkit.transferability`).

A score predicts from features alone how well a source model will transfer, so the checks ask
what any such prediction must do on synthetic features whose classes stand apart: give a finite
number, the same number for the same inputs and for the same examples in another order, a higher
number for the true labels than for random ones, and a :class:`~transferkit.errors.UserError`
(not a NaN) for inputs it cannot use.
"""

from __future__ import annotations

import numpy as np

from transferkit.errors import UserError
from transferkit.testing._common import expect, options_declared, resolve_entry, run_checks
from transferkit.testing._data import scored_features


def check_score(score: str | type, *, order_free: bool | None = None, **params: object) -> None:
    """Check a registered transferability score (by name or by its class); raise an
    AssertionError naming the score and the failed check. ``params`` go to its constructor.

    Checks: its options have help and valid defaults; the score is finite and deterministic;
    the order of the examples does not change it (up to floating-point summation order); the
    true labels of separable features score higher than random labels; one class, NaN
    features, and (for a score that needs them) missing source predictions are refused with a
    UserError.

    A score whose value follows the order of the examples by design (seeded random folds, a
    mixture fitted from a seeded start) skips the order check: its class says
    ``order_free = False``, or the caller passes ``order_free=False``.

    Example, for a score of one's own::

        from transferkit.testing import check_score
        from transferkit.transferability import SCORES, Score

        @SCORES.register("centroid-gap")
        class CentroidGap(Score):
            def _score(self, inputs):
                ...

        def test_my_score():
            check_score("centroid-gap")
    """
    from transferkit.transferability import SCORES

    name, cls = resolve_entry(SCORES, score, "transferability score")
    x, y, probs = scored_features()
    source = probs if cls.needs_source else None
    checker = _ScoreChecks(cls(**params), x, y, source)
    checks = [
        ("declares its options with help and valid defaults", lambda: options_declared(cls)),
        ("gives a finite number, the same each time", checker.finite_and_deterministic),
        ("scores true labels above random labels", checker.true_above_random),
        ("refuses inputs it cannot use with a UserError", checker.refuses_bad_inputs),
    ]
    if order_free if order_free is not None else getattr(cls, "order_free", True):
        checks.append(("does not depend on the order of the examples", checker.order_free))
    if cls.needs_source:
        checks.append(("refuses missing source predictions", checker.needs_source))
    run_checks("transferability score", name, checks)


class _ScoreChecks:
    """The checks of one score instance on fixed features ``x``, labels ``y`` and source
    probabilities (None for scores that do not use them)."""

    def __init__(self, score, x: np.ndarray, y: np.ndarray, source: np.ndarray | None) -> None:
        self.score, self.x, self.y, self.source = score, x, y, source
        self.rng = np.random.default_rng(1)

    def _value(self, x: np.ndarray, y: np.ndarray, source: np.ndarray | None) -> float:
        value = self.score.score(x, y, source)
        expect(isinstance(value, (float, np.floating)), f"score() returned {value!r}, not a float")
        return float(value)

    def finite_and_deterministic(self) -> None:
        first = self._value(self.x, self.y, self.source)
        expect(np.isfinite(first), f"the score is {first} on well-formed features")
        again = self._value(self.x, self.y, self.source)
        expect(again == first, f"the same inputs gave {first} and then {again}")

    def order_free(self) -> None:
        perm = self.rng.permutation(len(self.y))
        source = None if self.source is None else self.source[perm]
        a = self._value(self.x, self.y, self.source)
        b = self._value(self.x[perm], self.y[perm], source)
        expect(
            np.isclose(a, b, rtol=1e-4, atol=1e-5),
            f"{a} for the examples in one order, {b} for the same examples in another",
        )

    def true_above_random(self) -> None:
        true = self._value(self.x, self.y, self.source)
        shuffled = self.rng.permutation(self.y)
        random = self._value(self.x, shuffled, self.source)
        expect(
            true > random,
            f"{true} for labels whose classes stand apart in the features, but {random} "
            "(not lower) for random labels: the score does not see the separation",
        )

    def refuses_bad_inputs(self) -> None:
        one_class = np.zeros_like(self.y)
        nan = self.x.copy()
        nan[3, 2] = np.nan
        for what, x, y in (("a single class", self.x, one_class), ("NaN features", nan, self.y)):
            try:
                value = self.score.score(x, y, self.source)
            except UserError:
                continue
            raise AssertionError(f"{what} gave {value!r} instead of a UserError")

    def needs_source(self) -> None:
        try:
            value = self.score.score(self.x, self.y, None)
        except UserError:
            return
        raise AssertionError(
            f"it declares needs_source, but without source predictions it gave {value!r} "
            "instead of a UserError"
        )
