"""The notes' classification heads as one-line built-in blocks.

``{fc_head: 256, classes: "${classes}"}`` is FCHeadNet: flatten, dense 256 relu, dropout 0.5,
dense classes softmax. ``{gap_head: null, classes: "${classes}"}`` is global average pooling
and a softmax dense layer (Keras' own ``include_top`` head of ResNet/MobileNet/EfficientNet).
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..ir import Shape
from ..registry import Arg
from . import BlockType, Expansion, register_block


@register_block
class FCHeadNet(BlockType):
    """FCHeadNet: flatten -> dense units relu -> dropout -> dense classes softmax."""

    name = "fc_head"
    primary = "units"
    args = (
        Arg("units", "int", low=1, doc="Width D of the hidden dense layer."),
        Arg("classes", "int", low=1),
        Arg("dropout", "float", 0.5, low=0.0, high=1.0),
        Arg("pooling", "enum", "flatten", choices=("flatten", "gap", "gmp")),
        Arg("out_activation", "activation", "softmax"),
    )

    def expand(self, args: Mapping[str, Any], input_shape: Shape) -> Expansion:
        layers: list[Any] = [{args["pooling"]: None, "name": "flatten" if args["pooling"] == "flatten" else "pool"}]
        if len(input_shape) == 1 and args["pooling"] == "flatten":
            layers = []
        layers += [
            {"dense": args["units"], "activation": "relu", "name": "fc"},
            {"dropout": args["dropout"], "name": "dropout"},
            {"dense": args["classes"], "activation": args["out_activation"], "name": "predictions"},
        ]
        return Expansion(layers, "predictions")


@register_block
class GAPHead(BlockType):
    """Global average pooling -> dense classes softmax."""

    name = "gap_head"
    primary = "classes"
    args = (Arg("classes", "int", low=1), Arg("out_activation", "activation", "softmax"))

    def expand(self, args: Mapping[str, Any], input_shape: Shape) -> Expansion:
        pool: list[Any] = [{"gap": None, "name": "pool"}] if len(input_shape) == 3 else []
        dense = {"dense": args["classes"], "activation": args["out_activation"], "name": "predictions"}
        return Expansion([*pool, dense], "predictions")
