"""Settings of the commands that use a finished run: ``predict``, ``report`` and
``explain``."""

from __future__ import annotations

from dataclasses import dataclass, field

from transferkit.config.blocks import Batching, Columns, Reading, Seeded
from transferkit.config.fields import Default, Stored, defaults, opt


@dataclass
@defaults(batch_size=64)
class PredictConfig(Batching):
    """Predictions of a finished run."""

    run: str = opt("", "Run id (or unique prefix); or --model.")
    model: str | None = opt(
        None,
        "An exported model folder (`transferkit export`): predicts without the run store or "
        "PyTorch.",
        metavar="DIR",
    )
    inputs: str = opt("", "An image, a folder of images, or a dataset spec.", positional=True)
    device: str = opt("auto", "auto, cpu or cuda.")


@dataclass
class ReportConfig:
    """A self-contained HTML report and its Markdown twin."""

    runs: list[str] = field(
        default_factory=list,
        metadata={
            "help": "Run ids or unique prefixes: fit runs, compare or cv records.",
            "positional": True,
            "nargs": "*",
            "metavar": "RUN",
        },
    )
    last: int | None = opt(None, "Also report the N newest fit runs.", min=1, metavar="N")
    out: str | None = opt(
        None,
        "Output folder (default: the run's artifact folder; for "
        "several runs $TRANSFERKIT_HOME/reports/<time>).",
        metavar="DIR",
    )
    title: str | None = opt(None, "Report title (default: from the runs).")


@dataclass
@defaults(
    batch_size=Default(
        16,
        "Inputs explained at once (integrated gradients runs "
        "--ig-steps forward and backward passes per input).",
    ),
    seed=Default(
        0,
        "Seed of the samples: the inputs kept by --max, the target examples "
        "of the transfer analysis.",
    ),
)
class ExplainConfig(Stored, Seeded, Batching, Reading, Columns):
    """Attributions for a finished run's predictions, and what its transfer changed."""

    run: str = opt(
        "",
        "The run whose model is explained (id or unique prefix): fit, adapt, "
        "zeroshot ... any finished run that saved a model.",
        required=True,
    )
    inputs: str | None = opt(
        None,
        "Images (a file, a folder, a dataset spec) or texts (a "
        "table) to explain; without them only what transferred is "
        "analysed.",
        positional=True,
        nargs="?",
    )
    method: str = opt(
        "auto",
        "Attribution method (auto: gradcam for convolutional image backbones, ig otherwise).",
        registry="explain",
    )
    classes: list[str] = opt(
        [],
        "Explain these classes (comma-separated names), one map per "
        "input and class (default: each input's predicted class).",
    )
    max_inputs: int | None = opt(
        None,
        "Explain at most N inputs, a seeded sample when there "
        "are more; without --max, more than 64 are refused.",
        flag="--max",
        min=1,
        metavar="N",
    )
    ig_steps: int = opt(32, "Integrated gradients: steps of the path integral.", min=2)
    window: int = opt(
        8,
        "Occlusion: side of the square patch hidden at a time, in pixels (stride: half of it).",
        min=1,
    )
    transfer: bool = opt(
        True,
        "Also analyse what fine-tuning changed (per-block CKA and "
        "weight change) and which source classes the target classes "
        "map to.",
    )
    transfer_data: str | None = opt(
        None, "Labelled target examples for that analysis (default: the run's own data)."
    )
    transfer_examples: int = opt(
        500, "Most target examples for that analysis (a seeded sample).", min=10
    )
    device: str = opt("auto", "auto, cpu or cuda.")
