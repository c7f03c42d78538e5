"""Pinned figures: ``expect:`` in a spec states what the architecture must come to.

``expect: {total_params: 138357544, output_shape: [1000], macs: 15.47e9 +- 0.5%}`` makes
``validate`` and ``summary`` fail, with both figures, when the architecture drifts.
"""

from __future__ import annotations

import re
from typing import Any

from .analysis import Analysis
from .errors import Problem, SpecError

_TOLERANCE = re.compile(r"^\s*([-+0-9.eE_]+)\s*(?:\+-|±|\+/-)\s*([0-9.eE_]+)\s*(%?)\s*$")

#: What each key of ``expect`` measures.
MEASURES: dict[str, Any] = {
    "total_params": lambda a: a.total_params,
    "trainable_params": lambda a: a.trainable_params,
    "non_trainable_params": lambda a: a.non_trainable_params,
    "macs": lambda a: a.macs,
    "flops": lambda a: a.flops,
    "layers": lambda a: len(a.layers),
    "output_shape": lambda a: (
        [list(s) for s in a.output_shapes] if len(a.output_shapes) > 1 else list(a.output_shapes[0])
    ),
    "activation_elements": lambda a: a.activation_elements,
}

SCHEMA = {
    "type": "object",
    "description": "Figures the architecture must come to: an exact number, a list, or 'VALUE +- TOL[%]'.",
    "properties": {key: {"type": ["integer", "number", "string", "array"]} for key in MEASURES},
    "additionalProperties": False,
}


def check_expectations(analysis: Analysis) -> None:
    """Raise SpecError listing every pinned figure the analysis does not reach.

    The figures pin the spec as written: a variant, ``--set`` overrides or ``--outputs``
    pruning make a different network, for which they are not checked.
    """
    sections = analysis.graph.sections
    if sections.get("_variant") or sections.get("_overrides") or sections.get("_pruned"):
        return
    expect = sections.get("expect") or {}
    problems: list[Problem] = []
    for key, wanted in expect.items():
        actual = MEASURES[key](analysis)
        message = _compare(key, wanted, actual)
        if message:
            problems.append(Problem(message, _where(analysis, key), ("expect", key)))
    if problems:
        raise SpecError(problems)


def _where(analysis: Analysis, key: str) -> Any:
    from .errors import Location

    positions = analysis.graph.sections.get("_positions", {})
    return positions.get(key, Location(analysis.graph.file))


def _compare(key: str, wanted: Any, actual: Any) -> str:
    if isinstance(wanted, str):
        m = _TOLERANCE.match(wanted)
        if not m:
            return f"cannot read {wanted!r}; write a number, or 'VALUE +- TOLERANCE' (with % for relative)"
        target, tol = float(m.group(1).replace("_", "")), float(m.group(2).replace("_", ""))
        allowed = abs(target) * tol / 100 if m.group(3) else tol
        if abs(actual - target) <= allowed:
            return ""
        off = (actual - target) / target * 100 if target else float("inf")
        return f"expected {key} {wanted}, but the architecture gives {actual:,} ({off:+.2f}%)"
    if isinstance(wanted, int | float) and not isinstance(wanted, bool):
        if actual == wanted:
            return ""
        return f"expected {key} = {wanted:,}, but the architecture gives {actual:,} (difference {actual - wanted:+,})"
    if wanted != actual:
        return f"expected {key} = {wanted}, but the architecture gives {actual}"
    return ""
