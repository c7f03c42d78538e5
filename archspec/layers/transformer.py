"""Transformer layers (Vaswani et al. 2017; ViT, Dosovitskiy et al. 2021): patches,
multi-head attention, the [class] token, position embeddings, token selection, layer scale."""

from __future__ import annotations

import math
from collections.abc import Sequence
from typing import Any

from ..ir import Node, Shape
from ..registry import Arg, Call, Info, LayerType, ShapeError, Window, register
from ._common import BIAS, elements, spatial


def tokens(shape: Shape, what: str) -> tuple[int, int]:
    """(tokens, dim) of a token sequence, or a ShapeError that says how to get one."""
    if len(shape) != 2:
        raise ShapeError(
            f"{what} needs a sequence of tokens, shape (tokens, dim) per example; got shape {list(shape)}. "
            "Turn an H x W x C feature map into tokens with `reshape: [-1, C]`, or an image with `patches: P`"
        )
    return shape[0], shape[1]


@register
class Patches(LayerType):
    """Cut the map into non-overlapping ``size`` patches, one flattened token each (ViT):
    (H, W, C) becomes (H/p * W/p, p * p * C). Follow it with ``dense: D`` for the paper's
    linear patch embedding (the same function as a ``conv`` with ``kernel`` and ``strides``
    ``p`` then ``reshape: [-1, D]``). Keras has no such layer: archspec provides
    ``archspec.keras_layers.Patches``."""

    name = "patches"
    aliases = ("patchify",)
    keras_class = "Patches"
    custom = True
    primary = "size"
    args = (Arg("size", "pair", (16, 16), keras="size", keras_default=(16, 16), doc="Patch size: p or [rows, cols]."),)

    def infer(self, node: Node, inputs: Sequence[Shape]) -> Info:
        h, w, c = spatial(inputs[0], "patches")
        ph, pw = node.args["size"]
        if h % ph or w % pw:
            raise ShapeError(
                f"patches of {ph}x{pw} do not tile the {h}x{w} input; use a size that divides it "
                "(ViT: 224x224 in 16x16 patches), or resize or crop the input first"
            )
        return Info(((h // ph) * (w // pw), ph * pw * c))


@register
class Attention(LayerType):
    """Multi-head scaled dot-product attention (Keras ``MultiHeadAttention``).

    Self-attention on the previous layer by default; ``inputs: [query, value]`` or
    ``[query, value, key]`` attends from one tensor to others. The output has the query's
    shape. On a feature map (H, W, C) it attends over all H x W positions. archspec's class
    is Keras' own (same weights, names and arithmetic), callable on one tensor or a list.
    """

    name = "attention"
    aliases = ("mha", "multi_head_attention", "multiheadattention")
    keras_class = "MultiHeadAttention"
    custom = True  # Keras' class, called on one tensor or a list (see archspec.keras_layers)
    multi_input = True
    primary = "heads"
    args = (
        Arg("heads", "int", low=1, keras="num_heads", aliases=("num_heads",), doc="Number of attention heads."),
        Arg("key_dim", "int", low=1, keras="key_dim", doc="Size of each head's query and key vectors."),
        Arg("value_dim", "int", None, low=1, keras="value_dim", nullable=True,
            doc="Size of each head's value vectors; default key_dim."),
        Arg("dropout", "float", 0.0, keras="dropout", low=0.0, high=1.0, keras_default=0.0,
            doc="Dropout on the attention weights (training only)."),
        BIAS,
    )  # fmt: skip

    def infer(self, node: Node, inputs: Sequence[Shape]) -> Info:
        if not 1 <= len(inputs) <= 3:
            raise ShapeError(f"attention takes one input (self-attention) or [query, value, key]; got {len(inputs)}")
        query = inputs[0]
        value = inputs[1] if len(inputs) > 1 else query
        key = inputs[2] if len(inputs) > 2 else value
        self.check_shapes(node, query, value, key)
        a = node.args
        heads, kd = a["heads"], a["key_dim"]
        vd = a["value_dim"] or kd
        tq, tk = math.prod(query[:-1]), math.prod(value[:-1])
        dq, dk, dv = query[-1], key[-1], value[-1]
        weights = dq * heads * kd + dk * heads * kd + dv * heads * vd + heads * vd * dq
        biases = (2 * heads * kd + heads * vd + dq) * a["bias"]
        projections = tq * dq * heads * kd + tk * dk * heads * kd + tk * dv * heads * vd + tq * heads * vd * dq
        products = heads * tq * tk * (kd + vd)  # Q K^T and (attention weights) V
        bias_adds = (tq * heads * kd + tk * heads * kd + tk * heads * vd + tq * dq) * a["bias"]
        return Info(
            query, trainable=weights + biases, macs=projections + products, other_ops=heads * tq * tk + bias_adds
        )

    def window_on(self, node: Node, inputs: Sequence[Shape], shape: Shape) -> Window | None:
        # global: each query position reads every position of the key/value map, so all of
        # them see the same field (stride 0: a later window widens it no more)
        keys = inputs[-1]
        return Window((keys[0], keys[1]), (0, 0)) if len(keys) == 3 else None

    def check_shapes(self, node: Node, query: Shape, value: Shape, key: Shape) -> None:
        if len(query) < 2:
            raise ShapeError(f"attention needs tokens (tokens, dim) or a feature map; got shape {list(query)}")
        if len(value) != len(query) or key[:-1] != value[:-1]:
            raise ShapeError(
                f"attention needs query, value and key of one rank, and key and value with the same positions; "
                f"got query {list(query)}, value {list(value)}, key {list(key)}"
            )


@register
class ClassToken(LayerType):
    """Prepend a learned [class] token: (tokens, dim) becomes (tokens + 1, dim) (ViT).

    Keras has no such layer: archspec provides ``archspec.keras_layers.ClassToken``.
    """

    name = "class_token"
    aliases = ("cls_token",)
    keras_class = "ClassToken"
    custom = True

    def infer(self, node: Node, inputs: Sequence[Shape]) -> Info:
        n, dim = tokens(inputs[0], "class_token")
        return Info((n + 1, dim), trainable=dim)


@register
class PositionEmbedding(LayerType):
    """Add a position embedding, one vector per token: ``learned`` (ViT; a trainable weight
    of the input's shape) or ``sincos`` (the fixed table of Vaswani et al., no weights).

    Keras has no such layer: archspec provides ``archspec.keras_layers.PositionEmbedding``.
    """

    name = "position_embedding"
    aliases = ("pos_embedding", "pos_embed")
    keras_class = "PositionEmbedding"
    custom = True
    primary = "kind"
    args = (
        Arg("kind", "enum", "learned", keras="kind", keras_default="learned", choices=("learned", "sincos"),
            doc="learned: trainable; sincos: fixed sines and cosines (needs tokens)."),
    )  # fmt: skip

    def infer(self, node: Node, inputs: Sequence[Shape]) -> Info:
        shape = inputs[0]
        if node.args["kind"] == "sincos":
            tokens(shape, "position_embedding: sincos")
            return Info(shape, other_ops=elements(shape))
        return Info(shape, trainable=elements(shape), other_ops=elements(shape))


@register
class SelectToken(LayerType):
    """Reduce a token sequence to one vector: the ``first`` token (ViT's [class] token output)
    or the ``mean`` over tokens (Keras ``GlobalAveragePooling1D``)."""

    name = "select_token"
    aliases = ("token_pool",)
    keras_class = "SelectToken"
    custom = True  # `first` is archspec's layer; `mean` is Keras' own
    primary = "mode"
    args = (Arg("mode", "enum", "first", choices=("first", "mean"), doc="Which token, or their mean."),)

    def infer(self, node: Node, inputs: Sequence[Shape]) -> Info:
        n, dim = tokens(inputs[0], "select_token")
        return Info((dim,), other_ops=n * dim * (node.args["mode"] == "mean"))

    def build(self, node: Node, **extra: Any) -> Any:
        if node.args["mode"] == "mean":
            from keras import layers

            return layers.GlobalAveragePooling1D(**extra, name=node.name)
        from .. import keras_layers

        return keras_layers.SelectToken(**extra, name=node.name)

    def emit(self, node: Node) -> Call:
        callee = "layers.GlobalAveragePooling1D" if node.args["mode"] == "mean" else "archspec_layers.SelectToken"
        return Call(callee, (), {"name": node.name})


@register
class LayerScale(LayerType):
    """Multiply each channel by a learned factor, all ``init_values`` at first (CaiT's and
    ConvNeXt's layer scale): one trainable weight per channel.

    The same layer as ``keras.applications.convnext.LayerScale``, which Keras does not
    export: archspec provides ``archspec.keras_layers.LayerScale``.
    """

    name = "layer_scale"
    aliases = ("layerscale",)
    keras_class = "LayerScale"
    custom = True
    primary = "init_values"
    args = (
        Arg("init_values", "float", 1e-6, keras="init_values", aliases=("init_value",), keras_default=1e-6,
            doc="Initial value of every factor (ConvNeXt: 1e-6)."),
    )  # fmt: skip

    def infer(self, node: Node, inputs: Sequence[Shape]) -> Info:
        return Info(inputs[0], trainable=inputs[0][-1], other_ops=elements(inputs[0]))
