"""HDF5 data larger than ARCHSPEC_STREAM_BYTES is streamed: read in blocks every epoch, with flat memory.

The order and content are checked on a small file (the threshold lowered to 0), and memory on
a 96 MB file (375 MB as float32): through one epoch of the training pipeline, in a subprocess,
the resident memory stays flat once the shuffle buffer and the read window are full."""

from __future__ import annotations

import json
import subprocess
import sys
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, SUBPROCESS_ENV

pytestmark = pytest.mark.slow


def _write(path: Path, rows: int, shape: tuple[int, ...]) -> None:
    """Row i holds the value i % 251 everywhere and label i % 10, so a read row names its row."""
    import h5py

    with h5py.File(path, "w") as fh:
        images = fh.create_dataset("images", (rows, *shape), dtype="uint8", chunks=(min(rows, 256), *shape))
        for start in range(0, rows, 4096):
            stop = min(rows, start + 4096)
            images[start:stop] = (np.arange(start, stop) % 251).astype("uint8").reshape(-1, *[1] * len(shape))
        fh["labels"] = np.arange(rows) % 10


def _splits(path: Path, seed: int | None = 7):
    from archspec.training import data as data_mod
    from archspec.training.config import data_config

    cfg = data_config({"path": str(path), "validation": 0.1, "test": 0.2})
    return data_mod.load_splits(cfg, (8, 8, 1), seed, 10)


def test_streamed_splits_hold_every_row_once_and_reshuffle_each_epoch(tmp_path, monkeypatch):
    monkeypatch.setenv("ARCHSPEC_STREAM_BYTES", "0")
    path = tmp_path / "d.h5"
    _write(path, 3000, (8, 8, 1))
    splits = _splits(path)
    assert splits.streamed and any("streamed from disk" in n for n in splits.notes)
    seen = {}
    for name in ("train", "validation", "test"):
        ds = getattr(splits, name)
        rows = [(int(x[0, 0, 0]), int(y)) for x, y in ds.as_numpy_iterator()]
        assert len(rows) == splits.counts[name] == ds.cardinality()
        seen[name] = rows
    everything = sorted(seen["train"] + seen["validation"] + seen["test"])
    expected = sorted((i % 251, i % 10) for i in range(3000))
    assert everything == expected  # every row once, each with its own label
    again = [int(x[0, 0, 0]) for x, _ in splits.train.as_numpy_iterator()]
    assert again != [v for v, _ in seen["train"]] and sorted(again) == sorted(v for v, _ in seen["train"])
    assert [int(x[0, 0, 0]) for x, _ in _splits(path).train.as_numpy_iterator()] == [v for v, _ in seen["train"]]


def test_small_files_are_still_read_into_memory(tmp_path):
    path = tmp_path / "d.h5"
    _write(path, 100, (8, 8, 1))
    splits = _splits(path)
    assert not splits.streamed and splits.counts["train"] == 70


_EPOCH = """
import json, sys
from archspec.training import data as data_mod
from archspec.training.config import data_config
def rss_mb():
    return int(open("/proc/self/statm").read().split()[1]) * 4096 / 2**20
cfg = data_config({"path": sys.argv[1], "validation": 0.1})
splits = data_mod.load_splits(cfg, (32, 32, 3), 0, 10)
cache, buffer, notes = data_mod.streaming_notes(splits, True, 10000, (32, 32, 3))
ds = data_mod.pipeline(splits.train, batch_size=64, classes=10, input_shape=(32, 32, 3),
                       normalize=data_mod.normalizer(None, False), training=True, cache=cache,
                       shuffle_buffer=buffer, seed=0)
steps, samples = int(ds.cardinality()), []
for step, _ in enumerate(ds):
    samples.append(rss_mb())
print(json.dumps({"streamed": splits.streamed, "steps": steps, "rss_mb": samples}))
"""


def test_memory_stays_flat_through_an_epoch_of_a_large_file(tmp_path):
    path = tmp_path / "large.h5"
    rows = 96_000_000 // (32 * 32 * 3)  # 96 MB of uint8 images: 375 MB as the float32 the model reads
    _write(path, rows, (32, 32, 3))
    env = {**SUBPROCESS_ENV, "PYTHONPATH": str(ROOT), "ARCHSPEC_STREAM_BYTES": str(32 << 20)}
    result = subprocess.run(
        [sys.executable, "-c", _EPOCH, str(path)], env=env, capture_output=True, text=True, timeout=600
    )
    assert result.returncode == 0, result.stderr[-3000:]
    run = json.loads(result.stdout.strip().splitlines()[-1])
    rss = run["rss_mb"]
    assert run["streamed"] and len(rss) == run["steps"]
    tenth = len(rss) // 10  # warmed up: the shuffle buffer and the read window are full
    growth = max(rss[tenth:]) - rss[tenth]
    # Between the two points 90% of the data passes: 86 MB as stored, 338 MB as float32.
    assert growth < 24, f"memory grew by {growth:.0f} MB during the epoch (samples every step: {rss[::20]})"
