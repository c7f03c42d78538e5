"""Decoders: transposed convolution, upsampling, resizing, and cropping to another tensor."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from fractions import Fraction
from typing import Any

from ..ir import Node, Shape
from ..registry import Arg, Info, LayerType, ShapeError, Window, register
from ._common import ACTIVATION, BIAS, INIT, L2, PADDING, STRIDES, elements, spatial
from .conv import KERNEL, _extra

INTERPOLATION = ("nearest", "bilinear", "bicubic", "lanczos3", "lanczos5", "area")
#: Input positions one output value of an up-sampling interpolates (its kernel's support).
TAPS = {"nearest": 1, "bilinear": 2, "bicubic": 4, "lanczos3": 6, "lanczos5": 10}


def _upsampling_window(taps: int, factor: tuple[Fraction, Fraction]) -> Window:
    """``taps`` neighbouring inputs per output; ``factor`` outputs per input along each axis."""
    return Window((taps, taps), (1 / factor[0], 1 / factor[1]))


def transposed_out(size: int, kernel: int, stride: int, padding: str, output_padding: int | None) -> int:
    """Output length along one axis of a transposed convolution, exactly as Keras computes it."""
    if padding == "valid":
        extra = max(kernel, stride) - kernel if output_padding is None else output_padding
        return (size - 1) * stride + kernel + extra
    if output_padding is None:
        return size * stride
    return (size - 1) * stride + kernel % 2 + output_padding


@register
class ConvTranspose(LayerType):
    """Transposed convolution (the "up-conv" of U-Net, the decoder of an autoencoder).

    Each input value scatters a ``kernel`` window of weights into the output; with
    ``strides: 2`` the map doubles. ``output_padding`` picks among the output sizes that a
    strided convolution maps back to the input size.
    """

    name = "conv_transpose"
    aliases = ("conv2d_transpose", "deconv")
    keras_class = "Conv2DTranspose"
    primary = "filters"
    args = (
        Arg("filters", "int", low=1, keras="filters", doc="Number of output channels."),
        KERNEL, STRIDES, PADDING,
        Arg("output_padding", "pair", None, keras="output_padding", low=0, nullable=True,
            doc="Extra rows and columns on one side of the output; each must be less than its stride."),
        ACTIVATION, BIAS, INIT, L2,
    )  # fmt: skip

    @classmethod
    def check_args(cls, args: Mapping[str, Any]) -> dict[str, Any]:
        pad, strides = args["output_padding"], args["strides"]
        if pad is not None and any(p >= s for p, s in zip(pad, strides, strict=True)):
            raise ValueError(
                "`output_padding` must be less than `strides` on each axis (Keras refuses it otherwise). "
                f"Received: output_padding={list(pad)}, strides={list(strides)}"
            )
        return dict(args)

    def infer(self, node: Node, inputs: Sequence[Shape]) -> Info:
        h, w, cin = spatial(inputs[0], "conv_transpose")
        a = node.args
        (kh, kw), (sh, sw), pad = a["kernel"], a["strides"], a["output_padding"] or (None, None)
        oh = transposed_out(h, kh, sh, a["padding"], pad[0])
        ow = transposed_out(w, kw, sw, a["padding"], pad[1])
        if oh < 1 or ow < 1:
            raise ShapeError(f"conv_transpose would give an empty {oh}x{ow} output from a {h}x{w} input")
        out = (oh, ow, a["filters"])
        weights = kh * kw * cin * a["filters"]
        # every input value meets every kernel weight once: H_in * W_in * kh * kw * C_in * filters
        macs = h * w * weights
        return Info(out, trainable=weights + a["filters"] * a["bias"], macs=macs, other_ops=_extra(node, out))

    def window(self, node: Node) -> Window:
        # an output position gathers from ceil(k / s) neighbouring inputs; s outputs per input
        (kh, kw), (sh, sw) = node.args["kernel"], node.args["strides"]
        return Window((math.ceil(kh / sh), math.ceil(kw / sw)), (Fraction(1, sh), Fraction(1, sw)))


@register
class Upsample(LayerType):
    """Repeat rows and columns (``nearest``) or interpolate (``bilinear``) by ``size``."""

    name = "upsample"
    aliases = ("upsampling", "upsampling2d")
    keras_class = "UpSampling2D"
    primary = "size"
    args = (
        Arg("size", "pair", (2, 2), keras="size", keras_default=(2, 2), doc="Factor: an int or [rows, cols]."),
        Arg("interpolation", "enum", "nearest", keras="interpolation", keras_default="nearest",
            choices=("nearest", "bilinear", "bicubic", "lanczos3", "lanczos5")),
    )  # fmt: skip

    def infer(self, node: Node, inputs: Sequence[Shape]) -> Info:
        h, w, c = spatial(inputs[0], "upsample")
        sh, sw = node.args["size"]
        out = (h * sh, w * sw, c)
        return Info(out, other_ops=elements(out) * (node.args["interpolation"] != "nearest"))

    def window(self, node: Node) -> Window:
        sh, sw = node.args["size"]
        return _upsampling_window(TAPS[node.args["interpolation"]], (Fraction(sh), Fraction(sw)))


@register
class Resize(LayerType):
    """Resize the map to ``height`` x ``width`` (Keras ``Resizing``; bilinear by default)."""

    name = "resize"
    aliases = ("resizing",)
    keras_class = "Resizing"
    args = (
        Arg("height", "int", low=1, keras="height", doc="Output height."),
        Arg("width", "int", low=1, keras="width", doc="Output width."),
        Arg("interpolation", "enum", "bilinear", keras="interpolation", keras_default="bilinear",
            choices=INTERPOLATION),
        Arg("crop_to_aspect_ratio", "bool", False, keras="crop_to_aspect_ratio", keras_default=False,
            doc="Crop to the target's aspect ratio first, instead of distorting it."),
    )  # fmt: skip

    def build(self, node: Node, **extra: Any) -> Any:
        import keras

        backend = keras.backend.backend()
        if node.args["interpolation"] == "area" and backend != "tensorflow":  # Keras' JAX resize has no "area"
            from ..errors import Problem, SpecError

            raise SpecError(
                Problem(
                    f"{node.name}: interpolation 'area' exists only under Keras' TensorFlow backend, and Keras "
                    f"runs on {backend}; use bilinear, bicubic, lanczos3, lanczos5 or nearest",
                    node.location,
                    node.path,
                )
            )
        return super().build(node, **extra)

    def infer(self, node: Node, inputs: Sequence[Shape]) -> Info:
        c = spatial(inputs[0], "resize")[2]
        out = (node.args["height"], node.args["width"], c)
        return Info(out, other_ops=elements(out) * (node.args["interpolation"] != "nearest"))

    def window_on(self, node: Node, inputs: Sequence[Shape], shape: Shape) -> Window:
        # Keras resizes without antialiasing: each output interpolates its kernel's few inputs
        # (area: the block of inputs it averages), wherever the scale puts them
        (h, w, _), (oh, ow, _) = inputs[0], shape
        kind = node.args["interpolation"]
        taps = math.ceil(max(h / oh, w / ow)) + 1 if kind == "area" else TAPS[kind]
        return _upsampling_window(taps, (Fraction(oh, h), Fraction(ow, w)))


@register
class CropTo(LayerType):
    """Centre-crop the first input to the height and width of the second (U-Net's "copy and
    crop"): ``{crop_to: null, inputs: [skip, up]}``. An odd difference cuts the extra row or
    column at the bottom or right. Keras has no such layer: archspec provides
    ``archspec.keras_layers.CropTo``."""

    name = "crop_to"
    aliases = ("crop_like",)
    keras_class = "CropTo"
    custom = True
    multi_input = True

    def infer(self, node: Node, inputs: Sequence[Shape]) -> Info:
        if len(inputs) != 2:
            raise ShapeError(f"crop_to takes exactly two inputs, [tensor, reference]; got {len(inputs)}")
        h, w, c = spatial(inputs[0], "crop_to")
        rh, rw, _ = spatial(inputs[1], "crop_to's reference")
        if rh > h or rw > w:
            raise ShapeError(
                f"crop_to cannot crop {node.inputs[0]!r} ({h}x{w}) to the larger {rh}x{rw} of {node.inputs[1]!r}; "
                "swap the inputs, or pad instead"
            )
        return Info((rh, rw, c))
