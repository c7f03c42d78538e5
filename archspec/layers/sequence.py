"""Layers over sequences, shape (steps, channels) per example: 1-D convolution."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ..ir import Node, Shape
from ..registry import Arg, Info, LayerType, ShapeError, register
from ._common import ACTIVATION, BIAS, INIT, L2, window_out
from .conv import _extra


@register
class Conv1D(LayerType):
    """1-D convolution over a sequence (steps, channels): ``conv1d: 64``; ``padding: causal``
    pads only the start, so that step t sees steps up to t (WaveNet)."""

    name = "conv1d"
    keras_class = "Conv1D"
    primary = "filters"
    args = (
        Arg("filters", "int", low=1, keras="filters", doc="Number of output channels."),
        Arg("kernel", "int", 3, low=1, keras="kernel_size", aliases=("kernel_size",),
            doc="Kernel length. archspec's default is 3."),
        Arg("strides", "int", 1, low=1, keras="strides", aliases=("stride",), keras_default=1),
        Arg("padding", "enum", "valid", keras="padding", choices=("valid", "same", "causal"), keras_default="valid"),
        Arg("dilation", "int", 1, low=1, keras="dilation_rate", aliases=("dilation_rate",), keras_default=1),
        ACTIVATION, BIAS, INIT, L2,
    )  # fmt: skip

    @classmethod
    def check_args(cls, args: Mapping[str, Any]) -> dict[str, Any]:
        if args["strides"] > 1 and args["dilation"] > 1:
            raise ValueError("`strides` > 1 cannot be combined with `dilation` > 1 (Keras refuses it)")
        return dict(args)

    def infer(self, node: Node, inputs: Sequence[Shape]) -> Info:
        (shape,) = inputs
        if len(shape) != 2:
            raise ShapeError(f"conv1d needs a sequence, shape (steps, channels) per example; got shape {list(shape)}")
        steps, cin = shape
        a = node.args
        if a["padding"] == "causal":  # the start is padded by the window's span: a 'same' length at stride 1
            out_steps = math.ceil(steps / a["strides"])
        else:
            out_steps = window_out(steps, a["kernel"], a["strides"], a["dilation"], a["padding"])
        if out_steps < 1:
            raise ShapeError(f"a window of {a['kernel']} (dilation {a['dilation']}) does not fit {steps} steps")
        out = (out_steps, a["filters"])
        weights = a["kernel"] * cin * a["filters"]
        macs = out_steps * weights
        return Info(out, trainable=weights + a["filters"] * a["bias"], macs=macs, other_ops=_extra(node, out))
