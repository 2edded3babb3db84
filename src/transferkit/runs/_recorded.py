"""The one way a run is recorded: create the record, run, write the artifacts, finish.

Every workflow (fit, compare, cv, rank, similarity, zeroshot, adapt and its members, pretrain)
wraps its work in a :class:`RecordedRun`::

    with RecordedRun(store, "fit", cfg.to_dict(), seed=..., data_fingerprint=...) as run:
        run.note(dataset=dataset.summary())          # merged into the record's ``extra``
        ... train ...
        run.save_model(model, classes)               # written atomically under run.dir
        run.finish(metrics, timings)

Entering creates the record (status ``running``, this process as its owner) or, with
``resume=ID``, takes over an unfinished one; a heartbeat thread keeps the record alive while the
block runs. Leaving with an exception marks the run ``interrupted`` (Ctrl-C, SIGTERM:
:class:`~transferkit.errors.RunInterrupted`, which then carries the run id for the resume hint)
or ``failed`` with the error, and re-raises. Under ``torchrun`` every process enters the block,
rank 0 alone writes, and the run id is broadcast so all agree on the artifact folder. So the
processes of one job share one store (on several machines: one folder on a shared file system);
before the first record, :func:`check_shared_store` makes sure they do.
"""

from __future__ import annotations

import socket
import time
from pathlib import Path
from typing import Any

from transferkit import distributed
from transferkit.errors import RunInterrupted, RunPruned, UserError
from transferkit.store import RunRecord, RunStore
from transferkit.store.artifacts import (
    atomic_write_bytes,
    atomic_write_csv,
    atomic_write_json,
    write_probe,
)
from transferkit.store.owner import Heartbeat

_checked: set[str] = set()  # stores every process of this job has been checked against
SEE_WAIT_MAX_S = 30.0  # a network file system may show another machine's new file late


def check_shared_store(store: RunStore) -> None:
    """Under torchrun, before anything is recorded: every process can write ``store`` and sees
    rank 0's folder there (one store for the whole job), or every process raises the same
    :class:`UserError` naming each process that cannot, its path and the fix."""
    if distributed.world_size() == 1 or str(store.root) in _checked:
        return
    main, why, mark = distributed.is_main(), None, None
    if store.unusable is not None:
        why = f"cannot use it ({store.unusable.__cause__ or store.unusable})"
    else:
        try:
            probe = write_probe(store.root)
        except OSError as e:
            why = f"cannot write there ({e.strerror or e})"
        else:
            if main:
                mark = probe.name  # the others look for it: the same folder?
            else:
                probe.unlink(missing_ok=True)
    name = distributed.broadcast_object(mark)
    if not main and why is None and name and not _appears(store.root / name):
        why = "does not see rank 0's store there (a different folder: each node has its own)"
    me = f"rank {distributed.rank()} (host {socket.gethostname()}, {store.root}): {why}"
    bad = [s for s in distributed.all_gather_object(me if why else None) if s]
    if mark:
        (store.root / mark).unlink(missing_ok=True)
    if bad:
        raise UserError(
            f"The run store cannot be used by every process of this torchrun job: "
            f"{'; '.join(bad)}. The processes of a job share one store: rank 0 writes the "
            "run's record, checkpoints, model and feature cache, and the others read the "
            "checkpoints and cached features back. Set TRANSFERKIT_HOME on every node to the "
            "same folder on a shared file system (e.g. NFS) that every node can write, e.g. "
            "`export TRANSFERKIT_HOME=/shared/transferkit`, and start again; nothing was "
            "recorded."
        )
    _checked.add(str(store.root))


def _appears(path: Path) -> bool:
    deadline = time.monotonic() + min(distributed.join_timeout(), SEE_WAIT_MAX_S)
    while not path.exists():
        if time.monotonic() > deadline:
            return False
        time.sleep(0.2)
    return True


def unfinished(store: RunStore, run_id: str, kind: str) -> RunRecord:
    """The record of run ``run_id`` to resume, refused unless it is an unfinished ``kind`` run
    (``--resume`` of pretrain, adapt, ...)."""
    rec = store.get(run_id)
    if rec.kind != kind or rec.status == "done":
        raise UserError(
            f"Run {rec.id} is a {rec.kind} run that is {rec.status}; only an unfinished "
            f"{kind} run can be resumed here (start a new one without --resume)."
        )
    return rec


class RecordedRun:
    """A run's record from its start to its end (see the module docstring)."""

    def __init__(
        self,
        store: RunStore,
        kind: str,
        config: dict[str, Any],
        *,
        seed: int | None = None,
        data_fingerprint: str | None = None,
        parent: str | None = None,
        name: str | None = None,
        resume: str | None = None,
    ) -> None:
        self.store, self.kind, self.config = store, kind, config
        self.seed, self.data_fingerprint, self.parent, self.name = (
            seed,
            data_fingerprint,
            parent,
            name,
        )
        self.resume = resume
        self.main = distributed.is_main()
        self.id: str = ""
        self.dir: Path = Path()
        self.finished = False
        self._heartbeat: Heartbeat | None = None

    def __enter__(self) -> RecordedRun:
        check_shared_store(self.store)
        run_id = None
        if self.main:
            if self.resume:
                run_id = self.store.claim(self.resume).id
            else:
                run_id = self.store.create(
                    self.kind,
                    self.config,
                    seed=self.seed,
                    data_fingerprint=self.data_fingerprint,
                    parent=self.parent,
                    name=self.name,
                )
        self.id = distributed.broadcast_object(run_id)
        self.dir = self.store.artifact_dir(self.id)
        if self.main:
            self._heartbeat = Heartbeat(lambda: self.store.beat(self.id)).__enter__()
        return self

    # ---------------------------------------------------------------- while it runs
    def note(self, **extra: Any) -> None:
        """Merge ``extra`` into the record's ``extra`` (rank 0 only)."""
        if self.main and extra:
            self.store.update(self.id, extra=extra)

    def write_json(self, name: str, obj: Any) -> None:
        if self.main:
            atomic_write_json(self.dir / name, obj)

    def write_bytes(self, name: str, data: bytes) -> None:
        if self.main:
            atomic_write_bytes(self.dir / name, data)

    def write_csv(self, name: str, rows: list[dict[str, Any]]) -> None:
        if self.main:
            atomic_write_csv(self.dir / name, rows)

    def save_model(self, model: Any, classes: list[str], **extra: Any) -> None:
        """The run's model under ``model/`` (what ``predict --run`` and ``run:ID`` load)."""
        if self.main:
            from transferkit.zoo.checkpoint import save_model

            save_model(model, self.dir / "model", list(classes), extra={"run": self.id, **extra})

    def finish(
        self,
        metrics: dict[str, Any] | None = None,
        timings: dict[str, Any] | None = None,
        **extra: Any,
    ) -> None:
        """Mark the run ``done`` with its final metrics, timings and ``extra``."""
        if self.main:
            if extra:
                self.store.update(self.id, extra=extra)
            self.store.finish(self.id, metrics=metrics or {}, timings=timings or {})
        self.finished = True

    # ------------------------------------------------------------------- the end
    def __exit__(self, kind, error, tb) -> bool:
        if self._heartbeat is not None:
            self._heartbeat.__exit__(None, None, None)
        if error is None:
            if not self.finished:
                self.finish()
            distributed.barrier()
            return False
        if isinstance(error, RunPruned):
            if self.main:
                self.store.prune(self.id, str(error))
        elif isinstance(error, (RunInterrupted, KeyboardInterrupt)):
            error.run_id = self.id  # type: ignore[union-attr]
            if self.main:
                self.store.interrupt(self.id)
        elif self.main:
            why = str(error) if isinstance(error, UserError) else f"{type(error).__name__}: {error}"
            self.store.fail(self.id, why)
        return False
