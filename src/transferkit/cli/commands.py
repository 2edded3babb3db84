"""The command line as a table: each command's settings classes, the families whose entries'
options it takes, its few extra arguments, and the function that runs it. The parser is built
from the table (:func:`transferkit.cli.parser.build_parser`)."""

from __future__ import annotations

from dataclasses import dataclass

from transferkit.config import (
    AdaptConfig,
    AutoConfig,
    CompareConfig,
    DemoConfig,
    ExplainConfig,
    ExportConfig,
    FitConfig,
    PredictConfig,
    PretrainConfig,
    RankConfig,
    ReportConfig,
    ServeConfig,
    SimilarityConfig,
    ZeroShotConfig,
)

JSON = (("--json",), {"action": "store_true", "help": "Print the result as JSON."})


def _resume(what: str):
    return (
        ("--resume",),
        {
            "metavar": "RUN",
            "help": f"Continue an interrupted {what} run "
            "from its last checkpoint, with its stored options.",
        },
    )


@dataclass(frozen=True)
class Command:
    """One command (or ``runs`` action): what it is for, what it parses, what runs it."""

    name: str
    help: str
    run: str = ""  # "module:function" in transferkit.cli
    settings: tuple[tuple[type, tuple[str, ...]], ...] = ()  # (settings class, fields skipped)
    families: tuple[str, ...] = ()  # registries whose entries' options this command takes
    args: tuple = ()  # ((flags...), argparse keyword arguments)
    actions: tuple[Command, ...] = ()


RUNS_ACTIONS = (
    Command(
        "list",
        "Recent runs, newest first.",
        args=(
            (("--kind",), {"help": "Only runs of this kind (fit, compare, adapt, ...)."}),
            (
                ("--status",),
                {"help": "Only runs with this status (running, done, failed, interrupted)."},
            ),
            (("--limit",), {"type": int, "default": 20, "help": "At most this many runs."}),
            JSON,
        ),
    ),
    Command(
        "show",
        "Everything recorded about one run.",
        args=(
            (("run",), {"help": "Run id (or unique prefix)."}),
            JSON,
            (
                ("--config",),
                {
                    "action": "store_true",
                    "help": "Print only the run's settings, as a YAML config file: "
                    "`transferkit runs show RUN --config > run.yaml` and then the command its "
                    "first lines name (`transferkit fit --config run.yaml`) runs it again.",
                },
            ),
        ),
    ),
    Command(
        "compare",
        "Two finished runs side by side, with a paired test when they share their test examples.",
        args=((("run_a",), {}), (("run_b",), {}), JSON),
    ),
    Command("delete", "Delete a run and its artifacts.", args=((("run",), {}),)),
    Command(
        "check",
        "Verify the run store: database integrity, runs left running by a process "
        "that is gone, records without an artifact folder, folders without a "
        "record, leftover temporary files. Exit 0: clean (or all repaired); 1: "
        "problems left; 2: the store cannot be opened.",
        args=(
            (
                ("--repair",),
                {
                    "action": "store_true",
                    "help": "Fix what was found: mark stale runs "
                    "interrupted, runs without a folder failed; remove orphan folders and "
                    "temporary files.",
                },
            ),
            JSON,
        ),
    ),
)

COMMANDS = (
    Command(
        "zoo",
        "List source models and whether they work offline now.",
        "zoo:cmd_zoo",
        args=(
            (
                ("pattern",),
                {
                    "nargs": "?",
                    "default": "*",
                    "help": "Shell pattern, e.g. 'effnet*' or 'timm:resnet*'.",
                },
            ),
            JSON,
        ),
    ),
    Command(
        "fit",
        "Transfer a source model to labelled target data.",
        "fit:cmd_fit",
        settings=((FitConfig, ()),),
        families=("strategy",),
        args=(
            _resume("fit"),
            (
                ("--cv",),
                {
                    "type": int,
                    "metavar": "K",
                    "help": "Stratified K-fold "
                    "cross-validation of this configuration over the labelled "
                    "examples (per-fold and pooled metrics).",
                },
            ),
            JSON,
        ),
    ),
    Command(
        "runs",
        "List, show, compare, delete or check recorded runs.",
        "runs:cmd_runs",
        actions=RUNS_ACTIONS,
    ),
    Command(
        "compare",
        "Strategies x labels per class x seeds on the same splits: mean, "
        "spread, 95% CI and paired differences.",
        "fit:cmd_compare",
        settings=((CompareConfig, ()), (FitConfig, ("strategy", "seed", "labels_per_class"))),
        families=("strategy",),
        args=(JSON,),
    ),
    Command(
        "pretrain",
        "Make your own source model: supervised, multitask (several labelled sources), "
        "autoencoder, vae, contrastive or image-text (a CLIP-style model) pretraining; the "
        "result joins the zoo.",
        "pretrain:cmd_pretrain",
        settings=((PretrainConfig, ()),),
        families=("pretrain",),
        args=(_resume("pretrain"), JSON),
    ),
    Command(
        "predict",
        "Predict with a finished run; CSV on stdout.",
        "predict:cmd_predict",
        settings=((PredictConfig, ()),),
    ),
    Command(
        "export",
        "Export a finished run's model to a folder that predicts without PyTorch: ONNX, "
        "config.json, a model card and a parity check against the run.",
        "export:cmd_export",
        settings=((ExportConfig, ()),),
        args=(JSON,),
    ),
    Command(
        "serve",
        "Serve an exported model (or a run, exported first) over HTTP: POST /predict, "
        "GET /health, GET /metadata.",
        "serve:cmd_serve",
        settings=((ServeConfig, ()),),
    ),
    Command(
        "demo",
        "Offline demo: ImageNet EfficientNet-Lite0 -> Fashion-MNIST, linear vs "
        "finetune, with a comparison table.",
        "fit:cmd_demo",
        settings=((DemoConfig, ()),),
    ),
    Command(
        "report",
        "Write a self-contained HTML report (and a Markdown twin) for runs or "
        "comparisons; prints the HTML path.",
        "runs:cmd_report",
        settings=((ReportConfig, ()),),
    ),
    Command(
        "rank",
        "Rank source models for labelled target data by transferability scores, "
        "without training them.",
        "rank:cmd_rank",
        settings=((RankConfig, ()),),
        families=("score",),
        args=(JSON,),
    ),
    Command(
        "similarity",
        "Distance between two datasets in a backbone's feature space (MMD "
        "with p-value, proxy A-distance, per class).",
        "rank:cmd_similarity",
        settings=((SimilarityConfig, ()),),
        args=(JSON,),
    ),
    Command(
        "adapt",
        "Domain adaptation: labelled source, unlabelled target, every method "
        "chosen between without target labels.",
        "adapt:cmd_adapt",
        settings=((AdaptConfig, ()),),
        families=("adaptation",),
        args=(_resume("adapt"), JSON),
    ),
    Command(
        "auto",
        "Automatic transfer within a time budget: rank the source models, try the "
        "cheap strategies, then successive halving over fine-tuning recipes; the "
        "winner is chosen by validation and tested once.",
        "auto:cmd_auto",
        settings=((AutoConfig, ()),),
        args=(_resume("auto"), JSON),
    ),
    Command(
        "explain",
        "Why a finished run predicts what it does (Grad-CAM, integrated "
        "gradients, occlusion; token attributions for text) and what its "
        "transfer changed: per-block CKA and weight change, the source classes "
        "the target classes map to.",
        "explain:cmd_explain",
        settings=((ExplainConfig, ()),),
        args=(JSON,),
    ),
    Command(
        "zeroshot",
        "Classify text (or images, with CLIP) by similarity to embedded label "
        "descriptions; no training. Few-shot prototypes with --shots.",
        "zeroshot:cmd_zeroshot",
        settings=((ZeroShotConfig, ()),),
        args=(JSON,),
    ),
)

EXAMPLES = """examples:
  transferkit zoo
  transferkit fit --data builtin:fashion-mnist --labels-per-class 100 --model effnet-lite0 --strategy finetune
  transferkit runs list ; transferkit runs show RUN
  transferkit predict --run RUN path/to/images/ > predictions.csv
  transferkit fit --data reviews.csv --text-column text --model minilm-l6 --strategy lora
  transferkit zeroshot --data docs.csv --labels "sports,politics,technology" --model minilm-l6
  transferkit demo
"""
