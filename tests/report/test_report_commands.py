"""Every report's "Command to reproduce it" is generated (config/reproduce.py) and parses back,
through the real parser, to its run's stored settings, for a run of every kind a command
starts; and no command line is written by hand in report/ or runs/."""

from __future__ import annotations

import ast
import dataclasses
import re
import shlex
from pathlib import Path

import pytest

import transferkit
from transferkit.cli.commands import COMMANDS
from transferkit.cli.config_file import merge_config_files, settings_of
from transferkit.cli.options import family_keys
from transferkit.cli.parser import build_parser
from transferkit.config import (
    AdaptConfig,
    AutoConfig,
    DataOptions,
    ExplainConfig,
    FitConfig,
    PretrainConfig,
    RankConfig,
    SimilarityConfig,
    TrainOptions,
    ZeroShotConfig,
)
from transferkit.config.fields import flag_of
from transferkit.config.mapping import setting_keys
from transferkit.config.reproduce import stored_run
from transferkit.report.build import make_document
from transferkit.report.document import Code, Details, Section
from transferkit.report.explain import transfer_blocks
from transferkit.store import RunStore

FIT = FitConfig(
    strategy="lora",
    model="tiny-cnn",
    seed=3,
    data=DataOptions(data="/data/my images é", labels_per_class=7, image_size=16),
    train=TrainOptions(augment=False, epochs=2, lr=3e-4),
    options={"lora_rank": 4, "lora_alpha": 16.0, "lora_dropout": 0.1, "lora_targets": None},
)
#: The issue's search: its report said only `transferkit auto --data ... --budget 3m`.
AUTO = AutoConfig(data="builtin:digits", labels_per_class=20, budget="3m", image_sizes=[32], seed=5)
STORED = {
    "fit": FIT.to_dict(),
    "cv": {"k": 3, "fit": FIT.to_dict()},
    "compare": {
        "data": "d é",
        "model": "tiny-cnn",
        "strategies": ["linear", "finetune"],
        "labels_per_class": [10, "all"],
        "seeds": [0, 1],
        "base": FitConfig(model="tiny-cnn", data=DataOptions(data="d é", image_size=32)).to_dict(),
    },
    "adapt": dataclasses.asdict(
        AdaptConfig(
            source="my source",
            target="cible ü",
            methods=["dann", "coral"],
            trade_offs=[0.5, 1.0],
            target_labels_for_eval=True,
            options={"hidden": 8},
        )
    ),
    "rank": {
        **dataclasses.asdict(RankConfig(data="builtin:digits", scores=["logme", "knn"])),
        "models": ["tiny-cnn", "cnn-small"],
        "options": {"knn_k": 3},
    },
    "similarity": dataclasses.asdict(
        SimilarityConfig(source="a b", target="c", model="tiny-cnn", permutations=50, seed=2)
    ),
    "auto": dataclasses.asdict(AUTO),
    "explain": dataclasses.asdict(
        ExplainConfig(run="r1", inputs="/imgs/my cat.png", classes=["cat", "dog"], max_inputs=4)
    ),
    "pretrain": dataclasses.asdict(
        PretrainConfig(data="builtin:digits", method="autoencoder", options={"latent_dim": 16})
    ),
    "zeroshot": dataclasses.asdict(ZeroShotConfig(data="docs é.csv", labels="a=b,c=d", shots=2)),
}


def _codes(blocks: list) -> list[Code]:
    out = []
    for b in blocks:
        if isinstance(b, Code):
            out.append(b)
        elif isinstance(b, (Details, Section)):
            out += _codes(b.blocks)
    return out


def _reported_command(store: RunStore, kind: str) -> str:
    rid = store.create(kind, STORED[kind], seed=0, data_fingerprint="fp")
    store.finish(rid, metrics={})
    doc = make_document([store.get(rid)])
    (code,) = [c for s in doc.sections for c in _codes(s.blocks) if "reproduce" in c.caption]
    return code.text


def _without_none_options(objects: list) -> list:
    """The command line leaves out options given None (the run fills in their default)."""
    return [
        dataclasses.replace(o, options={k: v for k, v in o.options.items() if v is not None})
        if hasattr(o, "options")
        else o
        for o in objects
    ]


@pytest.mark.parametrize("kind", STORED)
def test_every_reports_command_parses_back_to_the_stored_settings(kind, tmp_path):
    line = _reported_command(RunStore(tmp_path / "home"), kind)
    argv = shlex.split(line)
    command = next(c for c in COMMANDS if c.name == argv[1])
    args = build_parser(command.name).parse_args(argv[1:])
    merge_config_files(args, command)
    assert settings_of(args, command) == _without_none_options(
        stored_run(kind, STORED[kind]).settings
    ), line
    if kind == "cv":
        assert args.cv == 3
    if kind == "auto":
        assert "--labels-per-class 20 --image-sizes 32 --seed 5" in line


def _literals(path: Path):
    """Every string literal of a module but its docstrings (which may show a usage); an
    f-string with its placeholders as ``{}``."""
    tree = ast.parse(path.read_text(encoding="utf-8"))
    docs = {
        id(node.body[0].value)
        for node in ast.walk(tree)
        if isinstance(node, (ast.Module, ast.ClassDef, ast.FunctionDef, ast.AsyncFunctionDef))
        and node.body
        and isinstance(node.body[0], ast.Expr)
    }
    for node in ast.walk(tree):
        if isinstance(node, ast.JoinedStr):
            yield "".join(v.value if isinstance(v, ast.Constant) else "{}" for v in node.values)
        elif (
            isinstance(node, ast.Constant) and isinstance(node.value, str) and id(node) not in docs
        ):
            yield node.value


def _setting_flags(command) -> set[str]:
    """The flags of a command's settings and of its entries' options."""
    settings = {flag_of(s.field) for s in setting_keys(command.settings).values()}
    return settings | {"--" + k.replace("_", "-") for k in family_keys(command.families)}


def test_no_command_line_is_written_by_hand_in_report_or_runs():
    """A literal that starts a command and gives it a setting (``transferkit auto --data {}
    --budget {}``), or that is only the start of one (``"transferkit rank"``, the arguments
    appended after it), is a hand-written command; hints that name the run a command acts on
    (``transferkit fit --resume ID``, ``transferkit explain --run ID``) are not."""
    commands = {c.name: c for c in COMMANDS}
    root = Path(transferkit.__file__).parent
    found = []
    for path in sorted([*(root / "report").rglob("*.py"), *(root / "runs").rglob("*.py")]):
        for text in _literals(path):
            for m in re.finditer(r"transferkit ([a-z][a-z-]*)([^`]*)", text):
                command = commands.get(m.group(1))
                if command is None:
                    continue
                flags = set(re.findall(r"--[a-z][a-z-]*", m.group(2))) - {"--run", "--resume"}
                bare = text.strip() == f"transferkit {command.name}"
                if flags & _setting_flags(command) or bare:
                    found.append(f"{path.relative_to(root)}: {text!r}")
    assert not found, "\n".join(found)


def test_the_cheaper_recipe_a_transfer_analysis_suggests_is_the_fit_with_fewer_blocks():
    (code,) = _codes(transfer_blocks({"suggested_unfreeze": 2}, "r1", FIT.to_dict()))
    argv = shlex.split(code.text)
    command = next(c for c in COMMANDS if c.name == "fit")
    args = build_parser("fit").parse_args(argv[1:])
    cheaper = dataclasses.replace(FIT, train=dataclasses.replace(FIT.train, unfreeze=2))
    assert settings_of(args, command) == _without_none_options([cheaper]), code.text
