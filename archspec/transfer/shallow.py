"""A shallow classifier on extracted features: logistic regression, grid search over C.

As in the notes: split the feature file into train and test, tune ``C`` with cross-validated
grid search, refit on the training split and print scikit-learn's per-class
precision/recall/F1/support report on the test split.
"""

from __future__ import annotations

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
    from ..safe_hdf5 import open_hdf5

    try:
        with open_hdf5(path) as db:  # refuses external links, virtual datasets, declared-size bombs
            missing = [k for k in ("features", "labels", "label_names") if k not in db]
            if missing:
                raise UsageError(f"{path}: not a feature file (no dataset {', '.join(missing)})")
            names = [n.decode() if isinstance(n, bytes) else str(n) for n in db["label_names"][()]]
            return db["features"][()], db["labels"][()], names
    except OSError as exc:
        raise UsageError(f"cannot read {path}: {exc}") from None


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
    x_train, x_test, y_train, y_test = train_test_split(x, y, test_size=test_size, random_state=seed, stratify=y)
    search = GridSearchCV(LogisticRegression(max_iter=2000), {"C": list(cs)}, cv=cv, n_jobs=jobs)
    search.fit(x_train, y_train)
    pred = search.best_estimator_.predict(x_test)
    labels = list(range(len(names)))
    report = classification_report(y_test, pred, labels=labels, target_names=names, zero_division=0)
    return FitReport(dict(search.best_params_), float(accuracy_score(y_test, pred)), report, len(y_train), len(y_test))
