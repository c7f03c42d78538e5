"""Benchmark of training from HDF5 files larger than memory (issue 19, "Data at scale"). Prints; asserts nothing.

Three runs of the same small CNN (an inline spec on 64x64x3 images), each in its own process:

* big, streamed: ``archspec train`` (the trainer, the product path) for one epoch on an HDF5
  file of uint8 images larger than the address-space limit set on its process with
  ``resource.setrlimit(RLIMIT_AS)``, which TensorFlow's own reservations must also fit in
  (threads get 1 MiB stacks and glibc two malloc arenas, so that they do);
  as float32, as the model reads it, the data is 4x larger again. It can only finish if the
  file is streamed;
* small, streamed (rounds alternating with the next): ``archspec train`` for 2 epochs on the first 1/8 of the rows, streaming
  forced (``ARCHSPEC_STREAM_BYTES=0``), images/s of the second epoch;
* small, in memory: a hand-written ``model.fit`` on the same rows as NumPy arrays in memory
  (x / 255, the same model, batch and optimizer), images/s of the second epoch.

The ratio streamed / in-memory on the same rows is the price of streaming; the big run shows
that memory stays bounded (its peak resident memory is printed next to the file's size).

    python bench/bench_hdf5.py [--gib 6.0] [--limit-gib 3.0] [--rounds 3]
"""

from __future__ import annotations

import argparse
import json
import os
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SHAPE = (64, 64, 3)
BATCH = 128
SPEC = """\
archspec: 1
name: hdf5_bench
input: [64, 64, 3]
layers:
  - {conv: 16, kernel: 3, strides: 4, activation: relu}
  - {conv: 32, kernel: 3, strides: 2, activation: relu}
  - gap
  - {dense: 10, activation: softmax}
train:
  data: {validation: 0.01, normalize: rescale}
  batch_size: 128
  optimizer: {name: adam, lr: 0.001}
  seed: 1
"""

_TRAIN = """
import json, resource, sys
print("RLIMIT_AS", resource.getrlimit(resource.RLIMIT_AS), file=sys.stderr)
from archspec.training import trainer
result = trainer.train(sys.argv[1], trainer.Options(data=sys.argv[2], epochs=int(sys.argv[3]), verbose=0),
                       run_dir=sys.argv[5], echo=lambda m: None)
meta = json.load(open(sys.argv[5] + "/run.json"))
print(json.dumps({"seconds": result.history["seconds"], "train": meta["counts"]["train"],
                  "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""

_IN_MEMORY = """
import json, resource, sys, time
import h5py, keras, numpy as np
from archspec.keras_backend import build
with h5py.File(sys.argv[2]) as fh:
    x, y = fh["images"][()], fh["labels"][()]
n = int(len(x) * 0.99)  # the same share as the streamed run's training split
x, y = x[:n].astype("float32") / 255.0, keras.utils.to_categorical(y[:n], 10)
keras.utils.set_random_seed(1)
model = build(sys.argv[1])
model.compile(keras.optimizers.Adam(0.001), "categorical_crossentropy", metrics=["accuracy"])
seconds = []
class Timer(keras.callbacks.Callback):
    def on_epoch_begin(self, epoch, logs=None): self.t = time.perf_counter()
    def on_epoch_end(self, epoch, logs=None): seconds.append(time.perf_counter() - self.t)
model.fit(x, y, batch_size=128, epochs=int(sys.argv[3]), shuffle=True, verbose=0, callbacks=[Timer()])
print(json.dumps({"seconds": seconds, "train": n, "peak_mib": resource.getrusage(resource.RUSAGE_SELF).ru_maxrss / 1024}))
"""


def write(path: Path, rows: int) -> None:
    """``rows`` random-ish uint8 images with labels, written block by block (flat memory here too)."""
    import h5py
    import numpy as np

    rng = np.random.default_rng(0)
    with h5py.File(path, "w") as fh:
        images = fh.create_dataset("images", (rows, *SHAPE), dtype="uint8", chunks=(256, *SHAPE))
        labels = rng.integers(0, 10, rows)
        for start in range(0, rows, 8192):
            stop = min(rows, start + 8192)
            block = rng.integers(0, 256, (stop - start, *SHAPE), dtype=np.uint8)
            block[..., 0] = (labels[start:stop, None, None] * 25).astype(np.uint8)  # learnable
            images[start:stop] = block
        fh["labels"] = labels


def limited(limit: int) -> Callable[[], None] | None:
    """Set in the child before it starts: the address-space limit, and 1 MiB thread stacks (glibc
    reserves RLIMIT_STACK, 8 MiB here, of address space for every thread, and TensorFlow starts
    dozens: without this they alone would exhaust a few GiB)."""
    if not limit:
        return None

    def apply() -> None:
        resource.setrlimit(resource.RLIMIT_STACK, (1 << 20, 1 << 20))
        resource.setrlimit(resource.RLIMIT_AS, (limit, limit))

    return apply


def child(code: str, args: list[str], env: dict[str, str], limit: int = 0) -> dict:
    result = subprocess.run(
        [sys.executable, "-c", code, *args], env=env, capture_output=True, text=True, preexec_fn=limited(limit)
    )
    if result.returncode:
        sys.exit(f"run failed ({result.returncode}):\n{result.stderr[-3000:]}")
    return json.loads(result.stdout.strip().splitlines()[-1])


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--gib", type=float, default=6.0, help="size of the big file as stored (uint8)")
    parser.add_argument("--rounds", type=int, default=3, help="rounds of the small-file comparison")
    parser.add_argument("--limit-gib", type=float, default=3.0, help="RLIMIT_AS of the big run's process")
    args = parser.parse_args()
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "tensorflow"}
    rows = int(args.gib * 2**30) // (SHAPE[0] * SHAPE[1] * SHAPE[2])
    with tempfile.TemporaryDirectory(dir=os.environ.get("BENCH_TMP")) as tmp:
        spec, big, small = Path(tmp) / "spec.yaml", Path(tmp) / "big.h5", Path(tmp) / "small.h5"
        spec.write_text(SPEC)
        t = time.perf_counter()
        write(big, rows)
        write(small, rows // 8)
        print(
            f"wrote {big.stat().st_size / 2**30:.2f} GiB ({rows:,} images of {SHAPE}) in {time.perf_counter() - t:.0f} s"
        )
        limit = int(args.limit_gib * 2**30)
        # glibc gives each thread its own 64 MiB malloc arena of address space: two arenas are enough
        big_env = {**env, "MALLOC_ARENA_MAX": "2"}
        a = child(_TRAIN, [str(spec), str(big), "1", str(limit), str(Path(tmp) / "run-big")], big_env, limit)
        rates: dict[str, list[float]] = {"streamed": [], "memory": []}
        peaks: dict[str, float] = {}
        for r in range(args.rounds):  # alternating, so that a change in load hits both
            for side in ("streamed", "memory") if r % 2 == 0 else ("memory", "streamed"):
                if side == "streamed":
                    run_dir, stream_env = str(Path(tmp) / f"run-small-{r}"), {**env, "ARCHSPEC_STREAM_BYTES": "0"}
                    out = child(_TRAIN, [str(spec), str(small), "2", "0", run_dir], stream_env)
                else:
                    out = child(_IN_MEMORY, [str(spec), str(small), "2"], env)
                rates[side].append(out["train"] / out["seconds"][-1])
                peaks[side] = max(peaks.get(side, 0.0), out["peak_mib"])
                print(f"round {r + 1} {side:8s}: {rates[side][-1]:,.0f} images/s (epoch 2)", flush=True)
    big_rate = a["train"] / a["seconds"][0]
    s_rate, m_rate = statistics.median(rates["streamed"]), statistics.median(rates["memory"])
    print(
        f"big file, streamed, under RLIMIT_AS {args.limit_gib:g} GiB: one epoch of {a['train']:,} images in "
        f"{a['seconds'][0]:.0f} s = {big_rate:,.0f} images/s; peak resident memory {a['peak_mib']:,.0f} MiB "
        f"(file {big.name}: {args.gib:g} GiB stored, {4 * args.gib:g} GiB as float32)"
    )
    print(
        f"small file ({rows // 8:,} images), streamed : {s_rate:,.0f} images/s (median of {args.rounds}), "
        f"peak {peaks['streamed']:,.0f} MiB"
    )
    print(
        f"small file ({rows // 8:,} images), in memory: {m_rate:,.0f} images/s (median of {args.rounds}), "
        f"peak {peaks['memory']:,.0f} MiB"
    )
    print(f"ratio streamed / in-memory arrays: {s_rate / m_rate:.2f}x")


if __name__ == "__main__":
    main()
