"""The run store: an embedded SQLite database plus one artifact folder per run.

Every run (fit, compare cell, adapt, pretrain, rank) is recorded here with its fully resolved
config, seed, data fingerprint, package versions, metrics and timings, so it can be listed,
compared, reported on and reproduced. See :class:`RunStore`.
"""

from transferkit.store.db import config_hash, to_json
from transferkit.store.record import RunRecord, home
from transferkit.store.runs import STATUSES, RunStore
from transferkit.store.versions import package_versions

__all__ = [
    "STATUSES",
    "RunRecord",
    "RunStore",
    "config_hash",
    "home",
    "package_versions",
    "to_json",
]
