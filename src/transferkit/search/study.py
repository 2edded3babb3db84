"""The third stage: successive halving over fine-tuning recipes, on an Optuna study.

Optuna does the scheduling: its sampler (TPE, seeded; or random search) proposes a recipe
from :class:`~transferkit.search.space.SearchSpace`, each trial is an ordinary transfer run that
reports its validation accuracy after every epoch (the fidelity is the number of epochs), and
the pruner (``SuccessiveHalvingPruner`` from ``min_epochs`` with ``reduction``, or
``HyperbandPruner``) stops the ones behind the others at the same epoch. Trial 0 is always
the library's default recipe (on text, the SetFit-style ``contrastive`` trial follows it).
Text trials train their epochs before the first rung on shorter texts
(:meth:`~transferkit.search.space.SearchSpace.max_length`, handed to the training run as
:attr:`TrialHooks.max_length`). A trial that fails counts as pruned (its reason kept) and the
search goes on. The study lives in a SQLite file beside the run store by default, or in any
database Optuna's storage reaches (``postgresql://...``), so several machines can share it:
each ``transferkit auto --worker`` asks the study for its next trial (Optuna hands each trial
to one worker), and the study's attributes tell workers the data, the space and the deadline.
"""

from __future__ import annotations

import socket
import time
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

from transferkit import progress
from transferkit.errors import RunInterrupted, RunPruned, UserError
from transferkit.search.space import SearchSpace
from transferkit.training import TrainHooks


@dataclass
class TrialHooks(TrainHooks):
    """A trial's hooks: the pruner's report and the deadline (:class:`TrainHooks`), and
    ``max_length(epoch)``, the most tokens per text the trial trains on in that epoch (None:
    the model's own), which the text strategies read at the start of each epoch."""

    max_length: Callable[[int], int | None] | None = None


def storage_url(url: str | None, home) -> str:
    return url or f"sqlite:///{home / 'optuna.db'}"


def _storage(url: str):
    import warnings

    import optuna

    try:
        # Optuna's own heartbeat fails trials whose worker stopped beating (any host)
        with warnings.catch_warnings():
            warnings.simplefilter("ignore", optuna.exceptions.ExperimentalWarning)
            return optuna.storages.RDBStorage(
                url, engine_kwargs={"pool_pre_ping": True}, heartbeat_interval=60, grace_period=600
            )
    except Exception as e:  # noqa: BLE001 - a bad URL, no driver, server down
        raise UserError(
            f"Cannot reach the study storage {url} ({type(e).__name__}: "
            f"{str(e).splitlines()[0][:200]}). Check the URL, that the database "
            "server is up and that its driver is installed (psycopg2 for "
            "postgresql://)."
        ) from None


def open_study(
    url: str,
    name: str,
    *,
    sampler: str,
    pruner: str,
    seed: int,
    min_epochs: int,
    max_epochs: int,
    reduction: int,
    create: bool = True,
):
    """The study ``name`` in storage ``url`` (created unless ``create`` is False)."""
    import optuna

    optuna.logging.set_verbosity(optuna.logging.WARNING)
    samplers = {
        "tpe": lambda: optuna.samplers.TPESampler(seed=seed, n_startup_trials=4),
        "random": lambda: optuna.samplers.RandomSampler(seed=seed),
    }
    pruners = {
        "halving": lambda: optuna.pruners.SuccessiveHalvingPruner(
            min_resource=min_epochs, reduction_factor=reduction
        ),
        "hyperband": lambda: optuna.pruners.HyperbandPruner(
            min_resource=min_epochs, max_resource=max_epochs, reduction_factor=reduction
        ),
        "none": lambda: optuna.pruners.NopPruner(),
    }
    storage = _storage(url)
    if not create:
        try:
            return optuna.load_study(
                study_name=name,
                storage=storage,
                sampler=samplers[sampler](),
                pruner=pruners[pruner](),
            )
        except KeyError:
            raise UserError(
                f"There is no study {name!r} in {url}; start the search first "
                "(`transferkit auto --storage URL --study NAME ...` without "
                "--worker), then the workers."
            ) from None
    return optuna.create_study(
        study_name=name,
        storage=storage,
        direction="maximize",
        sampler=samplers[sampler](),
        pruner=pruners[pruner](),
        load_if_exists=True,
    )


def fail_orphans(study) -> int:
    """Trials left RUNNING by a process of this host that is gone (killed) are marked failed
    at once (Optuna's heartbeat does it for other hosts after its grace period), so a resumed
    search neither waits for them nor redoes the finished ones."""
    from optuna.trial import TrialState

    from transferkit.store.owner import owner_gone

    n = 0
    for t in study.get_trials(deepcopy=False, states=(TrialState.RUNNING,)):
        owner = {
            "host": t.user_attrs.get("host"),
            "pid": t.user_attrs.get("pid"),
            "pid_started": t.user_attrs.get("pid_started"),
            "heartbeat": t.user_attrs.get("heartbeat"),
        }
        if (
            owner["pid"] is not None
            and owner["host"] == socket.gethostname()
            and owner_gone(owner) is not None
        ):
            study._storage.set_trial_state_values(t._trial_id, state=TrialState.FAIL)
            n += 1
    return n


class Objective:
    """One trial: sample a recipe, run it as a transfer run reporting every epoch, return its
    validation score. ``fit_once(**overrides)`` runs the transfer (the search's data, splits and
    record); ``deadline`` is the monotonic time by which trials must stop."""

    def __init__(self, space: SearchSpace, fit_once, metric: str, deadline: float) -> None:
        self.space, self.fit_once, self.metric, self.deadline = space, fit_once, metric, deadline

    def _hooks(self, trial) -> TrialHooks:
        def on_epoch(m: dict[str, float]) -> None:
            step = int(m["epoch"])
            if "val_accuracy" in m:
                trial.report(float(m["val_accuracy"]), step)
            if trial.should_prune():
                raise RunPruned(f"pruned by successive halving after epoch {step}")

        def should_stop() -> str | None:
            return "the time budget ran out" if time.monotonic() > self.deadline else None

        return TrialHooks(on_epoch, should_stop, self.space.max_length)

    def __call__(self, trial) -> float:
        import optuna

        from transferkit.store.owner import current_owner

        for k, v in {**current_owner(), "heartbeat": _now()}.items():
            trial.set_user_attr(k, v)
        params = self.space.suggest(trial)
        progress.info(f"trial {trial.number}: {_describe(params)}")
        try:
            r = self.fit_once(
                **self.space.overrides(params),
                hooks=self._hooks(trial),
                record={"trial": trial.number, "params": params},
            )
        except RunPruned as e:
            trial.set_user_attr("reason", str(e))
            raise optuna.TrialPruned(str(e)) from None
        except (KeyboardInterrupt, RunInterrupted):
            raise
        except Exception as e:  # noqa: BLE001 - a failed trial counts as pruned
            why = str(e) if isinstance(e, UserError) else f"{type(e).__name__}: {e}"
            trial.set_user_attr("failed", why)
            raise optuna.TrialPruned(f"failed: {why}") from None
        value = float(r.metrics.get(f"val_{self.metric}", r.metrics.get("val_accuracy", 0.0)))
        trial.set_user_attr("run", r.run_id)
        trial.set_user_attr("n_val", int(r.metrics.get("val_n") or 0))
        if r.metrics.get("val_nll") is not None:  # the tie-break among equal scores
            trial.set_user_attr("val_nll", float(r.metrics["val_nll"]))
        trial.set_user_attr("epochs", len(r.history))
        return value


def _now() -> str:
    from datetime import datetime, timezone

    return datetime.now(timezone.utc).isoformat()


def _describe(params: dict[str, Any]) -> str:
    return ", ".join(
        f"{k}={v:.2g}" if isinstance(v, float) else f"{k}={v}" for k, v in params.items()
    )
