"""The feature cache: sharded entries (index + shards), the same answers as one file, atomic
writes (a writer killed at any moment leaves nothing wrong that is trusted), and entries of the
old single-file format read and rewritten as shards."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time

import numpy as np
import pytest
import torch

from transferkit.features.cache import FeatureCache
from transferkit.store.artifacts import atomic_save_tensors

D = 5


def feats(indices) -> np.ndarray:
    """Features that say which index they belong to."""
    i = np.asarray(indices, np.float32)[:, None]
    return i * np.arange(1, D + 1, dtype=np.float32)


def shard_files(cache: FeatureCache, key: str) -> dict[str, int]:
    return {f.name: f.stat().st_ino for f in cache.shard_dir(key).glob("*.safetensors")}


def test_sharded_round_trip_and_partial_hits(tmp_path):
    cache = FeatureCache(tmp_path, shard_rows=100)
    nothing, missing = cache.get("k", np.arange(3))
    assert nothing is None and missing.all()
    idx = np.random.default_rng(0).permutation(1000)[:950]
    cache.put("k", idx, feats(idx))
    assert len(shard_files(cache, "k")) == 10 and cache.path("k").is_file()
    ask = np.array([5, idx[0], 10_000, idx[-1], idx[0]])
    out, missing = cache.get("k", ask)
    assert list(missing) == [5 not in idx, False, True, False, False]
    assert np.array_equal(out[~missing], feats(ask[~missing]))


def test_adding_rows_writes_new_shards_only_and_replaces_rows(tmp_path):
    cache = FeatureCache(tmp_path, shard_rows=64)
    cache.put("k", np.arange(200), feats(np.arange(200)))
    before = shard_files(cache, "k")
    cache.put("k", np.arange(200, 300), feats(np.arange(200, 300)))
    after = shard_files(cache, "k")
    assert before.items() <= after.items() and len(after) == len(before) + 2  # old untouched
    out, missing = cache.get("k", np.arange(300))
    assert not missing.any() and np.array_equal(out, feats(np.arange(300)))
    # rows stored again replace the old ones; a shard no index names any more is removed
    cache.put("k", np.arange(64), -feats(np.arange(64)))
    out, missing = cache.get("k", np.arange(300))
    assert not missing.any()
    assert np.array_equal(out[:64], -feats(np.arange(64)))
    assert np.array_equal(out[64:], feats(np.arange(64, 300)))
    assert len(shard_files(cache, "k")) == len(after)  # one full shard replaced by one


def test_damaged_or_missing_shards_are_recomputed_not_trusted(tmp_path):
    cache = FeatureCache(tmp_path, shard_rows=10)
    cache.put("k", np.arange(30), feats(np.arange(30)))
    a, b, _ = sorted(cache.shard_dir("k").glob("*.safetensors"))
    a.write_bytes(a.read_bytes()[:40])  # truncated
    b.unlink()
    (cache.shard_dir("k") / ".x.safetensors.123.tmp").write_bytes(b"half")  # a killed write
    out, missing = cache.get("k", np.arange(30))
    assert missing.sum() == 20 and np.array_equal(out[~missing], feats(np.arange(30)[~missing]))
    cache.path("k").write_bytes(b"not an index")
    assert cache.get("k", np.arange(3))[0] is None
    cache.put("k", np.arange(5), feats(np.arange(5)))  # a damaged index is started again
    assert not cache.get("k", np.arange(5))[1].any()


def test_old_single_file_entries_are_read_and_rewritten_as_shards(tmp_path):
    cache = FeatureCache(tmp_path, shard_rows=16)
    old = np.arange(40)[::-1].copy()
    atomic_save_tensors(
        cache.path("k"),
        {"indices": torch.from_numpy(old), "features": torch.from_numpy(feats(old))},
    )
    out, missing = cache.get("k", np.array([3, 99, 39]))
    assert list(missing) == [False, True, False] and np.array_equal(out[[0, 2]], feats([3, 39]))
    cache.put("k", np.arange(40, 50), feats(np.arange(40, 50)))
    assert len(shard_files(cache, "k")) == 4  # 40 old rows in 3 shards, 10 new in 1
    out, missing = cache.get("k", np.arange(50))
    assert not missing.any() and np.array_equal(out, feats(np.arange(50)))


WRITER = """
import sys
import numpy as np
from transferkit.features.cache import FeatureCache
cache, D = FeatureCache(sys.argv[1], shard_rows=300), 5
for j in range(10_000):
    idx = np.arange(j * 500, (j + 1) * 500) % 4000
    scale = 1.0 if j % 2 == 0 else -1.0  # rows are replaced by their negatives and back
    cache.put("k", idx, scale * idx[:, None].astype(np.float32) * np.arange(1, D + 1))
    if j == 1:
        print("writing", flush=True)
"""


@pytest.mark.slow
def test_a_writer_killed_at_any_moment_leaves_only_true_rows(tmp_path):
    rng = np.random.default_rng(int(os.environ.get("TRANSFERKIT_FAULT_SEED", "0")))
    for _ in range(3):
        proc = subprocess.Popen(
            [sys.executable, "-c", WRITER, str(tmp_path)], stdout=subprocess.PIPE, text=True
        )
        assert proc.stdout.readline().strip() == "writing"
        time.sleep(float(rng.uniform(0.0, 0.5)))
        proc.send_signal(signal.SIGKILL)
        proc.wait(timeout=60)
        cache = FeatureCache(tmp_path)
        ask = np.arange(4000)
        out, missing = cache.get("k", ask)
        hit = ~missing
        assert hit.sum() >= 500  # the last complete write at least
        good = np.abs(out[hit]) == np.abs(feats(ask[hit]))
        signs = np.sign(out[hit][:, 1:]) == np.sign(out[hit][:, :1])
        assert good.all() and signs.all()  # every trusted row is a whole, true row
