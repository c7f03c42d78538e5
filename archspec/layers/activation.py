"""Activation layers: ``relu``, ``leaky_relu``, ... and the generic ``act: NAME``."""

from __future__ import annotations

from collections.abc import Sequence
from typing import Any

from ..ir import Node, Shape
from ..registry import Arg, Call, Info, LayerType, register
from ._common import elements


class _Activation(LayerType):
    keras_class = "Activation"
    function: str = ""

    def infer(self, node: Node, inputs: Sequence[Shape]) -> Info:
        return Info(inputs[0], other_ops=elements(inputs[0]))

    def keras_kwargs(self, node: Node, *, explicit_only: bool = False) -> dict[str, Any]:
        return {"activation": node.args.get("function", self.function)}

    def emit(self, node: Node) -> Call:
        return Call("layers.Activation", (self.keras_kwargs(node)["activation"],), {"name": node.name})


@register
class Act(_Activation):
    """Any activation by name: ``act: gelu``."""

    name = "act"
    aliases = ("activation_layer",)
    primary = "function"
    args = (Arg("function", "activation", keras="activation"),)


def _simple(fn: str) -> type[_Activation]:
    cls = type(f"Activation_{fn}", (_Activation,), {"name": fn, "function": fn, "__doc__": f"The {fn} activation."})
    return register(cls)  # type: ignore[return-value]


for _fn in (
    "elu",
    "selu",
    "gelu",
    "swish",
    "silu",
    "sigmoid",
    "hard_sigmoid",
    "hard_swish",
    "tanh",
    "softplus",
    "mish",
):
    _simple(_fn)


@register
class ReLU(_Activation):
    """ReLU; ``{relu: null, max_value: 6}`` caps it (MobileNet's ReLU6)."""

    name = "relu"
    function = "relu"
    args = (
        Arg("max_value", "float", None, low=0.0, nullable=True),
        Arg("negative_slope", "float", 0.0, low=0.0),
    )

    def _plain(self, node: Node) -> bool:
        return node.args["max_value"] is None and node.args["negative_slope"] == 0.0

    def build(self, node: Node, **extra: Any) -> Any:
        if self._plain(node):
            return super().build(node, **extra)
        from keras import layers

        return layers.ReLU(**self._relu_kwargs(node), **extra, name=node.name)

    def _relu_kwargs(self, node: Node) -> dict[str, Any]:
        a = node.args
        return {"max_value": a["max_value"], "negative_slope": a["negative_slope"]}

    def emit(self, node: Node) -> Call:
        if self._plain(node):
            return super().emit(node)
        return Call("layers.ReLU", (), {**self._relu_kwargs(node), "name": node.name})


@register
class ReLU6(_Activation):
    """ReLU capped at 6 (MobileNet), as Keras' ``ReLU(6.0)``."""

    name = "relu6"
    function = "relu6"

    def build(self, node: Node, **extra: Any) -> Any:
        from keras import layers

        return layers.ReLU(6.0, **extra, name=node.name)

    def emit(self, node: Node) -> Call:
        return Call("layers.ReLU", (6.0,), {"name": node.name})


@register
class LeakyReLU(_Activation):
    """Leaky ReLU with ``negative_slope`` (Keras' default 0.3)."""

    name = "leaky_relu"
    keras_class = "LeakyReLU"
    primary = "negative_slope"
    args = (Arg("negative_slope", "float", 0.3, keras="negative_slope", aliases=("alpha",), low=0.0),)

    def build(self, node: Node, **extra: Any) -> Any:
        return LayerType.build(self, node, **extra)

    def emit(self, node: Node) -> Call:
        return LayerType.emit(self, node)

    def keras_kwargs(self, node: Node, *, explicit_only: bool = False) -> dict[str, Any]:
        return {"negative_slope": node.args["negative_slope"]}


@register
class Softmax(_Activation):
    """Softmax over the last axis."""

    name = "softmax"
    function = "softmax"
