"""Benchmark of training throughput (issue 8). Prints measurements and ratios; asserts nothing.

The same model (specs/seed_cnn.yaml) on the same data (scikit-learn's digits, the spec's
train/validation split) with the same optimizer, batch size and epochs, trained two ways in
one process, in alternating rounds:

* plain: a hand-written ``model.fit`` on NumPy arrays (x / 255, one-hot labels, shuffle,
  validation data), timed as a whole run too: reading the spec and the data, building,
  fitting and evaluating on the test split;
* archspec: ``archspec.training.trainer.train`` (the ``archspec train`` command without its
  CLI), timed as a whole run: spec, data loading, tf.data pipeline, fit with a checkpoint,
  history, curves and log after every epoch, and the test-split evaluation.

Throughput is training images per second. Three figures: the input pipeline and training
alone (the median epoch after the first, training + validation, timed from epoch begin to
epoch end by the same kind of timer on both sides); per epoch, from the marginal cost of
an epoch, (T(N epochs) - T(1 epoch)) / (N - 1), which holds the input pipeline, training,
validation and everything either side does after each epoch (archspec: checkpoint with the
optimizer state, best model, history, state, log); and whole run, N x images / T(N), which
also holds the fixed costs (spec, model build, graph traces, curves, test report).
Target: archspec not slower (ratio >= 1) in the first; the second shows the price of
resumable checkpoints, the third the fixed costs.

    python bench/bench_training.py [--epochs 8] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "seed_cnn.yaml"


class EpochTimer:
    """Seconds of every epoch (training + validation), as archspec's history records them."""

    def __init__(self) -> None:
        import keras

        outer = self

        class _Timer(keras.callbacks.Callback):
            def on_epoch_begin(self, epoch, logs=None):
                outer.start = time.perf_counter()

            def on_epoch_end(self, epoch, logs=None):
                outer.seconds.append(time.perf_counter() - outer.start)

        self.start = 0.0
        self.seconds: list[float] = []
        self.callback = _Timer()


def plain_fit(data: Path, epochs: int) -> tuple[float, list[float], int]:
    """The hand-written baseline: arrays in memory, model.fit, evaluate on the test split."""
    import keras
    import numpy as np

    from archspec import build
    from archspec.api import validate
    from archspec.training.config import train_config
    from archspec.training.data import split_assignment

    start = time.perf_counter()  # as archspec_run: the spec and the data are part of the run
    doc = validate(str(SPEC))
    cfg = train_config(doc, doc.data["train"])
    with np.load(data) as npz:
        x, y = npz["images"].astype("float32") / 255.0, keras.utils.to_categorical(npz["labels"], 10)
    assign = split_assignment(len(x), {"validation": cfg.data.validation, "test": cfg.data.test}, cfg.seed)
    keras.utils.set_random_seed(cfg.seed)
    model = build(str(SPEC))
    model.compile(
        optimizer=keras.optimizers.Adam(cfg.optimizer.lr), loss="categorical_crossentropy", metrics=["accuracy"]
    )
    timer = EpochTimer()
    model.fit(
        x[assign == 0],
        y[assign == 0],
        batch_size=cfg.batch_size,
        epochs=epochs,
        shuffle=True,
        validation_data=(x[assign == 1], y[assign == 1]),
        callbacks=[timer.callback],
        verbose=0,
    )
    model.evaluate(x[assign == 2], y[assign == 2], verbose=0)
    return time.perf_counter() - start, timer.seconds, int(np.sum(assign == 0))


def archspec_run(data: Path, epochs: int) -> tuple[float, list[float], int]:
    import json

    from archspec.training import trainer

    with tempfile.TemporaryDirectory() as tmp:
        start = time.perf_counter()
        result = trainer.train(
            str(SPEC),
            trainer.Options(data=str(data), epochs=epochs, verbose=0),
            run_dir=Path(tmp) / "run",
            echo=lambda s: None,
        )
        elapsed = time.perf_counter() - start
        count = json.loads((result.run_dir / "run.json").read_text())["counts"]["train"]
    return elapsed, list(result.history["seconds"]), count


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--epochs", type=int, default=8)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()

    import tensorflow as tf

    from archspec.training import datasets

    print(f"{platform.processor() or platform.machine()}, {os.cpu_count()} cores, TensorFlow {tf.__version__}")
    with tempfile.TemporaryDirectory() as tmp:
        data = datasets.write("npz", Path(tmp) / "digits.npz")
        plain_fit(data, 1)  # warm-up: TensorFlow's first graph traces and thread pools
        archspec_run(data, 1)
        times: dict[str, dict[int, list[float]]] = {
            "plain": {1: [], args.epochs: []},
            "archspec": {1: [], args.epochs: []},
        }
        steady: dict[str, list[float]] = {"plain": [], "archspec": []}
        sides = [("plain", plain_fit), ("archspec", archspec_run)]
        for r in range(args.rounds):
            for name, fn in sides if r % 2 == 0 else sides[::-1]:  # alternate who goes first
                for epochs in (1, args.epochs):
                    total, seconds, n = fn(data, epochs)
                    times[name][epochs].append(total)
                steady[name].extend(seconds[1:])  # epochs after the first, timed the same way on both sides
                print(
                    f"  {name:9s} 1 epoch {times[name][1][-1]:6.2f} s, {args.epochs} epochs {times[name][args.epochs][-1]:6.2f} s"
                )
    # Medians over the rounds: the machine may be shared, and a single round can be disturbed.
    rate = {}
    for name, t in times.items():
        one, many = statistics.median(t[1]), statistics.median(t[args.epochs])
        rate[name] = (n / ((many - one) / (args.epochs - 1)), n * args.epochs / many)
    print(f"\nseed_cnn on digits ({n} training images x {args.epochs} epochs, medians of {args.rounds} rounds)")
    print(
        f"  per epoch (pipeline + training + validation + per-epoch bookkeeping): plain {rate['plain'][0]:6.0f} img/s,"
        f" archspec {rate['archspec'][0]:6.0f} img/s, ratio archspec/plain = {rate['archspec'][0] / rate['plain'][0]:.2f}"
        "  (target >= 1)"
    )
    fit = {name: n / statistics.median(seconds) for name, seconds in steady.items()}
    print(
        f"  input pipeline + training (+ validation) alone, median epoch: plain {fit['plain']:6.0f} img/s,"
        f" archspec {fit['archspec']:6.0f} img/s, ratio archspec/plain = {fit['archspec'] / fit['plain']:.2f}"
        "  (target >= 1)"
    )
    print(
        f"  whole run (also spec, model build, traces, curves, test report): plain {rate['plain'][1]:6.0f} img/s,"
        f" archspec {rate['archspec'][1]:6.0f} img/s, ratio archspec/plain = {rate['archspec'][1] / rate['plain'][1]:.2f}"
    )


if __name__ == "__main__":
    main()
