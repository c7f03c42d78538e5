"""Normalization: batch, layer and group norm, input normalization, AlexNet's local response norm."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..ir import Node, Shape
from ..registry import Arg, Info, LayerType, ShapeError, register
from ._common import elements


@register
class BatchNorm(LayerType):
    """Batch normalization over the channel axis.

    Keras counts 4 numbers per channel: gamma and beta are trainable, the moving mean and
    variance are not.
    """

    name = "bn"
    aliases = ("batchnorm", "batch_norm", "batchnormalization")
    keras_class = "BatchNormalization"
    args = (
        Arg("momentum", "float", 0.99, keras="momentum", low=0.0, high=1.0, keras_default=0.99),
        Arg("epsilon", "float", 0.001, keras="epsilon", low=0.0, keras_default=0.001),
        Arg("center", "bool", True, keras="center", keras_default=True),
        Arg("scale", "bool", True, keras="scale", keras_default=True),
    )

    def infer(self, node: Node, inputs: Sequence[Shape]) -> Info:
        c = inputs[0][-1]
        trainable = c * (node.args["center"] + node.args["scale"])
        return Info(inputs[0], trainable, 2 * c, other_ops=2 * elements(inputs[0]))


@register
class Normalize(LayerType):
    """Feature-wise standardisation with a stored mean and variance (Keras ``Normalization``).

    Its mean, variance and sample count are non-trainable weights (2 x channels + 1).
    """

    name = "normalize"
    aliases = ("normalization",)
    keras_class = "Normalization"
    args = (
        Arg("mean", "floats", None, keras="mean", nullable=True, doc="One number, or one per channel."),
        Arg(
            "variance", "floats", None, keras="variance", low=0.0, nullable=True, doc="One number, or one per channel."
        ),
    )

    @classmethod
    def check_args(cls, args: Mapping[str, Any]) -> dict[str, Any]:
        if (args.get("mean") is None) != (args.get("variance") is None):
            raise ValueError("give both `mean` and `variance`, or neither (then they are stored weights, adapted)")
        return dict(args)

    def infer(self, node: Node, inputs: Sequence[Shape]) -> Info:
        c = inputs[0][-1]
        for key in ("mean", "variance"):
            value = node.args[key]
            if isinstance(value, tuple) and len(value) not in (1, c):
                raise ShapeError(f"`{key}` has {len(value)} values; the input has {c} channels (give 1 or {c})")
        stored = 0 if node.args["mean"] is not None else 2 * c + 1
        return Info(inputs[0], 0, stored, other_ops=2 * elements(inputs[0]))


@register
class LocalResponseNorm(LayerType):
    """Local response normalization across channels (AlexNet's NORM layers).

    ``b = a / (k + alpha * sum(a^2 over `size` neighbouring channels)) ** beta``, with
    AlexNet's values as defaults (size 5, k 2, alpha 1e-4, beta 0.75). Keras has no such
    layer: archspec provides ``archspec.keras_layers.LocalResponseNormalization``.
    """

    name = "lrn"
    aliases = ("local_response_norm", "norm")
    keras_class = "LocalResponseNormalization"
    custom = True
    args = (
        Arg("size", "int", 5, keras="size", low=1, doc="Number of neighbouring channels summed."),
        Arg("k", "float", 2.0, keras="k", aliases=("bias",), low=0.0),
        Arg("alpha", "float", 1e-4, keras="alpha", low=0.0),
        Arg("beta", "float", 0.75, keras="beta", low=0.0),
    )

    def infer(self, node: Node, inputs: Sequence[Shape]) -> Info:
        return Info(inputs[0], other_ops=elements(inputs[0]) * (node.args["size"] + 3))


class _AffineNorm(LayerType):
    """A normalization with a learned per-channel gamma (``scale``) and beta (``center``)."""

    def affine_params(self, node: Node, channels: int) -> int:
        return channels * (node.args["center"] + node.args["scale"])


_EPSILON = Arg("epsilon", "float", 0.001, keras="epsilon", low=0.0, keras_default=0.001,
               doc="Added to the variance; Keras' default 1e-3 (ConvNeXt and ViT use 1e-6).")  # fmt: skip
_CENTER = Arg("center", "bool", True, keras="center", keras_default=True, doc="Learn an offset beta.")
_SCALE = Arg("scale", "bool", True, keras="scale", keras_default=True, doc="Learn a factor gamma.")


@register
class LayerNorm(_AffineNorm):
    """Layer normalization over the last axis (Ba et al. 2016; transformers, ConvNeXt).

    Each position is normalised over its own channels, so it behaves the same in training
    and inference and keeps no moving statistics: 2 x channels trainable parameters.
    """

    name = "layernorm"
    aliases = ("layer_norm", "layernormalization")
    keras_class = "LayerNormalization"
    args = (_EPSILON, _CENTER, _SCALE)

    def infer(self, node: Node, inputs: Sequence[Shape]) -> Info:
        shape = inputs[0]
        return Info(shape, trainable=self.affine_params(node, shape[-1]), other_ops=4 * elements(shape))


@register
class GroupNorm(_AffineNorm):
    """Group normalization (Wu & He 2018): channels split into ``groups``, each normalised
    over its channels and all positions of one example. ``groups: -1`` is instance norm
    (one group per channel), ``groups: 1`` normalises over all of an example's values."""

    name = "groupnorm"
    aliases = ("group_norm", "groupnormalization")
    keras_class = "GroupNormalization"
    primary = "groups"
    args = (
        Arg("groups", "int", 32, keras="groups", low=-1, keras_default=32,
            doc="Number of groups; it must divide the channels. -1: one per channel."),
        _EPSILON, _CENTER, _SCALE,
    )  # fmt: skip

    @classmethod
    def check_args(cls, args: Mapping[str, Any]) -> dict[str, Any]:
        if args["groups"] == 0:
            raise ValueError("`groups` must be a positive integer or -1 (one group per channel). Received: groups=0")
        return dict(args)

    def infer(self, node: Node, inputs: Sequence[Shape]) -> Info:
        shape = inputs[0]
        channels, groups = shape[-1], node.args["groups"]
        if groups != -1 and channels % groups:
            raise ShapeError(
                f"groupnorm needs `groups` to divide the channels; groups={groups} does not divide {channels}. "
                "Use a divisor of the channels, or -1 for one group per channel"
            )
        return Info(shape, trainable=self.affine_params(node, channels), other_ops=4 * elements(shape))
