"""Benchmark of data-parallel training across processes (issue 20). Prints measurements and ratios; asserts nothing.

`archspec train specs/seed_cnn.yaml --strategy data-parallel` on scikit-learn's digits, run as
1 process and as 2 worker processes on 127.0.0.1 (Keras' distribution API on JAX, one CPU
device per process), in alternating rounds. Throughput is training images per second: the
examples of one epoch (whole global batches) over the median epoch time after the first,
as the run's own history.json records it (training + validation, from epoch begin to end).

Caveat, and it bounds the result: this machine has 2 CPU cores, and one process of XLA on CPU
already uses both. Two workers here split the same two cores and add an all-reduce of the
gradients through the loopback network at every step, so a ratio below 1 is expected; it
measures the cost of the distribution machinery, not the speed-up that two machines (or two
GPUs) would give.

    python bench/bench_multihost.py [--epochs 4] [--rounds 2] [--batch-size 64]
"""

from __future__ import annotations

import argparse
import json
import os
import socket
import statistics
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "seed_cnn.yaml"


def free_ports(n: int) -> list[int]:
    sockets = [socket.socket() for _ in range(n)]
    for s in sockets:
        s.bind(("127.0.0.1", 0))
    ports = [s.getsockname()[1] for s in sockets]
    for s in sockets:
        s.close()
    return ports


def run(workers: int, data: Path, run_dir: Path, epochs: int, batch: int) -> dict:
    """Train with ``workers`` processes; the run's images/s (median epoch after the first) and wall time."""
    env = {**os.environ, "PYTHONPATH": str(ROOT), "TF_CPP_MIN_LOG_LEVEL": "3", "KERAS_BACKEND": "jax"}
    base = [sys.executable, "-m", "archspec", "train", str(SPEC), "--data", str(data), "--strategy", "data-parallel"]
    base += ["--epochs", str(epochs), "--batch-size", str(batch), "--run-dir", str(run_dir), "-q"]
    addresses = ",".join(f"127.0.0.1:{p}" for p in free_ports(workers))
    commands = [
        base + (["--workers", addresses, "--worker-index", str(i)] if workers > 1 else []) for i in range(workers)
    ]
    start = time.perf_counter()
    procs = [
        subprocess.Popen(c, env=env, stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True) for c in commands
    ]
    outputs = [p.communicate(timeout=1800)[0] for p in procs]
    wall = time.perf_counter() - start
    for p, out in zip(procs, outputs):
        if p.returncode:
            sys.exit(f"a worker failed ({p.returncode}):\n{out[-3000:]}")
    meta = json.loads((run_dir / "run.json").read_text())
    history = json.loads((run_dir / "history.json").read_text())
    images = meta["counts"]["train"] // batch * batch  # whole global batches (multi-worker drops the rest)
    epoch = statistics.median(history["seconds"][1:])
    return {"images_per_s": images / epoch, "epoch_s": epoch, "wall_s": wall, "replicas": meta["replicas"]}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--epochs", type=int, default=4)
    parser.add_argument("--rounds", type=int, default=2)
    parser.add_argument("--batch-size", type=int, default=64)
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "digits.npz"
        subprocess.run([sys.executable, "-m", "archspec.training.datasets", "npz", str(data)], check=True, cwd=ROOT)
        results: dict[int, list[dict]] = {1: [], 2: []}
        for r in range(args.rounds):
            for workers in (1, 2) if r % 2 == 0 else (2, 1):
                out = run(workers, data, Path(tmp) / f"run-{r}-{workers}", args.epochs, args.batch_size)
                results[workers].append(out)
                print(
                    f"round {r + 1}: {workers} worker(s), {out['replicas']} replica(s): {out['images_per_s']:8.0f} "
                    f"images/s (median epoch {out['epoch_s']:.2f} s), whole run {out['wall_s']:.1f} s",
                    flush=True,
                )
    one = statistics.median(o["images_per_s"] for o in results[1])
    two = statistics.median(o["images_per_s"] for o in results[2])
    print(f"\nmachine: {os.cpu_count()} CPU cores; seed CNN on digits, global batch {args.batch_size}")
    print(f"1 worker : {one:8.0f} images/s (median of {args.rounds})")
    print(f"2 workers: {two:8.0f} images/s (median of {args.rounds})")
    print(f"ratio 2 workers / 1 worker: {two / one:.2f}x  (2 cores shared by both workers: see the caveat above)")


if __name__ == "__main__":
    main()
