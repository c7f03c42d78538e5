"""Optimizers, learning-rate schedules, losses, metrics and the callbacks they need.

Schedules that depend only on the step (step, exponential, cosine) are Keras schedule
objects on the optimizer, so a resumed run continues them from the restored iteration
count; reduce-on-plateau is a callback that changes the optimizer's learning rate.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import keras

from .config import DEFAULT_LR, OptimizerConfig

_CLASSES = {
    "sgd": keras.optimizers.SGD,
    "rmsprop": keras.optimizers.RMSprop,
    "adam": keras.optimizers.Adam,
    "adamw": keras.optimizers.AdamW,
}


def learning_rate(cfg: OptimizerConfig) -> float:
    return float(cfg.lr if cfg.lr is not None else DEFAULT_LR[cfg.name])


def schedule(lr: float, spec: Mapping[str, Any] | None, steps_per_epoch: int, epochs: int) -> Any:
    """The learning rate, or a step-based Keras schedule, for ``spec`` (plateau is a callback)."""
    if not spec or spec["name"] in ("constant", "plateau"):
        return lr
    name = spec["name"]
    schedules = keras.optimizers.schedules
    if name == "step":  # multiply by `factor` every `every` epochs: the notes' step decay
        every = spec.get("every", 10) * steps_per_epoch
        return schedules.ExponentialDecay(lr, every, spec.get("factor", 0.1), staircase=True)
    if name == "exponential":
        steps = max(1, round(spec.get("decay_epochs", 1) * steps_per_epoch))
        return schedules.ExponentialDecay(lr, steps, spec.get("decay_rate", 0.96))
    warmup = spec.get("warmup_epochs", 0) * steps_per_epoch
    total = max(1, epochs * steps_per_epoch - warmup)
    if warmup:  # CosineDecay warms up from initial_learning_rate to warmup_target
        return schedules.CosineDecay(0.0, total, alpha=spec.get("alpha", 0.0), warmup_target=lr, warmup_steps=warmup)
    return schedules.CosineDecay(lr, total, alpha=spec.get("alpha", 0.0))


def optimizer(cfg: OptimizerConfig, rate: Any) -> keras.optimizers.Optimizer:
    """A Keras optimizer; ``clipnorm``/``clipvalue``/``global_clipnorm`` clip gradients, ``weight_decay`` is decoupled."""
    cls = _CLASSES[cfg.name]
    return cls(learning_rate=rate, **dict(cfg.args))


def plateau_callback(spec: Mapping[str, Any] | None, monitor: str) -> keras.callbacks.Callback | None:
    """Reduce-on-plateau: divide the rate by 10 (``factor``) when ``monitor`` stalls for ``patience`` epochs."""
    if not spec or spec["name"] != "plateau":
        return None
    return keras.callbacks.ReduceLROnPlateau(
        monitor=spec.get("monitor", monitor),
        factor=spec.get("factor", 0.1),
        patience=spec.get("patience", 3),
        min_lr=spec.get("min_lr", 0.0),
        verbose=1,
    )


def loss(name: str, label_smoothing: float) -> keras.losses.Loss:
    if name == "binary_crossentropy":
        return keras.losses.BinaryCrossentropy(label_smoothing=label_smoothing)
    return keras.losses.CategoricalCrossentropy(label_smoothing=label_smoothing)


def metrics(names: Sequence[str], classes: int) -> list[Any]:
    """Metric objects; ``top5`` is top-5 categorical accuracy (named ``top5``)."""
    out: list[Any] = []
    for name in names:
        if name == "accuracy":
            out.append(keras.metrics.CategoricalAccuracy(name="accuracy"))
        elif name in ("top5", "top_k"):
            out.append(keras.metrics.TopKCategoricalAccuracy(k=min(5, classes), name="top5"))
        elif name == "auc":
            out.append(keras.metrics.AUC(name="auc"))
        elif name == "precision":
            out.append(keras.metrics.Precision(name="precision"))
        elif name == "recall":
            out.append(keras.metrics.Recall(name="recall"))
    return out
