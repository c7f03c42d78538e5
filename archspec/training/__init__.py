"""Training, data, evaluation and distribution: the ``train:`` section and its commands.

Modules, one per concern: :mod:`.config` (the ``train:`` schema and its frozen dataclasses;
no TensorFlow), :mod:`.labels` (labels checked before anything is allocated from them; no
TensorFlow), :mod:`.data` (tf.data input pipelines), :mod:`.augment` (ImageDataGenerator's
transforms in tf.data), :mod:`.optimizers` (optimizers, schedules, callbacks), :mod:`.rundir` (run
directories, checkpoints, history, curves), :mod:`.trainer` (the training loop, strategies,
staged fine-tuning, resume), :mod:`.evaluate` (evaluation, reports, prediction, activation
maps) and :mod:`.datasets` (scikit-learn's digits written as files). Only :mod:`.config`
is imported by the static commands.
"""

from __future__ import annotations

from ..extensions import Extension, register
from .config import SCHEMA

#: The ``train:`` section (its schema; the trainer reads it from ``graph.sections``).
EXTENSION = register(Extension("training", sections={"train": SCHEMA}))
