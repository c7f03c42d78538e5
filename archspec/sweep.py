"""Design sweeps: every combination of a spec's variables, with static figures, filtered and ranked.

``archspec sweep spec.yaml --grid N=1,2,3 --grid M=2..5 --where "params < 1e6"`` expands and
analyses each combination (milliseconds each, no TensorFlow), keeps those the ``--where``
condition accepts, sorts them by a figure and marks the Pareto front of two figures (both
minimised). A combination the spec refuses (a map pooled below 1x1, a too-large network) is
counted under its reason, never printed one by one. The condition is read by archspec's own
safe expression language (:mod:`archspec.expressions`), never by Python's ``eval``.

The command (``archspec/commands/sweep_cmds.py``) adds the output formats, the plot of the
front, progress, and ``--top K --train``.
"""

from __future__ import annotations

import itertools
import math
import re
from collections.abc import Callable, Iterable, Mapping, Sequence
from dataclasses import dataclass, field
from typing import Any

from .errors import ArchspecError, UsageError, did_you_mean

#: The figures each candidate gets, in table order, with what they mean (docs/cli.md).
FIGURES: dict[str, str] = {
    "params": "parameters (trainable and not)",
    "trainable_params": "trainable parameters",
    "macs": "multiply-accumulates of one forward pass of one example",
    "flops": "2 x macs",
    "activation_bytes": "bytes of every layer's output for one example, float32, the input included",
    "param_bytes": "bytes of the parameters, float32",
    "layers": "layers after expansion",
}
#: A sweep keeps the figures of every candidate --where keeps (~1 kB each): this bounds its memory.
MAX_COMBINATIONS = 200_000
_RANGE = re.compile(r"^\s*([-+]?\d+)\s*\.\.\s*([-+]?\d+)\s*$")
_UNITS = {
    "KiB": 2**10,
    "MiB": 2**20,
    "GiB": 2**30,
    "TiB": 2**40,
    "kB": 10**3,
    "KB": 10**3,
    "MB": 10**6,
    "GB": 10**9,
    "TB": 10**12,
    "k": 10**3,
    "K": 10**3,
    "M": 10**6,
    "G": 10**9,
    "T": 10**12,
}
# A number with a unit written right after it (64MiB, 1.5M): never a name, which cannot start with a digit.
_NUMBER_UNIT = re.compile(r"(?<![\w.])(\d+(?:\.\d*)?(?:[eE][-+]?\d+)?)(" + "|".join(_UNITS) + r")(?!\w)")


# -- the grid ------------------------------------------------------------------------------------


def parse_grid(items: Sequence[str], declared: Iterable[str] = ()) -> dict[str, list[Any]]:
    """``("N=1,2,3", "M=2..5")`` -> ``{"N": [1, 2, 3], "M": [2, 3, 4, 5]}``.

    Values are read as ``--set`` reads them (YAML scalars: ``16``, ``0.5``, ``true``, ``relu``);
    ``a..b`` is every integer from a to b, both included, and may be mixed with single values
    (``N=1,4..6``). ``declared``, when given, lists the spec's variables: a name outside it
    is refused (with "Did you mean"), as ``--set`` refuses it.
    """
    known = list(declared)
    grid: dict[str, list[Any]] = {}
    for item in items:
        name, values = _grid_item(item)
        if name in grid:
            raise UsageError(f"--grid {name}: given twice; put all its values in one --grid {name}=...")
        if known and name not in known:
            raise UsageError(
                f"--grid {name}: the spec has no variable {name!r} (declared: {', '.join(known)}).{did_you_mean(name, known)}"
            )
        grid[name] = values
    total = math.prod(len(v) for v in grid.values())
    if total > MAX_COMBINATIONS:
        raise UsageError(f"--grid: {total:,} combinations; the limit is {MAX_COMBINATIONS:,} (split the sweep)")
    return grid


def _grid_item(item: str) -> tuple[str, list[Any]]:
    name, eq, text = item.partition("=")
    name = name.strip()
    if not eq or not name:
        raise UsageError(f"--grid takes NAME=VALUES (e.g. N=1,2,3 or M=2..5); got {item!r}")
    if not name.isidentifier():
        raise UsageError(f"--grid {name}: not a variable name (letters, digits and _, not starting with a digit)")
    values: list[Any] = []
    for part in text.split(","):
        if not part.strip():
            raise UsageError(f"--grid {name}: an empty value in {text!r} (values are separated by single commas)")
        values.extend(_range(name, part) if ".." in part else [_scalar(name, part)])
    unique = list({_key(v): v for v in values}.values())
    if len(unique) != len(values):
        raise UsageError(f"--grid {name}: a value is given twice in {text!r}")
    return name, values


def _range(name: str, part: str) -> list[int]:
    m = _RANGE.match(part)
    if not m:
        raise UsageError(f"--grid {name}: a range is two integers a..b (e.g. 2..5); got {part.strip()!r}")
    low, high = int(m.group(1)), int(m.group(2))
    if low > high:
        raise UsageError(f"--grid {name}: the range {part.strip()} is empty (write the smaller bound first)")
    if high - low >= MAX_COMBINATIONS:
        raise UsageError(f"--grid {name}: the range {part.strip()} has more than {MAX_COMBINATIONS:,} values")
    return list(range(low, high + 1))


def _scalar(name: str, part: str) -> Any:
    """One value, read as ``--set`` reads it (YAML 1.2 scalars, no tags)."""
    from .errors import SpecError
    from .loader import load_text

    text = part.strip()
    if text[:1] in "[{":
        raise UsageError(
            f"--grid {name}: lists and mappings cannot be swept; got {text!r} (values are split at commas)"
        )
    try:
        value = load_text(text, f"--grid {name}").data
    except SpecError as exc:
        raise UsageError(f"--grid {name}: cannot read {text!r} as a value ({exc.problems[0].message})") from None
    if isinstance(value, dict | list):
        raise UsageError(f"--grid {name}: {text!r} is not a single value (lists and mappings cannot be swept)")
    return value


def _key(value: Any) -> tuple[type, Any]:
    return (type(value), value)  # 1, 1.0 and true are different values in a spec


def combinations(grid: Mapping[str, Sequence[Any]]) -> Iterable[dict[str, Any]]:
    names = list(grid)
    for values in itertools.product(*(grid[n] for n in names)):
        yield dict(zip(names, values, strict=True))


# -- the --where condition -----------------------------------------------------------------------


@dataclass(frozen=True)
class Condition:
    """A ``--where`` text, units resolved, checked once against the names a candidate has."""

    text: str
    source: str

    def __call__(self, env: Mapping[str, Any]) -> bool:
        from .expressions import ExpressionError, evaluate

        try:
            result = evaluate(self.text, env)
        except ExpressionError as exc:
            raise UsageError(f"--where {self.source!r}: {exc}") from None
        if not isinstance(result, bool):
            raise UsageError(f"--where {self.source!r} must be a condition (true or false); it gave {result!r}")
        return result


def parse_condition(text: str, names: Iterable[str]) -> Condition:
    """``"params < 1e6 and activation_bytes < 64MiB"`` -> a :class:`Condition`.

    A number may carry a unit right after it: KiB, MiB, GiB, TiB (powers of 1024), kB/KB,
    MB, GB, TB and k/K, M, G, T (powers of 1000). Every name must be a figure or a variable
    of the sweep; an unknown one is refused here, before any candidate is expanded.
    """
    from .expressions import ExpressionError, _parse

    resolved = _NUMBER_UNIT.sub(lambda m: _scaled(m.group(1), _UNITS[m.group(2)]), text)
    try:
        _, used = _parse(resolved.strip())
    except ExpressionError as exc:
        raise UsageError(f"--where {text!r}: {exc}") from None
    allowed = [*FIGURES, *names, "true", "false", "True", "False"]
    for name in used:
        if name not in allowed:
            hint = did_you_mean(name, allowed)
            raise UsageError(
                f"--where: unknown name {name!r} (figures: {', '.join(FIGURES)}; or a swept variable).{hint}"
            )
    return Condition(resolved, text)


def _scaled(number: str, unit: int) -> str:
    value = float(number) * unit
    return str(int(value)) if value.is_integer() else repr(value)


# -- running -------------------------------------------------------------------------------------


@dataclass(frozen=True)
class Candidate:
    """One combination of variables and its figures (``error``: why the spec refused it)."""

    values: Mapping[str, Any]
    figures: Mapping[str, int] = field(default_factory=dict)
    error: str = ""


@dataclass
class Refusal:
    """The combinations refused for one reason: how many, and the first of them."""

    count: int
    example: Candidate


@dataclass
class Sweep:
    """What a sweep found: the valid candidates in grid order, and the refused ones by reason."""

    grid: dict[str, list[Any]]
    candidates: list[Candidate] = field(default_factory=list)
    invalid: dict[str, Refusal] = field(default_factory=dict)
    filtered_out: int = 0
    done: int = 0
    interrupted: bool = False

    @property
    def total(self) -> int:
        return math.prod(len(v) for v in self.grid.values())

    @property
    def invalid_count(self) -> int:
        return sum(r.count for r in self.invalid.values())


def figures_of(graph: Any) -> dict[str, int]:
    from .analysis import analyse

    a = analyse(graph)
    return {
        "params": a.total_params,
        "trainable_params": a.trainable_params,
        "macs": a.macs,
        "flops": a.flops,
        "activation_bytes": a.activation_bytes("float32"),
        "param_bytes": a.param_bytes("float32"),
        "layers": len(graph.nodes),
    }


def run(
    spec: Any,
    grid: dict[str, list[Any]],
    *,
    variant: str | Sequence[str] | None = None,
    sets: Mapping[str, Any] | None = None,
    where: Condition | None = None,
    progress: Callable[[int], None] | None = None,
) -> Sweep:
    """Expand and analyse every combination of ``grid`` (over ``sets`` and ``variant``).

    Ctrl-C stops the sweep between two candidates: the result holds what was done, with
    ``interrupted`` set.
    """
    from .loader import load

    doc = load(spec)
    result = Sweep(grid)
    try:
        for values in combinations(grid):
            _one(doc, values, variant, dict(sets or {}), where, result)
            result.done += 1
            if progress is not None:
                progress(result.done)
    except KeyboardInterrupt:
        result.interrupted = True
    return result


def _one(
    doc: Any,
    values: dict[str, Any],
    variant: Any,
    sets: dict[str, Any],
    where: Condition | None,
    result: Sweep,
) -> None:
    from .api import expand

    try:
        figures = figures_of(expand(doc, variant=variant, overrides={**sets, **values}))
    except UsageError:
        raise  # the command line's mistake (an unknown variant): the same for every candidate
    except ArchspecError as exc:
        reason = _reason(exc)
        refusal = result.invalid.get(reason)
        if refusal is None:
            result.invalid[reason] = Refusal(1, Candidate(values, error=str(exc.problems[0].message)))
        else:
            refusal.count += 1
        return
    if where is not None and not where({**sets, **values, **figures}):
        result.filtered_out += 1
        return
    result.candidates.append(Candidate(values, figures))


def _reason(exc: ArchspecError) -> str:
    """The refusal's first message with its numbers and layer names generalised, so that one
    mistake met at many sizes is one reason ("conv_3: input 2x2 ..." and "conv_5: input 1x1 ...")."""
    message = exc.problems[0].message if exc.problems else str(exc)
    return re.sub(r"\d[\d,._]*", "#", message)


# -- ranking -------------------------------------------------------------------------------------


def sort_key(name: str) -> tuple[str, bool]:
    """``--sort params`` (smallest first) or ``--sort -params`` (largest first)."""
    descending = name.startswith("-")
    return name.lstrip("-"), descending


def ranked(candidates: Sequence[Candidate], by: str) -> list[Candidate]:
    name, descending = sort_key(by)
    return sorted(candidates, key=lambda c: _figure(c, name), reverse=descending)


def _figure(candidate: Candidate, name: str) -> Any:
    if name in candidate.figures:
        return candidate.figures[name]
    value = candidate.values.get(name)
    return (0, value) if isinstance(value, int | float) and not isinstance(value, bool) else (1, str(value))


def pareto_front(points: Sequence[tuple[float, float]]) -> set[int]:
    """Indices of the points no other point dominates, both coordinates minimised.

    ``q`` dominates ``p`` when it is no worse in both and better in one; equal points do not
    dominate each other, so both stay on the front. O(n log n): sorted by the first figure,
    a point is on the front when its second is below every second seen at a smaller first,
    and the smallest among the points that share its first.
    """
    order = sorted(range(len(points)), key=lambda i: points[i])
    front: set[int] = set()
    best = math.inf  # the smallest second coordinate among strictly smaller first coordinates
    for _, group in itertools.groupby(order, key=lambda i: points[i][0]):
        members = list(group)
        lowest = points[members[0]][1]  # sorted: the group's first has its smallest second
        if lowest < best:
            front.update(i for i in members if points[i][1] == lowest)
        best = min(best, lowest)
    return front


def front_of(candidates: Sequence[Candidate], figures: tuple[str, str]) -> set[int]:
    return pareto_front([(_number(c, figures[0]), _number(c, figures[1])) for c in candidates])


def _number(candidate: Candidate, name: str) -> float:
    value = _figure(candidate, name)
    if isinstance(value, tuple):
        value = value[1]
    if not isinstance(value, int | float) or isinstance(value, bool):
        raise UsageError(f"--pareto {name}: not a number for every candidate (got {value!r})")
    return float(value)
