"""GoogLeNet's blocks (Szegedy et al. 2015): the Inception v1 module and the auxiliary classifier.

The module takes exactly the columns of the paper's Table 1: ``#1x1, #3x3 reduce, #3x3,
#5x5 reduce, #5x5, pool proj``, either as one list in that order
(``inception: [64, 96, 128, 16, 32, 32]``) or by name. Its four branches are concatenated
on the channel axis. Every convolution has a bias and a ReLU, as in the paper.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..ir import Shape
from ..registry import Arg, ShapeError
from . import BlockType, Expansion, register_block

#: Table 1's columns, in its order.
COLUMNS = ("n1x1", "n3x3_reduce", "n3x3", "n5x5_reduce", "n5x5", "pool_proj")


def _conv(filters: int, kernel: int, name: str, inputs: str | None = None) -> dict[str, Any]:
    item: dict[str, Any] = {"conv": filters, "kernel": kernel, "padding": "same", "activation": "relu",
                            "bias": True, "name": name}  # fmt: skip
    if inputs:
        item["inputs"] = inputs
    return item


@register_block
class Inception(BlockType):
    """Inception v1 module: 1x1 | 1x1-3x3 | 1x1-5x5 | 3x3 max pool-1x1 branches, concatenated."""

    name = "inception"
    aliases = ("inception_v1",)
    primary = "columns"
    args = (
        Arg("columns", "ints", None, low=0,
            doc="GoogLeNet Table 1's six columns: [#1x1, #3x3 reduce, #3x3, #5x5 reduce, #5x5, pool proj]."),
        *(Arg(c, "int", None, low=0, doc=f"Table 1 column {c}; 0 leaves that conv out.") for c in COLUMNS),
        Arg("se_ratio", "int", None, low=1, nullable=True,
            doc="SE-Inception: a squeeze-and-excitation block of ratio r on the concatenated output."),
    )  # fmt: skip

    @classmethod
    def check_args(cls, args: Mapping[str, Any]) -> dict[str, Any]:
        return {**cls._columns(args), "se_ratio": args["se_ratio"]}

    @staticmethod
    def _columns(args: Mapping[str, Any]) -> dict[str, Any]:
        named = {c: args[c] for c in COLUMNS if args[c] is not None}
        if args["columns"] is not None:
            if named:
                raise ValueError(
                    f"give the six columns as `columns` or by name, not both; got both and {sorted(named)}"
                )
            if len(args["columns"]) != len(COLUMNS):
                raise ValueError(
                    f"`columns` must list the six Table 1 columns {list(COLUMNS)}. Received: {list(args['columns'])}"
                )
            return dict(zip(COLUMNS, args["columns"], strict=True))
        missing = [c for c in COLUMNS if c not in named]
        if missing:
            raise ValueError(f"needs all six Table 1 columns; missing {', '.join(missing)}")
        return named

    def expand(self, args: Mapping[str, Any], input_shape: Shape) -> Expansion:
        if len(input_shape) != 3:
            raise ShapeError(f"inception needs a 3-D input (height, width, channels); got shape {list(input_shape)}")
        layers: list[Any] = []
        branches: list[str] = []
        if args["n1x1"]:
            layers.append(_conv(args["n1x1"], 1, "1x1", "input"))
            branches.append("1x1")
        for k in (3, 5):
            reduce, out = args[f"n{k}x{k}_reduce"], args[f"n{k}x{k}"]
            if not out:
                continue
            source = "input"
            if reduce:
                layers.append(_conv(reduce, 1, f"{k}x{k}_reduce", "input"))
                source = f"{k}x{k}_reduce"
            layers.append(_conv(out, k, f"{k}x{k}", source))
            branches.append(f"{k}x{k}")
        if args["pool_proj"]:
            layers.append({"maxpool": 3, "strides": 1, "padding": "same", "inputs": "input", "name": "pool"})
            layers.append(_conv(args["pool_proj"], 1, "pool_proj", "pool"))
            branches.append("pool_proj")
        if len(branches) < 2:
            raise ValueError(f"an inception module needs at least two branches; these columns give {len(branches)}")
        layers.append({"concat": None, "inputs": branches, "name": "output"})
        if args["se_ratio"]:
            layers.append({"se": args["se_ratio"], "name": "se"})
            return Expansion(layers, "se")
        return Expansion(layers, "output")


@register_block
class AuxHead(BlockType):
    """GoogLeNet's auxiliary classifier: 5x5/3 avg pool, 1x1 conv 128, FC 1024, dropout 0.7, FC softmax."""

    name = "aux_head"
    aliases = ("inception_aux",)
    primary = "classes"
    args = (
        Arg("classes", "int", low=1, aliases=("units",), doc="Number of classes of the softmax."),
        Arg("pool", "int", 5, low=1, doc="Average-pool window (stride `pool_strides`, padding valid)."),
        Arg("pool_strides", "int", 3, low=1),
        Arg("filters", "int", 128, low=1, doc="Channels of the 1x1 conv."),
        Arg("units_fc", "int", 1024, low=1, doc="Units of the hidden fully connected layer."),
        Arg("rate", "float", 0.7, low=0.0, high=1.0, aliases=("dropout_rate",), doc="Dropout rate."),
    )

    def expand(self, args: Mapping[str, Any], input_shape: Shape) -> Expansion:
        if len(input_shape) != 3:
            raise ShapeError(f"aux_head needs a 3-D feature map; got shape {list(input_shape)}")
        layers = [
            {"avgpool": args["pool"], "strides": args["pool_strides"], "padding": "valid", "name": "pool"},
            {"conv": args["filters"], "kernel": 1, "activation": "relu", "name": "conv"},
            {"flatten": None, "name": "flatten"},
            {"dense": args["units_fc"], "activation": "relu", "name": "fc"},
            {"dropout": args["rate"], "name": "dropout"},
            {"dense": args["classes"], "activation": "softmax", "name": "predictions"},
        ]
        return Expansion(layers, "predictions")
