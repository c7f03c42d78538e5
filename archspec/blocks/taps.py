"""Multi-layer feature taps: pool mid-level feature maps and concatenate them with the top.

The notes complement ResNet50's top features with ``conv3_block4_out`` through global
average pooling. With archspec that is one line after the top:
``{taps: avg, inputs: [avg_pool, conv3_block4_out]}``.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..ir import Shape
from ..registry import Arg, ShapeError
from . import BlockType, Expansion, register_block


@register_block
class Taps(BlockType):
    """Global-pool every 3-D input (flat inputs pass as they are) and concatenate them all."""

    name = "taps"
    aliases = ("feature_taps",)
    primary = "pool"
    args = (Arg("pool", "enum", "avg", choices=("avg", "max"), doc="Global pooling of 3-D inputs: avg or max."),)

    def expand_inputs(self, args: Mapping[str, Any], input_shapes: Sequence[Shape]) -> Expansion:
        if len(input_shapes) < 2:
            raise ValueError(
                f"taps joins several layers; list them in `inputs` (e.g. inputs: [avg_pool, conv3_block4_out]). "
                f"Received {len(input_shapes)} input"
            )
        kind = "gap" if args["pool"] == "avg" else "gmp"
        layers: list[Any] = []
        joined: list[str] = []
        for k, shape in enumerate(input_shapes):
            if len(shape) == 3:
                layers.append({kind: None, "inputs": f"input{k}", "name": f"pool{k}"})
                joined.append(f"pool{k}")
            elif len(shape) == 1:
                joined.append(f"input{k}")
            else:
                raise ShapeError(f"taps input {k} has shape {list(shape)}; expected a feature map or a flat vector")
        layers.append({"concat": None, "inputs": joined, "name": "concat"})
        return Expansion(layers, "concat")
