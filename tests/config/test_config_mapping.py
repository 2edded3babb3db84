"""A command's settings as a flat mapping and a YAML file, and back (config/mapping.py,
config/files.py, config/reproduce.py's stored_run): the round trip for every command, the
representation of lists, booleans, None, paths and method options, and every refusal."""

from __future__ import annotations

import dataclasses

import pytest
import yaml

from transferkit.cli.commands import COMMANDS
from transferkit.cli.options import family_keys
from transferkit.config import (
    AdaptConfig,
    AutoConfig,
    CompareConfig,
    DataOptions,
    ExplainConfig,
    FitConfig,
    PretrainConfig,
    RankConfig,
    SimilarityConfig,
    TrainOptions,
    ZeroShotConfig,
)
from transferkit.config.files import dump_config, read_config_file
from transferkit.config.mapping import check_mapping, from_mapping, setting_keys, to_mapping
from transferkit.config.reproduce import Reproduction, stored_run
from transferkit.errors import UserError

WITH_SETTINGS = [c for c in COMMANDS if c.settings]


def _round_trip(command, objects):
    """settings -> mapping -> YAML text -> mapping -> settings."""
    text = dump_config(to_mapping(objects, command.settings), command.name, "a comment")
    loaded = yaml.safe_load(text)
    assert loaded["command"] == command.name
    return from_mapping(loaded, command.settings, command.name, family_keys(command.families))


@pytest.mark.parametrize("command", WITH_SETTINGS, ids=lambda c: c.name)
def test_every_commands_defaults_survive_the_round_trip(command):
    objects = [cls() for cls, _ in command.settings]
    assert _round_trip(command, objects) == objects


def _fit_command():
    return next(c for c in COMMANDS if c.name == "fit")


def test_lists_booleans_none_paths_and_method_options_survive_the_round_trip(tmp_path):
    fit = FitConfig(
        strategy="lora",
        model="file:/models/my model ü.safetensors",
        data=DataOptions(data=str(tmp_path / "my data" / "données é"), labels_per_class=None),
        train=TrainOptions(augment=False, amp=True, lr=3e-4, unfreeze=None, epochs=2),
        options={"lora_rank": 4, "lora_alpha": 16.0, "lora_dropout": 0.0, "lora_targets": None},
    )
    (back,) = _round_trip(_fit_command(), [fit])
    assert back == fit
    auto = next(c for c in COMMANDS if c.name == "auto")
    searched = AutoConfig(strategies=["linear", "lora"], image_sizes=[32, 64], labels="yes")
    (back,) = _round_trip(auto, [searched])
    assert back == searched and back.labels == "yes"  # a string YAML would read as a boolean


def test_the_mapping_is_flat_one_key_per_flag_with_the_options_beside_them():
    fit = FitConfig(strategy="lora", options={"lora_rank": 4})
    mapping = to_mapping([fit], _fit_command().settings)
    assert mapping["data"] == "" and mapping["lr"] is None and mapping["lora_rank"] == 4
    assert "train" not in mapping and "options" not in mapping
    assert list(mapping)[:2] == ["strategy", "seed"]  # the class's own settings first


def test_compare_takes_fits_settings_less_the_ones_it_replaces():
    compare = next(c for c in COMMANDS if c.name == "compare")
    keys = setting_keys(compare.settings)
    assert keys["labels_per_class"].field.type == "list[str]"  # compare's, not fit's
    assert "strategy" not in keys and "seed" not in keys and "strategies" in keys
    objects = [CompareConfig(seeds=2, labels_per_class=["10", "all"]), FitConfig(model="tiny-cnn")]
    back = _round_trip(compare, objects)
    assert back[0] == objects[0] and back[1].model == "tiny-cnn"


def test_a_value_of_an_integer_list_and_numbers_for_text_are_converted():
    compare = next(c for c in COMMANDS if c.name == "compare")
    known = setting_keys(compare.settings)
    values = check_mapping({"labels_per_class": [10, "all"], "lr": 1}, known, "f.yaml", "compare")
    assert values == {"labels_per_class": ["10", "all"], "lr": 1.0}


def _refusal(mapping, command="fit") -> str:
    cmd = next(c for c in COMMANDS if c.name == command)
    known = {**setting_keys(cmd.settings), **family_keys(cmd.families)}
    with pytest.raises(UserError) as e:
        check_mapping(mapping, known, "run.yaml", command)
    return str(e.value)


@pytest.mark.parametrize(
    "mapping, words",
    [
        ({"epoch": 3}, ["unknown setting 'epoch'", "did you mean 'epochs'"]),
        ({"labels-per-class": 3}, ["did you mean 'labels_per_class'"]),
        ({"lora-rank": 3}, ["did you mean 'lora_rank'"]),
        ({"epochs": "ten"}, ["epochs must be a whole number, not 'ten'"]),
        ({"epochs": 2.5}, ["epochs must be a whole number"]),
        ({"augment": "yes"}, ["augment must be true or false"]),
        ({"augment": 1}, ["augment must be true or false"]),
        ({"epochs": None}, ["epochs cannot be null"]),
        ({"data": True}, ["data must be text", "quote it"]),
        ({"epochs": 0}, ["epochs must be at least 1 (got 0)"]),
        ({"val_fraction": 1.5}, ["val_fraction must be below 1"]),
        ({"balance": "always"}, ["balance must be one of none, weights, sampler"]),
        ({"lora_rank": 0}, ["lora_rank must be at least 1"]),
        ({"command": "adapt"}, ["config for `transferkit adapt`, not `fit`", "--config run.yaml"]),
    ],
)
def test_a_bad_mapping_is_refused_naming_the_key_and_the_fix(mapping, words):
    message = _refusal(mapping)
    for w in words:
        assert w in message, message
    assert "\n" not in message


def test_list_settings_take_lists_and_check_each_element():
    assert "a list such as [a, b]" in _refusal({"scores": "logme"}, "rank")
    assert "image_sizes must be at least 8 (got 4)" in _refusal({"image_sizes": [64, 4]}, "auto")
    assert "a whole number" in _refusal({"image_sizes": [64, "big"]}, "auto")


def test_files_that_are_missing_not_yaml_or_not_a_mapping_are_refused(tmp_path):
    cases = {
        tmp_path / "missing.yaml": "does not exist",
        tmp_path: "is a folder",
    }
    (tmp_path / "bad.yaml").write_text("epochs: [1, 2\n")
    cases[tmp_path / "bad.yaml"] = "not valid YAML"
    (tmp_path / "list.yaml").write_text("- epochs\n- 3\n")
    cases[tmp_path / "list.yaml"] = "holds a list, not a mapping"
    (tmp_path / "latin.yaml").write_bytes("data: caf\xe9\n".encode("latin-1"))
    cases[tmp_path / "latin.yaml"] = "not UTF-8"
    for path, words in cases.items():
        with pytest.raises(UserError, match=words):
            read_config_file(path, "fit")
    (tmp_path / "empty.yaml").write_text("# nothing set\n")
    assert read_config_file(tmp_path / "empty.yaml", "fit") == {}


def test_a_file_cannot_make_python_objects(tmp_path):
    (tmp_path / "evil.yaml").write_text("data: !!python/object/apply:os.getcwd []\n")
    with pytest.raises(UserError, match="not valid YAML"):
        read_config_file(tmp_path / "evil.yaml", "fit")


def test_stored_runs_give_their_command_and_settings():
    fit = FitConfig(strategy="linear", model="tiny-cnn", options={})
    assert stored_run("fit", fit.to_dict()) == Reproduction("fit", [fit])
    assert stored_run("cv", {"k": 5, "fit": fit.to_dict()}) == Reproduction(
        "fit", [fit], ("--cv", "5")
    )
    stored = {
        "data": "d",
        "model": "tiny-cnn",
        "strategies": ["linear", "finetune"],
        "labels_per_class": [10, "all"],
        "seeds": [0, 1],
        "base": fit.to_dict(),
    }
    again = stored_run("compare", stored)
    compare, base = again.settings
    assert (
        again.command == "compare"
        and compare.seeds == 2
        and compare.labels_per_class == ["10", "all"]
    )
    assert base.model == "tiny-cnn"
    with pytest.raises(UserError, match="seeds 0..N-1"):
        stored_run("compare", {**stored, "seeds": [3, 4]}, "r1")
    adapt = AdaptConfig(source="s", target="t", methods=["dann", "coral"], options={"hidden": 8})
    assert stored_run("adapt", dataclasses.asdict(adapt)) == Reproduction("adapt", [adapt])
    with pytest.raises(UserError, match="adapt run it belongs to"):
        stored_run("adapt-member", dataclasses.asdict(adapt), "r1")


def test_a_stored_list_in_a_text_setting_is_written_as_its_flag_takes_it():
    """rank stores its candidates expanded (a list); --models takes them comma-separated."""
    rank = next(c for c in COMMANDS if c.name == "rank")
    stored = {**dataclasses.asdict(RankConfig(data="d")), "models": ["tiny-cnn", "cnn-small"]}
    again = stored_run("rank", stored)
    assert to_mapping(again.settings, rank.settings)["models"] == "tiny-cnn,cnn-small"
    assert again.argv()[again.argv().index("--models") + 1] == "tiny-cnn,cnn-small"


STORED_AS_IS = {
    "adapt": AdaptConfig,
    "auto": AutoConfig,
    "explain": ExplainConfig,
    "pretrain": PretrainConfig,
    "rank": RankConfig,
    "similarity": SimilarityConfig,
    "zeroshot": ZeroShotConfig,
}


@pytest.mark.parametrize("kind", STORED_AS_IS)
def test_a_stored_run_of_every_kind_gives_a_file_its_command_takes(kind):
    settings = STORED_AS_IS[kind]()
    again = stored_run(kind, dataclasses.asdict(settings))
    command = next(c for c in COMMANDS if c.name == again.command)
    assert (again.command, again.extra) == (kind, ())
    assert _round_trip(command, again.settings) == [settings]
