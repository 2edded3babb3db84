"""Writing a run's artifacts so that no half-written file is ever visible under its final name.

Every file is written to a temporary name in the same folder, flushed and fsync'ed, then renamed
over its final name (an atomic step on POSIX file systems): a run killed while writing leaves
the previous version (or nothing), never a truncated file. When the disk is full (or a file size
limit is hit) the temporary file is removed and a :class:`~transferkit.errors.UserError` says so.
"""

from __future__ import annotations

import csv
import errno
import io
import json
import os
import tempfile
from collections.abc import Callable
from pathlib import Path
from typing import Any

from transferkit.errors import UserError

PREDICTIONS = "test_predictions.npz"
_NO_SPACE = (errno.ENOSPC, errno.EFBIG, errno.EDQUOT)


def _no_space(path: Path, e: OSError) -> UserError:
    return UserError(f"Cannot write {path}: {e.strerror or e} (the disk is full or a file size "
                     "limit was reached). The previous version of the file is kept; free space "
                     "(or move TRANSFERKIT_HOME to a larger disk) and resume the run.")


def atomic_write(path: Path, write: Callable[[str], None]) -> None:
    """Call ``write(tmp_path)`` to fill a temporary file beside ``path``, then rename it over
    ``path``; on any failure the temporary file is removed and ``path`` is untouched."""
    path = Path(path)
    path.parent.mkdir(parents=True, exist_ok=True)
    fd, tmp = tempfile.mkstemp(dir=path.parent, prefix=f".{path.name}.", suffix=".tmp")
    os.close(fd)
    try:
        write(tmp)
        with open(tmp, "rb") as f:
            os.fsync(f.fileno())
        os.replace(tmp, path)
    except OSError as e:
        Path(tmp).unlink(missing_ok=True)
        if e.errno in _NO_SPACE:
            raise _no_space(path, e) from None
        raise
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


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


def save_predictions(folder: Path, indices, labels, proba) -> None:
    """Test-split predictions for paired comparisons (numeric arrays only: no pickle)."""
    import numpy as np

    buf = io.BytesIO()
    np.savez_compressed(buf, indices=np.asarray(indices, np.int64),
                        labels=np.asarray(labels, np.int64), proba=np.asarray(proba, np.float32))
    atomic_write_bytes(Path(folder) / PREDICTIONS, buf.getvalue())


def load_predictions(folder: Path) -> dict | None:
    import numpy as np

    p = Path(folder) / PREDICTIONS
    if not p.is_file():
        return None
    with np.load(p, allow_pickle=False) as z:
        return {k: z[k] for k in z.files}
