"""Settings as dataclasses with defaults, help text and bounds.

The CLI and YAML files only fill these dataclasses (:mod:`transferkit.cli.options` builds the
command line from the fields' metadata), and every run stores the fully resolved config so
``transferkit runs show`` tells exactly how to reproduce it. Shared blocks (runtime, batching,
optimiser, reading, columns, input sizes) are in :mod:`~transferkit.config.blocks`, each
workflow family's settings in a module of its own (``fit``, ``compare``, ``adapt``, ``auto``,
``pretrain``, ``rank``, ``zeroshot``, ``finished``, ``ship``); options that belong to one method live with
the method (:mod:`~transferkit.config.options`). :mod:`~transferkit.config.mapping` turns a
command's settings into the flat mapping of a YAML config file and back, and
:mod:`~transferkit.config.files` reads and writes such files.
"""

from transferkit.config.adapt import AdaptConfig
from transferkit.config.auto import AutoConfig
from transferkit.config.blocks import (
    Batching,
    Columns,
    Descriptions,
    ImageInput,
    Optimiser,
    Reading,
    Runtime,
    Seeded,
    Sourced,
    TextInput,
)
from transferkit.config.compare import CompareConfig, DemoConfig
from transferkit.config.fields import Default, check_ranges, defaults, opt, range_problems
from transferkit.config.finished import ExplainConfig, PredictConfig, ReportConfig
from transferkit.config.fit import DataOptions, FitConfig, TrainOptions
from transferkit.config.pretrain import PretrainConfig
from transferkit.config.rank import RankConfig, SimilarityConfig
from transferkit.config.reproduce import Reproduction, command_line, stored_run
from transferkit.config.ship import ExportConfig, ServeConfig
from transferkit.config.zeroshot import ZeroShotConfig

__all__ = [
    "AdaptConfig",
    "AutoConfig",
    "Batching",
    "Columns",
    "CompareConfig",
    "DataOptions",
    "Default",
    "Descriptions",
    "DemoConfig",
    "ExplainConfig",
    "ExportConfig",
    "FitConfig",
    "ImageInput",
    "Optimiser",
    "PredictConfig",
    "PretrainConfig",
    "RankConfig",
    "Reading",
    "ReportConfig",
    "Runtime",
    "Seeded",
    "ServeConfig",
    "SimilarityConfig",
    "Sourced",
    "TextInput",
    "TrainOptions",
    "ZeroShotConfig",
    "check_ranges",
    "defaults",
    "opt",
    "Reproduction",
    "command_line",
    "stored_run",
    "range_problems",
]
