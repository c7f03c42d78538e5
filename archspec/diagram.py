r"""Emit stage: an architecture diagram of the expanded graph as Graphviz DOT text.

``archspec diagram`` writes this for ``.dot``/``.gv`` and with ``--engine graphviz``; its
own drawings (SVG, PNG, PDF, HTML, no system program) are made by :mod:`archspec.view`.

The DOT text is written here, by hand (no Graphviz Python binding needed): one box per
layer, the tensor shape on every edge, and each block instance (``graph.scopes``) drawn as
a nested cluster. Static: never imports TensorFlow.

Layer names come from the spec and may contain anything (quotes, backslashes, braces,
newlines), so nodes get generated ids (``n0``, ``n1``, ...) and every label goes through
:func:`quote`, which leaves nothing that DOT would read as syntax or as an escape.

>>> from archspec import expand
>>> dot = to_dot(expand("archspec: 1\ninput: [8, 8, 1]\nlayers: [{conv: 4}, flatten]"))
>>> 'n0 [label="conv\\nconv 4, 3x3\\n40 params"];' in dot and 'n0 -> n1 [label="6x6x4"];' in dot
True
"""

from __future__ import annotations

import itertools
import shutil
import subprocess
from collections.abc import Iterator, Mapping
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .analysis import Analysis, LayerStats, analyse
from .errors import Location, Problem, UsageError
from .fileio import atomic_path, atomic_write_text
from .ir import Graph, Node

#: File suffixes Graphviz renders, and the ``-T`` format for each.
RENDERED = {".svg": "svg", ".png": "png", ".pdf": "pdf"}
DOT_SUFFIXES = (".dot", ".gv")
RENDER_TIMEOUT_S = 300


def quote(text: str) -> str:
    """A DOT double-quoted string showing ``text`` literally.

    Backslashes are doubled (so ``\\n`` or ``\\N`` in a name is not a Graphviz escape), quotes
    are escaped, and control characters (newlines included) become spaces.
    """
    cleaned = "".join(" " if ord(c) < 32 or ord(c) == 127 else c for c in str(text))
    return '"' + cleaned.replace("\\", "\\\\").replace('"', '\\"') + '"'


def _label(*lines: str) -> str:
    """A multi-line label: each line quoted safely, joined by DOT's centred line break."""
    return "\\n".join(quote(line)[1:-1] for line in lines if line)


def shape_text(shape: tuple[int, ...]) -> str:
    return "x".join(str(d) for d in shape)


def describe(node: Node) -> str:
    """A short reading of a layer's main arguments: ``conv 64, 3x3 /2 same``."""
    a = node.args
    parts: list[str] = []
    for key in ("filters", "units", "rate", "function", "target"):
        if key in a and a[key] is not None:
            parts.append(str(a[key]) if not isinstance(a[key], tuple) else shape_text(a[key]))
    for key in ("kernel", "pool"):
        if key in a and a[key] is not None:
            parts.append(shape_text(a[key]))
    strides = a.get("strides")
    if strides and tuple(strides) != (1, 1) and tuple(strides) != tuple(a.get("pool") or ()):
        parts.append("/" + (str(strides[0]) if strides[0] == strides[1] else shape_text(strides)))
    if a.get("padding") == "same" and ("kernel" in a or "pool" in a):
        parts.append("same")
    if a.get("activation") not in (None, "linear"):
        parts.append(str(a["activation"]))
    head = node.type + (" " + parts[0] if parts else "")
    return ", ".join([head, *parts[1:]]) if len(parts) > 1 else head


@dataclass
class _Cluster:
    """A block instance in the drawing: its own nodes, then its nested blocks."""

    name: str
    nodes: list[str] = field(default_factory=list)
    children: dict[str, _Cluster] = field(default_factory=dict)


@dataclass(frozen=True)
class _Box:
    """One box of the diagram: a layer, or a block collapsed by ``depth``."""

    id: str
    label: str
    scope: tuple[str, ...]
    members: tuple[LayerStats, ...]


def to_dot(graph: Graph, analysis: Analysis | None = None, *, depth: int | None = None, rankdir: str = "TB") -> str:
    """The DOT text of a graph's diagram.

    ``depth`` collapses every block nested deeper than it into one box (as
    ``summary --depth`` does); ``rankdir`` is ``TB`` (top to bottom) or ``LR``.
    """
    if rankdir not in ("TB", "LR", "BT", "RL"):
        raise UsageError(f"rankdir must be one of TB, LR, BT, RL; got {rankdir!r}")
    analysis = analysis or analyse(graph)
    boxes, owner = _boxes(graph, analysis, depth)
    shapes = {graph.input_name: graph.input_shape, **{s.name: s.shape for s in analysis.layers}}
    lines = [
        f"digraph {quote(graph.name)} {{",
        f"  graph [rankdir={rankdir}, fontname=Helvetica, label={quote(_title(graph, analysis))}, labelloc=t];",
        '  node [shape=box, style="rounded,filled", fillcolor=white, fontname=Helvetica, fontsize=10];',
        "  edge [fontname=Helvetica, fontsize=9];",
        f'  input [label="{_label(graph.input_name, "input " + shape_text(graph.input_shape))}", shape=oval];',
    ]
    lines += _cluster_lines(graph, boxes)
    lines += _edge_lines(graph, boxes, owner, shapes)
    lines.append("}")
    return "\n".join(lines) + "\n"


def _title(graph: Graph, analysis: Analysis) -> str:
    return f"{graph.name}: {analysis.total_params:,} params, {analysis.macs / 1e6:,.1f} M MACs"


def _boxes(graph: Graph, analysis: Analysis, depth: int | None) -> tuple[list[_Box], dict[str, str]]:
    """Group layers into boxes; ``owner`` maps each layer name to the id of its box."""
    groups: dict[str, list[LayerStats]] = {}
    order: list[str] = []
    for s in analysis.layers:
        key = s.node.scope[depth] if depth is not None and len(s.node.scope) > depth else "\0" + s.name
        if key not in groups:
            groups[key] = []
            order.append(key)
        groups[key].append(s)
    boxes: list[_Box] = []
    owner: dict[str, str] = {graph.input_name: "input"}
    outputs = set(graph.outputs)
    for i, key in enumerate(order):
        members = tuple(groups[key])
        box_id = f"n{i}"
        if key.startswith("\0"):
            s = members[0]
            tag = "output" if s.name in outputs else ""
            text = describe(s.node)
            label = _label(s.name, "" if text == s.name else text, _params(s.params), tag)
            scope = s.node.scope
        else:
            kind = graph.scopes[key].kind if key in graph.scopes else "block"
            params = sum(m.params for m in members)
            label = _label(key, f"{kind} block, {len(members)} layers", _params(params))
            scope = members[0].node.scope[:depth]
        boxes.append(_Box(box_id, label, scope, members))
        owner.update({m.name: box_id for m in members})
    return boxes, owner


def _params(n: int) -> str:
    return f"{n:,} params" if n else ""


def _cluster_lines(graph: Graph, boxes: list[_Box]) -> list[str]:
    root = _Cluster("")
    for box in boxes:
        where = root
        for scope in box.scope:
            where = where.children.setdefault(scope, _Cluster(scope))
        attrs = ", shape=box3d" if len(box.members) > 1 else ""
        out = ", peripheries=2" if len(box.members) == 1 and box.members[0].name in graph.outputs else ""
        where.nodes.append(f'{box.id} [label="{box.label}"{attrs}{out}];')
    counter = itertools.count()
    return list(_write_cluster(root, graph.scopes, counter, 1))


def _write_cluster(cluster: _Cluster, scopes: Mapping[str, Any], counter: Iterator[int], level: int) -> Iterator[str]:
    pad = "  " * level
    for line in cluster.nodes:
        yield pad + line
    for child in cluster.children.values():
        kind = scopes[child.name].kind if child.name in scopes else "block"
        yield f"{pad}subgraph cluster_{next(counter)} {{"
        yield f'{pad}  label="{_label(f"{child.name} ({kind})")}"; style="rounded,dashed"; color=gray40;'
        yield from _write_cluster(child, scopes, counter, level + 1)
        yield pad + "}"


def _edge_lines(
    graph: Graph, boxes: list[_Box], owner: dict[str, str], shapes: Mapping[str, tuple[int, ...]]
) -> list[str]:
    seen: set[tuple[str, str]] = set()
    lines: list[str] = []
    for box in boxes:
        for member in box.members:
            for src in member.node.inputs:
                edge = (owner[src], box.id)
                if edge[0] == edge[1] or edge in seen:
                    continue
                seen.add(edge)
                lines.append(f"  {edge[0]} -> {edge[1]} [label={quote(shape_text(shapes[src]))}];")
    return lines


def write(graph: Graph, output: str | Path, *, depth: int | None = None, rankdir: str = "TB") -> str:
    """Write DOT text (``.dot``/``.gv``), or an image drawn by Graphviz' ``dot`` program
    (``.svg``/``.png``/``.pdf``). Returns a one-line description of what was written.

    ``archspec diagram`` calls this for DOT and for ``--engine graphviz``; its own drawings
    (no system program) are :func:`archspec.view.output.write`'s.
    Raises :class:`UsageError` (exit status 2) for another suffix, or when an image is
    asked for and Graphviz is not installed.
    """
    path = Path(output)
    suffix = path.suffix.lower()
    if suffix in DOT_SUFFIXES:
        atomic_write_text(path, to_dot(graph, depth=depth, rankdir=rankdir))
        return f"wrote {output} (Graphviz DOT, {len(graph.nodes)} layers)"
    if suffix not in RENDERED:
        known = ", ".join((*DOT_SUFFIXES, *RENDERED))
        raise UsageError(_problem(path, f"Graphviz writes {known}; for {suffix or 'no suffix'} leave out --engine"))
    _render(to_dot(graph, depth=depth, rankdir=rankdir), path, RENDERED[suffix])
    return f"wrote {output} ({RENDERED[suffix].upper()} drawn by Graphviz, {len(graph.nodes)} layers)"


def _render(dot: str, path: Path, fmt: str) -> None:
    exe = shutil.which("dot")
    if exe is None:
        raise UsageError(
            _problem(
                path,
                f"--engine graphviz needs the Graphviz `dot` program, which is not installed (not found on PATH). "
                f"Leave out --engine to draw {path.name} with archspec's own layout, "
                "or install Graphviz (e.g. `apt-get install graphviz`, `brew install graphviz`)",
            )
        )
    with atomic_path(path) as tmp:
        try:
            proc = subprocess.run(
                [exe, f"-T{fmt}", "-o", str(tmp)],
                input=dot.encode("utf-8"),
                capture_output=True,
                timeout=RENDER_TIMEOUT_S,
                check=False,
            )
        except subprocess.TimeoutExpired:
            raise UsageError(
                _problem(path, f"Graphviz took more than {RENDER_TIMEOUT_S} s; write .dot, or use --depth")
            ) from None
        if proc.returncode != 0:
            detail = proc.stderr.decode("utf-8", "replace").strip().splitlines()
            raise UsageError(_problem(path, f"Graphviz failed to draw it: {detail[-1] if detail else 'no message'}"))


def _problem(path: Path, message: str) -> Problem:
    return Problem(message, Location(str(path)))
