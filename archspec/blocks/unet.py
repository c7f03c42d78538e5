"""U-Net's expanding path (Ronneberger et al. 2015): one up step.

``{unet_up: 512, inputs: [prev, skip]}`` up-samples ``prev`` with a 2x2 "up-convolution"
that halves the channels, brings the contracting path's ``skip`` to the same size (the
paper's copy and crop, with ``padding: valid``), concatenates the two and runs two 3x3
convolutions with ReLU.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from ..ir import Shape
from ..layers._common import spatial
from ..registry import Arg, ShapeError
from . import BlockType, Expansion, register_block


@register_block
class UNetUp(BlockType):
    """U-Net up step: 2x2 up-conv (stride 2) to ``filters`` - crop the skip to its size -
    concat [skip, up] - ``convs`` x (3x3 conv ``filters`` - [BN] - ReLU).

    Takes two inputs, ``inputs: [below, skip]``: the tensor from the step below and the
    contracting path's feature map at this resolution.
    """

    name = "unet_up"
    aliases = ("unet_up_step", "up_step")
    primary = "filters"
    args = (
        Arg("filters", "int", low=1, doc="Channels of the up-conv and of the convs (the paper halves them per step)."),
        Arg("padding", "enum", "valid", choices=("valid", "same"),
            doc="valid: the paper's unpadded convs, the skip cropped to fit; same: sizes kept, nothing cropped."),
        Arg("up", "enum", "conv_transpose", choices=("conv_transpose", "upsample"),
            doc="conv_transpose: a learned 2x2 stride-2 up-conv; upsample: nearest 2x then a 2x2 conv."),
        Arg("convs", "int", 2, low=1, doc="3x3 convolutions after the concatenation."),
        Arg("kernel", "int", 3, low=1, doc="Kernel of those convolutions."),
        Arg("batchnorm", "bool", False, aliases=("bn",), doc="Batch norm after each conv (not in the paper)."),
        Arg("activation", "activation", "relu", doc="Activation of the convs."),
    )  # fmt: skip

    def expand(self, args: Mapping[str, Any], input_shape: Shape) -> Expansion:
        raise ShapeError("unet_up takes two inputs, `inputs: [below, skip]`: the step below and the skip connection")

    def expand_inputs(self, args: Mapping[str, Any], input_shapes: Sequence[Shape]) -> Expansion:
        if len(input_shapes) != 2:
            raise ShapeError(f"unet_up takes two inputs, `inputs: [below, skip]`; got {len(input_shapes)}")
        bh, bw, _ = spatial(input_shapes[0], "unet_up")
        sh, sw, _ = spatial(input_shapes[1], "unet_up's skip")
        f, pad = args["filters"], args["padding"]
        layers: list[Any] = self._up(args, f)
        notes: list[str] = []
        if (sh, sw) != (2 * bh, 2 * bw):
            if pad == "same":
                raise ShapeError(
                    f"the skip is {sh}x{sw} but the up-sampled map is {2 * bh}x{2 * bw}; with padding: same the "
                    "sizes must agree (an input size divisible by 2^depth), or use padding: valid to crop"
                )
            layers.append({"crop_to": None, "inputs": ["input1", "up"], "name": "crop"})
            notes.append(f"skip cropped from {sh}x{sw} to {2 * bh}x{2 * bw}")
        skip = "crop" if layers[-1]["name"] == "crop" else "input1"
        layers.append({"concat": None, "inputs": [skip, "up"], "name": "concat"})
        for k in range(1, args["convs"] + 1):
            conv = {"conv": f, "kernel": args["kernel"], "padding": pad, "name": f"conv{k}"}
            if args["batchnorm"]:
                layers += [{**conv, "bias": False}, {"bn": None, "name": f"bn{k}"}, {"act": args["activation"], "name": f"act{k}"}]  # fmt: skip
            else:
                layers.append({**conv, "activation": args["activation"]})
        return Expansion(layers, notes=tuple(notes))

    @staticmethod
    def _up(args: Mapping[str, Any], filters: int) -> list[Any]:
        if args["up"] == "conv_transpose":
            return [{"conv_transpose": filters, "kernel": 2, "strides": 2, "inputs": "input0", "name": "up"}]
        return [
            {"upsample": 2, "inputs": "input0", "name": "upsample"},
            {"conv": filters, "kernel": 2, "padding": "same", "activation": args["activation"], "name": "up"},
        ]
