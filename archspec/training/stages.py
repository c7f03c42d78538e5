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
    raw = graph.sections.get("fine_tune")
    if not raw:
        epochs = epochs_cap if epochs_cap is not None else cfg.epochs
        return [Stage("train", epochs, cfg.optimizer, cfg.schedule, cfg.early_stopping)]
    appliers = _transfer_appliers(graph)
    stages = []
    for index, item in enumerate(raw):
        epochs = item["epochs"] if epochs_cap is None else min(epochs_cap, item["epochs"])
        stages.append(
            Stage(
                name=str(item.get("name") or f"stage{index + 1}"),
                epochs=epochs,
                optimizer=optimizer_config(item["optimizer"]),
                schedule=cfg.schedule,
                early_stopping=cfg.early_stopping,
                apply=appliers[index],
            )
        )
    return stages


def _transfer_appliers(graph: Graph) -> list[Callable[[Any], Any] | None]:
    """One function per ``fine_tune`` stage that sets the model's trainable flags, from archspec.transfer."""
    from ..transfer import plan as transfer_plan  # the transfer-learning stage's plan objects

    stages = transfer_plan.stages(graph)
    return [stage.apply for stage in stages]
