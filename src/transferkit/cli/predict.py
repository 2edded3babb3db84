"""``transferkit predict``: predictions as CSV on stdout, from a finished run (``--run``) or
from an exported model folder (``--model``, through :mod:`transferkit.runtime`: no run store and
no PyTorch is loaded on that path)."""

from __future__ import annotations

import argparse

from transferkit.cli.options import settings_from_args
from transferkit.cli.output import write_csv
from transferkit.config import PredictConfig
from transferkit.errors import UserError


def cmd_predict(args: argparse.Namespace) -> int:
    cfg = settings_from_args(PredictConfig, args)
    if bool(cfg.run) == bool(cfg.model):
        given = "both" if cfg.run else "neither"
        raise UserError(
            f"predict takes exactly one model and was given {given}: --run RUN (a finished run "
            "in the run store) or --model DIR (a folder made by `transferkit export`)."
        )
    if cfg.model:
        from transferkit.runs.predict_exported import predict_exported

        write_csv(predict_exported(cfg.model, cfg.inputs, batch_size=cfg.batch_size))
        return 0
    from transferkit.runs.predict import predict

    write_csv(predict(cfg.run, cfg.inputs, batch_size=cfg.batch_size, device=cfg.device))
    return 0
