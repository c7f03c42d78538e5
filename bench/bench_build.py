"""Benchmark of the Keras backend (issue 4). Prints measurements and ratios; asserts nothing.

1. Building: ``archspec.build("specs/resnet50.yaml")`` (spec parsing, expansion, analysis and
   the Keras layers) against ``keras.applications.ResNet50(weights=None)``, in one process,
   interleaved, after one warm-up build of each. Target: archspec at most 10% slower (<= 1.10).
2. Training throughput on the CPU: images per second of ``train_on_batch`` with batch 32 on
   random 224x224 images, after warm-up steps, the two models measured in alternating rounds.
   Target: archspec's model at least as fast (ratio >= 1).

    python bench/bench_build.py [--repeat 5] [--rounds 3] [--steps 2] [--image-size 224]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "resnet50.yaml"


def measure(fn: Callable[[], Any]) -> tuple[float, float, Any]:
    start, start_cpu = time.perf_counter(), time.process_time()
    result = fn()
    return time.perf_counter() - start, time.process_time() - start_cpu, result


def bench_build(repeat: int) -> None:
    import keras

    import archspec

    def ours() -> Any:
        return archspec.build(SPEC)

    def theirs() -> Any:
        return keras.applications.ResNet50(weights=None)

    params = {}
    for name, fn in (("archspec", ours), ("keras", theirs)):  # warm-up: imports, first graph tracing
        params[name] = fn().count_params()
        keras.backend.clear_session()
    times: dict[str, list[tuple[float, float]]] = {"archspec": [], "keras": []}
    sides = [("archspec", ours), ("keras", theirs)]
    for r in range(repeat):
        for name, fn in sides if r % 2 == 0 else sides[::-1]:  # alternate who goes first
            wall, cpu, _model = measure(fn)
            times[name].append((wall, cpu))
            del _model
            keras.backend.clear_session()
    print("1. Building ResNet-50 (one process, interleaved, after a warm-up build of each)")
    for name, label in (("archspec", "archspec.build(specs/resnet50.yaml)"), ("keras", "keras.applications.ResNet50")):
        wall = statistics.median(t[0] for t in times[name])
        cpu = statistics.median(t[1] for t in times[name])
        print(f"   {label:38s} wall {wall:6.3f} s, CPU {cpu:6.3f} s  ({params[name]:,} params)")
    ratio = statistics.median(t[0] for t in times["archspec"]) / statistics.median(t[0] for t in times["keras"])
    cpu_ratio = statistics.median(t[1] for t in times["archspec"]) / statistics.median(t[1] for t in times["keras"])
    print(f"   same parameter count: {params['archspec'] == params['keras']}")
    verdict = "met" if ratio <= 1.10 else "NOT met"
    print(f"   ratio archspec / Keras: wall {ratio:.3f}, CPU {cpu_ratio:.3f}   (target <= 1.10: {verdict})")


def bench_training(rounds: int, steps: int, warmup: int, batch: int, size: int) -> None:
    import keras
    import numpy as np

    import archspec

    rng = np.random.default_rng(0)
    x = rng.random((batch, size, size, 3), dtype=np.float32)
    y = rng.integers(0, 1000, size=batch)
    spec = dict(archspec.load(SPEC).data)
    spec["input"] = [size, size, 3]  # the spec at this image size (224 is the spec's own)
    models = {
        "archspec": archspec.build(spec),
        "keras": keras.applications.ResNet50(weights=None, input_shape=(size, size, 3)),
    }
    for model in models.values():
        model.compile(optimizer=keras.optimizers.SGD(0.01, momentum=0.9), loss="sparse_categorical_crossentropy")
        for _ in range(warmup):
            model.train_on_batch(x, y)
    rates: dict[str, list[float]] = {name: [] for name in models}
    for r in range(rounds):
        order = list(models) if r % 2 == 0 else list(reversed(models))  # alternate who goes first
        for name in order:
            start = time.perf_counter()
            for _ in range(steps):
                models[name].train_on_batch(x, y)
            rates[name].append(steps * batch / (time.perf_counter() - start))
    print(f"2. Training throughput, CPU, batch {batch}, {size}x{size}, SGD with momentum")
    print(f"   ({warmup} warm-up steps each, then {rounds} alternating rounds of {steps} steps)")
    for name in models:
        print(
            f"   {name:8s} {statistics.median(rates[name]):7.2f} images/s  (rounds: "
            + ", ".join(f"{v:.2f}" for v in rates[name])
            + ")"
        )
    ratio = statistics.median(rates["archspec"]) / statistics.median(rates["keras"])
    ours, theirs = rates["archspec"], rates["keras"]
    overlap = min(max(ours), max(theirs)) >= max(min(ours), min(theirs))
    print(f"   ratio archspec / Keras (medians): {ratio:.3f}   (target >= 1: {'met' if ratio >= 1 else 'NOT met'})")
    if overlap:
        print("   the rounds' ranges overlap: at this machine's noise the two are indistinguishable")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="builds of each model (medians are reported)")
    parser.add_argument("--rounds", type=int, default=3, help="alternating throughput rounds")
    parser.add_argument("--steps", type=int, default=2, help="training steps per round")
    parser.add_argument("--warmup", type=int, default=2, help="training steps before measuring")
    parser.add_argument("--batch-size", type=int, default=32)
    parser.add_argument("--image-size", type=int, default=224)
    parser.add_argument("--skip-training", action="store_true")
    opts = parser.parse_args()
    import tensorflow as tf

    print(
        f"bench_build: {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, Python "
        f"{platform.python_version()}, TensorFlow {tf.__version__}, load average {os.getloadavg()[0]:.1f}"
    )
    bench_build(opts.repeat)
    if not opts.skip_training:
        bench_training(opts.rounds, opts.steps, opts.warmup, opts.batch_size, opts.image_size)


if __name__ == "__main__":
    main()
