"""Reordering axes: permute (with reshape, the channel shuffle of ShuffleNet)."""

from __future__ import annotations

from collections.abc import Sequence

from ..ir import Node, Shape
from ..registry import Arg, Info, LayerType, ShapeError, register


@register
class Permute(LayerType):
    """Reorder the axes of each example (Keras ``Permute``; axes count from 1, the batch
    axis stays first): ``permute: [2, 1]`` swaps tokens and channels, ``[1, 2, 4, 3]`` after
    a ``reshape: [H, W, groups, C / groups]`` is half of a channel shuffle."""

    name = "permute"
    aliases = ("transpose",)
    keras_class = "Permute"
    primary = "dims"
    args = (
        Arg("dims", "ints", keras="dims", low=1, doc="A permutation of 1..rank (1 is the first axis after the batch)."),
    )

    def infer(self, node: Node, inputs: Sequence[Shape]) -> Info:
        shape, dims = inputs[0], tuple(node.args["dims"])
        if sorted(dims) != list(range(1, len(shape) + 1)):
            raise ShapeError(
                f"permute needs `dims` to be a permutation of 1..{len(shape)} for an input of shape {list(shape)}; "
                f"got {list(dims)}"
            )
        return Info(tuple(shape[d - 1] for d in dims))
