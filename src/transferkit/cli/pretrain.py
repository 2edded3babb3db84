"""``pretrain``: the new source model's summary."""

from __future__ import annotations

import argparse

from transferkit.cli.options import settings_from_args
from transferkit.cli.output import out, summary
from transferkit.config import PretrainConfig


def cmd_pretrain(args: argparse.Namespace) -> int:
    from transferkit import distributed
    from transferkit.runs.pretrain import pretrain

    res = (
        pretrain(resume=args.resume)
        if args.resume
        else pretrain(config=settings_from_args(PretrainConfig, args, families=("pretrain",)))
    )
    if not distributed.is_main():  # under torchrun, one summary (rank 0's)
        return 0
    if summary(
        {"run": res.run_id, "name": res.name, **res.metrics},
        f"pretrain run {res.run_id}",
        args.json,
    ):
        return 0
    out.print(f"Use it as a source model: transferkit fit --model {res.name} --data TARGET ...")
    return 0
