"""Training stages: one for a plain ``train:`` section, several for a ``fine_tune:`` plan.

A stage sets which layers train (``apply``), then the trainer recompiles the model with the
stage's optimizer (changing ``trainable`` only takes effect on compile) and fits for the
stage's epochs. Fine-tuning plans come from :mod:`archspec.transfer` (its plan objects apply
the trainable flags); this module adapts them to :class:`Stage`.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from dataclasses import dataclass
from typing import Any

from ..ir import Graph
from .config import OptimizerConfig, TrainConfig, optimizer_config


@dataclass(frozen=True)
class Stage:
    """One fit: its name, epochs, optimizer, schedule, early stopping, and how it sets ``trainable``."""

    name: str
    epochs: int
    optimizer: OptimizerConfig
    schedule: Mapping[str, Any] | None = None
    early_stopping: Mapping[str, Any] | None = None
    apply: Callable[[Any], Any] | None = None


def plan(graph: Graph, cfg: TrainConfig, epochs_cap: int | None = None) -> list[Stage]:
    """The stages of a run. ``epochs_cap`` (``--epochs``) sets a single stage's epochs, or caps each stage's."""
    from ..transfer import plan as transfer_plan  # the plan objects of the transfer-learning stage

    fine_tune = transfer_plan(graph).stages if graph.sections.get("fine_tune") else ()
    if not fine_tune:
        epochs = epochs_cap if epochs_cap is not None else cfg.epochs
        return [Stage("train", epochs, cfg.optimizer, cfg.schedule, cfg.early_stopping)]
    raw = graph.sections["fine_tune"]
    stages = []
    for item, planned in zip(raw, fine_tune):
        epochs = planned.epochs if epochs_cap is None else min(epochs_cap, planned.epochs)
        schedule, stopping = _callbacks(item.get("callbacks") or (), cfg)
        stages.append(
            Stage(
                name=planned.name,
                epochs=epochs,
                optimizer=optimizer_config(item["optimizer"]),
                schedule=schedule,
                early_stopping=stopping,
                apply=planned.apply,
            )
        )
    return stages


def _callbacks(items: Any, cfg: TrainConfig) -> tuple[Mapping[str, Any] | None, Mapping[str, Any] | None]:
    """A stage's ``callbacks``: ``early_stopping`` and ``plateau`` (bare, or with their train-section arguments)."""
    schedule, stopping = cfg.schedule, cfg.early_stopping
    for item in items:
        name, args = (item, {}) if isinstance(item, str) else next(iter(dict(item).items()))
        if name == "early_stopping":
            stopping = dict(args or {})
        elif name in ("plateau", "reduce_lr_on_plateau"):
            schedule = {"name": "plateau", **dict(args or {})}
        else:
            from ..errors import UsageError
            from .config import check_names

            raise UsageError(
                "fine_tune callbacks: " + check_names([str(name)], ["early_stopping", "plateau"], "callback")
            )
    return schedule, stopping
