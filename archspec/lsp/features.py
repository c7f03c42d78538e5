"""Hover, inlay hints and go-to-definition over a :class:`~archspec.lsp.snapshot.Snapshot`.

The loader remembers where every value and key starts; a layer item (an entry of any
``layers:`` list) is found under the cursor from those positions, and its nodes in the
expanded graph are those whose spec path lies inside it, plus those of the block instances
it made (a user block's layers are written under ``blocks:``, so they are found through
their instance's scope). Every figure shown comes from :func:`archspec.analysis.analyse`,
as ``archspec summary`` prints it.
"""

from __future__ import annotations

import bisect
import re
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from ..analysis import Analysis, LayerStats
from ..errors import SpecPath
from ..loader import Document
from .snapshot import Range, Snapshot

Position = tuple[int, int]  # 0-based line, column in code points


# -- where the cursor is ----------------------------------------------------------------------
_STARTS: dict[int, tuple[Document, list[Position], list[SpecPath]]] = {}


def _starts(doc: Document) -> tuple[list[Position], list[SpecPath]]:
    """Every key and value start of the document, sorted, with its path (the longest on a tie).

    Kept for the last few documents (by identity: a Document's tables are not hashable)."""
    cached = _STARTS.get(id(doc))
    if cached is not None and cached[0] is doc:
        return cached[1], cached[2]
    found: dict[Position, SpecPath] = {}
    for table in (doc.positions, doc.key_positions):
        for path, loc in table.items():
            if loc.line:
                at = (loc.line - 1, loc.column - 1)
                if len(path) >= len(found.get(at, ())):
                    found[at] = path
    ordered = sorted(found)
    if len(_STARTS) >= 8:
        _STARTS.pop(next(iter(_STARTS)))
    _STARTS[id(doc)] = (doc, ordered, [found[p] for p in ordered])
    return ordered, _STARTS[id(doc)][2]


def path_at(doc: Document, pos: Position) -> SpecPath | None:
    """The path of the last key or value that starts at or before ``pos`` on its line."""
    starts, paths = _starts(doc)
    i = bisect.bisect_right(starts, pos) - 1
    if i < 0 or starts[i][0] != pos[0]:
        return None
    return paths[i]


def item_path(path: SpecPath) -> SpecPath | None:
    """The innermost layer item containing ``path``: the longest prefix ending ``layers, INDEX``."""
    for end in range(len(path), 1, -1):
        if isinstance(path[end - 1], int) and path[end - 2] == "layers":
            return path[:end]
    return None


def _value(data: Any, path: SpecPath) -> Any:
    for key in path:
        try:
            data = data[key]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def layer_items(doc: Document) -> Iterator[SpecPath]:
    """The paths of every layer item in the document (top level, repeats, blocks), in order."""
    for path in sorted(doc.positions, key=lambda p: (doc.positions[p].line, doc.positions[p].column)):
        if len(path) >= 2 and isinstance(path[-1], int) and path[-2] == "layers":
            yield path


# -- what the graph made of an item -------------------------------------------------------------
@dataclass(frozen=True)
class Made:
    """The layers one item became, in graph order, and the block instances among them."""

    layers: tuple[LayerStats, ...]
    instances: tuple[tuple[str, str, tuple[LayerStats, ...]], ...]  # (name, kind, layers)


def made_by(snapshot: Snapshot, path: SpecPath) -> Made | None:
    doc, analysis = snapshot.doc, snapshot.analysis
    if doc is None or analysis is None:
        return None
    where = doc.locate(path)
    scopes = [(name, s.kind) for name, s in analysis.graph.scopes.items() if s.location == where]
    names = {name for name, _ in scopes}
    own = tuple(s for s in analysis.layers if s.node.path[: len(path)] == path or names & set(s.node.scope))
    instances = tuple((name, kind, tuple(s for s in own if name in s.node.scope)) for name, kind in scopes)
    return Made(own, instances) if own else None


def output_of(analysis: Analysis, layers: tuple[LayerStats, ...]) -> LayerStats:
    """The layer of a group whose tensor leaves it (read outside it, or a graph output); else its last."""
    inside = {s.name for s in layers}
    outside = {i for s in analysis.layers if s.name not in inside for i in s.node.inputs}
    leaving = [s for s in layers if s.name in outside or s.name in analysis.graph.outputs]
    return leaving[-1] if leaving else layers[-1]


def shape_text(shape: tuple[int, ...]) -> str:
    return "×".join(map(str, shape))


def _figures(layers: tuple[LayerStats, ...]) -> str:
    params = sum(s.params for s in layers)
    macs = sum(s.macs for s in layers)
    return f"params {params:,} · MACs {macs:,}"


def _rf(s: LayerStats) -> str:
    return f" · receptive field {s.rf}" if s.rf is not None else ""


# -- hover ------------------------------------------------------------------------------------
_EXPR = re.compile(r"\$\{([^}]*)\}")


def hover(snapshot: Snapshot, pos: Position) -> tuple[str, Range] | None:
    """Markdown for the cursor: a ``${...}``'s value, or the layer item's type and figures."""
    line = snapshot.lines[pos[0]] if pos[0] < len(snapshot.lines) else ""
    for m in _EXPR.finditer(line):
        if m.start() <= pos[1] < m.end():
            text = expression_hover(snapshot, pos, m.group(1))
            return (text, Range((pos[0], m.start()), (pos[0], m.end()))) if text else None
    doc = snapshot.doc
    if doc is None:
        return None
    path = path_at(doc, pos)
    item = item_path(path) if path else None
    if item is None:
        return _type_key_hover(snapshot, path, pos, line) if path else None
    text = item_hover(snapshot, item, _word_at(line, pos[1]))
    start = doc.locate(item)
    return text, Range((start.line - 1, start.column - 1), (start.line - 1, len(line)))


def _word_at(line: str, col: int) -> str:
    for m in re.finditer(r"[A-Za-z_][A-Za-z0-9_]*", line):
        if m.start() <= col <= m.end():
            return m.group()
    return ""


def type_of(snapshot: Snapshot, item: Any) -> tuple[str, Any] | None:
    """The type key of a layer item and its registry entry (a user block's: its ``blocks:`` entry)."""
    from ..blocks import block_type
    from ..registry import registry

    reg = registry()
    blocks = (snapshot.data or {}).get("blocks") or {}
    keys = [item] if isinstance(item, str) else list(item) if isinstance(item, dict) else []
    for key in keys:
        if not isinstance(key, str):
            continue
        if key in reg:
            return key, reg.get(key)
        if block_type(key) is not None:
            return key, block_type(key)
        if isinstance(blocks, dict) and key in blocks:
            return key, blocks[key]
    if isinstance(item, dict) and "repeat" in item:
        return "repeat", None
    return None


def type_doc(key: str, entry: Any) -> str:
    from ..schema import type_doc as schema_doc

    if entry is None:
        return "**repeat**: its `layers` written again, `repeat` times (`as` names the counter)."
    if isinstance(entry, dict):  # a user block
        params = ", ".join(f"`{p}`" for p in entry.get("params") or {}) or "none"
        about = f" {entry['description']}" if entry.get("description") else ""
        return f"**{key}**: a block of this file (`blocks: {key}`).{about} Parameters: {params}."
    return f"**{key}**: {schema_doc(entry)}"


def item_hover(snapshot: Snapshot, item: SpecPath, word: str) -> str:
    data = _value(snapshot.data, item)
    found = type_of(snapshot, data)
    parts = [type_doc(*found)] if found else []
    if found and found[1] is not None and not isinstance(found[1], dict):
        arg = found[1].arg_map().get(found[1].alias_map().get(word, ""))
        if arg is not None and arg.doc and word != found[0]:
            parts.append(f"`{word}`: {arg.doc}")
    made = made_by(snapshot, item)
    if made is not None and snapshot.analysis is not None:
        parts.append(figures_text(snapshot.analysis, made))
    elif snapshot.problems:
        parts.append("_(no figures: the spec has problems; see the diagnostics)_")
    return "\n\n".join(parts)


def figures_text(analysis: Analysis, made: Made) -> str:
    """The figures of what an item made: one layer, its block instances, or its repeated layers."""
    if made.instances:
        lines = []
        for name, kind, layers in made.instances[:8]:
            out = output_of(analysis, layers)
            lines.append(
                f"- `{name}` ({kind}, {len(layers)} layers): output {shape_text(out.shape)} · "
                f"{_figures(layers)}{_rf(out)}"
            )
        more = f"\n- ... and {len(made.instances) - 8} more instances" if len(made.instances) > 8 else ""
        total = ""
        if len(made.instances) > 1:
            total = f"\n\nAll {len(made.instances)} instances: {_figures(made.layers)}"
        return "\n".join(lines) + more + total
    if len(made.layers) == 1:
        s = made.layers[0]
        return f"`{s.name}`: output **{shape_text(s.shape)}** · {_figures(made.layers)}{_rf(s)}"
    lines = [
        f"- `{s.name}` ({s.type}): output {shape_text(s.shape)} · {_figures((s,))}{_rf(s)}" for s in made.layers[:12]
    ]
    more = f"\n- ... and {len(made.layers) - 12} more layers" if len(made.layers) > 12 else ""
    return "\n".join(lines) + more + f"\n\n{len(made.layers)} layers: {_figures(made.layers)}"


def _type_key_hover(snapshot: Snapshot, path: SpecPath, pos: Position, line: str) -> tuple[str, Range] | None:
    """Outside layer lists: a ``defaults:`` type key shows its type's documentation."""
    if len(path) >= 2 and path[0] == "defaults":
        found = type_of(snapshot, str(path[1]))
        if found:
            return type_doc(*found), Range((pos[0], 0), (pos[0], len(line)))
    return None


def expression_hover(snapshot: Snapshot, pos: Position, expr: str) -> str | None:
    """The value of ``${expr}`` over the spec's variables; inside repeats, its value in each
    iteration (the counters' values enumerated, as the expander does, up to :data:`_MAX_ENVS`);
    inside a block, over the block's parameter defaults."""
    from .. import budget
    from ..expand import Expander

    doc = snapshot.doc
    if doc is None or not isinstance(doc.data, dict):
        return None
    path = path_at(doc, pos) or ()
    try:
        with budget.bounded(200_000):
            env = Expander(doc, {}).variables()
            envs = _envs(doc.data, path, env)
            values = _values_over(expr, envs)
    except budget.WorkExceeded:
        return f"`${{{expr}}}`: too much work to evaluate here"
    if not values:
        return f"`${{{expr}}}`: no value here (it names a block parameter without a default, or fails)"
    if len(values) == 1 and not values[0][1]:
        return f"`${{{expr}}}` = `{values[0][0]!r}`"
    rows = [f"- `{value!r}` ({where})" if where else f"- `{value!r}`" for value, where in values[:12]]
    more = f"\n- ... {len(values) - 12} more values" if len(values) > 12 else ""
    return f"`${{{expr}}}`, by iteration:\n\n" + "\n".join(rows) + more


#: Repeat iterations enumerated to show an expression's values (a deep nest of repeats has many).
_MAX_ENVS = 256


def _envs(data: Any, path: SpecPath, env: dict[str, Any]) -> list[tuple[dict[str, Any], str]]:
    """The variable environments at ``path``: one per iteration of its enclosing repeats, each
    with the counters' values in words; inside ``blocks:``, the block's parameter defaults."""
    from ..expressions import ExpressionError, substitute

    envs: list[tuple[dict[str, Any], str]] = [(dict(env), "")]
    if path[:1] == ("blocks",) and len(path) > 1:
        params = _value(data, ("blocks", path[1], "params"))
        for name, default in (params or {}).items() if isinstance(params, dict) else ():
            if default is not None:
                envs[0][0][name] = default
    for end in range(1, len(path)):
        item = _value(data, path[:end])
        if not (isinstance(item, dict) and "repeat" in item and path[end] == "layers"):
            continue
        var = item.get("as")
        grown = []
        for scope, words in envs:
            try:
                count = substitute(item["repeat"], scope)
            except (ExpressionError, ArithmeticError, TypeError, ValueError):
                continue
            for i in range(count if isinstance(count, int) and not isinstance(count, bool) else 0):
                said = f"{words}, {var}={i}" if words else f"{var}={i}"
                grown.append(({**scope, str(var): i}, said) if var else (scope, words))
                if len(grown) >= _MAX_ENVS:
                    break
        envs = grown[:_MAX_ENVS]
    return envs


def _values_over(expr: str, envs: list[tuple[dict[str, Any], str]]) -> list[tuple[Any, str]]:
    """The distinct values of ``expr`` over ``envs``, each with the first iteration giving it."""
    from ..expressions import ExpressionError, evaluate

    out: list[tuple[Any, str]] = []
    for env, words in envs:
        try:
            value = evaluate(expr, env)
        except (ExpressionError, ArithmeticError, TypeError, ValueError):
            continue
        if all(value != v or type(value) is not type(v) for v, _ in out):
            out.append((value, words))
    return out


# -- inlay hints --------------------------------------------------------------------------------
def inlay_hints(snapshot: Snapshot, first: int = 0, last: int | None = None) -> list[tuple[Position, str]]:
    """``→ H×W×C`` at the end of each line that starts a layer item (the last item on a line of several)."""
    doc, analysis = snapshot.doc, snapshot.analysis
    if doc is None or analysis is None:
        return []
    last = len(snapshot.lines) - 1 if last is None else last
    by_line: dict[int, str] = {}
    for item in layer_items(doc):
        line = doc.positions[item].line - 1
        if not first <= line <= last:
            continue
        made = made_by(snapshot, item)
        if made is None:
            continue
        by_line[line] = _output_label(analysis, made)
    return [((line, len(snapshot.lines[line].rstrip())), label) for line, label in sorted(by_line.items())]


def _output_label(analysis: Analysis, made: Made) -> str:
    """One shape where every instance of the item gives the same, else the distinct ones."""
    if made.instances:
        outs = [output_of(analysis, layers).shape for _, _, layers in made.instances]
    elif _repeated_item(made):
        outs = [s.shape for s in made.layers]
    else:
        outs = [made.layers[-1].shape]
    distinct = list(dict.fromkeys(outs))
    text = " | ".join(shape_text(s) for s in distinct[:3]) + (" | ..." if len(distinct) > 3 else "")
    return f" → {text}"


def _repeated_item(made: Made) -> bool:
    """Every layer made at one path (an item written once, made again per repeat or block instance)."""
    return len({s.node.path for s in made.layers}) == 1


# -- definition -----------------------------------------------------------------------------------
def definition(snapshot: Snapshot, pos: Position) -> Range | None:
    """Where the word under the cursor is defined: a user block's ``blocks:`` entry, or the
    layer (or block instance) an ``inputs:`` / ``outputs:`` name refers to."""
    doc = snapshot.doc
    if doc is None or not isinstance(doc.data, dict) or pos[0] >= len(snapshot.lines):
        return None
    word = _word_at(snapshot.lines[pos[0]], pos[1])
    path = path_at(doc, pos)
    if not word or path is None:
        return None
    blocks = doc.data.get("blocks")
    if isinstance(blocks, dict) and word in blocks and path[:2] != ("blocks", word):
        return _at_key(doc, ("blocks", word))
    if "inputs" in path or path[:1] == ("outputs",):
        return _layer_named(snapshot, path, word)
    return None


def _at_key(doc: Document, path: SpecPath) -> Range:
    loc = doc.key_positions.get(path) or doc.locate(path)
    line, col = loc.line - 1, loc.column - 1
    return Range((line, col), (line, col + len(str(path[-1]))))


def _layer_named(snapshot: Snapshot, path: SpecPath, word: str) -> Range | None:
    doc = snapshot.doc
    assert doc is not None
    if word == "input" or word == _value(doc.data, ("input", "name")):
        return _at_key(doc, ("input",))
    item = item_path(path)
    siblings = item[:-1] if item else ("layers",)
    items = _value(doc.data, siblings)
    for k, entry in enumerate(items if isinstance(items, list) else []):
        if isinstance(entry, dict) and entry.get("name") == word:
            return _at_key(doc, (*siblings, k, "name"))
    if snapshot.analysis is not None:  # a name archspec gave (conv_2), or one made inside a repeat
        for s in snapshot.analysis.layers:
            if s.name == word and s.node.location.line:
                loc = s.node.location
                return Range((loc.line - 1, loc.column - 1), (loc.line - 1, loc.column - 1))
        scope = snapshot.analysis.graph.scopes.get(word)
        if scope is not None and scope.location.line:
            loc = scope.location
            return Range((loc.line - 1, loc.column - 1), (loc.line - 1, loc.column - 1))
    return None
