"""The ``transferkit`` command: parses arguments into the API's config objects and calls it.

No logic lives here beyond formatting. User errors print one paragraph and exit with code 2;
an interrupted training run exits with 130 and says how to resume it.
"""

from __future__ import annotations

import argparse
import csv
import dataclasses
import json
import os
import sys
import types
import typing
from typing import Any

from transferkit.config import DataOptions, FitConfig, PretrainConfig, TrainOptions
from transferkit.errors import RunInterrupted, UserError

EXAMPLES = """examples:
  transferkit zoo
  transferkit fit --data builtin:fashion-mnist --labels-per-class 100 --model effnet-lite0 --strategy finetune
  transferkit runs list ; transferkit runs show RUN
  transferkit predict --run RUN path/to/images/ > predictions.csv
  transferkit fit --data reviews.csv --text-column text --model minilm-l6 --strategy lora
  transferkit zeroshot --data docs.csv --labels "sports,politics,technology" --model minilm-l6
  transferkit demo
"""


def _flag(name: str) -> str:
    return "--" + name.replace("_", "-")


def _base_type(tp: Any) -> Any:
    """int for ``int | None``, etc."""
    if isinstance(tp, types.UnionType) or typing.get_origin(tp) is typing.Union:
        args = [a for a in typing.get_args(tp) if a is not type(None)]
        return args[0]
    return tp


def add_dataclass_options(parser: argparse.ArgumentParser, cls: type, skip=()) -> None:
    """One option per dataclass field, with the field's help text and default."""
    hints = typing.get_type_hints(cls)
    for f in dataclasses.fields(cls):
        if f.name in skip or f.name not in hints or dataclasses.is_dataclass(hints[f.name]):
            continue
        tp = _base_type(hints[f.name])
        default = f.default if f.default is not dataclasses.MISSING else None
        help_text = f.metadata.get("help", "")
        if tp is bool:
            parser.add_argument(_flag(f.name), dest=f.name, action=argparse.BooleanOptionalAction,
                                default=argparse.SUPPRESS, help=f"{help_text} (default: {default})")
        else:
            parser.add_argument(_flag(f.name), dest=f.name, type=tp, default=argparse.SUPPRESS,
                                metavar=f.name.upper(), help=f"{help_text} (default: {default})")


def dataclass_from_args(cls, ns: argparse.Namespace):
    """The settings dataclass ``cls`` filled from the parsed options of the same names."""
    names = {f.name for f in dataclasses.fields(cls)}
    return cls(**{k: v for k, v in vars(ns).items() if k in names})


def config_from_args(ns: argparse.Namespace) -> FitConfig:
    """FitConfig with only the options the user gave overriding the defaults."""
    given = vars(ns)
    sub = {name: dataclass_from_args(cls, ns)
           for cls, name in ((DataOptions, "data"), (TrainOptions, "train"))}
    top = {f.name for f in dataclasses.fields(FitConfig)} - {"data", "train"}
    return FitConfig(**{k: v for k, v in given.items() if k in top}, **sub)


def reproduce_command(cfg: dict[str, Any]) -> str:
    """The `transferkit fit` command line that reproduces a stored config."""
    parts = ["transferkit fit"]
    flat = {**{k: v for k, v in cfg.items() if k not in ("data", "train")},
            **cfg.get("data", {}), **cfg.get("train", {})}
    defaults = {**dataclasses.asdict(FitConfig()), **dataclasses.asdict(DataOptions()),
                **dataclasses.asdict(TrainOptions())}
    for k, v in flat.items():
        if k in ("data_", ) or v == defaults.get(k):
            continue
        if isinstance(v, bool):
            parts.append(_flag(k) if v else "--no-" + k.replace("_", "-"))
        elif v is not None:
            parts.append(f"{_flag(k)} {v}")
    return " ".join(parts)


def build_parser() -> argparse.ArgumentParser:
    p = argparse.ArgumentParser(
        prog="transferkit", description="Transfer learning: reuse a pretrained source model on "
        "your target data.", epilog=EXAMPLES, formatter_class=argparse.RawDescriptionHelpFormatter)
    p.add_argument("-q", "--quiet", action="store_true", help="No progress bars or status lines.")
    sub = p.add_subparsers(dest="command", metavar="COMMAND")

    z = sub.add_parser("zoo", help="List source models and whether they work offline now.")
    z.add_argument("pattern", nargs="?", default="*", help="Shell pattern, e.g. 'effnet*' or 'timm:resnet*'.")
    z.add_argument("--json", action="store_true", help="Print JSON instead of a table.")

    f = sub.add_parser("fit", help="Transfer a source model to labelled target data.",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_dataclass_options(f, FitConfig)
    add_dataclass_options(f, DataOptions)
    add_dataclass_options(f, TrainOptions)
    f.add_argument("--resume", metavar="RUN", help="Continue an interrupted run from its last checkpoint.")
    f.add_argument("--cv", type=int, metavar="K", help="Stratified K-fold cross-validation of "
                   "this configuration over the labelled examples (per-fold and pooled metrics).")
    f.add_argument("--json", action="store_true", help="Print the result as JSON.")

    r = sub.add_parser("runs", help="List, show or delete recorded runs.")
    rs = r.add_subparsers(dest="runs_command", metavar="ACTION")
    rl = rs.add_parser("list", help="Recent runs, newest first.")
    rl.add_argument("--kind"), rl.add_argument("--status"), rl.add_argument("--limit", type=int, default=20)
    rl.add_argument("--json", action="store_true")
    rsh = rs.add_parser("show", help="Everything recorded about one run.")
    rsh.add_argument("run")
    rsh.add_argument("--json", action="store_true")
    rc = rs.add_parser("compare", help="Two finished runs side by side, with a paired test "
                       "when they share their test examples.")
    rc.add_argument("run_a")
    rc.add_argument("run_b")
    rc.add_argument("--json", action="store_true")
    rd = rs.add_parser("delete", help="Delete a run and its artifacts.")
    rd.add_argument("run")

    c = sub.add_parser("compare", help="Strategies x labels per class x seeds on the same "
                       "splits: mean, spread, 95%% CI and paired differences.",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    c.add_argument("--strategies", default="linear,finetune,scratch",
                   help="Comma-separated strategies; the first is the baseline of the differences.")
    c.add_argument("--labels-per-class", dest="budgets", default="10,100",
                   help="Comma-separated label budgets per class, or 'all'.")
    c.add_argument("--seeds", type=int, default=3, help="Number of seeds (0..N-1).")
    c.add_argument("--no-reuse", action="store_true", help="Retrain cells already in the store.")
    c.add_argument("--json", action="store_true")
    add_dataclass_options(c, FitConfig, skip=("strategy", "seed"))
    add_dataclass_options(c, DataOptions, skip=("labels_per_class",))
    add_dataclass_options(c, TrainOptions)

    pt = sub.add_parser("pretrain", help="Make your own source model: supervised, autoencoder, "
                        "vae or contrastive pretraining; the result joins the zoo.",
                        formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_dataclass_options(pt, PretrainConfig)
    pt.add_argument("--resume", metavar="RUN", help="Continue an interrupted pretrain run.")
    pt.add_argument("--json", action="store_true")

    pr = sub.add_parser("predict", help="Predict with a finished run; CSV on stdout.")
    pr.add_argument("--run", required=True, help="Run id (or unique prefix).")
    pr.add_argument("inputs", help="An image, a folder of images, or a dataset spec.")
    pr.add_argument("--batch-size", type=int, default=64)
    pr.add_argument("--device", default="auto")

    d = sub.add_parser("demo", help="Offline demo: ImageNet EfficientNet-Lite0 -> Fashion-MNIST, "
                       "linear vs finetune, with a comparison table.")
    d.add_argument("--data", default="builtin:fashion-mnist")
    d.add_argument("--model", default="effnet-lite0")
    d.add_argument("--labels-per-class", type=int, default=20)
    d.add_argument("--image-size", type=int, default=64)
    d.add_argument("--epochs", type=int, default=8)
    d.add_argument("--max-test", type=int, default=1000)
    d.add_argument("--seed", type=int, default=0)

    rp = sub.add_parser("report", help="Write a self-contained HTML report (and a Markdown twin) "
                        "for runs or comparisons; prints the HTML path.")
    rp.add_argument("runs", nargs="*", metavar="RUN",
                    help="Run ids or unique prefixes: fit runs, compare or cv records.")
    rp.add_argument("--last", type=int, metavar="N", help="Also report the N newest fit runs.")
    rp.add_argument("--out", metavar="DIR", help="Output folder (default: the run's artifact "
                    "folder; for several runs $TRANSFERKIT_HOME/reports/<time>).")
    rp.add_argument("--title", help="Report title (default: from the runs).")

    rk = sub.add_parser("rank", help="Rank source models for labelled target data by "
                        "transferability scores, without training them.")
    rk.add_argument("--data", required=True, help="Labelled target data (folder, manifest, "
                    "builtin:NAME).")
    rk.add_argument("--models", required=True, help="Comma-separated candidates; shell patterns "
                    "such as 'effnet*' or 'timm:resnet*' are expanded.")
    rk.add_argument("--score", help="Rank by this score only (with --scores: rank by it first).")
    rk.add_argument("--scores", help="Comma-separated scores (default: logme,leep,nce,hscore,knn;"
                    " also linear-probe); the first orders the table.")
    rk.add_argument("--max-examples", type=int, help="Score a stratified sample of this size.")
    rk.add_argument("--knn-k", type=int, help="Neighbours for the knn score (default 5).")
    rk.add_argument("--probe-folds", type=int, help="Folds of the linear-probe score "
                    "(default 5).")
    rk.add_argument("--labels-per-class", type=int, help="Use fit's labelled examples for this "
                    "label budget.")
    rk.add_argument("--image-size", type=int, help="Input size for every candidate.")
    _add_column_options(rk)
    rk.add_argument("--seed", type=int, default=0)
    rk.add_argument("--batch-size", type=int, default=64)
    rk.add_argument("--device", default="auto")
    rk.add_argument("--json", action="store_true", help="Print the result as JSON.")

    sm = sub.add_parser("similarity", help="Distance between two datasets in a backbone's "
                        "feature space (MMD with p-value, proxy A-distance, per class).")
    sm.add_argument("--source", required=True)
    sm.add_argument("--target", required=True)
    sm.add_argument("--model", required=True)
    sm.add_argument("--max-examples", type=int, default=2000, help="Examples per side.")
    sm.add_argument("--permutations", type=int, default=200, help="For the MMD p-value.")
    sm.add_argument("--image-size", type=int)
    _add_column_options(sm)
    sm.add_argument("--seed", type=int, default=0)
    sm.add_argument("--batch-size", type=int, default=64)
    sm.add_argument("--device", default="auto")
    sm.add_argument("--json", action="store_true", help="Print the result as JSON.")
    add_adapt_parser(sub)
    add_zeroshot_parser(sub)
    _quiet_everywhere(sub)
    return p


def _quiet_everywhere(sub) -> None:
    """``-q`` / ``--quiet`` after the command too (``transferkit fit ... --quiet``)."""
    for parser in sub.choices.values():
        parser.add_argument("-q", "--quiet", action="store_true", default=argparse.SUPPRESS,
                            help="No progress bars or status lines.")
        for action in parser._subparsers._group_actions if parser._subparsers else ():
            _quiet_everywhere(action)


def _add_column_options(parser) -> None:
    parser.add_argument("--text-column", help="Text tables: the column with the texts "
                        "(default: text, sentence, ... if present).")
    parser.add_argument("--label-column", help="The column with the labels (default: label).")


def add_zeroshot_parser(sub) -> None:
    """`transferkit zeroshot`: options from ZeroShotConfig."""
    from transferkit.config import ZeroShotConfig

    zs = sub.add_parser("zeroshot", help="Classify text (or images, with CLIP) by similarity "
                        "to embedded label descriptions; no training. Few-shot prototypes "
                        "with --shots.", formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    add_dataclass_options(zs, ZeroShotConfig)
    zs.add_argument("--json", action="store_true", help="Print the result as JSON.")


def add_adapt_parser(sub) -> None:
    """`transferkit adapt`: labelled source + unlabelled target (options from AdaptConfig)."""
    from transferkit.config import AdaptConfig

    a = sub.add_parser("adapt", help="Domain adaptation: labelled source, unlabelled target "
                       "(dann, cdan, dan, coral, mcc, adabn, source-only; shallow-coral, "
                       "subspace-alignment, importance-weighting), chosen without target labels.",
                       formatter_class=argparse.ArgumentDefaultsHelpFormatter)
    a.add_argument("--method", dest="methods", default="dann",
                   help="Comma-separated methods; every one runs and the label-free rule picks.")
    a.add_argument("--trade-off", dest="trade_offs", default="1.0",
                   help="Comma-separated weights of the transfer loss to try (deep methods).")
    add_dataclass_options(a, AdaptConfig, skip=("methods", "trade_offs"))
    a.add_argument("--resume", metavar="RUN", help="Continue an interrupted adapt run with its "
                   "stored options (finished members are kept, the interrupted one continues "
                   "from its checkpoint).")
    a.add_argument("--json", action="store_true", help="Print the result as JSON.")


def main(argv: list[str] | None = None) -> int:
    parser = build_parser()
    args = parser.parse_args(argv)
    if args.quiet:
        os.environ["TRANSFERKIT_QUIET"] = "1"
    if not args.command:
        parser.print_help()
        return 2
    from transferkit import commands

    try:
        return getattr(commands, f"cmd_{args.command}")(args) or 0
    except UserError as e:
        print(f"error: {e}", file=sys.stderr)
        return e.exit_code
    except RunInterrupted as e:
        print(f"interrupted: {e}. The run is marked interrupted; continue it with "
              f"`transferkit {args.command} --resume {getattr(e, 'run_id', 'RUN')}`.",
              file=sys.stderr)
        return e.exit_code
    except KeyboardInterrupt:
        print("interrupted", file=sys.stderr)
        return 130
    except BrokenPipeError:
        return 0


def write_csv(rows: list[dict[str, Any]], out=None) -> None:
    out = out or sys.stdout
    if not rows:
        return
    w = csv.DictWriter(out, fieldnames=list(rows[0]))
    w.writeheader()
    w.writerows(rows)


def print_json(obj: Any) -> None:
    print(json.dumps(obj, indent=2, default=str))


if __name__ == "__main__":
    sys.exit(main())
