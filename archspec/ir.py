"""The expanded graph: the immutable intermediate representation every later stage reads.

:func:`archspec.expand` turns a user's spec into a :class:`Graph` of primitive layer
:class:`Node` s in topological order. Nothing downstream edits it; passes build new ones.
"""

from __future__ import annotations

from collections.abc import Callable, Iterator, Mapping
from dataclasses import dataclass, field, replace
from types import MappingProxyType
from typing import Any

from .errors import Location, SpecPath

Shape = tuple[int, ...]

#: How a Graph or an Analysis shows itself: ``"text"`` for ``print()``, ``"html"`` for Jupyter's
#: ``_repr_html_``. Filled by :mod:`archspec.view.notebook` (imported by ``import archspec``):
#: the table and the drawing are made by stages above this one, which this module cannot import.
DISPLAY: dict[str, Callable[[Any], str]] = {}


def freeze(mapping: Mapping[str, Any] | None) -> Mapping[str, Any]:
    """A read-only view, so that nodes stay immutable after expansion."""
    return MappingProxyType(dict(mapping or {}))


@dataclass(frozen=True, eq=False)
class Node:
    """One primitive layer.

    ``args`` are validated and complete (every argument of the layer type, defaults filled
    in); ``inputs`` name earlier nodes (or the graph input); ``scope`` lists the block
    instances the node was expanded from, outermost first, for diagrams and ``--depth``.
    """

    name: str
    type: str
    args: Mapping[str, Any]
    inputs: tuple[str, ...]
    scope: tuple[str, ...] = ()
    location: Location = Location()
    path: SpecPath = ()
    trainable: bool = True

    def arg(self, key: str) -> Any:
        return self.args[key]


@dataclass(frozen=True)
class Scope:
    """A block instance: its name, the kind of block, and where the user wrote it."""

    name: str
    kind: str
    location: Location = Location()
    notes: tuple[str, ...] = ()


@dataclass(frozen=True, eq=False)
class Graph:
    """A whole network after expansion."""

    name: str
    input_shape: Shape
    nodes: tuple[Node, ...]
    outputs: tuple[str, ...]
    input_name: str = "input"
    description: str = ""
    file: str = "<spec>"
    scopes: Mapping[str, Scope] = field(default_factory=lambda: freeze({}))
    #: The spec's other top-level sections as written (``train``, ``expect``, ``base``, ...).
    sections: Mapping[str, Any] = field(default_factory=lambda: freeze({}))
    # What the stages learnt on the way, for the later ones (set by the stage that knows it).
    #: ``classes:`` (or ``--set classes=N``) as resolved by the expander; None when the spec has none.
    classes: Any = None
    #: The spec's own names for its outputs (``aux1``: a block instance) -> layer names (expander).
    output_names: Mapping[str, str] = field(default_factory=lambda: freeze({}))
    #: The ``scales:`` row (a name) or rows (a tuple, composed) this graph was expanded with (api.expand).
    variant: str | tuple[str, ...] | None = None
    #: The variables set from outside (``--set``, ``overrides=``) (api.expand).
    overrides: Mapping[str, Any] = field(default_factory=lambda: freeze({}))
    #: Where each ``expect:`` figure is written, keyed by its path under ``expect`` (api.expand).
    positions: Mapping[SpecPath, Location] = field(default_factory=lambda: freeze({}))
    #: True once :func:`prune` kept only some outputs: the spec's figures no longer describe it.
    pruned: bool = False
    #: Nodes a section handler put before the body (a transfer base's layers, written back by
    #: its section, not under ``layers:``), and the tensor the body's first layer reads.
    prelude: tuple[str, ...] = ()
    body_input: str | None = None
    #: What section handlers of higher layers attach, by handler name (see :mod:`archspec.extensions`);
    #: each handler gives its own typed accessor (:func:`archspec.transfer.transfer_info`).
    extensions: Mapping[str, Any] = field(default_factory=lambda: freeze({}))

    def __iter__(self) -> Iterator[Node]:
        return iter(self.nodes)

    def __str__(self) -> str:
        """The summary table, as ``archspec summary`` prints it."""
        return DISPLAY["text"](self) if "text" in DISPLAY else repr(self)

    def _repr_html_(self) -> str | None:
        """Jupyter: the summary as an HTML table, and the diagram."""
        return DISPLAY["html"](self) if "html" in DISPLAY else None

    def __len__(self) -> int:
        return len(self.nodes)

    def node(self, name: str) -> Node:
        for n in self.nodes:
            if n.name == name:
                return n
        raise KeyError(name)

    def consumers(self) -> dict[str, list[str]]:
        """For each tensor name, the nodes that read it, in graph order."""
        out: dict[str, list[str]] = {self.input_name: []}
        for n in self.nodes:
            out.setdefault(n.name, [])
            for src in n.inputs:
                out.setdefault(src, []).append(n.name)
        return out


def prune(graph: Graph, outputs: tuple[str, ...] | list[str]) -> Graph:
    """The sub-graph that computes only ``outputs`` (e.g. drop auxiliary heads for inference).

    Raises KeyError naming an output that is not a layer of the graph.
    """
    names = {n.name for n in graph.nodes}
    for out in outputs:
        if out not in names:
            raise KeyError(out)
    needed = set(outputs)
    for node in reversed(graph.nodes):
        if node.name in needed:
            needed.update(node.inputs)
    kept = tuple(n for n in graph.nodes if n.name in needed)
    used_scopes = {s for n in kept for s in n.scope}
    scopes = freeze({k: v for k, v in graph.scopes.items() if k in used_scopes})
    return replace(graph, nodes=kept, outputs=tuple(outputs), scopes=scopes, pruned=True)
