"""One place per layer type.

Each layer type is a :class:`LayerType` subclass registered with :func:`register`. It holds
everything about that layer: its arguments (which give its JSON Schema and its checks), its
shape/parameter/MAC rule (:meth:`LayerType.infer`, pure Python), and how it becomes Keras
(:meth:`LayerType.build`) and Keras source (:meth:`LayerType.emit`). No stage keeps an
``if type == "conv"`` chain; they all ask the registry.

Installed packages add layer types through the ``archspec.layers`` entry point group
(:mod:`archspec.plugins`); :meth:`Registry.load_plugins` registers them the first time a spec
names a type that is not built in.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from numbers import Rational
from typing import TYPE_CHECKING, Any, ClassVar

from .errors import did_you_mean

if TYPE_CHECKING:
    from .ir import Node, Shape


class Required:
    """Marker for an argument with no default."""

    def __repr__(self) -> str:
        return "REQUIRED"


REQUIRED: Any = Required()

ACTIVATIONS = (
    "linear", "relu", "relu6", "leaky_relu", "elu", "selu", "gelu", "swish", "silu",
    "sigmoid", "hard_sigmoid", "hard_swish", "hard_silu", "tanh", "softmax", "softplus",
    "softsign", "mish", "exponential",
)  # fmt: skip
INITIALIZERS = (
    "glorot_uniform", "glorot_normal", "he_normal", "he_uniform", "lecun_normal",
    "lecun_uniform", "zeros", "ones", "random_normal", "random_uniform", "truncated_normal",
    "orthogonal", "variance_scaling",
)  # fmt: skip


class ShapeError(ValueError):
    """A layer cannot be applied to the shape it receives."""


@dataclass(frozen=True)
class Arg:
    """One argument of a layer type.

    ``kind`` is one of: ``int`` (>= ``low``), ``float`` (within ``low``..``high``), ``floats``
    (a float, or a list of them: one per channel),
    ``bool``, ``str``, ``enum`` (one of ``choices``), ``pair`` (an int or two ints, stored
    as a pair), ``padding2d`` (int, pair, or pair of pairs), ``ints`` (a list of ints),
    ``activation``, ``initializer``.
    """

    name: str
    kind: str
    default: Any = REQUIRED
    keras: str | None = None  # the Keras keyword; None: not passed to Keras
    aliases: tuple[str, ...] = ()
    choices: tuple[str, ...] = ()
    low: float | None = None
    high: float | None = None
    doc: str = ""
    nullable: bool = False
    keras_default: Any = REQUIRED  # what Keras uses when omitted; emitted code leaves it out

    def check(self, value: Any) -> Any:
        """Validate and normalise a value; raise ValueError with a Keras-style message."""
        if value is None and (self.nullable or self.default is None):
            return None
        checker = _CHECKERS[self.kind]
        try:
            return checker(self, value)
        except ValueError as exc:
            # A checker may give a hint as a second argument; it goes last:
            # "... Received: x='rellu'. Did you mean 'relu'?"
            message = str(exc.args[0]) if exc.args else ""
            hint = "." + exc.args[1] if len(exc.args) > 1 and exc.args[1] else ""
            raise ValueError(f"`{self.name}` {message.rstrip('.')}. Received: {self.name}={value!r}{hint}") from None

    def schema(self) -> dict[str, Any]:
        base = dict(_SCHEMAS[self.kind](self))
        alts: list[dict[str, Any]] = [base, {"type": "string", "pattern": r"\$\{"}]
        if self.nullable or self.default is None:
            alts.append({"type": "null"})
        out: dict[str, Any] = {"anyOf": alts}
        if self.doc:
            out["description"] = self.doc
        if self.default is not REQUIRED and self.default is not None:
            out["default"] = list(self.default) if isinstance(self.default, tuple) else self.default
        return out


def _is_int(value: Any) -> bool:
    if isinstance(value, bool):
        return False
    return isinstance(value, int) or (isinstance(value, float) and value.is_integer())


def _check_int(arg: Arg, value: Any) -> int:
    if not _is_int(value):
        raise ValueError("must be an integer")
    value = int(value)
    low = 0 if arg.low is None else arg.low
    if value < low:
        raise ValueError("must be a positive integer" if low == 1 else f"must be an integer >= {low:g}")
    if arg.high is not None and value > arg.high:
        raise ValueError(f"must be at most {arg.high:g}")
    return value


def _check_float(arg: Arg, value: Any) -> float:
    if isinstance(value, bool) or not isinstance(value, int | float) or not math.isfinite(value):
        raise ValueError("must be a finite number")
    if arg.low is not None and value < arg.low:
        raise ValueError(f"must be >= {arg.low:g}")
    if arg.high is not None and value > arg.high:
        raise ValueError(f"must be <= {arg.high:g}")
    return float(value)


def _check_bool(arg: Arg, value: Any) -> bool:
    if not isinstance(value, bool):
        yaml11 = str(value).lower() in {"yes", "no", "on", "off", "y", "n"}
        hint = f" ({value!r} is a boolean only in YAML 1.1: write true or false)" if yaml11 else ""
        raise ValueError(f"must be true or false{hint}")
    return value


def _check_str(arg: Arg, value: Any) -> str:
    if not isinstance(value, str) or not value:
        raise ValueError("must be a non-empty string")
    return value


def _check_enum(arg: Arg, value: Any) -> str:
    if value not in arg.choices:
        raise ValueError(
            "must be one of " + ", ".join(repr(c) for c in arg.choices), did_you_mean(str(value), arg.choices)
        )
    return value


def _check_pair(arg: Arg, value: Any) -> tuple[int, int]:
    items = list(value) if isinstance(value, list | tuple) else [value, value]
    if len(items) != 2 or not all(_is_int(v) for v in items):
        raise ValueError("must be an integer or a list of two integers")
    low = 1 if arg.low is None else arg.low
    if any(int(v) < low for v in items):
        raise ValueError(f"must be >= {low:g}")
    return (int(items[0]), int(items[1]))


def _check_padding2d(arg: Arg, value: Any) -> tuple[tuple[int, int], tuple[int, int]]:
    if _is_int(value):
        v = int(value)
        pads = ((v, v), (v, v))
    elif isinstance(value, list | tuple) and len(value) == 2 and all(_is_int(v) for v in value):
        pads = ((int(value[0]),) * 2, (int(value[1]),) * 2)
    elif (
        isinstance(value, list | tuple)
        and len(value) == 2
        and all(isinstance(p, list | tuple) and len(p) == 2 and all(_is_int(v) for v in p) for p in value)
    ):
        pads = ((int(value[0][0]), int(value[0][1])), (int(value[1][0]), int(value[1][1])))
    else:
        raise ValueError("must be an integer, [rows, cols], or [[top, bottom], [left, right]]")
    if any(v < 0 for p in pads for v in p):
        raise ValueError("must not be negative")
    return pads  # type: ignore[return-value]


def _check_ints(arg: Arg, value: Any) -> tuple[int, ...]:
    if not isinstance(value, list | tuple) or not value or not all(_is_int(v) for v in value):
        raise ValueError("must be a list of integers")
    low = arg.low
    if low is not None and any(int(v) < low for v in value):
        raise ValueError(f"must contain integers >= {low:g}")
    return tuple(int(v) for v in value)


def _check_float_or_floats(arg: Arg, value: Any) -> float | tuple[float, ...]:
    """One number, or one per channel (``mean: [123.675, 116.28, 103.53]``)."""
    if isinstance(value, list | tuple):
        if not value:
            raise ValueError("must be a number or a non-empty list of numbers")
        try:
            return tuple(_check_float(arg, v) for v in value)
        except ValueError as exc:
            raise ValueError(f"{exc.args[0]} (each entry)") from None
    return _check_float(arg, value)


def _check_choice_str(choices: Sequence[str]) -> Callable[[Arg, Any], str]:
    def check(arg: Arg, value: Any) -> str:
        if value not in choices:
            raise ValueError("must be one of " + ", ".join(choices), did_you_mean(str(value), choices))
        return value

    return check


_CHECKERS: dict[str, Callable[[Arg, Any], Any]] = {
    "int": _check_int,
    "float": _check_float,
    "floats": _check_float_or_floats,
    "bool": _check_bool,
    "str": _check_str,
    "enum": _check_enum,
    "pair": _check_pair,
    "padding2d": _check_padding2d,
    "ints": _check_ints,
    "activation": _check_choice_str(ACTIVATIONS),
    "initializer": _check_choice_str(INITIALIZERS),
}

_INT_SCHEMA = {"type": "integer"}
_EXPR_SCHEMA = {"type": "string", "pattern": r"\$\{"}
#: An element of a list argument: a value, or an expression for it (``kernel: [1, "${n}"]``).
_INT_ITEM = {"anyOf": [_INT_SCHEMA, _EXPR_SCHEMA]}
_NUMBER_ITEM = {"anyOf": [{"type": "number"}, _EXPR_SCHEMA]}
_SCHEMAS: dict[str, Callable[[Arg], dict[str, Any]]] = {
    "int": lambda a: {"type": "integer", "minimum": 0 if a.low is None else a.low},
    "float": lambda a: {"type": "number"},
    "floats": lambda a: {"anyOf": [{"type": "number"}, {"type": "array", "items": _NUMBER_ITEM, "minItems": 1}]},
    "bool": lambda a: {"type": "boolean"},
    "str": lambda a: {"type": "string"},
    "enum": lambda a: {"enum": list(a.choices)},
    "pair": lambda a: {"anyOf": [_INT_SCHEMA, {"type": "array", "items": _INT_ITEM, "minItems": 2, "maxItems": 2}]},
    "padding2d": lambda a: {"anyOf": [_INT_SCHEMA, {"type": "array", "minItems": 2, "maxItems": 2}]},
    "ints": lambda a: {"type": "array", "items": _INT_ITEM},
    "activation": lambda a: {"enum": list(ACTIVATIONS)},
    "initializer": lambda a: {"enum": list(INITIALIZERS)},
}


@dataclass(frozen=True)
class Info:
    """What static analysis knows about one layer's output."""

    shape: Shape
    trainable: int = 0
    non_trainable: int = 0
    macs: int = 0  # multiply-accumulates of weight layers (conv, dense): the papers' "FLOPs"
    other_ops: int = 0  # element-wise work: bias adds, BN, activations, pooling, merges


@dataclass(frozen=True)
class Window:
    """The spatial footprint of a layer, for receptive-field arithmetic: ``kernel`` input
    positions per output position, ``strides`` input positions between neighbouring outputs.

    An up-sampling layer has a fractional stride (``Fraction(1, 2)``: two outputs per input);
    a global one (attention) stride 0: all its outputs see the same field.
    """

    kernel: tuple[int, int]
    strides: tuple[Rational, Rational]
    dilation: tuple[int, int] = (1, 1)


class Configurable:
    """What layer types and built-in blocks share: named arguments with aliases."""

    name: ClassVar[str]
    aliases: ClassVar[tuple[str, ...]] = ()
    primary: ClassVar[str | None] = None  # the argument a bare scalar sets: ``conv: 64``
    args: ClassVar[tuple[Arg, ...]] = ()

    @classmethod
    def arg_map(cls) -> dict[str, Arg]:
        return {a.name: a for a in cls.args}

    @classmethod
    def alias_map(cls) -> dict[str, str]:
        out = {a.name: a.name for a in cls.args}
        for a in cls.args:
            out.update({alias: a.name for alias in a.aliases})
        return out

    @classmethod
    def check_args(cls, args: Mapping[str, Any]) -> dict[str, Any]:
        """Hook for rules that involve more than one argument. Return the final args."""
        return dict(args)


class LayerType(Configurable):
    """Base class of every layer type. Subclasses set the class attributes and ``infer``."""

    keras_class: ClassVar[str] = ""
    multi_input: ClassVar[bool] = False
    custom: ClassVar[bool] = False  # an archspec layer Keras lacks (needs archspec at run time)
    #: Import lines generated code needs for :meth:`emit`'s callee (a plugin's own module).
    imports: ClassVar[tuple[str, ...]] = ()
    fixed_keras_args: ClassVar[Mapping[str, Any]] = {}

    # -- static analysis -------------------------------------------------------------------
    def infer(self, node: Node, inputs: Sequence[Shape]) -> Info:
        raise NotImplementedError

    def window(self, node: Node) -> Window | None:
        """The layer's spatial window, or None if it maps each position to itself."""
        return None

    def window_on(self, node: Node, inputs: Sequence[Shape], shape: Shape) -> Window | None:
        """The window on these input shapes; for layers whose window depends on them (a resize's
        scale, attention's whole key map). Most layers' is :meth:`window`."""
        return self.window(node)

    # -- Keras -----------------------------------------------------------------------------
    def keras_kwargs(self, node: Node, *, explicit_only: bool = False) -> dict[str, Any]:
        """Keyword arguments for the Keras class, as plain Python values.

        With ``explicit_only``, arguments equal to Keras' own default are left out, so
        that generated code reads like code a person wrote.
        """
        kwargs: dict[str, Any] = dict(self.fixed_keras_args)
        for a in self.args:
            value = node.args.get(a.name)
            if a.keras is None or value is None:
                continue
            if explicit_only and a.keras_default is not REQUIRED and value == a.keras_default:
                continue
            kwargs[a.keras] = value
        return kwargs

    def build(self, node: Node, **extra: Any) -> Any:
        """The Keras layer for ``node`` (``extra``: e.g. ``dtype`` for a float32 output)."""
        if self.custom:
            from . import keras_layers as layers
        else:
            from keras import layers

        return getattr(layers, self.keras_class)(**self.build_kwargs(node), **extra, name=node.name)

    def build_kwargs(self, node: Node) -> dict[str, Any]:
        kwargs = self.keras_kwargs(node)
        if node.args.get("l2"):
            from keras import regularizers

            kwargs["kernel_regularizer"] = regularizers.L2(node.args["l2"])
        return kwargs

    def emit(self, node: Node) -> Call:
        """The layer's constructor as source: ``layers.Conv2D(64, ..., name="conv1")``."""
        kwargs: dict[str, Any] = self.keras_kwargs(node, explicit_only=True)
        if node.args.get("l2"):
            kwargs["kernel_regularizer"] = Code(f"keras.regularizers.L2({node.args['l2']!r})")
        module = "archspec_layers" if self.custom else "layers"  # codegen imports archspec's layers as that
        return Call(f"{module}.{self.keras_class}", (), {**kwargs, "name": node.name})


@dataclass(frozen=True)
class Code:
    """Source text to emit as is (only ever built by archspec from validated numbers)."""

    text: str


@dataclass(frozen=True)
class Call:
    """A constructor call for the code generator: callee, positional and keyword values."""

    callee: str
    args: tuple[Any, ...] = ()
    kwargs: Mapping[str, Any] = field(default_factory=dict)


@dataclass
class Registry:
    """All layer types by name and alias."""

    types: dict[str, LayerType] = field(default_factory=dict)
    canonical: dict[str, str] = field(default_factory=dict)
    plugins: dict[str, str] = field(default_factory=dict)  # type name -> the package that added it

    def add(self, cls: type[LayerType]) -> type[LayerType]:
        instance = cls()
        for key in (cls.name, *cls.aliases):
            if key in self.canonical:
                raise RuntimeError(f"layer type name {key!r} registered twice")
            self.canonical[key] = cls.name
        self.types[cls.name] = instance
        return cls

    def __contains__(self, key: object) -> bool:
        return key in self.canonical

    def get(self, key: str) -> LayerType:
        return self.types[self.canonical[key]]

    def resolve(self, key: str) -> str:
        return self.canonical[key]

    def names(self) -> list[str]:
        return sorted(self.canonical)

    #: Set by :mod:`archspec.plugins` when it is imported (``import archspec`` does): the registry
    #: sits below the blocks that the plugin checks need, so it is handed the loader, not importing it.
    plugin_loader: ClassVar[Callable[[Registry], bool] | None] = None

    def load_plugins(self) -> bool:
        """Register the layer types of installed plugin packages (once per process); True if
        this call added any. Called when a spec names a type that is not (yet) registered."""
        return Registry.plugin_loader(self) if Registry.plugin_loader is not None else False


REGISTRY = Registry()


def register(cls: type[LayerType]) -> type[LayerType]:
    """Class decorator: add a layer type to the registry."""
    return REGISTRY.add(cls)


def layer_type(key: str) -> LayerType:
    return REGISTRY.get(key)


def registry() -> Registry:
    return REGISTRY
