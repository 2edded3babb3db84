"""How to run a stored run again: the command line that reproduces it, and the same settings as
a YAML config file (``runs show RUN`` and ``runs show RUN --config``, every report's "Command
to reproduce it").

Both are generated from the settings dataclasses the command line itself is generated from
(:mod:`transferkit.config.mapping`): every key of a command's mapping is one flag, so a new
setting is in the command as soon as it is a field, and nothing is written by hand.
:func:`command_args` turns a command's settings into its arguments (settings at their defaults
left out, the entries' options always written), shell-quoted by :func:`command_line`;
:func:`stored_run` finds the command a stored run belongs to from its record's kind.
"""

from __future__ import annotations

import dataclasses
import shlex
import typing
from dataclasses import dataclass
from typing import Any

from transferkit.config.adapt import AdaptConfig
from transferkit.config.auto import AutoConfig
from transferkit.config.compare import CompareConfig
from transferkit.config.fields import flag_of
from transferkit.config.files import dump_config
from transferkit.config.finished import ExplainConfig
from transferkit.config.fit import FitConfig
from transferkit.config.mapping import Part, base_type, setting_keys, to_mapping
from transferkit.config.pretrain import PretrainConfig
from transferkit.config.rank import RankConfig, SimilarityConfig
from transferkit.config.zeroshot import ZeroShotConfig
from transferkit.errors import UserError

PROGRAM = "transferkit"
#: fit's settings that compare replaces with its own lists.
COMPARE_SKIPS = ("strategy", "seed", "labels_per_class")
#: The settings of each command a stored run is reproduced by, as the command table of
#: :mod:`transferkit.cli.commands` gives them (a test holds the two equal).
PARTS: dict[str, tuple[Part, ...]] = {
    "fit": ((FitConfig, ()),),
    "compare": ((CompareConfig, ()), (FitConfig, COMPARE_SKIPS)),
    "adapt": ((AdaptConfig, ()),),
    "auto": ((AutoConfig, ()),),
    "explain": ((ExplainConfig, ()),),
    "pretrain": ((PretrainConfig, ()),),
    "rank": ((RankConfig, ()),),
    "similarity": ((SimilarityConfig, ()),),
    "zeroshot": ((ZeroShotConfig, ()),),
}
#: Run kinds that are parts of another run: the run to reproduce instead.
_PART_OF = {"adapt-member": "adapt", "auto-worker": "auto"}
#: Run kinds that a search makes from other runs (no command of their own): the search to show.
_MADE_BY = {"ensemble": "auto"}


def _cannot(flag: str, value: Any, why: str) -> UserError:
    return UserError(
        f"{flag} {value!r} cannot be written on the command line ({why}). Run it from a config "
        "file instead: `transferkit runs show RUN --config > run.yaml`, then the command its "
        "first lines name."
    )


def _text(value: Any) -> str:
    """A value as its option reads it (floats exactly: ``repr``)."""
    return repr(value) if isinstance(value, float) else str(value)


def _list_text(flag: str, items: list[Any]) -> str:
    """A list as its comma-separated option takes it; an item that the splitting would change
    (a comma, an empty item, spaces around it) cannot be written that way."""
    texts = [_text(v) for v in items]
    for text in texts:
        if not text or "," in text or text != text.strip():
            raise _cannot(flag, text, "list items are split at commas and stripped")
    return ",".join(texts)


def _flag_args(flag: str, value: Any) -> list[str]:
    """``--flag VALUE`` (``--flag=VALUE`` when the value starts with a dash, so that it is not
    read as an option), ``--flag`` / ``--no-flag`` for a boolean."""
    if isinstance(value, bool):
        return [flag if value else "--no-" + flag[2:]]
    text = _list_text(flag, value) if isinstance(value, list) else _text(value)
    return [f"{flag}={text}"] if text.startswith("-") else [flag, text]


def _positional(value: Any, nargs: str | None) -> list[str]:
    if value is None:
        return []
    return [_text(v) for v in value] if nargs == "*" else [_text(value)]


def command_args(
    mapping: dict[str, Any], parts: tuple[Part, ...], extra: tuple[str, ...] = ()
) -> list[str]:
    """The arguments that give a command (of settings ``parts``) the settings in ``mapping``
    (:func:`~transferkit.config.mapping.to_mapping`'s). Settings at their defaults are left
    out unless required; the entries' own options (``lora_rank``) are always written, and
    left out when None (no option is given None otherwise: the run fills in its default).
    ``extra`` (arguments that are not settings, such as ``--cv 5``) follow the flags, then the
    positionals, after ``--`` when one starts with a dash. A UserError for a value the command
    line cannot carry (None where the default is not, a list item with a comma)."""
    known = setting_keys(parts)
    defaults = to_mapping([cls() for cls, _ in parts], parts)
    args: list[str] = []
    positionals: list[str] = []
    for key, value in mapping.items():
        s = known.get(key)
        meta = s.field.metadata if s else {}
        flag = flag_of(s.field) if s else "--" + key.replace("_", "-")
        if meta.get("positional"):
            positionals += _positional(value, meta.get("nargs"))
        elif s and value == defaults[key] and not meta.get("required"):
            continue
        elif value is None and s and defaults[key] is not None:
            raise _cannot(flag, value, f"the option takes a value; its default is {defaults[key]}")
        elif value is not None:
            args += _flag_args(flag, value)
    if any(p.startswith("-") for p in positionals):
        positionals = ["--", *positionals]
    return [*args, *extra, *positionals]


def command_argv(
    command: str, settings: list[Any], parts: tuple[Part, ...], extra: tuple[str, ...] = ()
) -> list[str]:
    """``transferkit COMMAND ARGS...`` for the settings objects of ``command`` (one per part),
    with ``extra`` (arguments that are not settings, such as ``--cv 5``) at the end."""
    return [PROGRAM, command, *command_args(to_mapping(settings, parts), parts, extra)]


def command_line(
    command: str, settings: list[Any], parts: tuple[Part, ...], extra: tuple[str, ...] = ()
) -> str:
    """:func:`command_argv` as one shell-quoted line: paths with spaces, quotes or non-ASCII
    names survive ``shlex.split`` (and a POSIX shell) unchanged."""
    return shlex.join(command_argv(command, settings, parts, extra))


@dataclass(frozen=True)
class Reproduction:
    """A stored run as the command that runs it again: the command's name, its settings
    objects (one per part of :data:`PARTS`), and the arguments that are not settings."""

    command: str
    settings: list[Any]
    extra: tuple[str, ...] = ()

    @property
    def parts(self) -> tuple[Part, ...]:
        return PARTS[self.command]

    def mapping(self) -> dict[str, Any]:
        """The flat mapping of the settings: a config file's keys."""
        return to_mapping(self.settings, self.parts)

    def argv(self) -> list[str]:
        return command_argv(self.command, self.settings, self.parts, self.extra)

    def line(self) -> str:
        """The shell-quoted command line."""
        return command_line(self.command, self.settings, self.parts, self.extra)

    def config_file(self, comment: str = "") -> str:
        """The same settings as the YAML of a ``--config`` file."""
        return dump_config(self.mapping(), self.command, comment)


def _seed_count(seeds: list[int], run: str) -> int:
    if list(seeds) != list(range(len(seeds))):
        raise UserError(
            f"Run {run} compared seeds {seeds}; the command line runs seeds 0..N-1 only. "
            "Call transferkit.compare(..., seeds=[...]) from Python to run those seeds again."
        )
    return len(seeds)


def stored_run(kind: str, cfg: dict[str, Any], run: str = "") -> Reproduction:
    """The command that reproduces a stored run of ``kind`` with config ``cfg``. A UserError
    for a run that is part of another run (an adapt member, a search worker), of a kind with
    no command, or whose stored config lacks what its command needs."""
    if kind in _MADE_BY:
        search = cfg.get("search") if isinstance(cfg, dict) else None
        how = (
            f"`transferkit runs show {search}` shows how to run that search again"
            if search
            else "`transferkit runs list --kind auto` lists the searches"
        )
        raise UserError(
            f"Run {run} is an {kind} made by the automatic search {search or ''}".rstrip()
            + f" from its members' runs, and no command makes one by itself; {how}."
        )
    if kind in _PART_OF or (kind not in PARTS and kind != "cv"):
        parent = _PART_OF.get(kind)
        whose = f"the {parent} run it belongs to" if parent else "the run that made it"
        raise UserError(
            f"Run {run} is a {kind} run, which no command starts by itself; reproduce {whose} "
            "(`transferkit runs list` shows it; `transferkit runs show ID --config` prints its "
            "config)."
        )
    try:
        return _reproduction(kind, cfg, run)
    except (KeyError, TypeError, ValueError) as e:
        raise UserError(
            f"Run {run}'s stored config does not say how to run it again ({type(e).__name__}: "
            f"{e}); it may come from an older transferkit. `transferkit runs show {run} "
            "--json` shows what it holds."
        ) from None


def _reproduction(kind: str, cfg: dict[str, Any], run: str) -> Reproduction:
    if kind in ("fit", "cv"):
        fit = FitConfig.from_dict(cfg["fit"] if kind == "cv" else cfg)
        return Reproduction("fit", [fit], ("--cv", str(int(cfg["k"]))) if kind == "cv" else ())
    if kind == "compare":
        compare = CompareConfig(
            strategies=list(cfg["strategies"]),
            labels_per_class=[str(b) for b in cfg["labels_per_class"]],
            seeds=_seed_count(cfg.get("seeds") or [0], run),
        )
        base = cfg.get("base") or {  # records from before compare stored its base fit
            "model": cfg.get("model", FitConfig().model),
            "data": {"data": cfg.get("data", "")},
        }
        return Reproduction("compare", [compare, FitConfig.from_dict(base)])
    ((cls, _),) = PARTS[kind]
    return Reproduction(kind, [_lists_joined(cls.from_dict(cfg))])


def _lists_joined(settings: Any) -> Any:
    """``settings`` with a list stored in a text setting joined by commas, as its flag takes
    it (rank stores its candidates expanded: ``--models`` is one comma-separated text)."""
    hints = typing.get_type_hints(type(settings))
    joined = {
        f.name: ",".join(map(str, getattr(settings, f.name)))
        for f in dataclasses.fields(settings)
        if base_type(hints[f.name]) is str and isinstance(getattr(settings, f.name), list)
    }
    return dataclasses.replace(settings, **joined) if joined else settings
