"""Arguments and shape arithmetic that several layer types share."""

from __future__ import annotations

import math
from collections.abc import Sequence

from ..ir import Shape
from ..registry import Arg, ShapeError

BIAS = Arg("bias", "bool", True, keras="use_bias", aliases=("use_bias",), keras_default=True,
           doc="Add a bias vector.")  # fmt: skip
INIT = Arg("init", "initializer", "glorot_uniform", keras="kernel_initializer",
           aliases=("kernel_initializer", "initializer"), keras_default="glorot_uniform",
           doc="Kernel initializer, e.g. he_normal.")  # fmt: skip
L2 = Arg("l2", "float", None, low=0.0, doc="L2 weight decay on the kernel (kernel_regularizer=L2(l2)).")
ACTIVATION = Arg("activation", "activation", None, keras="activation", keras_default=None,
                 doc="Activation applied to the output (fused into the layer, as Keras does).")  # fmt: skip
STRIDES = Arg("strides", "pair", (1, 1), keras="strides", aliases=("stride",), keras_default=(1, 1))
PADDING = Arg("padding", "enum", "valid", keras="padding", choices=("valid", "same"), keras_default="valid")


def spatial(shape: Shape, what: str) -> tuple[int, int, int]:
    """(height, width, channels) of a 4-D tensor, or a ShapeError naming the layer kind."""
    if len(shape) != 3:
        raise ShapeError(
            f"{what} needs a 3-D input (height, width, channels) per example; got shape {list(shape)}"
            + (". Add `flatten` or `gap` only before dense layers, not before this one." if len(shape) == 1 else "")
        )
    return shape[0], shape[1], shape[2]


def window_out(size: int, kernel: int, stride: int, dilation: int, padding: str) -> int:
    """Output length along one axis, exactly as Keras computes it."""
    if padding == "same":
        return math.ceil(size / stride)
    span = dilation * (kernel - 1) + 1
    return (size - span) // stride + 1 if size >= span else 0


def window_shape(
    shape: Shape, kernel: Sequence[int], strides: Sequence[int], dilation: Sequence[int], padding: str, what: str
) -> tuple[int, int]:
    h, w, _ = spatial(shape, what)
    oh = window_out(h, kernel[0], strides[0], dilation[0], padding)
    ow = window_out(w, kernel[1], strides[1], dilation[1], padding)
    if oh < 1 or ow < 1:
        span = [dilation[i] * (kernel[i] - 1) + 1 for i in range(2)]
        raise ShapeError(
            f"a {span[0]}x{span[1]} window with padding '{padding}' does not fit the {h}x{w} input "
            f"(output would be {oh}x{ow}); use padding 'same', a smaller kernel or stride, or a larger input"
        )
    return oh, ow


def elements(shape: Shape) -> int:
    return math.prod(shape)
