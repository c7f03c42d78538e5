"""Extension points: how a layer above the core (transfer learning, training) plugs into its stages.

The core stages (schema, expansion, the Keras builder, code generation, the report) never
import the packages above them (``docs/architecture.md``; ``tests/test_layering.py`` checks
it). A package above describes what it adds as one :class:`Extension` and :func:`register` s
it when it is imported; ``archspec/__init__.py`` imports those packages, so ``import archspec``
and every command have them. Each stage calls the hooks of the registered extensions, in
registration order, where it would otherwise have called the higher layer:

>>> from archspec import expand
>>> from archspec.errors import SpecError
>>> from archspec.extensions import Extension, register, unregister
>>> def check_depth(doc, graph, state):  # `depth: N`: the spec promises N layers
...     if len(graph.nodes) != doc.data["depth"]:
...         message = f"expected {doc.data['depth']} layers, found {len(graph.nodes)}"
...         raise SpecError([doc.problem(message, ("depth",))])
...     return graph
>>> ext = register(Extension("depth", sections={"depth": {"type": "integer"}}, finish=check_depth))
>>> len(expand("archspec: 1\\ninput: [4]\\nlayers: [{dense: 2}, relu]\\ndepth: 2").nodes)
2
>>> expand("archspec: 1\\ninput: [4]\\nlayers: [{dense: 2}, relu]\\ndepth: 3")
Traceback (most recent call last):
...
archspec.errors.SpecError: <spec>:4:8: depth: expected 3 layers, found 2
>>> unregister("depth")

This module imports nothing above :mod:`archspec.ir`, and nothing that imports TensorFlow:
hooks that need Keras import it when they are called.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping, Sequence
from contextlib import AbstractContextManager
from dataclasses import dataclass, field
from typing import Any

from .ir import Graph

#: ``codegen.literal``: every value a hook writes into generated code goes through it.
Literal = Callable[[Any], str]


@dataclass(frozen=True)
class ModuleParts:
    """What an extension adds to the module ``archspec compile`` writes for one graph.

    ``parameters`` are extra keyword parameters of ``build_model`` (``"base_weights=BASE_WEIGHTS"``),
    ``build_lines`` run inside it after the model is made, ``functions`` follow it; ``notes``
    say what the module does not carry (in its docstring).
    """

    constants: tuple[str, ...] = ()
    parameters: tuple[str, ...] = ()
    build_lines: tuple[str, ...] = ()
    functions: tuple[str, ...] = ()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True)
class TrainingStage:
    """One stage of a staged training plan (transfer's ``fine_tune:``), as the report shows it."""

    name: str
    epochs: int
    optimizer: str
    trainable_params: int
    non_trainable_params: int
    layers: tuple[str, ...]  # every layer of the model, in order
    trainable: frozenset[str]  # the layers that train in this stage

    def row(self) -> dict[str, Any]:
        """The stage as a row of ``archspec summary`` (table and JSON)."""
        trained = sum(1 for name in self.layers if name in self.trainable)
        return {
            "stage": self.name,
            "epochs": self.epochs,
            "optimizer": self.optimizer,
            "trainable_params": self.trainable_params,
            "non_trainable_params": self.non_trainable_params,
            "trainable_layers": trained,
            "frozen_layers": len(self.layers) - trained,
        }


@dataclass(frozen=True)
class Extension:
    """One package's contributions to the core stages; every hook is optional.

    Expansion (:mod:`archspec.expand`), when the spec has one of ``sections``:
      ``begin(expander, ctx)`` runs before the body is walked and may add nodes (a base
      network), pointing ``ctx.prev`` at the tensor the body reads; it returns a state.
      ``finish(doc, graph, state)`` gets the expanded graph and returns it, changed (trainable
      flags, data under ``graph.extensions[name]``).
    Schema (:mod:`archspec.schema`): ``sections`` maps each top-level key the extension owns to
      its JSON Schema fragment.
    Keras builder (:mod:`archspec.keras_backend`): ``building()`` is a context manager entered
      while a spec is expanded for building; ``keras_tensors(graph, inputs)`` returns
      ``(inputs, {node name: tensor})`` for nodes it makes itself (None: none); and
      ``keras_finish(model, graph)`` runs on the finished model (weights, trainable flags).
    Code generation (:mod:`archspec.codegen`): ``code(graph, literal)`` returns
      :class:`ModuleParts` or None.
    Report (:mod:`archspec.report`, ``archspec summary``): ``stages(graph)``
      lists the stages of a staged training plan (``()``: none), as :class:`TrainingStage` s.
    """

    name: str
    sections: Mapping[str, Mapping[str, Any]] = field(default_factory=dict)
    begin: Callable[[Any, Any], Any] | None = None
    finish: Callable[[Any, Graph, Any], Graph] | None = None
    building: Callable[[], AbstractContextManager[Any]] | None = None
    keras_tensors: Callable[[Graph, Any], tuple[Any, dict[str, Any]] | None] | None = None
    keras_finish: Callable[[Any, Graph], None] | None = None
    code: Callable[[Graph, Literal], ModuleParts | None] | None = None
    stages: Callable[[Graph], Sequence[TrainingStage]] | None = None


_registered: dict[str, Extension] = {}


def register(extension: Extension) -> Extension:
    """Add (or, under the same name, replace) an extension; its sections must be new."""
    for other in _registered.values():
        taken = set(other.sections) & set(extension.sections)
        if other.name != extension.name and taken:
            raise ValueError(f"extension {extension.name!r}: section {sorted(taken)[0]!r} belongs to {other.name!r}")
    _registered[extension.name] = extension
    _changed()
    return extension


def unregister(name: str) -> None:
    _registered.pop(name, None)
    _changed()


def registered() -> tuple[Extension, ...]:
    """The extensions in registration order."""
    return tuple(_registered.values())


def sections() -> dict[str, Mapping[str, Any]]:
    """Every extension's top-level sections and their schema fragments."""
    return {key: fragment for ext in _registered.values() for key, fragment in ext.sections.items()}


def training_stages(graph: Graph) -> tuple[TrainingStage, ...]:
    """The staged training plan of a graph: the first extension's that has one (``()``: none)."""
    for ext in _registered.values():
        stages = tuple(ext.stages(graph)) if ext.stages is not None else ()
        if stages:
            return stages
    return ()


def active(spec: Mapping[str, Any]) -> tuple[Extension, ...]:
    """The extensions owning a section that ``spec`` has."""
    return tuple(ext for ext in _registered.values() if any(key in spec for key in ext.sections))


_listeners: list[Callable[[], None]] = []


def on_change(listener: Callable[[], None]) -> None:
    """Call ``listener`` whenever an extension comes or goes (:mod:`archspec.schema` forgets its
    cached schema, which includes the extensions' sections)."""
    _listeners.append(listener)


def _changed() -> None:
    for listener in _listeners:
        listener()
