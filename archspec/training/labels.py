"""Labels as class indices, checked before anything is allocated from them (no TensorFlow here:
``fit-features`` uses it too)."""

from __future__ import annotations

import numpy as np

from ..errors import UsageError

#: Without a model to compare with, labels above this are refused rather than given a name each.
MAX_INFERRED_CLASSES = 100_000


def check_labels(labels: np.ndarray, path: str, classes: int | None, names: int = 0) -> np.ndarray:
    """Labels as int64 class indices, after checking each one: a number, whole, finite, at least 0 and
    below the model's ``classes`` (or the file's ``names``). Nothing is allocated from a label before."""
    if labels.ndim == 0 or (labels.ndim == 2 and labels.shape[1] != 1) or labels.ndim > 2:
        raise UsageError(
            f"{path}: the labels must be one class index per example (shape (N,)); got shape {labels.shape}"
        )
    labels = labels.reshape(-1)
    if labels.dtype.kind not in "biuf":
        raise UsageError(f"{path}: labels must be class indices 0, 1, ...; got {labels.dtype} values")
    if len(labels) == 0:
        raise UsageError(f"{path} holds no examples")
    wrong = ~np.isfinite(labels) | (labels != np.round(labels)) if labels.dtype.kind == "f" else None
    if wrong is not None and wrong.any():
        i = int(np.argmax(wrong))
        raise UsageError(f"{path}: labels must be whole class indices 0, 1, ...; label {i} is {labels[i]}")
    low, high = int(labels.min()), int(labels.max())  # Python ints: 2**64-1 stays itself
    if low < 0:
        raise UsageError(f"{path}: label {int(np.argmin(labels))} is {low}; class indices start at 0")
    for limit, why in _label_limits(classes, names):
        if high >= limit:
            raise UsageError(f"{path}: label {int(np.argmax(labels))} is {high}, but {why}")
    return labels.astype(np.int64)


def _label_limits(classes: int | None, names: int) -> list[tuple[int, str]]:
    """Each bound a label must stay below, and what it comes from."""
    limits = []
    if names:
        limits.append((names, f"the data names {names} classes, so labels go up to {names - 1}"))
    if classes is not None:
        why = f"the model has {classes} outputs (labels 0..{classes - 1}); {classes_hint()}"
        limits.append((classes, why))
    if not limits:
        limits.append((MAX_INFERRED_CLASSES, f"archspec reads at most {MAX_INFERRED_CLASSES:,} classes"))
    return limits


def classes_hint(count: int | str = "N") -> str:
    """How to change the model's number of classes (the spec's head sizes itself from `classes`)."""
    return f"to train a model with {count} classes give --set classes={count} (the spec's head must use `classes`)"


def check_masks(
    masks: np.ndarray, path: str, classes: int | None, label_shape: tuple[int, ...], names: int = 0
) -> np.ndarray:
    """Per-pixel labels (segmentation masks) as int32 class ids of shape (N, *label_shape), after checking
    them against a model whose output is ``label_shape`` x ``classes``: the shape (a trailing axis of 1 is
    dropped), whole numbers, at least 0 and below ``classes`` (and ``names``). An error names the first
    wrong pixel."""
    want = "x".join(map(str, label_shape))
    if masks.ndim == len(label_shape) + 2 and masks.shape[-1] == 1:
        masks = masks[..., 0]
    if masks.ndim <= 1:
        raise UsageError(
            f"{path}: the model outputs one class per position ({want} x {classes} classes) but the data has "
            f"one label per example (shape {masks.shape}); give masks of shape (N, {', '.join(map(str, label_shape))})"
            " as `masks` in an .npz or .h5 file (a file that also has `labels` needs train.data.labels_key: masks)"
        )
    if masks.shape[1:] != tuple(label_shape):
        got = "x".join(map(str, masks.shape[1:]))
        raise UsageError(
            f"{path}: masks of {got} per example do not fit the model's output of {want} x {classes} classes; "
            f"expected masks of shape (N, {', '.join(map(str, label_shape))}), one class id per output position"
        )
    if masks.dtype.kind not in "biuf":
        raise UsageError(f"{path}: masks must hold class ids 0, 1, ...; got {masks.dtype} values")
    if len(masks) == 0:
        raise UsageError(f"{path} holds no examples")
    if masks.dtype.kind == "f":
        wrong = ~np.isfinite(masks) | (masks != np.round(masks))
        if wrong.any():
            text, index = _pixel(wrong)
            raise UsageError(f"{path}: masks must hold whole class ids 0, 1, ...; {text} is {masks[index]}")
    low, high = masks.min(), masks.max()
    if low < 0:
        text, _ = _pixel(masks == low)
        raise UsageError(f"{path}: {text} is {low}; class ids start at 0")
    for limit, why in _label_limits(classes, names):
        if high >= limit:
            text, index = _pixel(masks >= limit)
            raise UsageError(f"{path}: {text} is {masks[index]}, but {why}")
    return masks.astype(np.int32)


def _pixel(wrong: np.ndarray) -> tuple[str, tuple[int, ...]]:
    """The first True position of ``wrong``, said as 'mask 3 at row 5, column 7', and as an index."""
    index = tuple(int(i) for i in np.unravel_index(int(np.argmax(wrong)), wrong.shape))
    axes = ", ".join(f"{name} {i}" for name, i in zip(("row", "column", "depth"), index[1:]))
    return f"mask {index[0]} at {axes}", index
