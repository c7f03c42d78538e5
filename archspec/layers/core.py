"""Core layers: dense, flatten, reshape, dropout, noise, padding, cropping, rescaling."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from typing import Any

from ..ir import Node, Shape
from ..registry import Arg, Info, LayerType, ShapeError, register
from ._common import ACTIVATION, BIAS, INIT, L2, elements, spatial


@register
class Dense(LayerType):
    """Fully connected layer (the notes' FC): ``dense: 4096`` or ``fc: 4096``.

    On a sequence of tokens, shape (tokens, dim), it acts on the last axis of every token
    with the same weights, as Keras' ``Dense`` does (the transformer's position-wise MLP).
    On a feature map it does so only with ``per_position: true`` (ConvNeXt's pointwise
    layers, a 1x1 conv by another name): there a dense layer is usually a forgotten flatten.
    """

    name = "dense"
    aliases = ("fc",)
    keras_class = "Dense"
    primary = "units"
    args = (
        Arg("units", "int", low=1, keras="units"), ACTIVATION, BIAS, INIT, L2,
        Arg("per_position", "bool", False,
            doc="Accept a feature map and act on its channels at every position (Keras Dense on a 4-D tensor)."),
    )  # fmt: skip

    def infer(self, node: Node, inputs: Sequence[Shape]) -> Info:
        (shape,) = inputs
        # A feature map into dense is almost always a forgotten flatten, so it stays an error
        # unless asked for; tokens (rank 2) are what a transformer's MLP reads.
        if len(shape) > 2 and not node.args["per_position"]:
            raise ShapeError(
                f"dense needs a flat input; got shape {list(shape)}. "
                "Insert `flatten` (keeps every value) or `gap` (global average pooling) before it"
            )
        units, positions = node.args["units"], math.prod(shape[:-1])
        extra = units * bool(node.args["bias"]) + units * (node.args["activation"] not in (None, "linear"))
        params = shape[-1] * units + units * node.args["bias"]
        macs = positions * shape[-1] * units
        return Info((*shape[:-1], units), trainable=params, macs=macs, other_ops=positions * extra)


@register
class Flatten(LayerType):
    """Flatten everything but the batch axis."""

    name = "flatten"
    keras_class = "Flatten"

    def infer(self, node: Node, inputs: Sequence[Shape]) -> Info:
        return Info((elements(inputs[0]),))


@register
class Reshape(LayerType):
    """Reshape to ``target`` (per example, without the batch axis); one entry may be -1, the
    size that keeps every value (``reshape: [-1, 768]``: a 14x14x768 map as 196 tokens)."""

    name = "reshape"
    keras_class = "Reshape"
    primary = "target"
    args = (
        Arg("target", "ints", keras="target_shape", aliases=("target_shape", "shape"), low=-1,
            doc="Positive sizes, and at most one -1 (inferred)."),
    )  # fmt: skip

    @classmethod
    def check_args(cls, args: Mapping[str, Any]) -> dict[str, Any]:
        target = args["target"]
        if 0 in target or target.count(-1) > 1:
            raise ValueError(
                f"`target` must hold positive sizes and at most one -1 (inferred). Received: target={list(target)}"
            )
        return dict(args)

    def infer(self, node: Node, inputs: Sequence[Shape]) -> Info:
        target, total = tuple(node.args["target"]), elements(inputs[0])
        known = math.prod(d for d in target if d != -1)
        if -1 in target and total % known == 0:
            target = tuple(total // known if d == -1 else d for d in target)
        if math.prod(target) != total:
            raise ShapeError(f"cannot reshape {list(inputs[0])} ({total} values) to {list(node.args['target'])}")
        return Info(target)


class _Identity(LayerType):
    def infer(self, node: Node, inputs: Sequence[Shape]) -> Info:
        return Info(inputs[0])


@register
class Dropout(_Identity):
    """Dropout with ``rate`` (active only in training).

    ``noise_shape: [1, 1, 1]`` (per example, without the batch axis) drops whole examples'
    tensors at once, as EfficientNet's drop-connect does (Keras ``noise_shape=(None, 1, 1, 1)``).
    """

    name = "dropout"
    keras_class = "Dropout"
    primary = "rate"
    args = (
        Arg("rate", "float", 0.5, keras="rate", low=0.0, high=1.0),
        Arg("noise_shape", "ints", None, low=1, doc="Dropout mask shape per example; 1 broadcasts over that axis."),
    )

    def infer(self, node: Node, inputs: Sequence[Shape]) -> Info:
        noise = node.args["noise_shape"]
        if noise is not None:
            shape = inputs[0]
            if len(noise) != len(shape) or any(n not in (1, d) for n, d in zip(noise, shape)):
                raise ShapeError(
                    f"noise_shape {list(noise)} must have one entry per axis of {list(shape)}, each 1 or equal"
                )
        return Info(inputs[0])

    def keras_kwargs(self, node: Node, *, explicit_only: bool = False) -> dict[str, Any]:
        kwargs = super().keras_kwargs(node, explicit_only=explicit_only)
        if node.args["noise_shape"] is not None:
            kwargs["noise_shape"] = (None, *node.args["noise_shape"])
        return kwargs


@register
class SpatialDropout(_Identity):
    """Drops whole feature maps."""

    name = "spatial_dropout"
    keras_class = "SpatialDropout2D"
    primary = "rate"
    args = (Arg("rate", "float", 0.5, keras="rate", low=0.0, high=1.0),)


@register
class GaussianNoise(_Identity):
    """Additive Gaussian noise (training only)."""

    name = "gaussian_noise"
    keras_class = "GaussianNoise"
    primary = "stddev"
    args = (Arg("stddev", "float", 0.1, keras="stddev", low=0.0, high=1.0),)  # Keras refuses stddev > 1


@register
class Rescale(LayerType):
    """Multiply by ``scale`` and add ``offset``: ``rescale: 0.00392156862745098``."""

    name = "rescale"
    aliases = ("rescaling",)
    keras_class = "Rescaling"
    primary = "scale"
    args = (Arg("scale", "float", keras="scale"), Arg("offset", "float", 0.0, keras="offset", keras_default=0.0))

    def infer(self, node: Node, inputs: Sequence[Shape]) -> Info:
        return Info(inputs[0], other_ops=2 * elements(inputs[0]))


@register
class ZeroPad(LayerType):
    """Zero padding: ``zeropad: 1``, ``[rows, cols]`` or ``[[top, bottom], [left, right]]``."""

    name = "zeropad"
    aliases = ("zero_padding", "zeropadding2d")
    keras_class = "ZeroPadding2D"
    primary = "padding"
    args = (Arg("padding", "padding2d", 1, keras="padding"),)

    def infer(self, node: Node, inputs: Sequence[Shape]) -> Info:
        h, w, c = spatial(inputs[0], "zeropad")
        (t, b), (left, r) = node.args["padding"]
        return Info((h + t + b, w + left + r, c))


@register
class Crop(LayerType):
    """Cropping: the same forms as ``zeropad``."""

    name = "crop"
    aliases = ("cropping", "cropping2d")
    keras_class = "Cropping2D"
    primary = "cropping"
    args = (Arg("cropping", "padding2d", 1, keras="cropping"),)

    def infer(self, node: Node, inputs: Sequence[Shape]) -> Info:
        h, w, c = spatial(inputs[0], "crop")
        (t, b), (left, r) = node.args["cropping"]
        if h - t - b < 1 or w - left - r < 1:
            raise ShapeError(f"cropping {node.args['cropping']} leaves nothing of a {h}x{w} input")
        return Info((h - t - b, w - left - r, c))
