"""Dense outputs: a model whose output holds a class distribution per position (a segmentation net's
H x W x classes, or one per token), trained on per-position integer labels (masks).

The loss is sparse categorical cross-entropy, averaged over every position of every example; the
metrics are per-position accuracy and mean IoU. Mean IoU follows ``keras.metrics.MeanIoU`` exactly:
IoU_c = TP_c / (TP_c + FP_c + FN_c) from the confusion matrix of all positions, averaged over the
classes that occur in the truth or the prediction (a class absent from both is left out; a class
present in the truth but never predicted counts with IoU 0).

.. code-block:: python

    >>> import numpy as np
    >>> cm = confusion(np.array([0, 0, 1, 1]), np.array([0, 1, 0, 1]), 3)
    >>> per_class, mean = iou(cm)
    >>> [round(v, 4) for v in per_class[:2]], per_class[2] is None, round(mean, 4)
    ([0.3333, 0.3333], True, 0.3333)
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

import numpy as np

from ..errors import UsageError

#: augment: keys that move pixels: a mask would have to move with its image, which the pipeline does not do.
GEOMETRIC = (
    "rotation_range",
    "width_shift_range",
    "height_shift_range",
    "shear_range",
    "zoom_range",
    "horizontal_flip",
    "vertical_flip",
    "random_crop",
)
#: train.metrics that mean something per position.
METRICS = ("accuracy", "mean_iou", "top5", "top_k")


def label_shape(model: Any) -> tuple[int, ...] | None:
    """The positions of the model's first output, (H, W) for H x W x classes; None for one class per example."""
    shape = tuple(model.outputs[0].shape[1:])
    return tuple(int(d) for d in shape[:-1]) if len(shape) > 1 else None


def check_config(cfg: Any, outputs: Sequence[str]) -> None:
    """Refuse the train: options that cannot mean what they say on per-position labels."""
    moving = [k for k in GEOMETRIC if cfg.augment.get(k)]
    problems = []
    if moving:
        problems.append(
            f"train.augment: {', '.join(moving)} would move the image but not its mask; per-pixel labels train "
            "with gaussian_noise, brightness_range and contrast_range only"
        )
    if cfg.label_smoothing:
        problems.append("train.label_smoothing: Keras' sparse categorical cross-entropy has no label smoothing")
    if cfg.class_weight is not None:
        problems.append("train.class_weight: Keras weighs whole examples by class, not pixels")
    if cfg.loss != "categorical_crossentropy":
        problems.append(f"train.loss: {cfg.loss} is not a loss for one class per position")
    unknown = [m for m in cfg.metrics if m not in METRICS]
    if unknown:
        problems.append(f"train.metrics: {', '.join(unknown)} (per-position metrics: {', '.join(METRICS)})")
    if len(outputs) > 1:
        problems.append("several outputs: a per-position model trains one output")
    if problems:
        raise UsageError("the model outputs one class per position, so " + "; ".join(problems))


def loss_and_metrics(names: Sequence[str], classes: int) -> tuple[Any, list[Any]]:
    """Sparse categorical cross-entropy per position, with per-position accuracy and MeanIoU always
    (and top-5 when asked for): the metrics that mean something for segmentation."""
    import keras

    metrics: list[Any] = [
        keras.metrics.SparseCategoricalAccuracy(name="accuracy"),
        keras.metrics.MeanIoU(num_classes=classes, sparse_y_true=True, sparse_y_pred=False, name="mean_iou"),
    ]
    if any(n in ("top5", "top_k") for n in names):
        metrics.append(keras.metrics.SparseTopKCategoricalAccuracy(k=min(5, classes), name="top5"))
    return keras.losses.SparseCategoricalCrossentropy(), metrics


def note(shape: Sequence[int], classes: int) -> str:
    """What archspec chose for a per-position output (said at the start of the run)."""
    return (
        f"the model outputs {'x'.join(map(str, shape))} positions x {classes} classes: labels are per-position "
        "class ids (masks); loss: sparse categorical cross-entropy averaged over positions; metrics: accuracy "
        "per position and mean_iou (keras.metrics.MeanIoU)"
    )


def confusion(truth: np.ndarray, pred: np.ndarray, classes: int) -> np.ndarray:
    """The classes x classes confusion matrix of every position (rows: true class, columns: predicted)."""
    flat = truth.reshape(-1).astype(np.int64) * classes + pred.reshape(-1).astype(np.int64)
    return np.bincount(flat, minlength=classes * classes).reshape(classes, classes)


def iou(matrix: np.ndarray) -> tuple[list[float | None], float]:
    """Per-class IoU (None for a class absent from both truth and prediction) and their mean, as
    keras.metrics.MeanIoU computes it from the same confusion matrix."""
    matrix = np.asarray(matrix, dtype=np.float64)
    tp = np.diag(matrix)
    union = matrix.sum(0) + matrix.sum(1) - tp
    per_class = [float(t / u) if u > 0 else None for t, u in zip(tp, union)]
    present = [v for v in per_class if v is not None]
    return per_class, float(np.mean(present)) if present else 0.0


def evaluate(model: Any, dataset: Any, class_names: Sequence[str]) -> dict[str, Any]:
    """Loss, per-position accuracy, mean IoU, per-class IoU and the confusion matrix (counted in
    positions) of ``model`` over ``dataset`` of (x, integer masks), one batch at a time."""
    import keras

    classes = int(model.outputs[0].shape[-1])
    matrix = np.zeros((classes, classes), np.int64)
    loss_sum, count = 0.0, 0
    for x, y in dataset:
        probs = np.asarray(model(x, training=False), dtype=np.float32)
        truth = np.asarray(y).astype(np.int64)
        losses = keras.losses.sparse_categorical_crossentropy(truth, probs)
        loss_sum += float(np.sum(keras.ops.convert_to_numpy(losses), dtype=np.float64))
        matrix += confusion(truth, probs.argmax(-1), classes)
        count += len(truth)
    positions = int(matrix.sum())
    per_class, mean = iou(matrix)
    names = [str(n) for n in class_names] + [str(i) for i in range(len(class_names), classes)]
    metrics = {
        "loss": loss_sum / max(positions, 1),
        "accuracy": float(np.trace(matrix) / max(positions, 1)),
        "mean_iou": mean,
    }
    return {
        "count": count,
        "positions": positions,
        "metrics": metrics,
        "per_class_iou": dict(zip(names, per_class)),
        "report": report(matrix, names),
        "confusion_matrix": matrix.tolist(),
        "class_names": names,
    }


def report(matrix: np.ndarray, names: Sequence[str]) -> str:
    """Per class: IoU, precision and recall over positions, and how many positions are of the class."""
    per_class, mean = iou(matrix)
    tp = np.diag(matrix).astype(np.float64)
    width = max(12, *(len(n) for n in names)) + 1
    lines = [f"{'class':<{width}}{'IoU':>9}{'precision':>11}{'recall':>9}{'positions':>11}"]
    for i, name in enumerate(names):
        value = "-" if per_class[i] is None else f"{per_class[i]:.4f}"
        lines.append(
            f"{name:<{width}}{value:>9}{_ratio(tp[i], matrix[:, i].sum()):>11}{_ratio(tp[i], matrix[i].sum()):>9}"
            f"{int(matrix[i].sum()):>11}"
        )
    present = sum(v is not None for v in per_class)
    lines.append(f"{'mean IoU':<{width}}{mean:>9.4f}  (over the {present} classes in the truth or the prediction)")
    return "\n".join(lines)


def _ratio(num: float, den: float) -> str:
    return f"{num / den:.4f}" if den else "-"


def summary(result: Mapping[str, Any]) -> str:
    """One line of per-class IoU, for the end of a run."""
    parts = [f"{name} {'-' if v is None else f'{v:.4f}'}" for name, v in result["per_class_iou"].items()]
    return "IoU per class: " + ", ".join(parts)
