"""Transfer learning: pretrained bases, freezing, new heads, staged fine-tuning, feature extraction.

Spec sections (schema in :mod:`archspec.transfer.schema`): ``base:`` (a keras.applications
model or another archspec spec, see :mod:`.bases`), ``freeze:`` (selectors, see :mod:`.freeze`)
and ``fine_tune:`` (stages, see :mod:`.plan`). The head is the spec's ``layers:``; the
``fc_head`` and ``gap_head`` blocks (:mod:`archspec.blocks.heads`) are the notes' two heads in one line.
Nothing here imports TensorFlow at import time.
"""

from __future__ import annotations

from .expand import BaseInfo
from .plan import OptimizerConfig, Plan, Stage, plan

__all__ = ["BaseInfo", "OptimizerConfig", "Plan", "Stage", "plan"]
