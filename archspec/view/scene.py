"""What a picture of a network shows, as plain JSON-ready data: the *scene*.

One scene feeds every renderer: the SVG written here in Python (:mod:`.svg`), the PNG/PDF
drawn by matplotlib (:mod:`.raster`), the self-contained HTML page laid out in the browser by
the vendored dagre (:mod:`.html`) and the live page of ``archspec view`` (:mod:`.server`).
Its figures are the analysis' own (the numbers ``archspec summary --format json`` prints),
so a picture can be checked against the summary. Static: never imports TensorFlow.

>>> from archspec import expand
>>> s = scene(expand("archspec: 1\\ninput: [8, 8, 1]\\nlayers: [{conv: 4, name: c}, flatten]"))
>>> [(n["name"], n["shape"], n["params"]) for n in s["nodes"]]
[('input', [8, 8, 1], 0), ('c', [6, 6, 4], 40), ('flatten', [144], 0)]
>>> s["edges"][0]
{'source': 'input', 'target': 'c', 'label': '8x8x1'}
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ..analysis import Analysis, LayerStats, analyse
from ..diagram import describe  # the DOT emitter's reading of a layer's arguments, shared
from ..ir import Graph

#: The largest box of the to-scale drawing, in pixels, across (spatial size) and along (channels).
SCALE_ACROSS_PX = 120.0
SCALE_ALONG_PX = 60.0
SCALE_MIN_PX = 2.0


def scene(graph: Graph, analysis: Analysis | None = None, *, source: str | None = None) -> dict[str, Any]:
    """The scene of a graph. ``source`` is the spec's text: each layer then carries its line."""
    analysis = analysis or analyse(graph)
    lines = source.splitlines() if source is not None else None
    stages = _stages(analysis)
    scale = _Scale(graph, analysis)
    nodes = [_input_node(graph, scale)]
    nodes += [_node(graph, s, lines, stages, scale) for s in analysis.layers]
    shapes = {graph.input_name: graph.input_shape, **{s.name: s.shape for s in analysis.layers}}
    edges = [
        {"source": src, "target": s.name, "label": _shape_text(shapes[src])}
        for s in analysis.layers
        for src in s.node.inputs
    ]
    return {
        "name": graph.name,
        "title": f"{graph.name}: {analysis.total_params:,} params, {analysis.macs / 1e6:,.1f} M MACs",
        "nodes": nodes,
        "edges": edges,
        "groups": _groups(graph, analysis, lines),
        "stages": [{"name": name, **row} for name, row, _ in stages],
        "totals": {
            "total_params": analysis.total_params,
            "trainable_params": analysis.trainable_params,
            "non_trainable_params": analysis.non_trainable_params,
            "macs": analysis.macs,
            "layer_count": len(analysis.layers),
        },
    }


class _Scale:
    """Linear scales for the to-scale drawing: the largest tensor of the net gets the full size."""

    def __init__(self, graph: Graph, analysis: Analysis) -> None:
        shapes = [graph.input_shape, *(s.shape for s in analysis.layers)]
        self.spatial = max((max(s[:-1]) for s in shapes if len(s) > 1), default=1)
        self.channels = max((s[-1] for s in shapes if len(s) > 1), default=1)
        self.units = max((s[0] for s in shapes if len(s) == 1), default=1)

    def box(self, shape: Sequence[int]) -> list[float]:
        """[across, along]: spatial size across the flow, channels along it (vectors: units across)."""
        if len(shape) > 1:
            across = SCALE_ACROSS_PX * max(shape[:-1]) / self.spatial
            along = SCALE_ALONG_PX * shape[-1] / self.channels
        else:
            across, along = SCALE_ACROSS_PX * (shape[0] if shape else 1) / self.units, SCALE_MIN_PX * 2
        return [round(max(across, SCALE_MIN_PX), 1), round(max(along, SCALE_MIN_PX), 1)]


def _shape_text(shape: Sequence[int]) -> str:
    return "x".join(str(d) for d in shape)


def _input_node(graph: Graph, scale: _Scale) -> dict[str, Any]:
    return {
        "id": graph.input_name,
        "name": graph.input_name,
        "type": "input",
        "desc": "input",
        "shape": list(graph.input_shape),
        "params": 0,
        "trainable_params": 0,
        "non_trainable_params": 0,
        "macs": 0,
        "rf": None,
        "trainable": True,
        "output": False,
        "scope": [],
        "line": 0,
        "line_text": None,
        "stages": [],
        "box": scale.box(graph.input_shape),
    }


def _node(
    graph: Graph, s: LayerStats, lines: list[str] | None, stages: list[tuple[str, Any, frozenset[str]]], scale: _Scale
) -> dict[str, Any]:
    loc = s.node.location
    return {
        "id": s.name,
        "name": s.name,
        "type": s.type,
        "desc": describe(s.node),
        "shape": list(s.shape),
        "params": s.params,
        "trainable_params": s.trainable_params,
        "non_trainable_params": s.non_trainable_params,
        "macs": s.macs,
        "rf": list(s.rf.size) if s.rf else None,
        "trainable": s.node.trainable,
        "output": s.name in graph.outputs,
        "scope": list(s.node.scope),
        "line": loc.line if loc.file == graph.file else 0,
        "line_text": _line(lines, loc.line) if loc.file == graph.file else None,
        "stages": [s.name in trainable for _, _, trainable in stages],
        "box": scale.box(s.shape),
    }


def _line(lines: list[str] | None, number: int) -> str | None:
    if lines is None or not 0 < number <= len(lines):
        return None
    return lines[number - 1]


def _groups(graph: Graph, analysis: Analysis, lines: list[str] | None) -> list[dict[str, Any]]:
    """Block instances, outermost first, each with its parent and the figures of its layers."""
    members: dict[str, list[LayerStats]] = {}
    parent: dict[str, str | None] = {}
    for s in analysis.layers:
        for depth, name in enumerate(s.node.scope):
            members.setdefault(name, []).append(s)
            parent.setdefault(name, s.node.scope[depth - 1] if depth else None)
    out = []
    for name, layer_stats in members.items():
        scope = graph.scopes.get(name)
        loc = scope.location if scope is not None else None
        here = loc is not None and loc.file == graph.file
        out.append(
            {
                "id": name,
                "name": name,
                "kind": scope.kind if scope is not None else "block",
                "parent": parent[name],
                "depth": layer_stats[0].node.scope.index(name),
                "layers": len(layer_stats),
                "params": sum(m.params for m in layer_stats),
                "macs": sum(m.macs for m in layer_stats),
                "shape": list(layer_stats[-1].shape),
                "trainable": any(m.node.trainable for m in layer_stats),
                "line": loc.line if here and loc is not None else 0,
                "line_text": _line(lines, loc.line) if here and loc is not None else None,
                "notes": list(scope.notes) if scope is not None else [],
            }
        )
    return out


def _stages(analysis: Analysis) -> list[tuple[str, dict[str, Any], frozenset[str]]]:
    """(name, figures, names of the layers that train) of each stage of a ``fine_tune:`` plan."""
    from ..transfer.plan import plan

    return [
        (
            stage.name,
            {
                "epochs": stage.epochs,
                "optimizer": str(stage.optimizer),
                "trainable_params": stage.trainable_params,
                "non_trainable_params": stage.non_trainable_params,
            },
            stage.trainable,
        )
        for stage in plan(analysis.graph).stages
    ]


def visible(scene_: Mapping[str, Any], collapsed: set[str]) -> tuple[list[dict[str, Any]], list[tuple[str, str, str]]]:
    """What a drawing shows with the ``collapsed`` groups drawn as one box each.

    Returns the boxes (layers, and collapsed groups marked ``"group": True``) in graph order,
    and the edges between them as (source box, target box, label), without repeats. A group's
    box id starts with a NUL (which no name has): a layer may share a block instance's name.
    The same rule as ``visibleGraph`` in data/view/diagram.js, which the browser tests hold to it.
    """
    groups = {g["id"]: g for g in scene_["groups"]}
    rep: dict[str, str] = {}
    boxes: list[dict[str, Any]] = []
    shown: set[str] = set()
    for node in scene_["nodes"]:
        outer = next((g for g in node["scope"] if g in collapsed), None)
        rep[node["id"]] = node["id"] if outer is None else "\0" + outer
        if outer is None:
            boxes.append(node)
        elif outer not in shown:
            shown.add(outer)
            scope = node["scope"][: node["scope"].index(outer)]
            boxes.append({**groups[outer], "id": "\0" + outer, "group": True, "scope": scope})
    edges: list[tuple[str, str, str]] = []
    seen: set[tuple[str, str]] = set()
    for e in scene_["edges"]:
        pair = (rep[e["source"]], rep[e["target"]])
        if pair[0] != pair[1] and pair not in seen:
            seen.add(pair)
            edges.append((*pair, e["label"]))
    return boxes, edges


def collapsed_at(scene_: Mapping[str, Any], depth: int | None) -> set[str]:
    """The groups ``--depth N`` draws as one box: those nested N deep (0: the outermost)."""
    if depth is None:
        return set()
    return {g["id"] for g in scene_["groups"] if g["depth"] == depth}


def read_source(path: str | Path) -> str | None:
    """A spec file's text for the layers' lines, or None (a string spec, stdin, unreadable file)."""
    try:
        return Path(path).read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None
