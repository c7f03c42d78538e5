"""GPU check (issue 19): ResNet-50 built by archspec vs keras.applications.ResNet50, trained side by side.

Run by bench/gpu_check.sh (which makes the environment). Synthetic 224x224x3 data, batch
GPU_CHECK_BATCH (64), SGD with momentum, ``train_on_batch`` steps timed after warm-up steps,
the two models alternating in rounds; three settings in turn:

1. float32, XLA off (``jit_compile=False``: on a GPU Keras' default "auto" would turn it on);
2. mixed precision (the ``mixed_float16`` policy), XLA off;
3. mixed precision and XLA (``jit_compile=True``).

Then it checks that ``archspec train --mixed-precision --jit-compile`` really trains that way:
a short run through archspec's own trainer, whose compiled model is inspected (its policy,
the dtype its convolutions compute in, the float32 output, ``jit_compile``).

Environment: GPU_CHECK_STEPS (timed steps per round, 20), GPU_CHECK_WARMUP (3),
GPU_CHECK_ROUNDS (3), GPU_CHECK_SIZE (224), GPU_CHECK_BATCH (64), GPU_CHECK_ALLOW_CPU=1 to
run without a GPU (a dry run of the script itself, with tiny settings: its numbers say
nothing about GPUs), GPU_CHECK_SKIP_THROUGHPUT=1 to run only the options check.
"""

from __future__ import annotations

import os
import re
import statistics
import sys
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
STEPS = int(os.environ.get("GPU_CHECK_STEPS", "20"))
WARMUP = int(os.environ.get("GPU_CHECK_WARMUP", "3"))
ROUNDS = int(os.environ.get("GPU_CHECK_ROUNDS", "3"))
SIZE = int(os.environ.get("GPU_CHECK_SIZE", "224"))
BATCH = int(os.environ.get("GPU_CHECK_BATCH", "64"))
MODES = (
    ("float32", "float32", False),
    ("mixed precision", "mixed_float16", False),
    ("mixed + XLA", "mixed_float16", True),
)


def spec_text() -> str:
    """specs/resnet50.yaml at GPU_CHECK_SIZE (its input line replaced; nothing else changes)."""
    text = (ROOT / "specs" / "resnet50.yaml").read_text(encoding="utf-8")
    resized, count = re.subn(r"(?m)^input: \[224, 224, 3\]$", f"input: [{SIZE}, {SIZE}, 3]", text)
    if count != 1:
        raise SystemExit("specs/resnet50.yaml no longer has the line `input: [224, 224, 3]`: update gpu_check.py")
    return resized


def build(side: str, policy: str, jit: bool) -> Any:
    import keras

    import archspec

    keras.backend.clear_session()
    keras.mixed_precision.set_global_policy(policy)
    if side == "archspec":
        model = archspec.build(spec_text())
    else:
        model = keras.applications.ResNet50(weights=None, input_shape=(SIZE, SIZE, 3), classes=1000)
    model.compile(
        optimizer=keras.optimizers.SGD(0.01, momentum=0.9),
        loss=keras.losses.SparseCategoricalCrossentropy(),
        jit_compile=jit,
    )
    return model


def images_per_second(model: Any, x: Any, y: Any) -> float:
    start = time.perf_counter()
    for _ in range(STEPS):
        loss = model.train_on_batch(x, y)
    float(loss if not isinstance(loss, list) else loss[0])  # the last step has finished on the device
    return STEPS * BATCH / (time.perf_counter() - start)


def throughput() -> dict[str, dict[str, float]]:
    import keras
    import tensorflow as tf

    x = tf.random.normal((BATCH, SIZE, SIZE, 3))
    y = tf.random.uniform((BATCH,), 0, 1000, dtype=tf.int32)
    out: dict[str, dict[str, float]] = {}
    for name, policy, jit in MODES:
        # one model at a time on the device; rounds alternate between two fresh builds
        rates: dict[str, list[float]] = {"archspec": [], "keras": []}
        for _ in range(ROUNDS):
            for side in rates:
                model = build(side, policy, jit)
                for _ in range(WARMUP):
                    model.train_on_batch(x, y)
                rates[side].append(images_per_second(model, x, y))
                del model
        out[name] = {side: statistics.median(r) for side, r in rates.items()}
        a, k = out[name]["archspec"], out[name]["keras"]
        spread = {side: f"{min(r):.1f}-{max(r):.1f}" for side, r in rates.items()}
        print(
            f"   {name:16s} archspec {a:8.1f} img/s ({spread['archspec']})   keras {k:8.1f} img/s "
            f"({spread['keras']})   archspec/keras {a / k:5.3f}",
            flush=True,
        )
    keras.mixed_precision.set_global_policy("float32")
    return out


def check_trainer_options() -> bool:
    """``archspec train --mixed-precision --jit-compile`` through the real trainer: what did it compile?"""
    import keras
    import numpy as np

    from archspec.training import trainer

    seen: dict[str, Any] = {}
    original = keras.Model.compile

    def recording_compile(self: Any, *args: Any, **kwargs: Any) -> Any:
        result = original(self, *args, **kwargs)
        convs = [layer for layer in self.layers if isinstance(layer, keras.layers.Conv2D)]
        seen.update(
            policy=keras.mixed_precision.global_policy().name,
            conv_compute=sorted({layer.compute_dtype for layer in convs}),
            conv_variables=sorted({layer.variable_dtype for layer in convs}),
            output=self.layers[-1].compute_dtype,
            jit_compile=self.jit_compile,
        )
        return result

    with tempfile.TemporaryDirectory() as tmp:
        spec = Path(tmp) / "resnet50.yaml"
        spec.write_text(spec_text() + "train: {epochs: 1}\n", encoding="utf-8")
        data = Path(tmp) / "synthetic.npz"
        rng = np.random.default_rng(0)
        images = rng.integers(0, 256, (2 * BATCH, SIZE, SIZE, 3), dtype=np.uint8)
        np.savez(data, images=images, labels=rng.integers(0, 1000, 2 * BATCH))
        options = trainer.Options(
            data=str(data), epochs=1, batch_size=BATCH, mixed_precision=True, jit_compile=True, verbose=0
        )
        keras.Model.compile = recording_compile  # type: ignore[method-assign]
        try:
            trainer.train(str(spec), options, run_dir=str(Path(tmp) / "run"), echo=lambda _line: None)
        finally:
            keras.Model.compile = original  # type: ignore[method-assign]
    keras.mixed_precision.set_global_policy("float32")
    checks = {
        "global policy mixed_float16": seen.get("policy") == "mixed_float16",
        "convolutions compute in float16": seen.get("conv_compute") == ["float16"],
        "convolution weights kept in float32": seen.get("conv_variables") == ["float32"],
        "output layer computes in float32": seen.get("output") == "float32",
        "train step compiled with XLA (jit_compile)": seen.get("jit_compile") is True,
    }
    print(f"   what the trainer compiled: {seen}")
    for what, ok in checks.items():
        print(f"   {'ok  ' if ok else 'FAIL'} {what}")
    return all(checks.values())


def main() -> int:
    import tensorflow as tf

    gpus = tf.config.list_physical_devices("GPU")
    names = [tf.config.experimental.get_device_details(g).get("device_name", g.name) for g in gpus]
    print(f"gpu_check: TensorFlow {tf.__version__}, GPUs: {', '.join(names) or 'none'}")
    print(
        f"   settings: {SIZE}x{SIZE}x3 synthetic images, batch {BATCH}, {WARMUP} warm-up + {STEPS} timed steps, {ROUNDS} rounds"
    )
    if not gpus:
        if os.environ.get("GPU_CHECK_ALLOW_CPU") != "1":
            print("no GPU visible to TensorFlow: nothing to check (GPU_CHECK_ALLOW_CPU=1 runs the script on the CPU)")
            return 2
        print("   DRY RUN ON THE CPU (GPU_CHECK_ALLOW_CPU=1): the numbers below say nothing about GPUs")
    if os.environ.get("GPU_CHECK_SKIP_THROUGHPUT") == "1":
        print("1. Training throughput: skipped (GPU_CHECK_SKIP_THROUGHPUT=1)")
    else:
        print("1. Training throughput, images/s (medians of the rounds; ranges in brackets)")
        rates = throughput()
        base = rates["float32"]
        for name in list(rates)[1:]:
            print(
                f"   {name} vs float32: archspec {rates[name]['archspec'] / base['archspec']:.2f}x, "
                f"keras {rates[name]['keras'] / base['keras']:.2f}x"
            )
    print("2. archspec train --mixed-precision --jit-compile: do the options take effect?")
    ok = check_trainer_options()
    print(f"gpu_check: options {'take effect' if ok else 'DO NOT all take effect'}")
    return 0 if ok else 1


if __name__ == "__main__":
    sys.exit(main())
