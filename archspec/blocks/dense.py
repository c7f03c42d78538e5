"""DenseNet blocks (Huang et al. 2017): the dense block, its unit, and the transition.

Layer names follow ``keras.applications.DenseNet121``: a dense block named ``conv2`` holds
units ``conv2_block1`` ... whose layers are ``conv2_block1_0_bn``, ``_0_relu``, ``_1_conv``,
``_1_bn``, ``_1_relu``, ``_2_conv`` and ``_concat``; a transition named ``pool2`` is
``pool2_bn``, ``pool2_relu``, ``pool2_conv``, ``pool2_pool``.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..ir import Shape
from ..registry import Arg, ShapeError
from . import BlockType, Expansion, register_block

#: Keras' DenseNet uses this batch-norm epsilon (not the Keras default 1e-3).
DENSENET_EPSILON = 1.001e-5

GROWTH = Arg("growth", "int", 32, low=1, aliases=("growth_rate", "k"), doc="Growth rate k: channels each unit adds.")
BOTTLENECK = Arg("bottleneck", "int", 4, low=0, doc="The 1x1 bottleneck has bottleneck * k channels; 0 leaves it out.")
EPSILON = Arg("epsilon", "float", DENSENET_EPSILON, low=0.0, doc="Batch-norm epsilon (Keras' DenseNet: 1.001e-5).")


def _channels(shape: Shape, what: str) -> int:
    if len(shape) != 3:
        raise ShapeError(f"{what} needs a 3-D input (height, width, channels); got shape {list(shape)}")
    return shape[2]


def _bn_relu(prefix: str, epsilon: float) -> list[dict[str, Any]]:
    return [{"bn": {"epsilon": epsilon}, "name": f"{prefix}bn"}, {"relu": None, "name": f"{prefix}relu"}]


def _conv(filters: int, kernel: int, name: str) -> dict[str, Any]:
    padding = "same" if kernel > 1 else "valid"
    return {"conv": filters, "kernel": kernel, "padding": padding, "bias": False, "activation": None, "name": name}


@register_block
class DenseUnit(BlockType):
    """One layer of a dense block: BN-ReLU-1x1 conv (4k) - BN-ReLU-3x3 conv (k), concatenated to its input."""

    name = "dense_unit"
    primary = "growth"
    args = (GROWTH, BOTTLENECK, EPSILON)

    def expand(self, args: Mapping[str, Any], input_shape: Shape) -> Expansion:
        _channels(input_shape, "dense_unit")
        k, eps = args["growth"], args["epsilon"]
        layers: list[Any] = []
        if args["bottleneck"]:
            layers += [*_bn_relu("0_", eps), _conv(args["bottleneck"] * k, 1, "1_conv"), *_bn_relu("1_", eps)]
        else:
            layers += _bn_relu("1_", eps)
        layers += [_conv(k, 3, "2_conv"), {"concat": None, "inputs": ["input", "2_conv"], "name": "concat"}]
        return Expansion(layers, "concat")


@register_block
class DenseBlock(BlockType):
    """A dense block of ``units`` dense units; its channels grow from C to C + units * k."""

    name = "dense_block"
    primary = "units"
    args = (Arg("units", "int", low=1, aliases=("blocks",), doc="Number of dense units."),
            GROWTH, BOTTLENECK, EPSILON)  # fmt: skip

    def expand(self, args: Mapping[str, Any], input_shape: Shape) -> Expansion:
        c = _channels(input_shape, "dense_block")
        unit = {key: args[key] for key in ("growth", "bottleneck", "epsilon")}
        layers = [{"dense_unit": dict(unit), "name": f"block{i}"} for i in range(1, args["units"] + 1)]
        note = f"{args['units']} units of growth {args['growth']}: {c} -> {c + args['units'] * args['growth']} channels"
        return Expansion(layers, notes=(note,))


@register_block
class Transition(BlockType):
    """DenseNet transition: BN-ReLU-1x1 conv to floor(theta * C) channels, then 2x2 average pool."""

    name = "transition"
    primary = "compression"
    args = (
        Arg("compression", "float", 0.5, low=0.0, high=1.0, aliases=("theta", "reduction"),
            doc="theta: the 1x1 conv keeps floor(theta * C) channels."),
        EPSILON,
        Arg("pool", "int", 2, low=1, doc="Average-pool window and stride."),
    )  # fmt: skip

    def expand(self, args: Mapping[str, Any], input_shape: Shape) -> Expansion:
        c = _channels(input_shape, "transition")
        filters = int(c * args["compression"])
        if filters < 1:
            raise ShapeError(f"compression {args['compression']} of {c} channels leaves {filters}; use a larger theta")
        layers = [
            *_bn_relu("", args["epsilon"]),
            _conv(filters, 1, "conv"),
            {"avgpool": args["pool"], "strides": args["pool"], "name": "pool"},
        ]
        notes = (
            () if filters == c * args["compression"] else (f"int({c} x {args['compression']}) = {filters} channels",)
        )
        return Expansion(layers, notes=notes)
