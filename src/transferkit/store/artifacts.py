"""Writing a run's artifacts so that no half-written file is ever visible under its final name.

Every file is written to a temporary name in the same folder, flushed and fsync'ed, then renamed
over its final name (an atomic step on POSIX file systems), and the folder is fsync'ed so the
rename itself survives a crash: a run killed while writing leaves the previous version (or
nothing), never a truncated file; only hidden ``.NAME.*.tmp`` names can hold partial data. When
the disk is full (or a file size limit is hit), or the folder is read-only, the temporary file
is removed and a :class:`~transferkit.errors.UserError` says so - also for safetensors, whose
Rust writer reports an I/O failure as ``SafetensorError("... (os error 27)")``, not ``OSError``.
Files get the usual ``0o666 & ~umask`` mode (a bare temporary file would stay ``0o600``).
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import re
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from transferkit.errors import UserError

PREDICTIONS = "test_predictions.npz"
VAL_PREDICTIONS = "val_predictions.npz"  # the search ensembles and replays them
_NO_SPACE = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)
_NO_ACCESS = (errno.EACCES, errno.EPERM, errno.EROFS)
_UMASK = os.umask(0)
os.umask(_UMASK)
FILE_MODE = 0o666 & ~_UMASK


def as_os_error(e: BaseException) -> OSError | None:
    """``e`` as an :class:`OSError` with its errno: itself, or parsed from the ``(os error N)``
    that safetensors' Rust writer puts in its message; None for anything else."""
    if isinstance(e, OSError):
        return e
    if type(e).__name__ == "SafetensorError":
        m = re.search(r"os error (\d+)", str(e))
        if m:
            code = int(m.group(1))
            return OSError(code, os.strerror(code))
    return None


def storage_error(path: Path, e: BaseException) -> UserError | None:
    """A one-paragraph :class:`UserError` for a write that failed because the disk is full (or a
    file size limit was reached) or the place is read-only; None for other failures (bugs)."""
    err = as_os_error(e)
    if err is None:
        return None
    why = err.strerror or str(err)
    if err.errno in _NO_SPACE:
        return UserError(
            f"Cannot write {path}: {why} (the disk is full or a file size limit "
            "was reached). The previous version of the file is kept; free space "
            "(or move TRANSFERKIT_HOME to a larger disk), then resume the run with "
            "`--resume RUN` (or run the command again)."
        )
    if err.errno in _NO_ACCESS:
        return UserError(
            f"Cannot write {path}: {why} (the folder or file is read-only). Make "
            "the run store writable, or set TRANSFERKIT_HOME to a writable folder, "
            "e.g. `export TRANSFERKIT_HOME=$PWD/.transferkit`."
        )
    return None


def _fsync_dir(folder: Path) -> None:
    """Make a rename in ``folder`` durable (best effort: not every file system allows it)."""
    try:
        fd = os.open(folder, os.O_RDONLY)
    except OSError:
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """Call ``write(tmp_path)`` to fill a temporary file beside ``path``, then rename it over
    ``path``; on any failure the temporary file is removed and ``path`` is untouched."""
    path = Path(path)
    tmp: str | None = None
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
        os.close(fd)
        write(tmp)
        os.chmod(tmp, FILE_MODE)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except BaseException as e:
        if tmp is not None:
            Path(tmp).unlink(missing_ok=True)
        friendly = storage_error(path, e)
        if friendly is not None:
            raise friendly from None
        raise
    _fsync_dir(path.parent)


def write_probe(folder: Path) -> Path:
    """Create an empty hidden ``.write-probe.*.tmp`` file in ``folder`` and return it (the caller
    removes it; ``runs check`` would too): a real write, since permissions alone do not tell on
    network file systems or for a process without root's powers. OSError when it cannot."""
    fd, tmp = tempfile.mkstemp(dir=folder, prefix=".write-probe.", suffix=".tmp")
    os.close(fd)
    return Path(tmp)


def atomic_write_bytes(path: Path, data: bytes) -> None:
    atomic_write(path, lambda tmp: Path(tmp).write_bytes(data))


def atomic_write_json(path: Path, obj: Any) -> None:
    atomic_write_bytes(path, json.dumps(obj, indent=2, sort_keys=True).encode())


def atomic_write_csv(path: Path, rows: list[dict[str, Any]]) -> None:
    buf = io.StringIO()
    w = csv.DictWriter(buf, fieldnames=list(rows[0]) if rows else ["item"])
    w.writeheader()
    w.writerows(rows)
    atomic_write_bytes(path, buf.getvalue().encode())


def atomic_save_tensors(path: Path, tensors: dict, metadata: dict | None = None) -> None:
    """safetensors ``save_file`` to a temporary name, then rename."""
    from safetensors.torch import save_file

    clean = {k: v.detach().cpu().contiguous() for k, v in tensors.items()}
    atomic_write(path, lambda tmp: save_file(clean, tmp, metadata=metadata))


def save_predictions(folder: Path, indices, labels, proba, name: str = PREDICTIONS) -> None:
    """Predictions of a split (the test split's by default, for paired comparisons; the
    search keeps validation and out-of-fold ones under other names): numeric arrays only,
    no pickle."""
    import numpy as np

    buf = io.BytesIO()
    np.savez_compressed(
        buf,
        indices=np.asarray(indices, np.int64),
        labels=np.asarray(labels, np.int64),
        proba=np.asarray(proba, np.float32),
    )
    atomic_write_bytes(Path(folder) / name, buf.getvalue())


def load_predictions(folder: Path, name: str = PREDICTIONS) -> dict | None:
    import numpy as np

    p = Path(folder) / name
    if not p.is_file():
        return None
    with np.load(p, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}
