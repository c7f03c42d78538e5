"""The ConvNeXt block (Liu et al. 2022, "A ConvNet for the 2020s"), with the layer names of
``keras.applications.ConvNeXt*``: 7x7 depthwise conv - layer norm - 1x1 to 4C (a dense layer
on every position) - GELU - 1x1 back to C - layer scale - residual add.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..ir import Shape
from ..layers._common import spatial
from ..registry import Arg
from . import BlockType, Expansion, register_block


def keras_auto_name(base: str, index: int) -> str:
    """The name Keras gives the ``index``-th unnamed layer of a kind in a session: add, add_1, ..."""
    return base if index == 0 else f"{base}_{index}"


@register_block
class ConvNeXtBlock(BlockType):
    """ConvNeXt block: depthwise 7x7 conv - LN - dense 4C - GELU - dense C - layer scale - (+ input).

    Local names are Keras' (``depthwise_conv``, ``layernorm``, ``pointwise_conv_1``, ``gelu``,
    ``pointwise_conv_2``, ``layer_scale``, ``identity``); Keras writes the residual sum as
    ``inputs + x``, an operation it names ``add``, ``add_1``, ... across the model:
    ``add_index: n`` gives the sum that model-wide name, otherwise it is the local ``add``.
    """

    name = "convnext_block"
    aliases = ("convnext",)
    primary = "expansion"
    args = (
        Arg("expansion", "int", 4, low=1, doc="MLP width as a multiple of the channels (the inverted bottleneck: 4)."),
        Arg("kernel", "int", 7, low=1, doc="Depthwise kernel (7 in the paper)."),
        Arg("layer_scale", "float", 1e-6, low=0.0, aliases=("layer_scale_init_value",),
            doc="Initial value of the layer scale; 0: no layer scale."),
        Arg("drop_path", "float", 0.0, low=0.0, high=1.0, aliases=("drop_path_rate",),
            doc="Stochastic depth rate of the residual branch (training only); 0: Keras' linear `identity`."),
        Arg("epsilon", "float", 1e-6, low=0.0, doc="Layer-norm epsilon."),
        Arg("add_index", "int", None, low=0, nullable=True,
            doc="Keras' model-wide counter of the residual sum: name it add (0), add_1, ...; default local `add`."),
    )  # fmt: skip

    def expand(self, args: Mapping[str, Any], input_shape: Shape) -> Expansion:
        c = spatial(input_shape, "convnext_block")[2]
        layers: list[Any] = [
            # Keras writes the depthwise conv as a grouped Conv2D (groups = channels), with bias
            {"conv": c, "kernel": args["kernel"], "padding": "same", "groups": c, "name": "depthwise_conv"},
            {"layernorm": None, "epsilon": args["epsilon"], "name": "layernorm"},
            {"dense": args["expansion"] * c, "per_position": True, "name": "pointwise_conv_1"},
            {"gelu": None, "name": "gelu"},
            {"dense": c, "per_position": True, "name": "pointwise_conv_2"},
        ]
        if args["layer_scale"]:
            layers.append({"layer_scale": args["layer_scale"], "name": "layer_scale"})
        add = "add" if args["add_index"] is None else keras_auto_name("add", args["add_index"])
        if args["drop_path"]:
            layers.append(
                {"stochastic_depth": 1.0 - args["drop_path"], "inputs": ["input", layers[-1]["name"]], "name": add}
            )
        else:
            layers.append({"act": "linear", "name": "identity"})
            layers.append({"add": None, "inputs": ["input", "identity"], "name": add})
        return Expansion(layers, global_names=frozenset() if args["add_index"] is None else frozenset({add}))
