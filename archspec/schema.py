"""Stage 2a: the JSON Schema (draft 2020-12) of the spec language, and checking a spec with it.

The schema is generated from the layer registry (each layer's arguments give its fragment)
and from the sections other stages register, so it can never drift from what the
expander accepts. ``archspec schema`` prints it; editors use it for completion through
``# yaml-language-server: $schema=...``.
"""

from __future__ import annotations

import functools
import json
import re
from collections.abc import Iterable, Mapping
from pathlib import Path
from typing import Any

from . import extensions
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

#: The ``scales:`` section (its variants are applied by :func:`archspec.api.expand`).
SCALES_SCHEMA = {
    "type": "object",
    "description": "Named variants of the spec (b0, b1, ... or n/s/m/l): each maps variable names to values.",
    "additionalProperties": {"type": "object"},
}


def _sections() -> dict[str, Any]:
    """The top-level sections read after expansion: the core's, then each extension's
    (``base``, ``freeze``, ``fine_tune``, ``train``: :mod:`archspec.extensions`)."""
    from .expect import SCHEMA as EXPECT_SCHEMA

    return {"expect": EXPECT_SCHEMA, "scales": SCALES_SCHEMA, **extensions.sections()}


def _layer_defs() -> dict[str, Any]:
    from .registry import registry

    reg = registry()
    defs: dict[str, Any] = {}
    for name, lt in sorted(reg.types.items()):
        args = {a.name: a.schema() for a in lt.args}
        for a in lt.args:
            args.update({alias: {"$ref": f"#/$defs/layer_{name}/properties/{a.name}"} for alias in a.aliases})
        value: list[dict[str, Any]] = [
            {"type": "null"},
            {"type": "object", "properties": args, "additionalProperties": False},
        ]
        if lt.primary:
            value.insert(0, args[lt.primary])
        common = {k: {"$ref": f"#/$defs/common/properties/{k}"} for k in COMMON_KEYS}
        doc = type_doc(lt)
        props = _type_keys(name, lt.aliases, value)
        defs[f"layer_{name}"] = {
            "description": doc,
            "type": "object",
            "properties": {**props, **args, **common},
            "additionalProperties": False,
        }
    return defs


def type_doc(t: Any) -> str:
    """What an editor shows for a layer type or block: its docstring's first paragraph, its
    Keras class, what a bare value sets and its other spellings (markdown)."""
    paragraph = (t.__doc__ or "").strip().split("\n\n")[0]
    text = " ".join(paragraph.split()).replace("``", "`")  # reST literals as markdown code
    notes = []
    keras = getattr(t, "keras_class", "")
    if keras:
        notes.append(f"Keras: `{keras}`" + (" (an archspec layer, built by archspec.keras_layers)" if t.custom else ""))
    elif not hasattr(t, "infer"):
        notes.append("A built-in block: it expands to primitive layers (`archspec expand` shows them)")
    if t.primary:
        notes.append(f"`{t.name}: VALUE` sets `{t.primary}`")
    if t.aliases:
        notes.append("also written " + ", ".join(f"`{a}`" for a in t.aliases))
    return text + ("\n\n" + ". ".join(notes) + "." if notes else "")


def _type_keys(name: str, aliases: Iterable[str], value: list[dict[str, Any]]) -> dict[str, Any]:
    """The schemas of a type's keys (``conv`` in ``{conv: 64}``, and its aliases), titled and
    described as the type (by ``doc_NAME``, see :func:`_doc_defs`).

    yaml-language-server shows, on hover, the first description among the schemas that
    match the value, innermost first: the bare-value branch (the primary argument's schema)
    is copied without its own description, so that hovering ``conv`` shows conv, not filters.
    """
    branches = [{k: v for k, v in b.items() if k not in ("description", "default")} for b in value]
    own = {"$ref": f"#/$defs/doc_{name}", "anyOf": branches}
    # an alias of the type is not offered among the arguments of an item that has the type already
    alias = {"doNotSuggest": True, "allOf": [{"$ref": f"#/$defs/layer_{name}/properties/{name}"}]}
    return {name: own, **dict.fromkeys(aliases, alias)}


def _doc_defs(docs: dict[str, str]) -> dict[str, Any]:
    """``doc_NAME``: a layer type's or block's title and documentation, and nothing to validate:
    referenced wherever an editor shows it (its keys, a bare name, the keys offered). The
    markdown is what yaml-language-server and VS Code show; ``description`` is for the rest."""
    return {
        f"doc_{name}": {"title": name, "markdownDescription": doc, "description": doc.replace("`", "")}
        for name, doc in sorted(docs.items())
    }


def _layer_item(
    layer_keys: Iterable[tuple[str, str]], shadowed: dict[str, list[str]], docs: dict[str, str]
) -> dict[str, Any]:
    """A layer item: a bare name, a repeat, or a mapping whose type key selects its schema.

    ``shadowed`` maps a type name that is also an argument of other types (``dropout`` of
    ``fc_head``) to those types: next to one of them, it is that argument, not a type.
    ``docs`` (canonical type -> documentation) is for editors: a mapping with no type key
    yet is offered the type keys, and a bare name shows its type's documentation on hover.
    The near-miss check of names is not here but in ``layer_names`` (see :func:`_name_walk`).
    """
    keys = list(layer_keys)
    dispatch = []
    for key, canon in keys:
        cond: dict[str, Any] = {"type": "object", "required": [key]}
        if shadowed.get(key):
            cond["not"] = {"anyOf": [{"required": [other]} for other in shadowed[key]]}
        dispatch.append({"if": cond, "then": {"$ref": f"#/$defs/layer_{canon}"}})
    canonical = sorted({canon for _, canon in keys})
    # Completion of a type key in an item that has none yet (`- {|}`); once it has one, only
    # that type's arguments are offered (no flood of every type name among them).
    offer = {
        "if": {"type": "object", "propertyNames": {"not": {"enum": [key for key, _ in keys]}}},
        "then": {"properties": {c: {"$ref": f"#/$defs/doc_{c}"} for c in canonical}},
    }
    # Completion of a type in a new item (`- |`, `- co|`): on the bare-name branch, which an
    # item that is already a mapping does not match (there only its type's arguments are offered).
    snippets = [{"label": c, "description": docs[c], "body": _snippet_body(c)} for c in canonical]
    bare_docs = [{"if": {"const": c}, "then": {"$ref": f"#/$defs/doc_{c}"}} for c in canonical]
    return {
        "description": "A layer: a type name (`relu`), a mapping with its type key (`{conv: 64, kernel: 3}`), "
        "a block declared under `blocks:`, or a `repeat:`.",
        "anyOf": [
            {"type": "string", "pattern": _IDENT, "allOf": bare_docs, "defaultSnippets": snippets},
            {"$ref": "#/$defs/repeat"},
            {
                "type": "object",
                "minProperties": 1,
                "not": {"anyOf": [{"required": ["repeat"]}, {"required": ["layers"]}]},
                "allOf": [*dispatch, offer],
            },
            {"$ref": "#/$defs/group"},
        ],
    }


def _snippet_body(canon: str) -> Any:
    """What choosing a type in a new layer item inserts: ``conv: filters`` (the main argument's
    name as the placeholder) for a type with a main argument, the bare name otherwise."""
    from .blocks import block_type
    from .registry import registry

    t = block_type(canon) or registry().get(canon)
    return {canon: f"${{1:{t.primary}}}"} if t.primary else canon


#: Built-in names shorter than this are left out of the near-miss check: one edit from
#: ``fc``, ``bn``, ``se`` or ``gap`` is too many good block names (``b1``, ``fc1``, ``gaps``).
_NEAR_MISS_MIN = 4
_ID_CHAR = "[A-Za-z0-9_]"
NEAR_MISS_MESSAGE = (
    "one edit away from a built-in layer type or argument, but not one: a misspelling? "
    "(a block declared in this file's blocks: section with this name is fine)"
)


def _near_misses(name: str) -> list[str]:
    """Regular expressions for the identifiers one edit from ``name``, and its upper and title case."""
    n = len(name)
    out = {name[:i] + _ID_CHAR + "?" + name[i + 1 :] for i in range(n)}  # replaced or deleted
    out.update(name[:i] + _ID_CHAR + name[i:] for i in range(n + 1))  # inserted
    out.update(name[:i] + name[i + 1] + name[i] + name[i + 2 :] for i in range(n - 1))  # swapped
    out.update((name.upper(), name.title()))
    return sorted(out)


def _layer_name(type_names: Iterable[str], known: Iterable[str]) -> dict[str, Any]:
    """What a layer item's bare name or key may be, for editors: anything but a near miss.

    JSON Schema cannot see the file's ``blocks:`` section, so any identifier may name a user
    block; what it can flag is an identifier one edit (a letter inserted, deleted, replaced,
    or two swapped) from a built-in type name of four or more letters, or such a name in
    upper or title case, that is not itself a known name (``conv2``, ``relux``, ``dens``,
    ``Conv``). One pattern per built-in name, so that the message names it. Each pattern
    accepts every string but a near miss that is not a known name (a negative lookahead in
    a negative lookahead: ECMA-262 and Python both read it); ``patternErrorMessage`` is the
    message yaml-language-server and VS Code show. archspec's own validator leaves this
    check out (:func:`_fast_schema`): it knows the file's blocks and reports an unknown type
    with "Did you mean" after expansion.
    """
    known = sorted(set(known))
    checks = []
    for name in sorted(set(type_names)):
        if len(name) < _NEAR_MISS_MIN:
            continue
        misses = "|".join(_near_misses(name))
        exempt = "|".join(k for k in known if re.fullmatch(misses, k)) or "(?!)"  # (?!) matches nothing
        checks.append(
            {
                "pattern": f"^(?!(?!(?:{exempt})$)(?:{misses})$)",
                "patternErrorMessage": f"unknown layer type or argument; did you mean {name!r}? {NEAR_MISS_MESSAGE}",
            }
        )
    return {"doNotSuggest": True, "allOf": checks}


def _name_walk() -> dict[str, Any]:
    """``layer_names``: the near-miss check of :func:`_layer_name`, applied to every layer
    item's bare name and keys, into repeats, apart from the layer item schema.

    The schema applies it (``if``/``then`` at the top level) only to a file whose own
    ``blocks:`` names pass the check: a file that declares a block ``conv3`` may use it, and
    in that file the editor flags no near miss at all (archspec itself still reports unknown
    types). Kept apart, the check adds nothing to completion (``doNotSuggest``).
    """
    name = {"$ref": "#/$defs/layer_name"}
    return {
        **name,
        "propertyNames": name,
        "properties": {"layers": {"doNotSuggest": True, "items": {"$ref": "#/$defs/layer_names"}}},
    }


def _gate_near_misses() -> dict[str, Any]:
    """The top-level ``if``/``then`` that applies ``layer_names`` (see :func:`_name_walk`)."""
    walk = {"items": {"$ref": "#/$defs/layer_names"}}
    return {
        "if": {"properties": {"blocks": {"propertyNames": {"$ref": "#/$defs/layer_name"}}}},
        "then": {
            "properties": {
                "layers": walk,
                "blocks": {"additionalProperties": {"properties": {"layers": walk}}},
            }
        },
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
        shipped: dict[str, Any] = json.loads(SHIPPED.read_text(encoding="utf-8"))
    except (OSError, ValueError):
        return generated_schema()
    # an extension registered outside archspec too, in the form generated_schema() gives its sections
    shipped["properties"].update({k: _distinct_branches(v) for k, v in extensions.sections().items()})
    return shipped


@functools.cache
def generated_schema() -> dict[str, Any]:
    """The complete JSON Schema of spec language v1, generated from the registry."""
    from .blocks import block_schemas, canonical_block_keys
    from .registry import registry

    reg = registry()
    layer_keys = sorted({**reg.canonical, **canonical_block_keys()}.items())
    defs = _layer_defs()
    defs.update(_described_blocks(block_schemas()))
    docs = {canon: defs[f"layer_{canon}"]["description"] for _, canon in layer_keys}
    defs.update(_doc_defs(docs))
    defs["layer"] = _layer_item(layer_keys, _shadowed(layer_keys), docs)
    defs["layer_name"] = _layer_name((key for key, _ in layer_keys), _known_names(layer_keys))
    defs["layer_names"] = _name_walk()
    defs.update(_defaults_defs())
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
    defs["group"] = {
        "description": "Layers included together, or left out together with `when` (an optional SE gate).",
        "type": "object",
        "required": ["layers"],
        "properties": {
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
            "let": {
                "type": "object",
                "propertyNames": {"pattern": _IDENT},
                "description": "Values computed once per instance, in order, from params, vars, `input` and earlier ones.",
            },
            "output": {"type": "string"},
            "name_output": {
                "type": "boolean",
                "description": "The output layer takes the instance's own name (Keras' mixed7); needs `output`.",
            },
            "description": {"type": "string"},
        },
        "additionalProperties": False,
    }
    props: dict[str, Any] = {
        "$schema": {"type": "string"},
        "archspec": {"const": 1, "description": "Spec language version."},
        "name": {"anyOf": [{"type": "string", "pattern": _MODEL_NAME}, _EXPR]},
        "naming": {
            "enum": ["archspec", "keras"],
            "description": "keras: a layer without `name` is named as Keras would (conv2d, conv2d_1, ...).",
        },
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
            "properties": {key: {"$ref": f"#/$defs/defaults_{canon}"} for key, canon in sorted(reg.canonical.items())},
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
    _describe(props, defs)
    defs = {key: _distinct_branches(value) for key, value in defs.items()}
    props = {key: _distinct_branches(value) for key, value in props.items()}
    return {
        "$schema": "https://json-schema.org/draft/2020-12/schema",
        "$id": SCHEMA_ID,
        # No `title`: yaml-language-server shows the nearest title above a value as the
        # heading of every hover, and the spec's title said nothing about the value hovered.
        "description": "An archspec spec, language version 1 (docs/spec-language.md).",
        "type": "object",
        "required": ["archspec", "input"],
        "properties": props,
        "additionalProperties": False,
        **_gate_near_misses(),
        "$defs": defs,
    }


def _forget() -> None:
    """An extension was registered: its sections are part of the schema from now on."""
    for cached in (json_schema, generated_schema, _validator, _checking_schema, _fast_validator):
        cached.cache_clear()


#: What an editor shows on hover over keys the schema gives no description of where it is built.
_DESCRIPTIONS: dict[tuple[str, ...], str] = {
    ("$schema",): "The JSON Schema this file follows (editors usually read the modeline instead).",
    ("name",): "The model's name (letters, digits, _, . and -); the Keras model gets it.",
    ("description",): "What the network is and where it comes from (free text).",
    ("input",): "The input shape, e.g. [224, 224, 3] (height, width, channels), or {shape: [...], name: ...}.",
    ("blocks",): "Blocks of this file: each a named list of layers with parameters, used like a layer type.",
    ("stages",): "VGG-style stages: each a run of convs (with `n`, `kernel`) and a pool; then `classifier`.",
    ("classifier",): "The head after `stages`: pooling or flatten, fully connected layers, the output layer.",
    ("layers",): "The network, layer after layer: types, blocks, repeats (docs/spec-language.md).",
    ("outputs",): "The output layer(s) by name; default: the last layer.",
    ("repeat", "repeat"): "How many times the `layers` are written (a whole number, or a ${...}).",
    ("repeat", "as"): "The counter's name (0, 1, ...), usable in ${...} inside the repeated layers.",
    ("repeat", "layers"): "The layers repeated.",
    ("repeat", "when"): "Include the repeat only if this is true.",
    ("repeat", "comment"): "A note; ignored.",
    ("block", "params"): "The block's parameters and their defaults (null: required), e.g. {filters: null, stride: 1}.",
    ("block", "layers"): "The block's layers; its parameters are variables in ${...}.",
    ("block", "output"): "The name of the layer whose tensor the block returns; default: its last layer.",
    ("block", "description"): "What the block is (free text).",
    ("stage", "kernel"): "Kernel size of the stage's convs (default 3).",
    ("stage", "pool"): "The pool after the stage: max (the default), avg, or false for none.",
    ("stage", "pool_size"): "The pool's size (default 2).",
    ("stage", "bn"): "Batch normalization and ReLU after each conv (the conv then has no activation).",
    ("stage", "dropout"): "Dropout rate after the stage.",
    ("classifier", "fc"): "Units of each fully connected layer before the output layer.",
    ("classifier", "dropout"): "Dropout rate after each of the `fc` layers.",
    ("classifier", "out"): "Units of the output layer (e.g. ${classes}); without it, no output layer.",
    ("classifier", "pooling"): "How the feature map becomes a vector: flatten (the default), gap or gmp.",
    ("classifier", "activation"): "Activation of the `fc` layers (default relu).",
    ("classifier", "out_activation"): "Activation of the output layer (default softmax; null for logits).",
    ("common", "comment"): "A note; ignored.",
}


def _describe(props: dict[str, Any], defs: dict[str, Any]) -> None:
    """Fill in :data:`_DESCRIPTIONS` where a key has none (a description set where it is built wins)."""
    for path, text in _DESCRIPTIONS.items():
        schema = props.get(path[0]) if len(path) == 1 else defs.get(path[0], {}).get("properties", {}).get(path[1])
        if isinstance(schema, dict):
            schema.setdefault("description", text)


def _distinct_branches(schema: Any) -> Any:
    """``schema`` with every bare ``anyOf`` branch given ``"properties": {}`` (which validates nothing).

    yaml-language-server's hover joins the titles and descriptions of all of an ``anyOf``'s
    branches (``conv || conv``) when it believes every branch matched, which it decides by
    comparing each branch's title, description and ``properties`` object with the schemas
    that matched: bare branches (none of the three) always compare equal. A ``properties``
    object of its own makes each branch compare equal to itself only.
    """
    if isinstance(schema, list):
        return [_distinct_branches(s) for s in schema]
    if not isinstance(schema, dict):
        return schema
    out = {key: _distinct_branches(value) for key, value in schema.items()}
    if isinstance(out.get("anyOf"), list):
        out["anyOf"] = [
            {**b, "properties": {}}
            if isinstance(b, dict) and not {"title", "description", "properties", "$ref"} & set(b)
            else b
            for b in out["anyOf"]
        ]
    return out


def _described_blocks(defs: dict[str, Any]) -> dict[str, Any]:
    """The built-in blocks' fragments, with their type keys described as the block (see :func:`_type_keys`)."""
    from .blocks import BLOCKS

    out = {}
    for name, bt in BLOCKS.items():
        fragment = defs[f"layer_{name}"]
        doc = type_doc(bt)
        keys = _type_keys(name, bt.aliases, fragment["properties"][name]["anyOf"])
        out[f"layer_{name}"] = {**fragment, "description": doc, "properties": {**fragment["properties"], **keys}}
    return dict(sorted(out.items()))


def _defaults_defs() -> dict[str, Any]:
    """``defaults_TYPE``: what ``defaults: {TYPE: {...}}`` may set, the type's arguments (for editors).

    archspec's own validator keeps these entries bare objects (:func:`_fast_schema`): its
    expander checks them with the messages it gives for a layer's own arguments.
    """
    from .registry import registry

    out = {}
    for name, lt in sorted(registry().types.items()):
        names = lt.alias_map()
        out[f"defaults_{name}"] = {
            "type": "object",
            "description": f"Default arguments of every `{name}` layer.",
            "properties": {arg: {"$ref": f"#/$defs/layer_{name}/properties/{arg}"} for arg in names},
            "additionalProperties": False,
        }
    return out


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
    # the type-key dispatch; the allOf's last entry only offers type keys to editors
    dispatch = [b for b in obj.pop("allOf") if "required" in b["if"]]
    obj[_DISPATCH] = {
        "refs": {b["if"]["required"][0]: b["then"]["$ref"] for b in dispatch},
        "shadowed": {
            b["if"]["required"][0]: [r["required"][0] for r in b["if"]["not"]["anyOf"]]
            for b in dispatch
            if "not" in b["if"]
        },
    }
    # Most items are mappings: try that branch first (anyOf stops at the first that fits).
    # The bare name's allOf only describes each type for an editor's hover.
    bare = {k: v for k, v in branches[0].items() if k not in ("allOf", "defaultSnippets")}
    editor_only = ("defaultSnippets", "description")
    fast["$defs"]["layer"] = {
        **{k: v for k, v in item.items() if k not in editor_only},
        "anyOf": [obj, bare, *branches[1:]],
    }
    # The editors' near-miss check: archspec knows the file's blocks and reports an unknown type itself.
    fast.pop("if", None)
    fast.pop("then", None)
    fast["$defs"]["layer_name"] = fast["$defs"]["layer_names"] = {}
    # Defaults: the expander checks them, with a layer argument's own messages.
    defaults = fast["properties"]["defaults"]
    fast["properties"] = {
        **fast["properties"],
        "defaults": {**defaults, "properties": {key: {"type": "object"} for key in defaults["properties"]}},
    }
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


extensions.on_change(_forget)


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
