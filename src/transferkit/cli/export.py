"""``transferkit export``: a finished run's model as a folder that predicts without PyTorch;
prints where it went and the parity check's numbers."""

from __future__ import annotations

import argparse

from transferkit.cli.options import settings_from_args
from transferkit.cli.output import out, summary
from transferkit.config import ExportConfig, check_ranges


def cmd_export(args: argparse.Namespace) -> int:
    from transferkit.runs.export import export

    cfg = settings_from_args(ExportConfig, args)
    check_ranges(cfg)  # --parity-examples 0, --opset 99, ...: exit 2 before any work
    res = export(
        cfg.run,
        cfg.to,
        format=cfg.format,
        quantize=cfg.quantize,
        opset=cfg.opset,
        parity_examples=cfg.parity_examples,
        force=cfg.force,
    )
    values = {"run": res.run_id, "folder": str(res.folder), "format": res.format}
    values["quantized"] = res.quantized or "no"
    for key in ("fp32", "int8"):
        p = res.parity.get(key)
        if p:
            values[f"{key}_max_abs_diff"] = p["max_abs_diff"]
            values[f"{key}_argmax_agreement"] = p["argmax_agreement"]
            if "accuracy_change_points" in p:
                values["int8_accuracy_change_points"] = p["accuracy_change_points"]
    values["parity_inputs"] = res.parity["inputs"]["n"]
    if summary(values, f"export of run {res.run_id}", args.json):
        return 0
    out.print(
        f"Predict without PyTorch: `transferkit predict --model {res.folder} INPUTS`, or "
        f"`transferkit.runtime.Predictor({str(res.folder)!r})`."
    )
    return 0
