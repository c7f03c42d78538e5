"""Convolutions: conv, depthwise and separable."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..ir import Node, Shape
from ..registry import Arg, Call, Info, LayerType, ShapeError, Window, register
from ._common import ACTIVATION, BIAS, INIT, L2, PADDING, STRIDES, elements, spatial, window_shape

KERNEL = Arg("kernel", "pair", (3, 3), keras="kernel_size", aliases=("kernel_size", "size"),
             doc="Kernel size: an int or [rows, cols]. archspec's default is 3.")  # fmt: skip
DILATION = Arg("dilation", "pair", (1, 1), keras="dilation_rate", aliases=("dilation_rate",), keras_default=(1, 1))


class _Windowed(LayerType):
    def window(self, node: Node) -> Window:
        return Window(node.args["kernel"], node.args["strides"], node.args.get("dilation", (1, 1)))

    def out_hw(self, node: Node, shape: Shape) -> tuple[int, int]:
        a = node.args
        return window_shape(shape, a["kernel"], a["strides"], a.get("dilation", (1, 1)), a["padding"], self.name)

    @classmethod
    def check_args(cls, args: Mapping[str, Any]) -> dict[str, Any]:
        if max(args["strides"]) > 1 and max(args.get("dilation", (1, 1))) > 1:
            raise ValueError("`strides` > 1 cannot be combined with `dilation` > 1 (Keras refuses it)")
        return dict(args)


@register
class Conv(_Windowed):
    """2-D convolution: ``conv: 64`` or ``{conv: 64, kernel: 3, strides: 2, padding: same}``."""

    name = "conv"
    aliases = ("conv2d",)
    keras_class = "Conv2D"
    primary = "filters"
    args = (
        Arg("filters", "int", low=1, keras="filters", doc="Number of output channels."),
        KERNEL, STRIDES, PADDING, DILATION,
        Arg("groups", "int", 1, low=1, keras="groups", keras_default=1, doc="Grouped convolution (ResNeXt)."),
        ACTIVATION, BIAS, INIT, L2,
    )  # fmt: skip

    def infer(self, node: Node, inputs: Sequence[Shape]) -> Info:
        (shape,) = inputs
        cin = spatial(shape, "conv")[2]
        a = node.args
        filters, groups = a["filters"], a["groups"]
        if cin % groups or filters % groups:
            raise ShapeError(f"groups={groups} must divide both the input channels ({cin}) and filters ({filters})")
        oh, ow = self.out_hw(node, shape)
        kh, kw = a["kernel"]
        weights = kh * kw * (cin // groups) * filters
        out = (oh, ow, filters)
        return Info(out, weights + filters * a["bias"], 0, elements(out) * kh * kw * (cin // groups), _extra(node, out))


@register
class Depthwise(_Windowed):
    """Depthwise convolution: one filter per input channel (MobileNet)."""

    name = "depthwise"
    aliases = ("depthwise_conv", "dwconv")
    keras_class = "DepthwiseConv2D"
    primary = "kernel"
    args = (
        KERNEL, STRIDES, PADDING,
        Arg("depth_multiplier", "int", 1, low=1, keras="depth_multiplier", keras_default=1),
        DILATION, ACTIVATION, BIAS,
        Arg("init", "initializer", "glorot_uniform", keras="depthwise_initializer",
            aliases=("depthwise_initializer", "initializer"), keras_default="glorot_uniform"),
        Arg("l2", "float", None, low=0.0, doc="L2 weight decay on the depthwise kernel."),
    )  # fmt: skip

    def infer(self, node: Node, inputs: Sequence[Shape]) -> Info:
        (shape,) = inputs
        cin = spatial(shape, "depthwise")[2]
        a = node.args
        oh, ow = self.out_hw(node, shape)
        kh, kw = a["kernel"]
        cout = cin * a["depth_multiplier"]
        out = (oh, ow, cout)
        return Info(out, kh * kw * cout + cout * a["bias"], 0, elements(out) * kh * kw, _extra(node, out))

    def build_kwargs(self, node: Node) -> dict[str, Any]:
        kwargs = self.keras_kwargs(node)
        if node.args.get("l2"):
            from keras import regularizers

            kwargs["depthwise_regularizer"] = regularizers.L2(node.args["l2"])
        return kwargs

    def emit(self, node: Node) -> Call:
        call = super().emit(node)
        kwargs = {("depthwise_regularizer" if k == "kernel_regularizer" else k): v for k, v in call.kwargs.items()}
        return Call(call.callee, call.args, kwargs)


@register
class Separable(_Windowed):
    """Depthwise separable convolution: depthwise then 1x1 pointwise (Xception, MobileNet)."""

    name = "separable"
    aliases = ("separable_conv", "sepconv")
    keras_class = "SeparableConv2D"
    primary = "filters"
    args = (
        Arg("filters", "int", low=1, keras="filters"),
        KERNEL, STRIDES, PADDING, DILATION,
        Arg("depth_multiplier", "int", 1, low=1, keras="depth_multiplier", keras_default=1),
        ACTIVATION, BIAS,
    )  # fmt: skip

    def infer(self, node: Node, inputs: Sequence[Shape]) -> Info:
        (shape,) = inputs
        cin = spatial(shape, "separable")[2]
        a = node.args
        oh, ow = self.out_hw(node, shape)
        kh, kw = a["kernel"]
        mid = cin * a["depth_multiplier"]
        out = (oh, ow, a["filters"])
        params = kh * kw * mid + mid * a["filters"] + a["filters"] * a["bias"]
        macs = oh * ow * mid * kh * kw + elements(out) * mid
        return Info(out, params, 0, macs, _extra(node, out))


def _extra(node: Node, out: Shape) -> int:
    """Element-wise work after the multiply-accumulates: bias add and fused activation."""
    n = elements(out)
    return n * bool(node.args.get("bias")) + n * (node.args.get("activation") not in (None, "linear"))
