"""``transferkit serve``: an exported folder (or a run, exported first into a temporary folder
that is removed at exit) behind HTTP until Ctrl+C / SIGTERM."""

from __future__ import annotations

import argparse
import contextlib
import shutil
import signal
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path

from transferkit.cli.options import settings_from_args
from transferkit.config import ServeConfig, check_ranges
from transferkit.errors import UserError


def cmd_serve(args: argparse.Namespace) -> int:
    from transferkit.serving import serve

    cfg = settings_from_args(ServeConfig, args)
    check_ranges(cfg)  # --max-upload-mb 0, --read-timeout 0, ...: exit 2 before any work
    with _export_folder(cfg.target) as folder:
        stopped_by = serve(
            folder,
            host=cfg.host,
            port=cfg.port,
            token_file=cfg.token_file,
            max_batch=cfg.max_batch,
            max_upload_mb=cfg.max_upload_mb,
            read_timeout_s=cfg.read_timeout,
            announce=_announce,
        )
    if stopped_by:
        print(f"stopped ({signal.Signals(stopped_by).name})", file=sys.stderr)
    return 0


def _announce(url: str, predictor) -> None:
    what = f"{predictor.modality} model, {len(predictor.classes)} classes"
    print(f"serving {what} on {url}  (POST /predict, GET /metadata, GET /health)", flush=True)
    print("stop with Ctrl+C", file=sys.stderr, flush=True)


@contextlib.contextmanager
def _export_folder(target: str) -> Iterator[Path]:
    """``target`` itself when it is a folder; else a run id, exported into a temporary folder
    for the server's lifetime (SIGTERM while exporting also cleans up)."""
    if not target.strip():
        raise UserError("Name what to serve: an exported folder (transferkit export) or a run id.")
    path = Path(target).expanduser()
    if path.is_dir():
        yield path
        return
    if path.exists():
        raise UserError(
            f"{target!r} is a file, not an exported folder: pass the folder `transferkit export "
            "RUN --to DIR` wrote, or a run id."
        )
    from transferkit.runs.export import export

    tmp = Path(tempfile.mkdtemp(prefix="transferkit-serve-"))
    previous = signal.signal(signal.SIGTERM, signal.default_int_handler)
    try:
        try:
            export(target, tmp / "model")
        except UserError as e:
            raise UserError(
                f"{target!r} is not a folder, so it was taken as a run id to export: {e}"
            ) from e
        finally:
            signal.signal(signal.SIGTERM, previous)
        yield tmp / "model"
    finally:
        shutil.rmtree(tmp, ignore_errors=True)
