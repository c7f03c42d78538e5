"""The library entry points, chaining the stages (as Jinja's ``Environment.compile`` does)."""

from __future__ import annotations

from collections.abc import Callable, Collection, Mapping, Sequence
from dataclasses import replace
from typing import Any

from . import expand as _expand_mod
from .analysis import Analysis, analyse
from .errors import Location, Problem, SpecError, UsageError, did_you_mean
from .expect import expect_positions
from .ir import Graph, freeze
from .limits import check_document, check_graph
from .loader import Document, collector_paused, load
from .schema import check as schema_check
from .schema import schema_problems


def validate(spec: Any) -> Document:
    """Load a spec and check it against the JSON Schema; returns the loaded Document."""
    doc = load(spec)
    schema_check(doc)
    return doc


@collector_paused()  # expansion's objects are acyclic: see loader.collector_paused
def expand(
    spec: Any, *, variant: str | Sequence[str] | None = None, overrides: Mapping[str, Any] | None = None
) -> Graph:
    """Validate and expand a spec (path, YAML text, mapping or Document) into a Graph.

    ``variant`` picks a row of the spec's ``scales:`` table (its values override ``vars``),
    or several rows, which compose (a variable two of them set differently is refused unless
    ``overrides`` sets it); ``overrides`` sets variables directly, after the variants.

    >>> expand("archspec: 1\\ninput: [8, 8, 1]\\nlayers: [flatten, {dense: 2}]").outputs
    ('dense',)
    """
    doc = load(spec)
    schema_errors = schema_problems(doc)
    if schema_errors:  # report the semantic problems elsewhere in the spec too: all errors in one run
        found = [*schema_errors, *_semantic_problems(doc, variant, overrides, schema_errors)]
        raise SpecError(sorted(found, key=lambda p: (p.location.line, p.location.column)))
    values = {**variant_values(doc, variant, overrides or {}), **(overrides or {})}
    _check_known_vars(doc, overrides or {})
    check_document(doc, _variables(doc, values))  # count layers before making them: repeat: 10**9 fails in ms
    graph = _expand_mod.Expander(doc, values).run()
    graph = replace(
        graph,
        variant=_variant_key(variant),
        overrides=freeze(overrides),
        positions=freeze(expect_positions(doc)),
    )
    check_graph(graph)  # dimensions, parameters and memory, with plain integers (its analysis is kept)
    return graph


def _semantic_problems(
    doc: Document, variant: str | None, overrides: Mapping[str, Any] | None, known: list[Problem]
) -> list[Problem]:
    """Best effort, for a spec the schema refused: the expander's problems in *other* places.

    A problem inside (or around) an item the schema already complained about is dropped, as
    it is the same mistake seen again. The expander expects a schema-valid spec, so anything
    else it raises here is ignored: the schema's problems are reported either way.
    """
    if not isinstance(doc.data, dict) or "input" not in doc.data:
        return []
    try:
        values = {**variant_values(doc, variant, overrides or {}), **(overrides or {})}
        check_document(doc, _variables(doc, values))
        _expand_mod.Expander(doc, values).run()
    except SpecError as exc:
        paths = [p.path for p in known if p.path]
        return [p for p in exc.problems if not any(p.path[: len(k)] == k or k[: len(p.path)] == p.path for k in paths)]
    except Exception:
        return []
    return []


def _variables(doc: Document, values: Mapping[str, Any]) -> Callable[[], dict[str, Any]]:
    """The spec's variables as the expander computes them, for :mod:`archspec.limits` to count
    with (limits is below the expander, which reads its limits, so it cannot ask it itself)."""
    return _expand_mod.Expander(doc, values).variables


def _declared_vars(doc: Document) -> list[str]:
    return [*(doc.data.get("vars") or {}), "classes"]


def _check_known_vars(doc: Document, overrides: Mapping[str, Any]) -> None:
    """``--set`` may only set what the spec declares: a typo must not be silently ignored."""
    declared = _declared_vars(doc)
    for key in overrides:
        if key not in declared:
            raise UsageError(
                f"--set {key}: the spec has no variable {key!r} (declared: {', '.join(declared)}).{did_you_mean(key, declared)}"
            )


def _check_variant_vars(doc: Document) -> None:
    declared = _declared_vars(doc)
    problems = [
        doc.problem(
            f"variant {name!r} sets {key!r}, which is not declared under `vars`.{did_you_mean(key, declared)}",
            ("scales", name, key),
            at_key=True,
        )
        for name, values in (doc.data.get("scales") or {}).items()
        for key in (values or {})
        if key not in declared
    ]
    if problems:
        raise SpecError(problems)


def _variant_names(variant: str | Sequence[str] | None) -> list[str]:
    names = [variant] if isinstance(variant, str) else list(variant or ())
    return list(dict.fromkeys(names))  # the same variant twice is the same variant


def _variant_key(variant: str | Sequence[str] | None) -> str | tuple[str, ...] | None:
    """One variant by its name (``expect.variants`` pins it); a composition as a tuple (nothing pins it)."""
    names = _variant_names(variant)
    if not names:
        return None
    return names[0] if len(names) == 1 else tuple(names)


def variant_values(
    doc: Document, variant: str | Sequence[str] | None, overridden: Collection[str] = ()
) -> dict[str, Any]:
    """The variables a variant (or several, composed in order) sets.

    Two variants that set one variable to different values are refused, naming both, unless
    ``overridden`` (``--set``) decides it: never is one of them dropped silently.
    """
    scales = doc.data.get("scales") or {}
    _check_variant_vars(doc)
    out: dict[str, Any] = {}
    setter: dict[str, str] = {}
    for name in _variant_names(variant):
        if name not in scales:
            known = ", ".join(sorted(scales)) or "none: the spec has no `scales:` table"
            raise UsageError(f"unknown variant {name!r} (variants: {known}).{did_you_mean(name, scales)}")
        for key, value in (scales[name] or {}).items():
            if key in out and out[key] != value and key not in overridden:
                raise UsageError(
                    f"--variant {setter[key]} sets {key}={out[key]!r} but --variant {name} sets {key}={value!r}; "
                    f"give one of them, or choose with --set {key}=VALUE"
                )
            out[key], setter[key] = value, name
    return out


def summary(spec: Any, **kwargs: Any) -> Analysis:
    """Expand and analyse a spec: shapes, parameters, MACs, memory, receptive fields."""
    graph = spec if isinstance(spec, Graph) else expand(spec, **kwargs)
    return analyse(graph)


__all__ = ["Location", "expand", "summary", "validate"]
