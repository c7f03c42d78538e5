"""Pooling: max and average windows, and global pooling."""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..ir import Node, Shape
from ..registry import Arg, Info, LayerType, Window, register
from ._common import PADDING, elements, spatial, window_shape

POOL = Arg("pool", "pair", (2, 2), keras="pool_size", aliases=("pool_size", "size", "kernel"),
           doc="Window size: an int or [rows, cols].")  # fmt: skip
POOL_STRIDES = Arg("strides", "pair", None, keras="strides", aliases=("stride",),
                   doc="Defaults to the window size, as in Keras.")  # fmt: skip


class _Pool(LayerType):
    primary = "pool"
    args = (POOL, POOL_STRIDES, PADDING)

    @classmethod
    def check_args(cls, args: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(args)
        if out["strides"] is None:
            out["strides"] = out["pool"]
        return out

    def window(self, node: Node) -> Window:
        return Window(node.args["pool"], node.args["strides"])

    def infer(self, node: Node, inputs: Sequence[Shape]) -> Info:
        (shape,) = inputs
        a = node.args
        oh, ow = window_shape(shape, a["pool"], a["strides"], (1, 1), a["padding"], self.name)
        out = (oh, ow, shape[2])
        return Info(out, other_ops=elements(out) * a["pool"][0] * a["pool"][1])


@register
class MaxPool(_Pool):
    """Max pooling: ``maxpool: 2`` or ``{maxpool: 3, strides: 2}``."""

    name = "maxpool"
    aliases = ("max_pool", "maxpooling2d")
    keras_class = "MaxPooling2D"


@register
class AvgPool(_Pool):
    """Average pooling."""

    name = "avgpool"
    aliases = ("avg_pool", "averagepooling2d")
    keras_class = "AveragePooling2D"


class _Global(LayerType):
    args = (Arg("keepdims", "bool", False, keras="keepdims", keras_default=False),)

    def infer(self, node: Node, inputs: Sequence[Shape]) -> Info:
        (shape,) = inputs
        h, w, c = spatial(shape, self.name)
        out = (1, 1, c) if node.args["keepdims"] else (c,)
        return Info(out, other_ops=h * w * c)

    def window_on(self, node: Node, inputs: Sequence[Shape], shape: Shape) -> Window | None:
        # kept as a 1x1 map (keepdims), each value has seen the whole map; flat outputs have no field
        h, w, _ = inputs[0]
        return Window((h, w), (0, 0)) if node.args["keepdims"] else None


@register
class GlobalAvgPool(_Global):
    """Global average pooling: one value per channel (GoogLeNet, ResNet)."""

    name = "gap"
    aliases = ("global_avg_pool", "globalaveragepooling2d")
    keras_class = "GlobalAveragePooling2D"


@register
class GlobalMaxPool(_Global):
    """Global max pooling."""

    name = "gmp"
    aliases = ("global_max_pool", "globalmaxpooling2d")
    keras_class = "GlobalMaxPooling2D"
