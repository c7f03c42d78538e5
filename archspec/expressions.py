"""A small, safe arithmetic language for ``${...}`` in specs.

``filters: ${32 * 2**m}`` doubles the filters after each stage. The text is parsed with
:mod:`ast` and walked by a whitelist: numbers, names bound by the spec, ``+ - * / // % **``,
comparisons, ``a if c else b``, indexing and slicing lists, list repetition and joining
(``[64] * 3``, ``a + b``), joining strings, a tensor's shape (``input.channels``), and the
functions ``min``, ``max``, ``round``, ``int``, ``ceil``, ``floor``, ``sum``, ``len``,
``make_divisible``, ``round_filters``, ``round_repeats``, ``letter``, ``str`` and ``fmt``.
Nothing is ever passed to Python's ``eval``; attribute access (but a shape's), calls of
anything else, string formatting beyond ``{}``, and huge powers or lists are refused.
"""

from __future__ import annotations

import ast
import functools
import math
import operator
import re
import warnings
from collections.abc import Callable, Iterator, Mapping
from typing import Any

from . import budget

MAX_EXPR_CHARS = 200
MAX_MAGNITUDE = 10**15  # far beyond any real layer size; keeps arithmetic cheap
#: Longest list or string an operator may make (``[0] * 10**9`` would take gigabytes).
MAX_LENGTH = 100_000

_WHOLE = re.compile(r"^\$\{(.*)\}$", re.S)
_PART = re.compile(r"\$\{([^{}]*)\}")


class ExpressionError(ValueError):
    """An expression is malformed or refers to something unknown."""


def make_divisible(value: float, divisor: int = 8, min_value: int | None = None) -> int:
    """Round channels to a multiple of ``divisor`` as MobileNet and EfficientNet do.

    Never goes down by more than 10%: ``make_divisible(0.75 * 32) == 24``.
    """
    min_value = min_value or divisor
    new = max(min_value, int(value + divisor / 2) // divisor * divisor)
    if new < 0.9 * value:
        new += divisor
    return new


def round_filters(filters: float, width: float = 1.0, divisor: int = 8) -> int:
    """EfficientNet's channel rounding: ``filters * width`` to a multiple of ``divisor``.

    The same rule as :func:`make_divisible` (never below ``divisor``, never more than 10%
    down), applied after the width multiplier, as ``keras.applications.EfficientNet`` does:
    ``round_filters(32, 1.1) == 32``, ``round_filters(1280, 1.2) == 1536``.
    """
    return make_divisible(filters * width, divisor)


def round_repeats(repeats: Any, depth: float = 1.0) -> Any:
    """EfficientNet's depth rounding: ``ceil(depth * repeats)``; a list is rounded item by item.

    ``round_repeats(2, 1.1) == 3``: repeats are always rounded up.
    """
    if isinstance(repeats, list):
        return [round_repeats(r, depth) for r in repeats]
    return math.ceil(depth * repeats)


def letter(index: int) -> str:
    """The ``index``-th lower-case letter (0 -> ``a``), as Keras names EfficientNet's sub-blocks."""
    if isinstance(index, bool) or not isinstance(index, int) or not 0 <= index < 26:
        raise ValueError(f"letter() needs an integer from 0 to 25; got {index!r}")
    return chr(ord("a") + index)


class TensorShape(Mapping[str, Any]):
    """A tensor's shape as expressions see it: ``input.channels``, ``input.height``,
    ``input.width``, ``input.rank`` and ``input.shape`` (the list of dimensions, batch axis
    left out). The only value with attributes; a mapping, so that it keys the result cache."""

    def __init__(self, dims: tuple[int, ...]):
        fields: dict[str, Any] = {"shape": list(dims), "rank": len(dims), "channels": dims[-1]}
        if len(dims) == 3:
            fields.update(height=dims[0], width=dims[1])
        elif len(dims) == 2:
            fields.update(tokens=dims[0])
        self._fields = fields

    def __getitem__(self, key: str) -> Any:
        value = self._fields[key]
        return list(value) if isinstance(value, list) else value  # lists are mutable: a copy

    def __iter__(self) -> Iterator[str]:
        return iter(self._fields)

    def __len__(self) -> int:
        return len(self._fields)

    def __repr__(self) -> str:
        return f"shape {self._fields['shape']}"


def fmt(template: Any, *values: Any) -> str:
    """``fmt("block{}_conv{}", 2, 1) == "block2_conv1"``: each ``{}`` takes the next value.

    Only bare ``{}`` (and ``{{``/``}}`` for braces): no field names, indices or format specs,
    which in Python's ``str.format`` reach attributes and can pad a string to gigabytes.
    """
    if not isinstance(template, str):
        raise ValueError(f"the first argument must be a string; got {template!r}")
    parts = re.split(r"(\{\{|\}\}|\{\}|[{}])", template)
    out: list[str] = []
    used = 0
    for part in parts:
        if part in ("{{", "}}"):
            out.append(part[0])
        elif part == "{}":
            if used == len(values):
                raise ValueError(f"{template!r} has more {{}} than the {len(values)} values given")
            out.append(_format(values[used]))
            used += 1
        elif part in ("{", "}"):
            raise ValueError(f"only {{}} may stand in braces (write {{{{ or }}}} for a brace); got {template!r}")
        else:
            out.append(part)
    if used != len(values):
        raise ValueError(f"{template!r} has {used} {{}} for {len(values)} values")
    text = "".join(out)
    if len(text) > MAX_LENGTH:
        raise ValueError(f"the result would be longer than {MAX_LENGTH:,} characters")
    budget.spend(len(text) >> 4)  # a long text made anew in each of 10,000 repeats is work too
    return text


def _str(value: Any) -> str:
    if not isinstance(value, int | float | str | bool):
        raise ValueError(f"str() needs a number, a boolean or a string; got {value!r}")
    return _format(value)


def _len(value: Any) -> int:
    if not isinstance(value, list | tuple | str):
        raise ValueError(f"len() needs a list or a string; got {value!r}")
    return len(value)


def _sum(values: Any) -> Any:
    if not isinstance(values, list | tuple) or not all(isinstance(v, int | float) for v in values):
        raise ValueError("sum() needs a list of numbers")
    return sum(values)


_FUNCS: dict[str, Callable[..., Any]] = {
    "min": min,
    "max": max,
    "round": round,
    "int": int,
    "ceil": math.ceil,
    "floor": math.floor,
    "make_divisible": make_divisible,
    "round_filters": round_filters,
    "round_repeats": round_repeats,
    "letter": letter,
    "sum": _sum,
    "len": _len,
    "str": _str,
    "fmt": fmt,
}

_BINOPS: dict[type[ast.operator], Callable[[Any, Any], Any]] = {
    ast.Add: operator.add,
    ast.Sub: operator.sub,
    ast.Mult: operator.mul,
    ast.Div: operator.truediv,
    ast.FloorDiv: operator.floordiv,
    ast.Mod: operator.mod,
    ast.Pow: operator.pow,
}

_CMPOPS: dict[type[ast.cmpop], Callable[[Any, Any], bool]] = {
    ast.Eq: operator.eq,
    ast.NotEq: operator.ne,
    ast.Lt: operator.lt,
    ast.LtE: operator.le,
    ast.Gt: operator.gt,
    ast.GtE: operator.ge,
}


def is_expression(value: Any) -> bool:
    return isinstance(value, str) and "${" in value


def substitute(value: Any, env: Mapping[str, Any]) -> Any:
    """Resolve ``${...}`` in a value.

    A string that is one whole ``${expr}`` becomes the expression's value (a number,
    a list...); ``${}`` inside a longer string is formatted into it (``block${i+1}``).
    """
    if not isinstance(value, str) or "${" not in value:
        return value
    whole = _WHOLE.match(value.strip())
    if whole and "${" not in whole.group(1):
        return evaluate(whole.group(1), env)
    if "${" in _PART.sub("", value):  # left unresolved, it would pass for a name or value as it is
        raise ExpressionError(
            "a ${ without its }, or braces inside ${...} within a longer text: write the whole value as one "
            "expression, e.g. \"${fmt('block{}_conv', i)}\""
        )
    text = _PART.sub(lambda m: _format(evaluate(m.group(1), env)), value)
    budget.spend(len(text) >> 6)  # a 400 kB name made anew in each of 10,000 iterations took 4 GB
    return text


def _format(value: Any) -> str:
    if isinstance(value, float) and value.is_integer():
        return str(int(value))
    return str(value)


def evaluate(text: str, env: Mapping[str, Any]) -> Any:
    """Evaluate one expression (without the ``${}``) over ``env``."""
    if len(text) > MAX_EXPR_CHARS:
        raise ExpressionError(f"expression is longer than {MAX_EXPR_CHARS} characters")
    tree, names = _parse(text.strip())
    # The value depends only on the text and its names' values; a repeat asks for the same
    # few combinations thousands of times (``${16 * 2**s}`` over 600 units has 3 values).
    key = _cache_key(text, names, env)
    if key is not None and key in _RESULTS:
        budget.spend(1 + len(names))
        return _RESULTS[key]
    evaluator = _Evaluator(env)
    result = evaluator.visit(tree)
    budget.spend(evaluator.steps)
    if key is not None and type(result) in _SCALARS:  # lists are mutable: never shared
        if len(_RESULTS) >= _MAX_RESULTS:
            _RESULTS.clear()
        _RESULTS[key] = result
    return result


_UNBOUND = object()
_ATOMS = frozenset((int, float, bool, type(None)))
_SCALARS = _ATOMS | {str}
_MAX_RESULTS = 65536
#: Values a cache key may hold. A key copies its names' values, and copying a 2,000-value
#: list on each of 10,000 evaluations took 1.4 GB; indexing a long list is cheaper than
#: keying it, so an expression naming one is evaluated afresh (and the cache stays small:
#: 65,536 keys of at most 16 values each).
_MAX_KEY_VALUES = 16
_RESULTS: dict[tuple[str, tuple[Any, ...]], Any] = {}


def _cache_key(text: str, names: tuple[str, ...], env: Mapping[str, Any]) -> tuple[str, tuple[Any, ...]] | None:
    """The key of ``text`` over its names' values, or None where there is no small, exact one."""
    values = [env.get(n, _UNBOUND) for n in names]
    if sum(_size(v) for v in values) > _MAX_KEY_VALUES:
        return None
    try:
        return (text, tuple([typed_key(v) for v in values]))
    except TypeError:  # a value that cannot be a key (unhashable, or a text with ${...})
        return None


def _size(value: Any) -> int:
    """How many values a key of ``value`` holds, counting up to just past the key limit."""
    if type(value) is not list and type(value) is not tuple and not isinstance(value, Mapping):
        return 1
    total = 1
    for item in value.values() if isinstance(value, Mapping) else value:
        total += _size(item)
        if total > _MAX_KEY_VALUES:
            break
    return total


def typed_key(value: Any) -> Any:
    """A hashable key equal only for values that act alike: ``True``, ``1`` and ``1.0`` are
    equal in Python but not in a spec (``1.0`` is not a filter count), so the key carries
    each value's type. Raises TypeError for what cannot be a key, and for a text with
    ``${...}``, whose meaning depends on the variables in scope."""
    kind = type(value)
    if kind is str:
        if "${" in value:
            raise TypeError("an expression has no fixed value")
        return value
    if kind in _ATOMS:  # the common case, before the slower Mapping check
        return (kind, value)
    if kind is list or kind is tuple:
        budget.spend(len(value))  # a key copies the value: a 100,000-value default, keyed per layer, hung
        return (kind, tuple([typed_key(v) for v in value]))
    if isinstance(value, Mapping):
        budget.spend(len(value))
        return (dict, tuple([(k, typed_key(v)) for k, v in value.items()]))
    hash(value)
    return (kind, value)


@functools.lru_cache(maxsize=4096)
def _parse(text: str) -> tuple[ast.expr, tuple[str, ...]]:
    """The parsed expression and the names it uses; cached, since a repeat evaluates the
    same text many times (the tree is only read, never changed)."""
    try:
        with warnings.catch_warnings():  # "1if x" parses with a SyntaxWarning on stderr: refuse it instead
            warnings.simplefilter("error", SyntaxWarning)
            tree = ast.parse(text, mode="eval").body
    except (SyntaxError, SyntaxWarning):
        raise ExpressionError(f"cannot parse expression {text!r}") from None
    names = sorted({node.id for node in ast.walk(tree) if isinstance(node, ast.Name)})
    return tree, tuple(names)


class _Evaluator:
    def __init__(self, env: Mapping[str, Any]):
        self.env = env
        self.steps = 0  # nodes visited, charged to the work budget when the value is known

    def visit(self, node: ast.AST) -> Any:
        self.steps += 1
        method = _VISITORS.get(type(node).__name__)
        if method is None:
            raise ExpressionError(f"{type(node).__name__} is not allowed in an expression")
        return method(self, node)

    def visit_Constant(self, node: ast.Constant) -> Any:
        if isinstance(node.value, bool) or not isinstance(node.value, int | float | str):
            raise ExpressionError(f"constant {node.value!r} is not allowed in an expression")
        return node.value

    def visit_Name(self, node: ast.Name) -> Any:
        if node.id in self.env:
            return self.env[node.id]
        if node.id in ("true", "True"):
            return True
        if node.id in ("false", "False"):
            return False
        from .errors import did_you_mean

        raise ExpressionError(f"unknown name {node.id!r}.{did_you_mean(node.id, self.env)}")

    def visit_List(self, node: ast.List) -> list[Any]:
        return [self.visit(e) for e in node.elts]

    def visit_Attribute(self, node: ast.Attribute) -> Any:
        value = self.visit(node.value)
        if not isinstance(value, TensorShape):
            raise ExpressionError(
                "Attribute is not allowed in an expression: only a tensor's shape has attributes "
                "(input.channels, input.height, input.width, input.rank, input.shape)"
            )
        if node.attr not in value:
            from .errors import did_you_mean

            raise ExpressionError(f"{value!r} has no {node.attr!r}.{did_you_mean(node.attr, list(value))}")
        return value[node.attr]

    def visit_BinOp(self, node: ast.BinOp) -> Any:
        op = _BINOPS.get(type(node.op))
        if op is None:
            raise ExpressionError(f"operator {type(node.op).__name__} is not allowed")
        left, right = self.visit(node.left), self.visit(node.right)
        if isinstance(node.op, ast.Add | ast.Mult) and _sequence(node.op, left, right):
            return _sequence_op(node.op, left, right)
        left, right = _number(left), _number(right)
        if isinstance(node.op, ast.Pow) and (abs(right) > 64 or abs(left) > MAX_MAGNITUDE):
            raise ExpressionError("power is too large")
        try:
            result = op(left, right)
        except ZeroDivisionError:
            raise ExpressionError("division by zero") from None
        except OverflowError:  # 1e15 ** 64
            raise ExpressionError("result is too large") from None
        if isinstance(result, complex):  # (-8) ** 0.5
            raise ExpressionError(f"result of {left!r} ** {right!r} is not a real number")
        return _bounded(result)

    def visit_UnaryOp(self, node: ast.UnaryOp) -> Any:
        if isinstance(node.op, ast.Not):  # `not` negates a condition, which is often a boolean
            return not self.visit(node.operand)
        value = _number(self.visit(node.operand))
        if isinstance(node.op, ast.USub):
            return -value
        if isinstance(node.op, ast.UAdd):
            return value
        if isinstance(node.op, ast.Not):
            return not value
        raise ExpressionError(f"operator {type(node.op).__name__} is not allowed")

    def visit_Compare(self, node: ast.Compare) -> bool:
        left = self.visit(node.left)
        for op_node, right_node in zip(node.ops, node.comparators, strict=True):
            op = _CMPOPS.get(type(op_node))
            if op is None:
                raise ExpressionError(f"comparison {type(op_node).__name__} is not allowed")
            right = self.visit(right_node)
            _walked(left, right)  # comparing lists walks them
            try:
                holds = op(left, right)
            except TypeError:  # e.g. 1 < "a": Python refuses, so must we (as our error)
                raise ExpressionError(f"cannot compare {left!r} with {right!r}") from None
            if not holds:
                return False
            left = right
        return True

    def visit_BoolOp(self, node: ast.BoolOp) -> Any:
        values = [self.visit(v) for v in node.values]
        return all(values) if isinstance(node.op, ast.And) else any(values)

    def visit_IfExp(self, node: ast.IfExp) -> Any:
        return self.visit(node.body) if self.visit(node.test) else self.visit(node.orelse)

    def visit_Subscript(self, node: ast.Subscript) -> Any:
        seq = self.visit(node.value)
        if isinstance(node.slice, ast.Slice):
            return self._slice(seq, node.slice)
        index = self.visit(node.slice)
        if isinstance(seq, Mapping) and isinstance(index, str):  # a mapping in vars: sizes['k']
            if index not in seq:
                from .errors import did_you_mean

                raise ExpressionError(f"no key {index!r} in the mapping.{did_you_mean(index, list(seq))}")
            return seq[index]
        if not isinstance(seq, list | tuple) or not isinstance(index, int):
            raise ExpressionError("only lists can be indexed, by an integer")
        if not -len(seq) <= index < len(seq):
            raise ExpressionError(f"index {index} is out of range for a list of {len(seq)}")
        return seq[index]

    def _slice(self, seq: Any, part: ast.Slice) -> Any:
        bounds = [None if b is None else self.visit(b) for b in (part.lower, part.upper, part.step)]
        if not isinstance(seq, list | tuple) or not all(b is None or isinstance(b, int) for b in bounds):
            raise ExpressionError("only lists can be sliced, by integers")
        if bounds[2] == 0:
            raise ExpressionError("slice step cannot be zero")
        part = list(seq[slice(*bounds)])
        _walked(part)
        return part

    def visit_Call(self, node: ast.Call) -> Any:
        if not isinstance(node.func, ast.Name) or node.func.id not in _FUNCS or node.keywords:
            allowed = ", ".join(sorted(_FUNCS))
            raise ExpressionError(f"only these functions may be called: {allowed}")
        args = [self.visit(a) for a in node.args]
        _walked(*args)  # sum(), min(), round_repeats() walk a list
        if node.func.id == "round" and len(args) == 2 and isinstance(args[1], int) and abs(args[1]) > 64:
            # round(5, -10**15) makes Python compute 10**(10**15): it never returns
            raise ExpressionError(f"round(): ndigits must be between -64 and 64; got {args[1]}")
        try:
            return _bounded(_FUNCS[node.func.id](*args))
        except (TypeError, ValueError, OverflowError, ZeroDivisionError) as exc:
            raise ExpressionError(f"{node.func.id}(): {exc}") from None


#: ``visit_X`` by node class name, looked up once: ``getattr`` per node was a tenth of
#: expanding a deep net.
_VISITORS: dict[str, Callable[[_Evaluator, Any], Any]] = {
    name.removeprefix("visit_"): method
    for name, method in vars(_Evaluator).items()
    if name.startswith("visit_") and name != "visit"
}


def _walked(*values: Any) -> None:
    """Charge the elements of the lists an operation walks, as it walks them: one expression
    of 200 characters can walk a 250,000-value list forty times."""
    steps = sum(len(v) for v in values if isinstance(v, list | tuple))
    if steps:
        budget.spend(steps)


def _sequence(op: ast.operator, left: Any, right: Any) -> bool:
    """Whether ``left (+ or *) right`` joins or repeats lists, or joins strings (a string is
    never repeated: names are made with ``fmt`` and ``+``)."""
    kinds = list | tuple | str if isinstance(op, ast.Add) else list | tuple
    return isinstance(left, kinds) or isinstance(right, kinds)


def _sequence_op(op: ast.operator, left: Any, right: Any) -> Any:
    """``[64] * 3`` (a list repeated), ``a + b`` (two lists, or two strings, joined)."""
    if isinstance(op, ast.Add):
        if isinstance(left, str) and isinstance(right, str):
            result: Any = left + right
        elif isinstance(left, list | tuple) and isinstance(right, list | tuple):
            result = [*left, *right]
        else:
            raise ExpressionError(f"+ joins two lists or two strings; got {left!r} and {right!r}")
    else:
        seq, count = (left, right) if isinstance(left, list | tuple) else (right, left)
        if not isinstance(seq, list | tuple) or isinstance(count, bool) or not isinstance(count, int):
            raise ExpressionError(f"* repeats a list by a whole number; got {left!r} and {right!r}")
        if len(seq) * max(count, 0) > MAX_LENGTH:
            raise ExpressionError(f"the list would have more than {MAX_LENGTH:,} values")
        result = list(seq) * count
    if len(result) > MAX_LENGTH:
        raise ExpressionError(f"the result would be longer than {MAX_LENGTH:,}")
    budget.spend(len(result) >> 4 if isinstance(result, str) else len(result))  # the values it copied
    return result


def _number(value: Any) -> int | float:
    if isinstance(value, bool) or not isinstance(value, int | float):
        raise ExpressionError(f"arithmetic needs numbers, got {value!r}")
    return value


def _bounded(value: Any) -> Any:
    if isinstance(value, int | float) and not isinstance(value, bool):
        if isinstance(value, float) and not math.isfinite(value):
            raise ExpressionError("result is not a finite number")
        if abs(value) > MAX_MAGNITUDE:
            raise ExpressionError(f"result {value:.3g} is too large")
        if isinstance(value, float) and value.is_integer() and abs(value) < 2**53:
            return value  # keep floats as floats; args decide whether they need ints
    return value
