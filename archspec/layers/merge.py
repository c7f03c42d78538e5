"""Merges of several tensors: add, concatenate, multiply."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..ir import Node, Shape
from ..registry import Arg, Info, LayerType, ShapeError, register
from ._common import elements


class _Merge(LayerType):
    multi_input = True

    def need_two(self, inputs: Sequence[Shape]) -> None:
        if len(inputs) < 2:
            raise ShapeError(f"{self.name} needs at least two inputs; got {len(inputs)}")


@register
class Add(_Merge):
    """Element-wise sum of tensors of the same shape (residual shortcuts)."""

    name = "add"
    keras_class = "Add"

    def infer(self, node: Node, inputs: Sequence[Shape]) -> Info:
        self.need_two(inputs)
        first = inputs[0]
        for name, shape in zip(node.inputs[1:], inputs[1:], strict=True):
            if shape != first:
                raise ShapeError(
                    f"add needs inputs of one shape; {node.inputs[0]!r} is {list(first)} but {name!r} is "
                    f"{list(shape)}. For a residual shortcut that changes channels or stride, use a "
                    "projection shortcut (a 1x1 conv with the same stride, plus batch norm) on the skip path"
                )
        return Info(first, other_ops=elements(first) * (len(inputs) - 1))


@register
class ScaledAdd(_Merge):
    """``a + scale * b`` of two tensors of one shape: Inception-ResNet's scaled residual (Szegedy et
    al. 2016, section 3.3), Keras' ``inception_resnet_v2.CustomScaleLayer``. No weights."""

    name = "scaled_add"
    keras_class = "ScaledAdd"
    custom = True
    args = (
        Arg("scale", "float", 1.0, keras="scale", keras_default=1.0,
            doc="The factor of the second input (the residual branch): 0.17, 0.1 and 0.2 in Inception-ResNet-v2."),
    )  # fmt: skip

    def infer(self, node: Node, inputs: Sequence[Shape]) -> Info:
        if len(inputs) != 2:
            raise ShapeError(f"scaled_add takes two inputs, the shortcut and the branch; got {len(inputs)}")
        if inputs[0] != inputs[1]:
            raise ShapeError(f"scaled_add needs inputs of one shape; got {list(inputs[0])} and {list(inputs[1])}")
        return Info(inputs[0], other_ops=2 * elements(inputs[0]))


@register
class Multiply(_Merge):
    """Element-wise product; a [1, 1, C] or [C] gate broadcasts over H x W (squeeze-excitation)."""

    name = "multiply"
    keras_class = "Multiply"

    def infer(self, node: Node, inputs: Sequence[Shape]) -> Info:
        self.need_two(inputs)
        out = max(inputs, key=len)
        for name, shape in zip(node.inputs, inputs, strict=True):
            padded = (1,) * (len(out) - len(shape)) + tuple(shape)
            if any(a != b and a != 1 for a, b in zip(padded, out, strict=True)):
                raise ShapeError(f"multiply cannot broadcast {name!r} of shape {list(shape)} to {list(out)}")
        return Info(tuple(out), other_ops=elements(out) * (len(inputs) - 1))


@register
class Concat(_Merge):
    """Concatenation on the channel axis (inception branches, dense blocks).

    ``axis`` counts the example's axes, as every shape in a spec does (``0`` is the height of an
    image); Keras' ``axis`` counts the batch axis too, so a positive axis is passed on plus one.
    """

    name = "concat"
    aliases = ("concatenate",)
    keras_class = "Concatenate"
    args = (
        Arg("axis", "int", -1, keras="axis", low=-8, keras_default=-1,
            doc="The axis to join on, without the batch axis (0 = height); negative counts from the end."),
    )  # fmt: skip

    def keras_kwargs(self, node: Node, *, explicit_only: bool = False) -> dict[str, Any]:
        kwargs = super().keras_kwargs(node, explicit_only=explicit_only)
        if kwargs.get("axis", -1) >= 0:
            kwargs["axis"] += 1  # Keras counts the batch axis
        return kwargs

    def infer(self, node: Node, inputs: Sequence[Shape]) -> Info:
        self.need_two(inputs)
        rank = len(inputs[0])
        axis = node.args["axis"] % rank if -rank <= node.args["axis"] < rank else None
        if axis is None or any(len(s) != rank for s in inputs):
            raise ShapeError(f"concat needs inputs of one rank and a valid axis; got {[list(s) for s in inputs]}")
        rest = [tuple(d for i, d in enumerate(s) if i != axis) for s in inputs]
        for name, r in zip(node.inputs, rest, strict=True):
            if r != rest[0]:
                raise ShapeError(
                    f"concat on axis {node.args['axis']} needs the other dimensions to match; "
                    f"{node.inputs[0]!r} is {list(inputs[0])} but {name!r} is {list(inputs[node.inputs.index(name)])}"
                )
        out = list(inputs[0])
        out[axis] = sum(s[axis] for s in inputs)
        return Info(tuple(out))
