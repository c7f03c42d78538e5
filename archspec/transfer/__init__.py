"""Transfer learning: pretrained bases, freezing, new heads, staged fine-tuning, feature extraction.

Spec sections (schema in :mod:`archspec.transfer.schema`): ``base:`` (a keras.applications
model or another archspec spec, see :mod:`.bases`), ``freeze:`` (selectors, see :mod:`.freeze`)
and ``fine_tune:`` (stages, see :mod:`.plan`). The head is the spec's ``layers:``; the
``fc_head`` and ``gap_head`` blocks (:mod:`archspec.blocks.heads`) are the notes' two heads in one line.

This package is a layer above the core: no core module imports it. Importing it registers
:data:`EXTENSION` (:mod:`archspec.extensions`), through which the schema, the expander, the
Keras builder, the code generator and the report reach it; ``archspec/__init__.py`` imports
it, so every command and ``import archspec`` have it. Nothing here imports TensorFlow at
import time: the Keras hooks import :mod:`.keras_build` when they are called.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager
from typing import Any

from ..extensions import Extension, Literal, ModuleParts, TrainingStage, register
from ..ir import Graph
from .info import EXTENSION_NAME, BaseInfo, transfer_info
from .plan import OptimizerConfig, Plan, Stage, plan
from .schema import BASE_SCHEMA, FINE_TUNE_SCHEMA, FREEZE_SCHEMA


# The hooks import what they call when they are called: `import archspec` loads only the
# schema fragments, the data types and the plan, and a spec without `base:` never loads the rest.
def _begin(expander: Any, ctx: Any) -> BaseInfo | None:
    from .expand import begin

    return begin(expander, ctx)


def _finish(doc: Any, graph: Graph, base: BaseInfo | None) -> Graph:
    from .expand import finish

    return finish(doc, graph, base)


@contextmanager
def _building() -> Iterator[None]:
    from .keras_build import probing  # a base without a reference spec is measured by Keras

    with probing():
        yield


def _keras_tensors(graph: Graph, inputs: Any) -> tuple[Any, dict[str, Any]] | None:
    info = transfer_info(graph)
    if info is None or info.base is None:
        return None
    from .keras_build import base_tensors  # a keras.applications base is made by Keras: its names, its weights

    return base_tensors(graph, info.base, inputs)


def _keras_finish(model: Any, graph: Graph) -> None:
    info = transfer_info(graph)
    if info is not None and info.base is not None:
        from .keras_build import finish_model

        finish_model(model, graph, info.base)


def _code(graph: Graph, literal: Literal) -> ModuleParts | None:
    from .codegen import transfer_code  # weights, preprocessing and stages of a transfer spec

    return transfer_code(graph, literal)


def _stages(graph: Graph) -> tuple[TrainingStage, ...]:
    if transfer_info(graph) is None:
        return ()
    return tuple(
        TrainingStage(
            s.name, s.epochs, str(s.optimizer), s.trainable_params, s.non_trainable_params, s.layers, s.trainable
        )
        for s in plan(graph).stages
    )


#: What transfer learning adds to the core stages.
EXTENSION = register(
    Extension(
        EXTENSION_NAME,
        sections={"base": BASE_SCHEMA, "freeze": FREEZE_SCHEMA, "fine_tune": FINE_TUNE_SCHEMA},
        begin=_begin,
        finish=_finish,
        building=_building,
        keras_tensors=_keras_tensors,
        keras_finish=_keras_finish,
        code=_code,
        stages=_stages,
    )
)

__all__ = ["EXTENSION", "BaseInfo", "OptimizerConfig", "Plan", "Stage", "plan", "transfer_info"]
