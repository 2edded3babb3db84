"""``transferkit predict``: a finished run's predictions as CSV on stdout."""

from __future__ import annotations

import argparse

from transferkit.cli.options import settings_from_args
from transferkit.cli.output import write_csv
from transferkit.config import PredictConfig


def cmd_predict(args: argparse.Namespace) -> int:
    from transferkit.runs.predict import predict

    cfg = settings_from_args(PredictConfig, args)
    write_csv(predict(cfg.run, cfg.inputs, batch_size=cfg.batch_size, device=cfg.device))
    return 0
