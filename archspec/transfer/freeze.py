"""Freeze selectors: which layers a ``freeze:``/``unfreeze:`` directive names.

A selector is one of (or a list of)::

    all | base | head | none            # keywords
    layers[15:]                         # Keras layer indices: model.layers[15:] (0 is the input layer)
    block5_conv1                        # one layer by name
    {index: "15:"}  {index: 3}          # the same index forms as a mapping
    {from: block5_conv1, to: fc1}       # a range of layers in graph order (`to` optional, inclusive)
    {name: [fc1, fc2]}                  # names
    {pattern: "block5_*"}               # shell-style name pattern
    {block: conv5}                      # a block instance or stage: its scope, or names starting `conv5_`
    {type: bn}                          # a layer type

Indices and ``from``/``to`` ranges follow Keras' ``model.layers`` order of the built model
(:func:`keras_order`: the input layer is 0, and the base's layers come first), so
``layers[15:]`` of a VGG16 base is ``block5_conv1`` onwards, exactly as
``baseModel.layers[15:]`` in the notes. For branching bases (ResNet) Keras' order is not the
order the layers were written in; :func:`keras_order` reproduces it.

Within a stage, ``freeze`` is applied before ``unfreeze``. With ``bn_inference`` (the default,
Keras' fine-tuning advice) the base's batch-norm layers stay frozen, i.e. in inference mode,
even when a stage unfreezes them.
"""

from __future__ import annotations

import fnmatch
import re
from collections.abc import Mapping, Sequence
from typing import TYPE_CHECKING, Any

from ..errors import Problem, SpecError, SpecPath, did_you_mean
from ..ir import Graph, Node

if TYPE_CHECKING:
    from ..loader import Document
    from .info import BaseInfo

KEYWORDS = ("all", "base", "head", "none")
_SLICE = re.compile(r"^\s*(?:layers\s*)?\[?\s*(-?\d+)?\s*(:)?\s*(-?\d+)?\s*\]?\s*$")


class SelectorError(ValueError):
    """A selector that names nothing, or is malformed."""


def keras_order(nodes: Sequence[Node], outputs: Sequence[str]) -> list[str]:
    """The order of Keras' ``Functional.layers`` (without the input layer) for these nodes.

    Keras (``keras/src/ops/function.py``, ``map_graph``) sorts operations by decreasing depth,
    the longest path to an output, and breaks ties by the order a depth-first walk from the
    outputs first reaches them.
    """
    by_name = {n.name: n for n in nodes}
    first_seen: dict[str, int] = {}
    post: list[str] = []
    for out in outputs:
        stack: list[tuple[str, bool]] = [(out, False)]
        while stack:
            name, done = stack.pop()
            if done:
                post.append(name)
                continue
            if name in first_seen or name not in by_name:
                continue
            first_seen[name] = len(first_seen)
            stack.append((name, True))
            stack.extend((i, False) for i in reversed(by_name[name].inputs))
    depth: dict[str, int] = {}
    for name in reversed(post):
        d = depth.setdefault(name, 0)
        for parent in by_name[name].inputs:
            if parent in by_name:
                depth[parent] = max(depth.get(parent, 0), d + 1)
    ordered = sorted(post, key=lambda n: (-depth[n], first_seen[n]))
    return ordered + [n.name for n in nodes if n.name not in depth]  # layers no output depends on


def select(
    selector: Any, nodes: Sequence[Node], base_names: frozenset[str], order: Sequence[str] | None = None
) -> set[str]:
    """The names of the layers one selector (or a list of selectors) picks.

    ``order`` is Keras' layer order (default: the order of ``nodes``; see :func:`keras_order`).
    """
    if isinstance(selector, list):
        out: set[str] = set()
        for item in selector:
            out |= select(item, nodes, base_names, order)
        return out
    names = list(order) if order is not None else [n.name for n in nodes]
    if isinstance(selector, str):
        return _keyword_or_name(selector, names, base_names, nodes)
    if not isinstance(selector, Mapping) or not selector:
        raise SelectorError(f"a selector is a name, a keyword or a mapping; got {selector!r}")
    return _mapping(selector, nodes, names)


def _keyword_or_name(text: str, names: list[str], base_names: frozenset[str], nodes: Sequence[Node]) -> set[str]:
    if text == "all":
        return set(names)
    if text == "none":
        return set()
    if text in ("base", "head"):
        if not base_names:
            raise SelectorError(f"`{text}` needs a `base:` section")
        return {n for n in names if (n in base_names) == (text == "base")}
    if text.startswith(("layers[", "[")):
        return _index(text, names)
    if text in names:
        return {text}
    raise SelectorError(f"no layer named {text!r}.{did_you_mean(text, [*names, *KEYWORDS])}")


def _mapping(sel: Mapping[str, Any], nodes: Sequence[Node], names: list[str]) -> set[str]:
    keys = [k for k in ("index", "from", "name", "pattern", "block", "type") if k in sel]
    if len(keys) != 1 or ("to" in sel and keys != ["from"]):
        raise SelectorError(
            f"a selector mapping has one of index, from (+ to), name, pattern, block, type; got {dict(sel)}"
        )
    key, value = keys[0], sel[keys[0]]
    if key == "index":
        return _index(str(value), names)
    if key == "from":
        return _range(str(value), sel.get("to"), names)
    if key == "name":
        wanted = value if isinstance(value, list) else [value]
        for w in wanted:
            if w not in names:
                raise SelectorError(f"no layer named {w!r}.{did_you_mean(w, names)}")
        return set(wanted)
    if key == "pattern":
        hits = {n for n in names if fnmatch.fnmatchcase(n, str(value))}
        return _nonempty(hits, f"pattern {value!r} matches no layer")
    if key == "block":
        hits = {n.name for n in nodes if value in n.scope or n.name.startswith(f"{value}_")}
        scopes = {s for n in nodes for s in n.scope}
        return _nonempty(hits, f"no block or stage {value!r}.{did_you_mean(str(value), scopes)}")
    hits = {n.name for n in nodes if n.type == value}
    return _nonempty(hits, f"no layer of type {value!r}.{did_you_mean(str(value), {n.type for n in nodes})}")


def _nonempty(hits: set[str], message: str) -> set[str]:
    if not hits:
        raise SelectorError(message)
    return hits


def _index(text: str, names: list[str]) -> set[str]:
    m = _SLICE.match(text)
    if not m or (m.group(1) is None and m.group(2) is None):
        raise SelectorError(f"an index is N, START:STOP or layers[START:STOP] (Python slice rules); got {text!r}")
    layers = ["<input>", *names]  # Keras' model.layers: the InputLayer comes first
    start = int(m.group(1)) if m.group(1) else None
    stop = int(m.group(3)) if m.group(3) else None
    if m.group(2) is None:
        if start is None or not -len(layers) <= start < len(layers):
            raise SelectorError(f"layer index {text!r} is out of range (the model has {len(layers)} layers)")
        picked = [layers[start]]
    else:
        picked = layers[slice(start, stop)]
    return {p for p in picked if p != "<input>"}


def _range(first: str, last: Any, names: list[str]) -> set[str]:
    for n in (first, last):
        if n is not None and n not in names:
            raise SelectorError(f"no layer named {n!r}.{did_you_mean(str(n), names)}")
    i = names.index(first)
    j = names.index(str(last)) + 1 if last is not None else len(names)
    if j <= i:
        raise SelectorError(f"`to: {last}` comes before `from: {first}` in the network")
    return set(names[i:j])


def resolve_stages(
    doc: Document, graph: Graph, base: BaseInfo | None
) -> tuple[tuple[tuple[str, frozenset[str], Mapping[str, Any]], ...], frozenset[str]]:
    """Trainable layers of every ``fine_tune`` stage, and the state the model is built in
    (the first stage's, or ``freeze:``'s when there is no plan). Raises SpecError with locations."""
    base_names = frozenset(base.nodes) if base else frozenset()
    order = keras_order(graph.nodes, graph.outputs)
    opaque = [base.scope] if base is not None and base.opaque else []
    order = opaque + order  # an opaque base is one unit, before the head
    bn_base = {n.name for n in graph.nodes if n.type == "bn" and n.name in base_names}
    problems: list[Problem] = []

    def pick(selector: Any, path: SpecPath) -> set[str]:
        try:
            return select(selector, graph.nodes, base_names, order)
        except SelectorError as exc:
            problems.append(doc.problem(str(exc), path))
            return set()

    state = {n.name for n in graph.nodes if n.trainable} | set(opaque)
    if doc.data.get("freeze") is not None:
        state -= pick(doc.data["freeze"], ("freeze",))
    stages = []
    for k, raw in enumerate(doc.data.get("fine_tune") or []):
        if "freeze" in raw:
            state -= pick(raw["freeze"], ("fine_tune", k, "freeze"))
        if "unfreeze" in raw:
            chosen = pick(raw["unfreeze"], ("fine_tune", k, "unfreeze"))
            if raw.get("bn_inference", base.bn_inference if base else True):
                chosen -= bn_base
            state |= chosen
        stages.append((str(raw.get("name") or f"stage{k + 1}"), frozenset(state), raw))
    _check_stage_names(doc, stages, problems)
    if problems:
        raise SpecError(problems)
    initial = stages[0][1] if stages else frozenset(state)
    return tuple(stages), initial


def _check_stage_names(doc: Document, stages: list[Any], problems: list[Problem]) -> None:
    seen: set[str] = set()
    for k, (name, _, _) in enumerate(stages):
        if name in seen:
            problems.append(doc.problem(f"duplicate stage name {name!r}", ("fine_tune", k, "name")))
        seen.add(name)
