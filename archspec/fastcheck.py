"""Stage 2a, fast path: a yes/no JSON Schema check compiled from the schema into closures.

jsonschema walks the schema anew for every value (``descend``, ``$ref`` resolution and an
error generator per keyword), which cost ~60% of summarising a 10,000-layer spec and its
import a third of ``archspec validate``'s start-up. Most specs are valid, and a valid spec
needs no message, only the verdict. :class:`Compiler` turns each subschema once into a
function ``value -> bool`` with the same semantics as jsonschema's Draft 2020-12 validator
(as archspec configures it: no format assertions); :mod:`archspec.schema` asks it first
and runs the full validator only for a spec it refuses, so messages stay exactly as they
were. ``$ref`` targets are compiled on first use, so a spec pays only for the layer types
it uses. A keyword the compiler does not know raises :class:`Unsupported` (the caller
falls back to jsonschema); ``tests/test_fast_validator.py`` keeps both verdicts equal.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping, Sequence
from typing import Any

Check = Callable[[Any], bool]

#: Keywords jsonschema applies and this module does not compile. Every other keyword it does
#: not list in :data:`_KEYWORDS` only annotates (``description``, ``default``, editors' own),
#: is applied inside another (``then``/``else`` in ``if``) or, as ``format`` without a format
#: checker, asserts nothing: jsonschema ignores those as well.
_UNSUPPORTED = {
    "$dynamicRef",
    "$dynamicAnchor",
    "$anchor",
    "$id",
    "$recursiveRef",
    "unevaluatedItems",
    "unevaluatedProperties",
    "dependentSchemas",
    "multipleOf",
    "uniqueItems",
}


class Unsupported(Exception):
    """The schema uses a keyword this compiler does not implement: use jsonschema instead."""


def _valid(_value: Any) -> bool:
    return True


def _invalid(_value: Any) -> bool:
    return False


def _is_integer(v: Any) -> bool:
    # jsonschema's draft 6+ "integer": an int that is not a bool, or a float with no fraction
    return (isinstance(v, int) and not isinstance(v, bool)) or (isinstance(v, float) and v.is_integer())


def _is_number(v: Any) -> bool:
    kind = type(v)
    if kind is int or kind is float:  # what YAML gives
        return True
    if kind in _NOT_NUMBERS:
        return False
    import numbers  # jsonschema's test, for the rest (a Fraction, a NumPy scalar)

    return isinstance(v, numbers.Number) and not isinstance(v, bool)


_NOT_NUMBERS = frozenset((str, bool, type(None), list, dict))


_TYPES: dict[str, Check] = {
    "object": lambda v: isinstance(v, dict),
    "array": lambda v: isinstance(v, list),
    "string": lambda v: isinstance(v, str),
    "integer": _is_integer,
    "number": _is_number,
    "boolean": lambda v: isinstance(v, bool),
    "null": lambda v: v is None,
}


def _unbool(v: Any, true: object = object(), false: object = object()) -> Any:
    return true if v is True else false if v is False else v


def equal(one: Any, two: Any) -> bool:
    """jsonschema's equality for ``enum``/``const``: ``True`` is not ``1``, also inside lists."""
    if one is two:
        return True
    if isinstance(one, str) or isinstance(two, str):
        return bool(one == two)
    if isinstance(one, Sequence) and isinstance(two, Sequence):
        return len(one) == len(two) and all(equal(a, b) for a, b in zip(one, two, strict=True))
    if isinstance(one, Mapping) and isinstance(two, Mapping):
        return one.keys() == two.keys() and all(equal(one[k], two[k]) for k in one)
    return bool(_unbool(one) == _unbool(two))


class Compiler:
    """Compiles one root schema; ``$ref`` pointers into it are compiled once, on first use."""

    def __init__(self, root: Mapping[str, Any], extra: Mapping[str, Callable[[Compiler, Any], Check]] | None = None):
        self.root = root
        self.extra = dict(extra or {})
        self._refs: dict[str, Check] = {}

    def build_root(self) -> Check:
        # the root's own $id only names the document; one inside would change what refs mean
        return self.build({k: v for k, v in self.root.items() if k != "$id"})

    def ref(self, pointer: str) -> Check:
        """The check of ``#/...`` (compiled lazily: a cycle of refs is fine)."""
        done = self._refs.get(pointer)
        if done is not None:
            return done
        if not pointer.startswith("#"):
            raise Unsupported(f"$ref to another document: {pointer}")
        self._refs[pointer] = check = self.lazy(pointer)
        return check

    def lazy(self, schema: Any) -> Check:
        """The check of ``schema`` (or of the ``#/...`` pointer it is), compiled on its first call."""
        compiled: list[Check] = []

        def check(value: Any) -> bool:
            if not compiled:
                target = _resolve(self.root, schema) if isinstance(schema, str) else schema
                compiled.append(self.build(target))
            return compiled[0](value)

        return check

    def build(self, schema: Any) -> Check:
        if schema is True or schema == {}:
            return _valid
        if schema is False:
            return _invalid
        if not isinstance(schema, dict):
            raise Unsupported(f"a schema must be an object or a boolean; got {schema!r}")
        checks = [c for c in (self._keyword(k, v, schema) for k, v in schema.items()) if c is not None]
        return _all(checks)

    def _keyword(self, key: str, value: Any, schema: dict[str, Any]) -> Check | None:
        if key in self.extra:
            return self.extra[key](self, value)
        if key in _UNSUPPORTED:
            raise Unsupported(key)
        build = _KEYWORDS.get(key)
        return None if build is None else build(self, value, schema)


def _all(checks: list[Check]) -> Check:
    if not checks:
        return _valid
    if len(checks) == 1:
        return checks[0]
    if len(checks) == 2:
        first, second = checks
        return lambda v: first(v) and second(v)

    # plain loops, here and below: a generator inside all()/any() costs twice as much per value
    def every(v: Any) -> bool:
        for c in checks:  # noqa: SIM110 (the loop is the point)
            if not c(v):
                return False
        return True

    return every


def _resolve(root: Any, pointer: str) -> Any:
    node = root
    for part in pointer.lstrip("#").split("/")[1:]:
        part = part.replace("~1", "/").replace("~0", "~")
        try:
            node = node[int(part)] if isinstance(node, list) else node[part]
        except (KeyError, IndexError, ValueError, TypeError):
            raise Unsupported(f"unresolvable $ref {pointer}") from None
    return node


# --- one builder per keyword: (compiler, keyword value, whole schema) -> check or None ------


def _type(_c: Compiler, types: Any, _s: Any) -> Check:
    names = [types] if isinstance(types, str) else list(types)
    if any(n not in _TYPES for n in names):
        raise Unsupported(f"type {types!r}")
    tests = [_TYPES[n] for n in names]
    if len(tests) == 1:
        return tests[0]
    return lambda v: any(t(v) for t in tests)


def _enum(_c: Compiler, choices: list[Any], _s: Any) -> Check:
    if all(isinstance(x, str) for x in choices):
        allowed = frozenset(choices)
        return lambda v: isinstance(v, str) and v in allowed
    return lambda v: any(equal(x, v) for x in choices)


def _const(_c: Compiler, const: Any, _s: Any) -> Check:
    return lambda v: equal(v, const)


def _pattern(_c: Compiler, pattern: str, _s: Any) -> Check:
    search = re.compile(pattern).search
    return lambda v: not isinstance(v, str) or search(v) is not None


def _bound(op: Callable[[Any, Any], bool]) -> Callable[[Compiler, Any, Any], Check]:
    def build(_c: Compiler, limit: Any, _s: Any) -> Check:
        return lambda v: not _is_number(v) or op(v, limit)

    return build


def _size(kind: type, op: Callable[[int, int], bool]) -> Callable[[Compiler, Any, Any], Check]:
    def build(_c: Compiler, limit: int, _s: Any) -> Check:
        return lambda v: not isinstance(v, kind) or op(len(v), limit)

    return build


def _properties(c: Compiler, props: dict[str, Any], _s: Any) -> Check:
    # each compiled on first use: a spec pays for the sections and arguments it has
    table = {name: c.lazy(sub) for name, sub in props.items()}
    get = table.get

    def check(v: Any) -> bool:
        if isinstance(v, dict):  # the (few) keys present, not every property listed (a layer type has ~20)
            for k, x in v.items():
                fn = get(k)
                if fn is not None and not fn(x):
                    return False
        return True

    return check


def _pattern_props(c: Compiler, props: dict[str, Any], _s: Any) -> Check:
    checks = [(re.compile(p).search, c.build(sub)) for p, sub in props.items()]

    def check(v: Any) -> bool:
        if not isinstance(v, dict):
            return True
        return all(fn(x) for search, fn in checks for k, x in v.items() if isinstance(k, str) and search(k))

    return check


def _additional(c: Compiler, extra: Any, schema: dict[str, Any]) -> Check:
    known = frozenset(schema.get("properties", {}))
    patterns = [re.compile(p).search for p in schema.get("patternProperties", {})]
    sub = c.build(extra)

    def is_extra(k: Any) -> bool:
        return k not in known and not any(isinstance(k, str) and s(k) for s in patterns)

    if extra is False and not patterns:

        def closed(v: Any) -> bool:
            if isinstance(v, dict):
                for k in v:
                    if k not in known:
                        return False
            return True

        return closed
    return lambda v: not isinstance(v, dict) or all(sub(x) for k, x in v.items() if is_extra(k))


def _property_names(c: Compiler, sub: Any, _s: Any) -> Check:
    fn = c.build(sub)
    return lambda v: not isinstance(v, dict) or all(fn(k) for k in v)


def _required(_c: Compiler, names: list[str], _s: Any) -> Check:
    def check(v: Any) -> bool:
        if isinstance(v, dict):
            for n in names:
                if n not in v:
                    return False
        return True

    return check


def _items(c: Compiler, items: Any, schema: dict[str, Any]) -> Check:
    start = len(schema.get("prefixItems", []))
    fn = c.build(items)

    def check(v: Any) -> bool:
        if isinstance(v, list):
            for x in v[start:] if start else v:
                if not fn(x):
                    return False
        return True

    return check


def _prefix_items(c: Compiler, items: list[Any], _s: Any) -> Check:
    fns = [c.build(sub) for sub in items]
    return lambda v: not isinstance(v, list) or all(fn(x) for fn, x in zip(fns, v, strict=False))


def _contains(c: Compiler, sub: Any, schema: dict[str, Any]) -> Check:
    fn = c.build(sub)
    low, high = schema.get("minContains", 1), schema.get("maxContains")

    def check(v: Any) -> bool:
        if not isinstance(v, list):
            return True
        n = sum(1 for x in v if fn(x))
        return n >= low and (high is None or n <= high)

    return check


def _dependent_required(_c: Compiler, deps: dict[str, list[str]], _s: Any) -> Check:
    return lambda v: not isinstance(v, dict) or all(d in v for k, ds in deps.items() if k in v for d in ds)


def _any_of(c: Compiler, subs: list[Any], _s: Any) -> Check:
    fns = [c.build(s) for s in subs]

    def check(v: Any) -> bool:
        for fn in fns:  # noqa: SIM110 (a loop: see _all)
            if fn(v):
                return True
        return False

    return check


def _all_of(c: Compiler, subs: list[Any], _s: Any) -> Check:
    return _all([c.build(s) for s in subs])


def _one_of(c: Compiler, subs: list[Any], _s: Any) -> Check:
    fns = [c.build(s) for s in subs]
    return lambda v: sum(1 for fn in fns if fn(v)) == 1


def _not(c: Compiler, sub: Any, _s: Any) -> Check:
    fn = c.build(sub)
    return lambda v: not fn(v)


def _if(c: Compiler, cond: Any, schema: dict[str, Any]) -> Check:
    test = c.build(cond)
    then = c.build(schema.get("then", True))
    other = c.build(schema.get("else", True))
    return lambda v: then(v) if test(v) else other(v)


def _ref(c: Compiler, pointer: str, _s: Any) -> Check:
    return c.ref(pointer)


_KEYWORDS: dict[str, Callable[[Compiler, Any, Any], Check | None]] = {
    "type": _type,
    "enum": _enum,
    "const": _const,
    "pattern": _pattern,
    "minimum": _bound(lambda v, m: not v < m),
    "maximum": _bound(lambda v, m: not v > m),
    "exclusiveMinimum": _bound(lambda v, m: not v <= m),
    "exclusiveMaximum": _bound(lambda v, m: not v >= m),
    "minLength": _size(str, lambda n, m: not n < m),
    "maxLength": _size(str, lambda n, m: not n > m),
    "minItems": _size(list, lambda n, m: not n < m),
    "maxItems": _size(list, lambda n, m: not n > m),
    "minProperties": _size(dict, lambda n, m: not n < m),
    "maxProperties": _size(dict, lambda n, m: not n > m),
    "properties": _properties,
    "patternProperties": _pattern_props,
    "additionalProperties": _additional,
    "propertyNames": _property_names,
    "required": _required,
    "items": _items,
    "prefixItems": _prefix_items,
    "contains": _contains,
    "dependentRequired": _dependent_required,
    "anyOf": _any_of,
    "allOf": _all_of,
    "oneOf": _one_of,
    "not": _not,
    "if": _if,
    "$ref": _ref,
}
