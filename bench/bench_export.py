"""Inference latency of each export format against the Keras model, on this CPU. Asserts nothing.

For the seed CNN and ResNet-50 (fresh weights), batch 1 and batch 32: each format is written by
``archspec.export`` (so every file measured has passed its parity check), then the Keras model
(``model(x, training=False)``, eager, as ``archspec predict`` runs it; and ``model.predict_on_batch``)
and each runtime are timed in alternating rounds after warm-up calls. Ratios are Keras eager
time / format time: above 1 means the format is faster.

    python bench/bench_export.py [--rounds 5] [--calls 10] [--specs seed_cnn resnet50]
"""

from __future__ import annotations

import argparse
import os
import platform
import statistics
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")
ROOT = Path(__file__).resolve().parent.parent


def runners(model: Any, folder: Path) -> dict[str, Callable[[np.ndarray], Any]]:
    """A callable per side: Keras eager, Keras predict_on_batch, and each verified export."""
    from archspec import export as exp

    out: dict[str, Callable[[np.ndarray], Any]] = {
        "keras eager": lambda x: model(x, training=False),
        "keras predict_on_batch": model.predict_on_batch,
    }
    target = exp.Target(model, model.name)
    for name, fmt in exp.FORMATS.items():
        path = folder / f"{model.name}{fmt.suffix or '_saved_model'}"
        exp.export(target, fmt, path, batch=2)
        out[name] = _runtime(name, path)
    return out


def _runtime(name: str, path: Path) -> Callable[[np.ndarray], Any]:
    if name == "saved_model":
        import tensorflow as tf

        loaded = tf.saved_model.load(str(path))
        return lambda x: (loaded, loaded.serve(x))[1]
    if name == "onnx":
        import onnxruntime

        session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
        key = session.get_inputs()[0].name
        return lambda x: session.run(None, {key: x})
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    detail = interpreter.get_input_details()[0]
    state = {"shape": None}

    def run(x: np.ndarray) -> Any:
        if state["shape"] != x.shape:  # resizing re-plans the graph: once per batch size, as a server would
            interpreter.resize_tensor_input(detail["index"], x.shape)
            interpreter.allocate_tensors()
            state["shape"] = x.shape
        interpreter.set_tensor(detail["index"], x)
        interpreter.invoke()
        return interpreter.get_tensor(interpreter.get_output_details()[0]["index"])

    return run


def time_sides(
    sides: dict[str, Callable[[np.ndarray], Any]], x: np.ndarray, rounds: int, calls: int
) -> dict[str, float]:
    """Median seconds per call of each side, sides alternating in order every round."""
    for fn in sides.values():  # warm-up: tracing, graph planning, caches
        fn(x)
        fn(x)
    samples: dict[str, list[float]] = {name: [] for name in sides}
    names = list(sides)
    for r in range(rounds):
        for name in names if r % 2 == 0 else names[::-1]:
            start = time.perf_counter()
            for _ in range(calls):
                sides[name](x)
            samples[name].append((time.perf_counter() - start) / calls)
    return {name: statistics.median(values) for name, values in samples.items()}


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--rounds", type=int, default=5)
    parser.add_argument("--calls", type=int, default=10)
    parser.add_argument("--specs", nargs="+", default=["seed_cnn", "resnet50"])
    args = parser.parse_args()
    from archspec import framework

    framework.start()
    import archspec

    print(f"bench_export: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}")
    for spec in args.specs:
        model = archspec.build(ROOT / "specs" / f"{spec}.yaml")
        with tempfile.TemporaryDirectory() as folder:
            sides = runners(model, Path(folder))
            for batch in (1, 32):
                x = np.random.default_rng(0).uniform(0, 1, (batch, *model.inputs[0].shape[1:])).astype(np.float32)
                medians = time_sides(sides, x, args.rounds, args.calls)
                base = medians["keras eager"]
                print(f"{spec}, batch {batch}: median ms per call (ratio = keras eager / side)")
                for name, seconds in medians.items():
                    print(f"   {name:<24} {seconds * 1e3:9.2f} ms   {base / seconds:6.2f}x")


if __name__ == "__main__":
    main()
