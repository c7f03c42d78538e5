"""A shallow classifier on extracted features: logistic regression, grid search over C.

As in the notes: split the feature file into train and test, tune ``C`` with cross-validated
grid search, refit on the training split and print scikit-learn's per-class
precision/recall/F1/support report on the test split.
"""

from __future__ import annotations

import math
import os
from collections.abc import Sequence
from dataclasses import dataclass
from typing import Any

import numpy as np

from ..errors import UsageError

DEFAULT_C = (0.1, 1.0, 10.0, 100.0, 1000.0)


@dataclass(frozen=True)
class FitReport:
    best_params: dict[str, Any]
    accuracy: float
    report: str  # sklearn.metrics.classification_report
    train_size: int
    test_size: int


def read_features(path: str | os.PathLike[str]) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """A feature file's (features N x D, labels N, label names), each checked: a malformed file is a
    usage error naming the file and what is wrong, never a crash."""
    from ..safe_hdf5 import decode_names, open_hdf5, read_array

    try:
        with open_hdf5(path) as db:  # refuses external links, virtual datasets, declared-size bombs
            missing = [k for k in ("features", "labels", "label_names") if k not in db]
            if missing:
                raise UsageError(f"{path}: not a feature file (no dataset {', '.join(missing)})")
            names = decode_names(read_array(db, "label_names", path), path)
            x, y = read_array(db, "features", path), read_array(db, "labels", path)
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None
    return _checked(x, y, names, str(path))


def _checked(x: np.ndarray, y: np.ndarray, names: list[str], path: str) -> tuple[np.ndarray, np.ndarray, list[str]]:
    from .labels import check_labels

    if x.ndim != 2 or x.dtype.kind not in "biuf":
        raise UsageError(f"{path}: features must be a 2-D array of numbers (N x D); got {x.dtype} of shape {x.shape}")
    labels = check_labels(y, path, None, len(names))
    if len(labels) != len(x):
        raise UsageError(f"{path}: {len(x)} feature rows but {len(labels)} labels")
    if not np.isfinite(x).all():
        raise UsageError(f"{path}: the features hold NaN or infinite values")
    return x, labels, names


def fit_features(
    path: str | os.PathLike[str],
    *,
    test_size: float = 0.25,
    seed: int = 42,
    cs: Sequence[float] = DEFAULT_C,
    cv: int = 3,
    jobs: int = 1,
) -> FitReport:
    """Train and evaluate logistic regression on a feature file written by ``archspec extract``."""
    from sklearn.linear_model import LogisticRegression
    from sklearn.metrics import accuracy_score, classification_report
    from sklearn.model_selection import GridSearchCV, train_test_split

    x, y, names = read_features(path)
    if len(set(y.tolist())) < 2:
        raise UsageError(f"{path}: a classifier needs at least two classes; found {len(set(y.tolist()))}")
    _check_class_sizes(y, names, test_size, cv, str(path))
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=test_size, random_state=seed, stratify=y)
    search = GridSearchCV(LogisticRegression(max_iter=2000), {"C": list(cs)}, cv=cv, n_jobs=jobs)
    search.fit(x_train, y_train)
    pred = search.best_estimator_.predict(x_test)
    labels = list(range(len(names)))
    report = classification_report(y_test, pred, labels=labels, target_names=names, zero_division=0)
    return FitReport(dict(search.best_params_), float(accuracy_score(y_test, pred)), report, len(y_train), len(y_test))


def _check_class_sizes(y: np.ndarray, names: Sequence[str], test_size: float, cv: int, path: str) -> None:
    """What scikit-learn's stratified split and cv-fold search need, checked first (they fail deep inside)."""
    counts = np.bincount(y)
    present = np.flatnonzero(counts)
    small = [int(c) for c in present if counts[c] < 2]
    if small:
        shown = ", ".join(names[c] if c < len(names) else str(c) for c in small[:5])
        raise UsageError(f"{path}: a stratified split needs at least 2 rows of every class; only 1 of: {shown}")
    n_test = math.ceil(test_size * len(y))
    if min(n_test, len(y) - n_test) < len(present):
        raise UsageError(
            f"{path}: {len(y)} rows cannot be split {1 - test_size:g}/{test_size:g} with every one of the "
            f"{len(present)} classes on both sides; give more rows or another --test-size"
        )
    if counts.max() * (1 - test_size) < cv:
        raise UsageError(f"{path}: too few rows per class for --cv {cv} (largest class: {counts.max()} rows)")
