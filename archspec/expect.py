"""Pinned figures: ``expect:`` in a spec states what the architecture must come to.

``expect: {total_params: 138357544, output_shape: [1000], macs: 15.47e9 +- 0.5%}`` makes
``validate`` and ``summary`` fail, with both figures and the place of the key, when the
architecture drifts. A figure is an exact number, a list (shapes), or a string
``"VALUE +- TOL"`` (absolute) / ``"VALUE +- TOL%"`` (relative), for published figures
that are rounded.

Two keys are not figures: ``authority`` (a short string naming the source of the figures,
shown in docs/zoo.md) and ``variants`` (figures for the named variants of ``scales:``).
The top-level figures describe the spec as written; ``--variant NAME`` checks
``variants.NAME`` instead; ``--set`` and ``--outputs`` (which can change anything) check nothing.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from typing import Any

from .analysis import Analysis
from .errors import Location, Problem, SpecError, SpecPath, did_you_mean
from .ir import Graph

_TOLERANCE = re.compile(r"^\s*([-+0-9.eE_]+)\s*(?:\+-|±|\+/-)\s*([0-9.eE_]+)\s*(%?)\s*$")

#: Layer types whose weights count towards a network's depth ("11 weight layers", VGG Table 1).
WEIGHT_LAYER_TYPES = frozenset({"conv", "depthwise", "separable", "dense"})


def weight_layers(analysis: Analysis) -> int:
    """How many conv, depthwise, separable and dense layers the network has (its depth)."""
    return sum(1 for s in analysis.layers if s.type in WEIGHT_LAYER_TYPES)


#: What each figure of ``expect`` measures.
MEASURES: dict[str, Callable[[Analysis], Any]] = {
    "total_params": lambda a: a.total_params,
    "trainable_params": lambda a: a.trainable_params,
    "non_trainable_params": lambda a: a.non_trainable_params,
    "macs": lambda a: a.macs,
    "flops": lambda a: a.flops,
    "layers": lambda a: len(a.layers),
    "weight_layers": weight_layers,
    "output_shape": lambda a: (
        [list(s) for s in a.output_shapes] if len(a.output_shapes) > 1 else list(a.output_shapes[0])
    ),
    "activation_elements": lambda a: a.activation_elements,
}

_FIGURE = {"type": ["integer", "number", "string", "array"]}
_FIGURES = {key: _FIGURE for key in MEASURES}
_AUTHORITY = {"type": "string", "description": "Where the figures come from (paper and table, or Keras model)."}

SCHEMA = {
    "type": "object",
    "description": "Figures the architecture must come to: an exact number, a list, or 'VALUE +- TOL[%]'.",
    "properties": {
        **_FIGURES,
        "authority": _AUTHORITY,
        "variants": {
            "type": "object",
            "description": "Figures for the named variants of `scales:` (checked with --variant NAME).",
            "additionalProperties": {
                "type": "object",
                "properties": {**_FIGURES, "authority": _AUTHORITY},
                "additionalProperties": False,
            },
        },
    },
    "additionalProperties": False,
}


def expect_positions(doc: Any) -> dict[SpecPath, Location]:
    """Where each pinned figure is written in the spec, keyed by its path under ``expect``."""
    expect = doc.data.get("expect") if isinstance(doc.data, dict) else None
    if not isinstance(expect, dict):
        return {}
    out: dict[SpecPath, Location] = {(k,): doc.locate(("expect", k), at_key=True) for k in expect}
    for name, figures in (expect.get("variants") or {}).items():
        out[("variants", name)] = doc.locate(("expect", "variants", name), at_key=True)
        for k in figures or {}:
            out[("variants", name, k)] = doc.locate(("expect", "variants", name, k), at_key=True)
    return out


def pinned(graph: Graph) -> tuple[SpecPath, Mapping[str, Any]]:
    """The figures that apply to this expansion, and their path under ``expect``."""
    expect = graph.sections.get("expect") or {}
    if graph.overrides or graph.pruned:
        return (), {}  # a different network from the one the figures pin
    variant = graph.variant
    if variant is not None:
        return ("variants", variant), (expect.get("variants") or {}).get(variant) or {}
    return (), expect


def check_expectations(analysis: Analysis) -> None:
    """Raise SpecError listing every pinned figure the analysis does not reach.

    >>> from archspec import expand, summary
    >>> check_expectations(summary(expand("archspec: 1\\ninput: [4]\\nlayers: [{dense: 2}]\\nexpect: {total_params: 10}")))
    >>> check_expectations(summary(expand("archspec: 1\\ninput: [4]\\nlayers: [{dense: 2}]\\nexpect: {total_params: 9}")))
    Traceback (most recent call last):
    ...
    archspec.errors.SpecError: <spec>:4:10: expect.total_params: expected total_params = 9, but the architecture gives 10 (difference +1)
    """
    problems = [Problem(message, where, path) for path, where, message in compare_all(analysis)]
    if problems:
        raise SpecError(problems)


def compare_all(analysis: Analysis) -> list[tuple[SpecPath, Location, str]]:
    """Every pinned figure that does not hold: (spec path, location, message)."""
    graph = analysis.graph
    prefix, figures = pinned(graph)
    positions = graph.positions
    out = []
    for key, wanted in figures.items():
        if key not in MEASURES:
            continue  # authority, variants: not figures
        rel = (*prefix, key)
        message = compare(key, wanted, MEASURES[key](analysis))
        if message:
            out.append((("expect", *rel), positions.get(rel, Location(analysis.graph.file)), message))
    if not prefix and figures:
        out += _unknown_variants(figures, graph, Location(graph.file))
    return out


def _unknown_variants(
    figures: Mapping[str, Any], graph: Graph, default: Location
) -> list[tuple[SpecPath, Location, str]]:
    """Figures pinned for a variant that ``scales:`` does not define would never be checked."""
    scales = graph.sections.get("scales") or {}
    positions = graph.positions
    out = []
    for name in figures.get("variants") or {}:
        if name not in scales:
            known = ", ".join(sorted(scales)) or "none: the spec has no `scales:` table"
            where = positions.get(("variants", name), default)
            message = f"expect.variants names {name!r}, which is not a variant (variants: {known}).{did_you_mean(name, scales)}"
            out.append((("expect", "variants", name), where, message))
    return out


def compare(key: str, wanted: Any, actual: Any) -> str:
    """'' when ``actual`` meets ``wanted``; otherwise a message giving both figures."""
    if isinstance(wanted, str):
        m = _TOLERANCE.match(wanted)
        if not m:
            return f"cannot read {wanted!r}; write a number, or 'VALUE +- TOLERANCE' (with % for relative)"
        try:
            target, tol = float(m.group(1).replace("_", "")), float(m.group(2).replace("_", ""))
        except ValueError:
            return f"cannot read {wanted!r}; write a number, or 'VALUE +- TOLERANCE' (with % for relative)"
        if not isinstance(actual, int | float):
            return f"{key} is {actual}, not a number; a tolerance {wanted!r} does not apply"
        allowed = abs(target) * tol / 100 if m.group(3) else tol
        if abs(actual - target) <= allowed:
            return ""
        off = (actual - target) / target * 100 if target else float("inf")
        return f"expected {key} {wanted}, but the architecture gives {actual:,} ({off:+.2f}%)"
    if isinstance(wanted, int | float) and not isinstance(wanted, bool):
        if actual == wanted:
            return ""
        if not isinstance(actual, int | float):
            return f"expected {key} = {wanted:,}, but the architecture gives {actual}"
        return f"expected {key} = {wanted:,}, but the architecture gives {actual:,} (difference {actual - wanted:+,})"
    if wanted != actual:
        return f"expected {key} = {wanted}, but the architecture gives {actual}"
    return ""
