"""Stage 2a: the JSON Schema (draft 2020-12) of the spec language, and checking a spec with it.

The schema is generated from the layer registry (each layer's arguments give its fragment)
and from the sections other stages register, so it can never drift from what the
expander accepts. ``archspec schema`` prints it; editors use it for completion through
``# yaml-language-server: $schema=...``.
"""

from __future__ import annotations

import functools
import importlib
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from .errors import Problem, SpecError, did_you_mean
from .loader import Document

SCHEMA_ID = "https://archspec.dev/schema/archspec-1.json"
COMMON_KEYS = ("name", "inputs", "when", "trainable", "comment")
_IDENT = r"^[A-Za-z_][A-Za-z0-9_]*$"
_MODEL_NAME = r"^[A-Za-z0-9_.\-]+$"
#: What each name pattern accepts, in words: the message must say what the pattern says.
_NAME_RULES = {
    _IDENT: "letters, digits and _ only, not starting with a digit",
    _MODEL_NAME: "letters, digits, _, . and - only",
}
_EXPR = {"type": "string", "pattern": r"\$\{"}

#: Top-level sections owned by later stages, as "module:ATTRIBUTE" of their schema
#: fragment. The modules named here must not import TensorFlow.
SECTIONS: dict[str, str] = {
    "expect": "archspec.expect:SCHEMA",
    "scales": "archspec.api:SCALES_SCHEMA",
    "base": "archspec.transfer.schema:BASE_SCHEMA",
    "freeze": "archspec.transfer.schema:FREEZE_SCHEMA",
    "fine_tune": "archspec.transfer.schema:FINE_TUNE_SCHEMA",
    "train": "archspec.training.config:SCHEMA",
}


def _sections() -> dict[str, Any]:
    out = {}
    for key, ref in SECTIONS.items():
        module, attr = ref.split(":")
        out[key] = getattr(importlib.import_module(module), attr)
    return out


def _layer_defs() -> dict[str, Any]:
    from .registry import registry

    reg = registry()
    defs: dict[str, Any] = {}
    for name, lt in sorted(reg.types.items()):
        args = {a.name: a.schema() for a in lt.args}
        for a in lt.args:
            args.update({alias: {"$ref": f"#/$defs/layer_{name}/properties/{a.name}"} for alias in a.aliases})
        primary: list[dict[str, Any]] = [
            {"type": "null"},
            {"type": "object", "properties": args, "additionalProperties": False},
        ]
        if lt.primary:
            primary.insert(0, {"$ref": f"#/$defs/layer_{name}/properties/{lt.primary}"})
        common = {k: {"$ref": f"#/$defs/common/properties/{k}"} for k in COMMON_KEYS}
        props = {key: {"anyOf": primary} for key in (name, *lt.aliases)}
        defs[f"layer_{name}"] = {
            "description": (lt.__doc__ or "").strip().split("\n")[0],
            "type": "object",
            "properties": {**props, **args, **common},
            "additionalProperties": False,
        }
    return defs


def _layer_item(layer_keys: Iterable[tuple[str, str]], shadowed: dict[str, list[str]]) -> dict[str, Any]:
    """A layer item: a bare name, a repeat, or a mapping whose type key selects its schema.

    ``shadowed`` maps a type name that is also an argument of other types (``dropout`` of
    ``fc_head``) to those types: next to one of them, it is that argument, not a type.
    A bare name and every key of a mapping must also pass ``layer_name`` (a misspelt
    built-in name is flagged; see :func:`_layer_name`).
    """
    dispatch = []
    for key, canon in layer_keys:
        cond: dict[str, Any] = {"type": "object", "required": [key]}
        if shadowed.get(key):
            cond["not"] = {"anyOf": [{"required": [other]} for other in shadowed[key]]}
        dispatch.append({"if": cond, "then": {"$ref": f"#/$defs/layer_{canon}"}})
    name = {"$ref": "#/$defs/layer_name"}
    return {
        "anyOf": [
            {"type": "string", "pattern": _IDENT, **name},
            {"$ref": "#/$defs/repeat"},
            {
                "type": "object",
                "minProperties": 1,
                "not": {"required": ["repeat"]},
                "propertyNames": name,
                "allOf": dispatch,
            },
        ]
    }


#: Built-in names shorter than this are left out of the near-miss check: one edit from
#: ``fc``, ``bn``, ``se`` or ``gap`` is too many good block names (``b1``, ``fc1``, ``gaps``).
_NEAR_MISS_MIN = 4
_ID_CHAR = "[A-Za-z0-9_]"
NEAR_MISS_MESSAGE = (
    "one edit away from a built-in layer type or argument, but not one: a misspelling? "
    "(a block declared in this file's blocks: section with this name is fine)"
)


def _layer_name(type_names: Iterable[str], known: Iterable[str]) -> dict[str, Any]:
    """What a layer item's bare name or key may be, for editors: anything but a near miss.

    JSON Schema cannot see the file's ``blocks:`` section, so any identifier may name a user
    block; what it can flag is an identifier one edit (a letter inserted, deleted, replaced,
    or two swapped) from a built-in type name of four or more letters, or such a name in
    upper or title case, that is not itself a known name (``conv2``, ``relux``, ``dens``,
    ``Conv``). archspec's own validator leaves this check out (:func:`_fast_schema`): it
    knows the file's blocks and reports an unknown type with "Did you mean" after expansion.
    """
    alternatives: set[str] = set()
    for name in type_names:
        if len(name) < _NEAR_MISS_MIN:
            continue
        n = len(name)
        alternatives.update(name[:i] + _ID_CHAR + "?" + name[i + 1 :] for i in range(n))  # replaced or deleted
        alternatives.update(name[:i] + _ID_CHAR + name[i:] for i in range(n + 1))  # inserted
        alternatives.update(name[:i] + name[i + 1] + name[i] + name[i + 2 :] for i in range(n - 1))  # swapped
        alternatives.update((name.upper(), name.title()))
    return {
        "description": "A layer type, a block declared in this file, or an argument.",
        "anyOf": [
            {"enum": sorted(set(known))},
            # `type` inside `not`: a value that is no string at all is no near miss (other branches judge it)
            {"not": {"type": "string", "pattern": f"^({'|'.join(sorted(alternatives))})$"}},
        ],
        "errorMessage": NEAR_MISS_MESSAGE,
    }


def _known_names(layer_keys: Iterable[tuple[str, str]]) -> set[str]:
    """Every name a layer item may legitimately hold: types, aliases, blocks, arguments, common keys."""
    from .blocks import block_type
    from .registry import registry

    reg = registry()
    names = {key for key, _ in layer_keys} | set(COMMON_KEYS) | {"repeat", "layers", "as"}
    for key, _ in layer_keys:
        names.update((block_type(key) or reg.get(key)).alias_map())
    return names


def _shadowed(layer_keys: Iterable[tuple[str, str]]) -> dict[str, list[str]]:
    """Type names that are also argument names of other types, and those types' keys."""
    from .blocks import block_type
    from .registry import registry

    reg = registry()
    keys = list(layer_keys)
    names = {key for key, _ in keys}
    out: dict[str, list[str]] = {}
    for key, _ in keys:
        owner = block_type(key) or reg.get(key)
        for arg in owner.alias_map():
            if arg in names and arg != key:
                out.setdefault(arg, []).append(key)
    return out


SHIPPED = Path(__file__).parent / "data" / "archspec-1.schema.json"


@functools.cache
def json_schema() -> dict[str, Any]:
    """The JSON Schema of spec language v1, as shipped in the package.

    Reading the shipped file saves every command the ~0.1 s of generating it; a test keeps
    the file equal to :func:`generated_schema` (``archspec schema -o`` rewrites it).
    """
    try:
        return json.loads(SHIPPED.read_text(encoding="utf-8"))  # type: ignore[no-any-return]
    except (OSError, ValueError):
        return generated_schema()


@functools.cache
def generated_schema() -> dict[str, Any]:
    """The complete JSON Schema of spec language v1, generated from the registry."""
    from .blocks import block_schemas, canonical_block_keys
    from .registry import registry

    reg = registry()
    layer_keys = sorted({**reg.canonical, **canonical_block_keys()}.items())
    defs = _layer_defs()
    defs.update(block_schemas())
    defs["layer"] = _layer_item(layer_keys, _shadowed(layer_keys))
    defs["layer_name"] = _layer_name((key for key, _ in layer_keys), _known_names(layer_keys))
    defs["common"] = {
        "type": "object",
        "properties": {
            "name": {"type": "string", "description": "Layer name (unique; ${} allowed inside repeats)."},
            "inputs": {
                "description": "Earlier layer(s) this one reads; default: the previous layer.",
                "anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}],
            },
            "when": {"description": "Include the layer only if this is true.", "anyOf": [{"type": "boolean"}, _EXPR]},
            "trainable": {"type": "boolean", "description": "false freezes the layer's weights."},
            "comment": {"type": "string"},
        },
    }
    defs["repeat"] = {
        "type": "object",
        "required": ["repeat", "layers"],
        "properties": {
            "repeat": {"anyOf": [{"type": "integer", "minimum": 0}, _EXPR]},
            "as": {"type": "string", "pattern": _IDENT},
            "layers": {"type": "array", "items": {"$ref": "#/$defs/layer"}},
            "when": {"anyOf": [{"type": "boolean"}, _EXPR]},
            "comment": {"type": "string"},
        },
        "additionalProperties": False,
    }
    defs["stage"] = {
        "type": "object",
        "required": ["conv"],
        "properties": {
            "conv": {"anyOf": [{"type": "integer", "minimum": 1}, _EXPR], "description": "Filters of each conv."},
            "n": {"anyOf": [{"type": "integer", "minimum": 0}, _EXPR], "description": "Convs in the stage."},
            "kernel": {"anyOf": [{"type": "integer", "minimum": 1}, _EXPR]},
            "pool": {"enum": ["max", "avg", False, None]},
            "pool_size": {"type": "integer", "minimum": 1},
            "bn": {"type": "boolean"},
            "lrn": {"type": "boolean", "description": "Local response norm after the first conv (VGG A-LRN)."},
            "dropout": {"type": "number", "minimum": 0, "maximum": 1},
            "last_kernel": {"type": "integer", "minimum": 1, "description": "Kernel of the last conv (VGG C)."},
        },
        "additionalProperties": False,
    }
    defs["classifier"] = {
        "type": "object",
        "properties": {
            "fc": {"type": "array", "items": {"anyOf": [{"type": "integer", "minimum": 1}, _EXPR]}},
            "dropout": {"type": "number", "minimum": 0, "maximum": 1},
            "out": {"anyOf": [{"type": "integer", "minimum": 1}, _EXPR]},
            "pooling": {"enum": ["flatten", "gap", "gmp"]},
            "activation": {"type": "string"},
            "out_activation": {"type": ["string", "null"]},
            "when": {
                "description": "Include the classifier only if this is true (e.g. ${top} for a no-top variant).",
                "anyOf": [{"type": "boolean"}, _EXPR],
            },
        },
        "additionalProperties": False,
    }
    defs["block"] = {
        "type": "object",
        "required": ["layers"],
        "properties": {
            "params": {"type": "object", "propertyNames": {"pattern": _IDENT}},
            "layers": {"type": "array", "items": {"$ref": "#/$defs/layer"}, "minItems": 1},
            "output": {"type": "string"},
            "description": {"type": "string"},
        },
        "additionalProperties": False,
    }
    props: dict[str, Any] = {
        "$schema": {"type": "string"},
        "archspec": {"const": 1, "description": "Spec language version."},
        "name": {"type": "string", "pattern": _MODEL_NAME},
        "description": {"type": "string"},
        "input": {
            "anyOf": [
                {
                    "type": "array",
                    "items": {"anyOf": [{"type": "integer", "minimum": 1}, _EXPR]},
                    "minItems": 1,
                    "maxItems": 3,
                },
                {
                    "type": "object",
                    "required": ["shape"],
                    "properties": {
                        "shape": {"type": "array", "items": {"anyOf": [{"type": "integer", "minimum": 1}, _EXPR]}},
                        "name": {"type": "string", "pattern": _IDENT},
                    },
                    "additionalProperties": False,
                },
            ]
        },
        "classes": {"type": "integer", "minimum": 1, "description": "Number of classes; `${classes}` in expressions."},
        "vars": {
            "type": "object",
            "propertyNames": {"pattern": _IDENT},
            "description": "Named values for ${} expressions.",
        },
        "defaults": {
            "type": "object",
            "description": "Default arguments per layer type, e.g. conv: {kernel: 3, padding: same}.",
            "properties": {key: {"type": "object"} for key in sorted(reg.canonical)},
            "additionalProperties": False,
        },
        "blocks": {
            "type": "object",
            "propertyNames": {"pattern": _IDENT},
            "additionalProperties": {"$ref": "#/$defs/block"},
        },
        "pattern": {"type": "string", "description": "INPUT -> [[CONV -> RELU]*N -> POOL?]*M -> [FC -> RELU]*K -> FC"},
        "tokens": {"type": "object", "description": "What each pattern token means, e.g. CONV: {conv: 32}."},
        "stages": {"type": "array", "items": {"$ref": "#/$defs/stage"}, "minItems": 1},
        "classifier": {"$ref": "#/$defs/classifier"},
        "layers": {"type": "array", "items": {"$ref": "#/$defs/layer"}},
        "outputs": {"anyOf": [{"type": "string"}, {"type": "array", "items": {"type": "string"}, "minItems": 1}]},
    }
    props.update(_sections())
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        "title": "archspec spec, language version 1",
        "type": "object",
        "required": ["archspec", "input"],
        "properties": props,
        "additionalProperties": False,
        "$defs": defs,
    }


def schema_text() -> str:
    return json.dumps(generated_schema(), indent=2, sort_keys=False) + "\n"


#: archspec's own validator finds a layer item's schema by its type key (one dict lookup),
#: where the published schema, for editors, says the same with an ``allOf`` of ``if``/``then``
#: pairs that a validator must try one by one (~100 per item, 20x slower: bench/bench_summary.py).
_DISPATCH = "x-archspec-dispatch"


def _fast_schema(schema: Mapping[str, Any], lazy: bool = False) -> dict[str, Any]:
    """The published schema with the layer-type dispatch replaced by :data:`_DISPATCH`
    (``lazy``: its other definitions fetched from ``schema`` when first looked up)."""
    fast = {**schema, "$defs": _DefsView(schema["$defs"]) if lazy else dict(schema["$defs"])}
    item = fast["$defs"]["layer"]
    branches = list(item["anyOf"])
    obj = dict(branches.pop(2))
    dispatch = obj.pop("allOf")
    obj[_DISPATCH] = {
        "refs": {b["if"]["required"][0]: b["then"]["$ref"] for b in dispatch},
        "shadowed": {
            b["if"]["required"][0]: [r["required"][0] for r in b["if"]["not"]["anyOf"]]
            for b in dispatch
            if "not" in b["if"]
        },
    }
    # Most items are mappings: try that branch first (anyOf stops at the first that fits).
    fast["$defs"]["layer"] = {**item, "anyOf": [obj, *branches[:2]]}
    # The editors' near-miss check: archspec knows the file's blocks and reports an unknown type itself.
    fast["$defs"]["layer_name"] = {}
    return fast


class _DefsView(dict):  # type: ignore[type-arg]
    """``$defs`` whose entries are fetched from ``source`` on first use, so that some can be
    replaced without reading (or, from :class:`_ShippedDefs`, parsing) all the others."""

    def __init__(self, source: Mapping[str, Any]):
        super().__init__()
        self.source = source

    def __missing__(self, key: str) -> Any:
        value = self[key] = self.source[key]
        return value


class _ShippedDefs(dict):  # type: ignore[type-arg]
    """The shipped file's ``$defs``, each entry parsed from the text on first use.

    Parsing the whole 600 kB file is a tenth of ``archspec validate``'s start-up, and a spec
    needs a few of its ~100 definitions (bench/bench_startup.py).
    """

    def __init__(self, text: str, offsets: dict[str, int]):
        super().__init__()
        self.text, self.offsets = text, offsets

    def __missing__(self, key: str) -> Any:
        value, _ = json.JSONDecoder().raw_decode(self.text, self.offsets[key])
        self[key] = value
        return value


_DEF_KEY = re.compile(r'\n    "([^"\\]+)": ')  # a key of $defs (four spaces in: depth 2)


def _shipped_lazily() -> dict[str, Any] | None:
    """The shipped schema with :class:`_ShippedDefs`, or None where the file is not laid out as
    ``archspec schema`` writes it (``$defs`` last, two-space indents; then it is parsed whole)."""
    try:
        text = SHIPPED.read_text(encoding="utf-8")
    except OSError:
        return None
    start, tail = text.find('\n  "$defs": {\n'), "\n  }\n}"
    body = text.rstrip()
    if start < 0 or not body.endswith(tail):  # $defs is not the last key
        return None
    end = len(body) - len(tail)
    # one regex scan (str.find for the same text stops at every indented line: 4x slower)
    offsets = {m.group(1): m.end() for m in _DEF_KEY.finditer(text, start, end)}
    try:
        root = json.loads(text[:start].rstrip(",") + "\n}")
    except ValueError:
        return None
    return {**root, "$defs": _ShippedDefs(text, offsets)}


@functools.cache
def _checking_schema() -> Mapping[str, Any]:
    """:func:`json_schema` as the compiled check reads it: definitions parsed when first used."""
    lazy = _shipped_lazily()
    return lazy if lazy is not None else json_schema()


def _dispatch(validator: Any, table: dict[str, Any], instance: Any, schema: Any) -> Any:
    """Validate a layer item against the fragment of each type key it has (as the allOf would)."""
    if validator.is_type(instance, "object"):
        refs, shadowed = table["refs"], table["shadowed"]
        for key in instance:
            ref = refs.get(key)
            if ref is not None and not any(other in instance for other in shadowed.get(key, ())):
                yield from validator.descend(instance, {"$ref": ref})


@functools.cache
def _validator() -> Any:
    from jsonschema import Draft202012Validator, validators

    fast = validators.extend(Draft202012Validator, {_DISPATCH: _dispatch})
    return fast(_fast_schema(json_schema()))


def _compile_dispatch(compiler: Any, table: dict[str, Any]) -> Any:
    """:func:`_dispatch` for :mod:`archspec.fastcheck`: each type key's fragment, by lookup."""
    refs = {key: compiler.ref(ref) for key, ref in table["refs"].items()}
    shadowed = table["shadowed"]

    def check(value: Any) -> bool:
        if not isinstance(value, dict):
            return True
        for key in value:
            fn = refs.get(key)
            if fn is not None and not any(other in value for other in shadowed.get(key, ())) and not fn(value):
                return False
        return True

    return check


@functools.cache
def _fast_validator() -> Any:
    """The schema compiled to one yes/no function (see :mod:`archspec.fastcheck`), or None."""
    from . import fastcheck

    try:
        return fastcheck.Compiler(
            _fast_schema(_checking_schema(), lazy=True), {_DISPATCH: _compile_dispatch}
        ).build_root()
    except fastcheck.Unsupported:
        return None


def check(doc: Document) -> None:
    """Validate a document against the schema; raise SpecError with every problem found."""
    problems = schema_problems(doc)
    if problems:
        raise SpecError(problems)


def schema_problems(doc: Document) -> list[Problem]:
    if not isinstance(doc.data, dict):
        return [
            doc.problem(f"a spec must be a mapping of keys (archspec, name, input, ...); got {_kind(doc.data)}", ())
        ]
    if _fast_valid(doc.data):  # most specs are valid: jsonschema runs only to explain a refusal
        return []
    seen: set[tuple[Any, str]] = set()
    out: list[Problem] = []
    for error in _validator().iter_errors(doc.data):
        for leaf in _leaves(error):
            problem = _to_problem(doc, leaf)
            key = (problem.path, problem.message)
            if key not in seen:
                seen.add(key)
                out.append(problem)
    out.sort(key=lambda p: (p.location.line, p.location.column))
    return out


def _fast_valid(data: Any) -> bool:
    from .fastcheck import Unsupported

    fast = _fast_validator()
    try:
        return fast is not None and bool(fast(data))
    except Unsupported:  # a keyword met in a part compiled on first use: jsonschema decides
        return False


def _leaves(error: Any) -> list[Any]:
    """Descend into anyOf/allOf to the errors a person can act on.

    Of the alternatives of an ``anyOf``, the relevant one is the branch whose type fits the
    value and which got deepest into it: for a mapping written as a conv layer, that is the
    conv branch's complaint about ``kernal``, not "expected a string".
    """
    if error.validator in ("anyOf", "oneOf") and error.context:
        branches: dict[Any, list[Any]] = {}
        for sub in error.context:
            branches.setdefault(sub.relative_schema_path[0], []).append(sub)
        fitting = [b for b in branches.values() if not any(_type_miss(e, error) for e in b)]
        best = max(fitting or branches.values(), key=lambda b: (max(len(e.absolute_path) for e in b), -len(b)))
        return [leaf for sub in best for leaf in _leaves(sub)]
    if error.validator == "allOf" and error.context:
        return [leaf for sub in error.context for leaf in _leaves(sub)]
    return [error]


def _type_miss(sub: Any, parent: Any) -> bool:
    """The branch fails because the value is of another kind altogether (or lacks its key)."""
    same_place = len(sub.absolute_path) == len(parent.absolute_path)
    expression = sub.validator == "pattern" and "${" in str(sub.validator_value).replace("\\", "")
    if same_place and sub.validator in ("anyOf", "oneOf") and sub.context:  # e.g. the primary-argument branch
        return all(_type_miss(e, parent) for e in sub.context)
    return same_place and (sub.validator in ("type", "required", "const", "enum", "not") or expression)


def _kind(value: Any) -> str:
    if value is None:
        return "null"
    if isinstance(value, bool):
        return f"boolean {str(value).lower()}"
    if isinstance(value, int | float):
        return f"number {value!r}"
    if isinstance(value, str):
        return f"string {value!r}"
    if isinstance(value, list):
        return "a list"
    return "a mapping"


def _to_problem(doc: Document, error: Any) -> Problem:
    path = tuple(error.absolute_path)
    v = error.validator
    if v not in ("additionalProperties", "required"):
        arg_message = _layer_arg_message(doc, path, error.instance)
        if arg_message:
            return doc.problem(arg_message, path)
    if v == "additionalProperties":
        allowed = list(error.schema.get("properties", {}))
        extra = [k for k in error.instance if k not in allowed]
        key = extra[0] if extra else "?"
        hint = did_you_mean(key, allowed)
        layer = _layer_key(error.instance)
        if not layer and path and _layer_key(_at(doc.data, path[:-1])) == path[-1]:
            layer = str(path[-1])  # nested form: conv: {filters: 8, kernal: 3}
        if layer:
            return doc.problem(f"{layer} has no argument {key!r}.{hint}", (*path, key), at_key=True)
        where = "at the top level" if not path else "here"
        return doc.problem(
            f"unknown key {key!r} {where}.{hint or ' Allowed: ' + ', '.join(sorted(allowed))}",
            (*path, key),
            at_key=True,
        )
    if v == "required":
        missing = [k for k in error.validator_value if not isinstance(error.instance, dict) or k not in error.instance]
        return doc.problem(f"missing required key {', '.join(repr(k) for k in missing or error.validator_value)}", path)
    if v == "type":
        expected = error.validator_value
        expected = " or ".join(expected) if isinstance(expected, list) else expected
        return doc.problem(f"expected {_article(expected)}, got {_kind(error.instance)}", path)
    if v in ("enum", "const"):
        choices = error.validator_value if v == "enum" else [error.validator_value]
        shown = ", ".join(json.dumps(c) for c in choices)
        hint = did_you_mean(str(error.instance), [str(c) for c in choices])
        return doc.problem(f"expected one of {shown}; got {_kind(error.instance)}.{hint}".rstrip("."), path)
    if v == "pattern" and "IDENT" not in error.message:
        rule = _NAME_RULES.get(error.validator_value, f"it must match {error.validator_value}")
        return doc.problem(f"{_kind(error.instance)} is not a valid name ({rule})", path)
    if v in ("minimum", "maximum"):
        bound = ">=" if v == "minimum" else "<="
        return doc.problem(f"must be {bound} {error.validator_value}; got {_kind(error.instance)}", path)
    if v in ("minItems", "maxItems") and isinstance(error.instance, list):
        bound = "at least" if v == "minItems" else "at most"
        return doc.problem(
            f"expected {bound} {error.validator_value} items; got {len(error.instance)}: {error.instance!r}", path
        )
    if v in ("minItems", "maxItems", "minProperties"):
        return doc.problem(f"{_kind(error.instance)}: {error.message.split(' is ', 1)[-1]}", path)
    return doc.problem(error.message, path)


def _layer_key(item: Any) -> str:
    from .registry import registry

    reg = registry()
    keys = [k for k in item if k in reg] if isinstance(item, dict) else []
    return keys[0] if len(keys) == 1 else ""


def _layer_arg_message(doc: Document, path: tuple[Any, ...], value: Any) -> str:
    """For a bad layer argument, the registry's own Keras-style message, so that a value
    refused by the schema reads exactly as one refused after expansion."""
    from .registry import registry

    reg = registry()
    for depth in (1, 2):
        if len(path) <= depth:
            continue
        key = _layer_key(_at(doc.data, path[:-depth]))
        if not key:
            continue
        lt = reg.get(key)
        name = path[-1]
        if name == key and isinstance(value, dict):
            return ""  # the nested form conv: {filters: 8, ...}: its keys get their own messages
        arg_name = lt.primary if name == key else lt.alias_map().get(str(name))
        arg = lt.arg_map().get(arg_name or "")
        if arg is None:
            return ""
        try:
            arg.check(value)
        except ValueError as exc:
            return str(exc)
        return ""
    return ""


def _at(data: Any, path: tuple[Any, ...]) -> Any:
    for item in path:
        try:
            data = data[item]
        except (KeyError, IndexError, TypeError):
            return None
    return data


def _article(word: str) -> str:
    return f"an {word}" if word[:1] in "aeiou" else f"a {word}"
