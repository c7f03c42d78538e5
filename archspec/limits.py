"""Static resource limits: refuse absurd networks with plain integers, before any framework
object exists.

A spec is data from anywhere, and ``repeat: 1000000000`` or ``units: 1000000000000`` must
not make archspec build a billion dicts or ask TensorFlow for four terabytes. Two checks run
inside :func:`archspec.expand` (so every command and library call gets them):

- :func:`check_document`, before expansion: how many layers the spec would expand to,
  counted from its repeat counts, stage sizes and block bodies (each block body counted
  once, then multiplied), so ``repeat: 10000`` inside ``repeat: 10000`` fails in
  milliseconds instead of after building 25,000 nodes.
- :func:`check_graph`, after expansion: every tensor dimension and size, the total
  parameters (``--max-params``) and the training memory at batch size 1 (``--max-memory``),
  from the same pure-Python analysis ``archspec summary`` prints.

Training calls :func:`check_memory` again with its real batch size and optimizer.
The limits are process-wide settings (:func:`configure`; the CLI's ``--max-params`` and
``--max-memory``), like numpy's error settings, so that a library call deep inside a
command obeys the command line.
"""

from __future__ import annotations

import math
import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass, replace
from typing import Any

from . import budget
from .analysis import OPTIMIZER_SLOTS, analyse
from .errors import Location, Problem, SpecError, SpecPath
from .expressions import ExpressionError, substitute

MAX_REPEAT = 10_000  # one repeat; ResNet-1202 needs 200
MAX_LAYERS = 25_000  # 6x ResNet-1202 (4,211 primitive layers); expanding 25,000 takes seconds
MAX_INPUT_DIM = 1 << 20  # an input axis
MAX_DIM = 1 << 24  # any axis of any tensor (16M units or channels)
MAX_TENSOR_ELEMENTS = (1 << 31) - 1  # values in one example's tensor; TensorFlow indexes with int32
DEFAULT_MAX_PARAMS = 10_000_000_000  # 10 billion: 40 GB of float32 weights
DEFAULT_MAX_MEMORY = 256 << 30  # training memory at batch size 1 (weights, gradients, Adam state)


@dataclass(frozen=True)
class Limits:
    """The budget a network must fit: parameters and estimated training memory (bytes)."""

    max_params: int = DEFAULT_MAX_PARAMS
    max_memory: int = DEFAULT_MAX_MEMORY


_current = Limits()


def configure(*, max_params: int | None = None, max_memory: int | None = None) -> Limits:
    """Set the process-wide limits (``None`` keeps a value); returns the new limits."""
    global _current
    changes = {k: v for k, v in (("max_params", max_params), ("max_memory", max_memory)) if v is not None}
    _current = replace(_current, **changes)
    return _current


def current() -> Limits:
    return _current


_SIZE = re.compile(r"^\s*([0-9]+(?:\.[0-9]+)?)\s*([kmgtp]?)(i?)b?\s*$", re.I)


def parse_size(text: str) -> int:
    """``"64GiB"`` -> bytes; ``"500MB"``, ``"2e9"`` and plain integers work too.

    >>> parse_size("1.5KiB"), parse_size("2GB"), parse_size("1000")
    (1536, 2000000000, 1000)
    """
    m = _SIZE.match(text)
    if not m:
        try:
            value = float(text)
        except ValueError:
            raise ValueError(f"cannot read {text!r} as a size; write e.g. 64GiB, 500MB or 1000000") from None
        if not math.isfinite(value) or value < 0:
            raise ValueError(f"a size must be a finite number >= 0; got {text!r}")
        return int(value)
    number, unit, binary = float(m.group(1)), m.group(2).lower(), m.group(3)
    base = 1024 if binary else 1000
    return int(number * base ** ("_kmgtp".index(unit) if unit else 0))


def parse_count(text: str) -> int:
    """``"10e9"``, ``"10_000_000_000"`` or ``"1000"`` -> an integer >= 1.

    >>> parse_count("1.5e9"), parse_count("2_000")
    (1500000000, 2000)
    """
    try:
        value = float(str(text).replace("_", ""))
    except ValueError:
        raise ValueError(f"cannot read {text!r} as a number; write e.g. 10e9 or 1000000") from None
    if not math.isfinite(value) or value < 1:
        raise ValueError(f"a count must be a finite number >= 1; got {text!r}")
    return int(value)


def human(n: int) -> str:
    """Bytes for people: ``human(3 << 30) == '3.0 GiB'``."""
    value = float(n)
    for unit in ("B", "KiB", "MiB", "GiB", "TiB"):
        if value < 1024 or unit == "TiB":
            return f"{value:.1f} {unit}" if unit != "B" else f"{n} B"
        value /= 1024
    return f"{n} B"  # pragma: no cover


# -- before expansion: how many layers? -----------------------------------------------------


class _TooMany(Exception):
    def __init__(self, problem: Problem):
        self.problem = problem


class _Counter:
    """Counts the primitive layers a spec expands to, as far as it can be known statically.

    Repeat counts that depend on a repeat index or a block parameter count as 1 (a lower
    bound); built-in blocks count as one layer each. Expressions are evaluated with the
    spec's own safe evaluator, so counting cannot run code either.
    """

    def __init__(self, doc: Any, env: Mapping[str, Any]):
        self.doc = doc
        self.env = dict(env)
        data = doc.data if isinstance(doc.data, dict) else {}
        blocks = data.get("blocks")
        self.blocks: dict[str, Any] = blocks if isinstance(blocks, dict) else {}
        self.block_sizes: dict[str, int] = {}
        self.active: set[str] = set()
        self.depth = 0

    def items(self, items: Any, path: SpecPath) -> int:
        if not isinstance(items, list) or self.depth >= budget.MAX_NESTING:
            return 0  # too deep: the expander reports it (a chain of 3,000 blocks overflowed the stack)
        self.depth += 1
        total = 0
        for k, item in enumerate(items):
            total += self.item(item, (*path, k))
            if total > MAX_LAYERS:
                raise _TooMany(self.doc.problem(_too_many(total, "these layers"), path))
        self.depth -= 1
        return total

    def item(self, item: Any, path: SpecPath) -> int:
        if isinstance(item, str):
            return self.block(item) if item in self.blocks else 1
        if not isinstance(item, dict) or not item:
            return 0
        if "repeat" in item:
            count = self.number(item["repeat"])
            if count is None or count < 0:
                return 0  # the expander reports it
            body = self.items(item.get("layers"), (*path, "layers"))
            total = count * body
            if total > MAX_LAYERS:
                raise _TooMany(
                    self.doc.problem(
                        f"`repeat: {count:,}` of {body:,} layer{'s' * (body != 1)} makes {total:,} layers; "
                        f"the limit is {MAX_LAYERS:,}",
                        (*path, "repeat"),
                    )
                )
            return total
        for key in item:
            if key in self.blocks:
                return self.block(key)
        return 1

    def block(self, name: str) -> int:
        if name in self.block_sizes:
            return self.block_sizes[name]
        if name in self.active:
            return 1  # a cycle: the expander reports it
        self.active.add(name)
        body = self.blocks[name].get("layers") if isinstance(self.blocks[name], dict) else None
        size = self.items(body, ("blocks", name, "layers"))
        self.active.discard(name)
        self.block_sizes[name] = size
        return size

    def number(self, value: Any) -> int | None:

        try:
            value = substitute(value, self.env)
        except (ExpressionError, TypeError):
            return 1  # depends on something only the expander knows; count it once
        if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
            return None
        return int(value)


def _too_many(total: int, what: str) -> str:
    return f"{what} expand to {total:,} layers or more; the limit is {MAX_LAYERS:,}"


#: The spec's variables as expansion will see them: the caller passes the expander's own
#: (``Expander(doc, overrides).variables``), as this module is below the expander, which reads its limits.
Variables = Callable[[], Mapping[str, Any]]


def count_layers(doc: Any, variables: Variables) -> int:
    """The number of primitive layers a (schema-valid) document expands to, at least.

    ``variables`` is called inside the work budget (an expression can be expensive too).
    Raises SpecError, at the repeat or stage responsible, when it is above MAX_LAYERS.
    """
    with budget.bounded():
        try:
            return _count(doc, variables)
        except _TooMany as exc:
            raise SpecError([exc.problem]) from None
        except budget.WorkExceeded as exc:  # computing the variables used the budget
            raise SpecError([exc.problem if isinstance(exc.problem, Problem) else doc.problem(str(exc), ())]) from None


def _count(doc: Any, variables: Variables) -> int:
    data = doc.data if isinstance(doc.data, dict) else {}
    counter = _Counter(doc, variables())
    if "layers" in data:
        return counter.items(data["layers"], ("layers",))
    if "stages" in data:
        return _count_stages(counter, data)
    if "pattern" in data:
        return _count_pattern(counter, data)
    return 0


def _count_stages(counter: _Counter, data: Mapping[str, Any]) -> int:
    total = 0
    stages = data.get("stages") if isinstance(data.get("stages"), list) else []
    for s, stage in enumerate(stages):
        if not isinstance(stage, dict):
            continue
        n = max(counter.number(stage.get("n", 1)) or 0, 0)
        total += n * (3 if stage.get("bn") else 1) + 3  # conv (+ bn, relu) each; lrn, pool, dropout
        if total > MAX_LAYERS:
            where = ("stages", s, "n")
            raise _TooMany(counter.doc.problem(f"`n: {n:,}` convs: {_too_many(total, 'the stages')}", where))
    return total


def _count_pattern(counter: _Counter, data: Mapping[str, Any]) -> int:
    from . import pattern as pattern_mod  # here: only pattern specs need it, and start-up counts

    tokens = data.get("tokens") if isinstance(data.get("tokens"), dict) else {}
    try:
        items = pattern_mod.to_items(pattern_mod.parse(data["pattern"]), tokens)
    except (pattern_mod.PatternError, TypeError):
        return 0  # the expander reports it, with the column
    except budget.WorkExceeded as exc:
        exc.problem = counter.doc.problem(budget.message(), ("pattern",))
        raise
    try:
        return counter.items(items, ("pattern",))
    except _TooMany as exc:  # generated items have no place of their own: point at the pattern
        raise _TooMany(counter.doc.problem(exc.problem.message, ("pattern",))) from None


def check_document(doc: Any, variables: Variables) -> None:
    """Refuse a spec that would expand to more than MAX_LAYERS layers, before expanding it."""
    count_layers(doc, variables)


# -- after expansion: sizes, parameters, memory ---------------------------------------------


def check_graph(graph: Any, limits: Limits | None = None) -> Any:
    """Check every tensor and the totals of an expanded graph; returns its Analysis.

    Everything here is arithmetic on Python integers from :func:`archspec.analysis.analyse`.
    """

    analysis = analyse(graph)
    check_analysis(analysis, limits)
    return analysis


def check_analysis(analysis: Any, limits: Limits | None = None) -> None:
    """Raise SpecError if a tensor, the parameter count or the training memory is too big."""
    limits = limits or _current
    problems: list[Problem] = []
    for layer in analysis.layers:
        problem = _tensor_problem(layer)
        if problem:
            problems.append(problem)
            break  # every later layer inherits the size; one message says it
    total = analysis.total_params
    if total > limits.max_params:
        biggest = max(analysis.layers, key=lambda s: s.params)
        node = biggest.node
        problems.append(
            Problem(
                f"the network has {total:,} parameters; the limit is {limits.max_params:,} (--max-params). "
                f"The largest layer is {node.name!r} ({node.type}, output {list(biggest.shape)}) "
                f"with {biggest.params:,}",
                node.location,
                node.path,
            )
        )
    if not problems:
        memory_problem = _memory_problem(analysis, 1, "adam", "float32", limits)
        if memory_problem:
            problems.append(memory_problem)
    if problems:
        raise SpecError(problems)


def _tensor_problem(layer: Any) -> Problem | None:
    node = layer.node
    shape = list(layer.shape)
    if any(d > MAX_DIM for d in shape):
        return Problem(
            f"{node.name}: output shape {shape} has a dimension above the limit of {MAX_DIM:,}",
            node.location,
            node.path,
        )
    elements = math.prod(shape)
    if elements > MAX_TENSOR_ELEMENTS:
        return Problem(
            f"{node.name}: output shape {shape} holds {elements:,} values per example; "
            f"the limit is {MAX_TENSOR_ELEMENTS:,}",
            node.location,
            node.path,
        )
    return None


def check_memory(
    analysis: Any, batch_size: int, optimizer: str = "adam", dtype: str = "float32", limits: Limits | None = None
) -> None:
    """Refuse to train when the estimated memory at ``batch_size`` is above the budget."""
    problem = _memory_problem(analysis, batch_size, optimizer, dtype, limits or _current)
    if problem:
        raise SpecError([problem])


def _memory_problem(analysis: Any, batch: int, optimizer: str, dtype: str, limits: Limits) -> Problem | None:

    optimizer = optimizer if optimizer in OPTIMIZER_SLOTS else "adam"  # an unknown one: assume Adam's two slots
    mem = analysis.training_memory(batch, optimizer, dtype)
    if mem["total"] <= limits.max_memory:
        return None
    parts = ", ".join(f"{k.replace('_', ' ')} {human(v)}" for k, v in mem.items() if k != "total")
    return Problem(
        f"training needs an estimated {human(mem['total'])} at batch size {batch} with {optimizer} ({parts}); "
        f"the budget is {human(limits.max_memory)} (--max-memory)",
        Location(analysis.graph.file),
    )
