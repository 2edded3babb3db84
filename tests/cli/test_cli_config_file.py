"""--config FILE.yaml, --print-config and runs show RUN --config through real `transferkit`
subprocesses: the printed settings work as a file, flags override files, a stored run's file
runs it again with the same config and metrics; and every bad file is exit 2 with one
paragraph naming the problem."""

from __future__ import annotations

import dataclasses
import json
import shlex

import numpy as np
import pytest
import yaml
from conftest import run_cli
from PIL import Image

from transferkit.cli import main
from transferkit.config import AdaptConfig, AutoConfig, FitConfig, RankConfig
from transferkit.store import RunStore

LORA = ["--strategy", "lora", "--lora-rank", "4", "--no-augment", "--labels-per-class", "7"]


def _images(root):
    rng = np.random.default_rng(0)
    for c in ("a", "b"):
        (root / c).mkdir(parents=True)
        for i in range(8):
            Image.fromarray(rng.integers(0, 255, (8, 8), dtype=np.uint8)).save(
                root / c / f"{i}.png"
            )
    return root


@pytest.mark.slow
def test_printed_settings_work_as_a_file_and_flags_override_files(tmp_path):
    folder = tmp_path / "my configs é"
    folder.mkdir()
    data = str(tmp_path / "my data é")
    printed = run_cli("fit", "--data", data, *LORA, "--print-config", check=0).stdout
    values = yaml.safe_load(printed)
    assert values["command"] == "fit" and values["data"] == data
    assert (values["augment"], values["amp"], values["lr"]) == (False, True, None)
    assert (values["labels_per_class"], values["lora_rank"], values["lora_alpha"]) == (7, 4, 16.0)
    first = folder / "fit.yaml"
    first.write_text(printed, encoding="utf-8")
    assert run_cli("fit", "--config", str(first), "--print-config", check=0).stdout == printed

    second = folder / "more.yaml"
    second.write_text("epochs: 4\nlora_rank: 2\n", encoding="utf-8")
    merged = run_cli(
        "fit",
        *("--config", str(first), "--config", str(second), "--lora-rank", "3", "--print-config"),
        check=0,
    ).stdout
    values = yaml.safe_load(merged)
    assert (values["epochs"], values["lora_rank"], values["augment"]) == (4, 3, False)


@pytest.mark.slow
def test_a_run_shown_as_a_config_file_runs_again_with_the_same_config_and_metrics(tmp_path):
    data = str(_images(tmp_path / "my data é"))
    fast = ["--model", "tiny-cnn", "--image-size", "16", "--epochs", "1", "--json"]
    first = json.loads(run_cli("fit", "--data", data, "--strategy", "finetune", *fast).stdout)
    shown = run_cli("runs", "show", first["run"], "--config", check=0).stdout
    assert "transferkit fit --config FILE" in shown.splitlines()[1]
    (tmp_path / "run.yaml").write_text(shown, encoding="utf-8")
    again = json.loads(run_cli("fit", "--config", str(tmp_path / "run.yaml"), "--json").stdout)
    records = [
        json.loads(run_cli("runs", "show", r["run"], "--json", check=0).stdout)
        for r in (first, again)
    ]
    assert again["run"] != first["run"]
    assert records[0]["config"] == records[1]["config"]
    assert records[0]["config"]["data"]["data"] == data
    for key in ("test_accuracy", "test_macro_f1", "val_accuracy"):
        assert records[0]["metrics"][key] == records[1]["metrics"][key], key


@pytest.mark.slow
def test_a_run_reproduced_from_its_shown_command_line_gives_the_same_config_and_metrics():
    """The command ``runs show`` prints, split as a shell splits it, runs the fit again."""
    tiny = ["--data", "builtin:digits", "--model", "tiny-cnn", "--strategy", "finetune"]
    tiny += ["--epochs", "1", "--image-size", "16", "--labels-per-class", "10", "--seed", "3"]
    first = json.loads(run_cli("fit", *tiny, "--no-augment", "--json", check=0).stdout)
    shown = run_cli("runs", "show", first["run"], check=0).stdout.splitlines()
    (line,) = [x.removeprefix("reproduce: ") for x in shown if x.startswith("reproduce: ")]
    argv = shlex.split(line)
    assert argv[:2] == ["transferkit", "fit"] and "--no-augment" in argv, line
    again = json.loads(run_cli(*argv[1:], "--json", check=0).stdout)
    records = [
        json.loads(run_cli("runs", "show", r["run"], "--json", check=0).stdout)
        for r in (first, again)
    ]
    assert again["run"] != first["run"]
    assert records[0]["config"] == records[1]["config"]
    for key in ("test_accuracy", "test_macro_f1", "val_accuracy"):
        assert records[0]["metrics"][key] == records[1]["metrics"][key], key


def test_runs_show_prints_the_generated_command_of_every_kind(capsys):
    """Not only fit: every kind a command starts, and why not for a part of another run."""
    fit = FitConfig(model="tiny-cnn", options={}).to_dict()
    stored = {
        "fit": (fit, "transferkit fit --model tiny-cnn"),
        "cv": ({"k": 4, "fit": fit}, "transferkit fit --model tiny-cnn --cv 4"),
        "adapt": (
            dataclasses.asdict(AdaptConfig(source="s é", target="t", methods=["dann", "mcc"])),
            "transferkit adapt --source 's é' --target t --method dann,mcc",
        ),
        "auto": (
            dataclasses.asdict(AutoConfig(data="builtin:digits", labels_per_class=20, seed=5)),
            "transferkit auto --data builtin:digits --labels-per-class 20 --seed 5",
        ),
        "rank": (
            {**dataclasses.asdict(RankConfig(data="d")), "models": ["tiny-cnn", "cnn-small"]},
            "transferkit rank --data d --models tiny-cnn,cnn-small",
        ),
        "adapt-member": ({}, "which no command starts by itself"),
    }
    store = RunStore()
    for kind, (config, words) in stored.items():
        rid = store.create(kind, config, seed=0)
        assert main(["runs", "show", rid]) == 0
        printed = capsys.readouterr().out
        reproduce = printed.partition("\nreproduce: ")[2].splitlines()[0]
        assert reproduce.startswith(words) or kind == "adapt-member", printed
        assert words in reproduce, printed


def _bad_files(root):
    """(args, word the message must contain): one case per way a config file can be bad."""
    files = {
        "not_yaml.yaml": "epochs: [1, 2\n",
        "a_list.yaml": "- epochs\n- 3\n",
        "typo.yaml": "epoch: 3\n",
        "wrong_type.yaml": "epochs: ten\n",
        "out_of_bounds.yaml": "image_size: 0\n",
        "adapt.yaml": "command: adapt\nsource: s\n",
        "knn.yaml": "knn_k: 0\n",
        "rank.yaml": "data: somewhere\n",
    }
    for name, text in files.items():
        (root / name).write_text(text, encoding="utf-8")
    f = {name: str(root / name) for name in files}
    return [
        (["fit", "--config", str(root / "missing.yaml")], "does not exist"),
        (["fit", "--config", f["not_yaml.yaml"]], "not valid YAML"),
        (["fit", "--config", f["a_list.yaml"]], "not a mapping"),
        (["fit", "--config", f["typo.yaml"]], "did you mean 'epochs'"),
        (["fit", "--config", f["wrong_type.yaml"]], "epochs must be a whole number"),
        (["fit", "--config", f["out_of_bounds.yaml"]], "image_size must be at least 1"),
        (["fit", "--config", f["adapt.yaml"]], "`transferkit adapt --config"),
        (["rank", "--config", f["knn.yaml"], "--models", "tiny-cnn"], "knn_k must be at least 1"),
        (["rank", "--config", f["rank.yaml"]], "needs --models"),
        (["fit", "--epochs", "0", "--print-config"], "--epochs must be at least 1"),
        (["runs", "show", "r00000000-000000-dead", "--config"], "runs list"),
    ]


def test_every_bad_config_file_is_exit_2_and_one_paragraph(tmp_path, capsys):
    """In this process (the command line is parsed and refused before anything runs), through
    the same ``main`` the ``transferkit`` script calls."""
    failures = []
    for args, word in _bad_files(tmp_path):
        code = main(args)
        msg = capsys.readouterr().err.strip()
        if code == 2 and msg.startswith("error: ") and "\n" not in msg and word in msg:
            continue
        failures.append((args, code, msg[-600:]))
    assert not failures, "\n".join(map(str, failures))
