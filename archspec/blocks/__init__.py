"""Built-in blocks: macros that expand into primitive layers.

A block type turns its arguments (and the shape it receives) into ordinary layer items of
the spec language, with names local to the block instance. The expander names them
``{instance}_{local}``, checks and analyses them like any layer the user wrote, and keeps
the instance as a scope for diagrams and ``summary --depth``. So a block needs no Keras code,
no code emitter and no shape rule of its own: parity with Keras follows from its layers.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from ..ir import Shape
from ..registry import Configurable

BLOCKS: dict[str, BlockType] = {}
_CANONICAL: dict[str, str] = {}


@dataclass(frozen=True)
class Expansion:
    """What a block expands to: layer items, which local name is its output, and notes
    about choices the user may not expect (a projection shortcut, a rounded channel count)."""

    layers: list[Any]
    output: str | None = None
    notes: tuple[str, ...] = ()
    #: Name the layers ``{prefix}{local}`` instead of ``{instance}_{local}``; ``""`` leaves
    #: the local names as they are (for Keras names that do not start with the instance's).
    prefix: str | None = None
    #: Local names kept as they are, in the scope around the instance: Keras' model-wide
    #: automatic names (``add_3``: ConvNeXt's residual ``+``), which no instance prefix fits.
    global_names: frozenset[str] = frozenset()


class BlockType(Configurable):
    """Base class of built-in blocks: ``name``, ``aliases``, ``primary``, ``args`` as for layers."""

    def expand(self, args: Mapping[str, Any], input_shape: Shape) -> Expansion:
        raise NotImplementedError

    def expand_inputs(self, args: Mapping[str, Any], input_shapes: Sequence[Shape]) -> Expansion:
        """Expand for the shapes of all of the block's ``inputs``; a block that reads more
        than one (``input0``, ``input1``, ... in its layers) overrides this."""
        if len(input_shapes) != 1:
            raise ValueError(f"takes one input; got {len(input_shapes)}")
        return self.expand(args, input_shapes[0])


def register_block(cls: type[BlockType]) -> type[BlockType]:
    """Class decorator: add a built-in block type."""
    for key in (cls.name, *cls.aliases):
        if key in _CANONICAL:
            raise RuntimeError(f"block name {key!r} registered twice")
        _CANONICAL[key] = cls.name
    BLOCKS[cls.name] = cls()
    return cls


def block_type(key: str) -> BlockType | None:
    canon = _CANONICAL.get(key)
    return BLOCKS[canon] if canon else None


def block_names() -> list[str]:
    return sorted(_CANONICAL)


def block_schemas() -> dict[str, Any]:
    """JSON Schema fragments of the built-in blocks, keyed like the layer fragments."""
    out: dict[str, Any] = {}
    for name, bt in sorted(BLOCKS.items()):
        args = {a.name: a.schema() for a in bt.args}
        for a in bt.args:
            args.update({alias: args[a.name] for alias in a.aliases})
        value: list[dict[str, Any]] = [
            {"type": "null"},
            {"type": "object", "properties": args, "additionalProperties": False},
        ]
        if bt.primary:
            value.insert(0, args[bt.primary])
        common = {
            k: {"$ref": f"#/$defs/common/properties/{k}"} for k in ("name", "inputs", "when", "trainable", "comment")
        }
        out[f"layer_{name}"] = {
            "description": (type(bt).__doc__ or "").strip().split("\n")[0],
            "type": "object",
            "properties": {**{k: {"anyOf": value} for k in (name, *bt.aliases)}, **args, **common},
            "additionalProperties": False,
        }
    return out


def canonical_block_keys() -> dict[str, str]:
    return dict(_CANONICAL)
