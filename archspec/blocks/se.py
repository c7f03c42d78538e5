"""Squeeze-and-excitation (Hu et al. 2018): channel attention from global context.

``{se: 16}`` squeezes each channel to its mean (global average pooling), passes the vector
through a bottleneck of C/r units (ReLU) and back to C units (sigmoid), and multiplies the
input by that per-channel gate. The two fully connected layers are written as 1x1 convs on a
[1, 1, C] tensor, as keras.applications.EfficientNet writes them: the same parameters and
MACs as dense layers, and the gate broadcasts over height and width without a reshape after.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..ir import Shape
from ..layers._common import spatial
from ..registry import Arg
from . import BlockType, Expansion, register_block


@register_block
class SqueezeExcite(BlockType):
    """Squeeze-and-excitation block: gap -> reshape -> 1x1 conv C/r (relu) -> 1x1 conv C (sigmoid) -> multiply.

    Local names follow keras.applications.EfficientNet's ``se_squeeze``, ``se_reshape``,
    ``se_reduce``, ``se_expand``, ``se_excite`` once the instance is named ``..._se``.
    """

    name = "se"
    aliases = ("squeeze_excite", "squeeze_excitation")
    primary = "ratio"
    args = (
        Arg("ratio", "int", 16, low=1, aliases=("reduction", "r"),
            doc="Reduction ratio r: the bottleneck has max(1, C // r) channels (SENet: 16)."),
        Arg("reduced", "int", None, low=1, nullable=True, aliases=("squeeze_channels",),
            doc="Bottleneck channels given directly (overrides `ratio`; EfficientNet derives them from the "
                "MBConv block's input channels)."),
        Arg("activation", "activation", "relu", doc="Activation of the bottleneck (EfficientNet: swish)."),
        Arg("gate", "activation", "sigmoid", doc="Activation of the gate."),
        Arg("bias", "bool", True, doc="Biases on the two 1x1 convs (SENet's FC layers have them)."),
    )  # fmt: skip

    def expand(self, args: Mapping[str, Any], input_shape: Shape) -> Expansion:
        channels = spatial(input_shape, "se")[2]
        reduced = args["reduced"] or max(1, channels // args["ratio"])
        if args["reduced"] is None and channels % args["ratio"]:
            note = f"squeeze {channels} -> {reduced} channels (C // r, r = {args['ratio']}; C not divisible by r)"
        else:
            note = f"squeeze {channels} -> {reduced} -> {channels} channels"
        fc = {"kernel": 1, "strides": 1, "padding": "same", "groups": 1, "bias": args["bias"]}
        layers = [
            {"gap": None, "keepdims": False, "name": "squeeze"},
            {"reshape": [1, 1, channels], "name": "reshape"},
            {"conv": reduced, **fc, "activation": args["activation"], "name": "reduce"},
            {"conv": channels, **fc, "activation": args["gate"], "name": "expand"},
            {"multiply": None, "inputs": ["input", "expand"], "name": "excite"},
        ]
        return Expansion(layers=layers, output="excite", notes=(note,))
