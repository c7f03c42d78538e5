"""Transformer blocks (Vaswani et al. 2017; ViT, Dosovitskiy et al. 2021): the encoder block
(multi-head self-attention and a position-wise MLP, each with a residual connection and a
layer norm) and ViT's embedding (patches, linear projection, [class] token, positions).

Both are macros over layers (``layernorm``, ``attention``, ``dense`` on tokens, ``add``,
``patches``, ``class_token``, ``position_embedding``), so their Keras models, generated code
and parameter counts follow from those layers.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..ir import Shape
from ..layers._common import spatial
from ..registry import Arg, ShapeError
from . import BlockType, Expansion, register_block

DROPOUT = Arg("dropout", "float", 0.0, low=0.0, high=1.0, doc="Dropout rate (training only); 0: no dropout layer.")


def _dropout(rate: float, name: str, layers: list[Any]) -> None:
    """Append a dropout layer when the rate is not 0 (so rate 0 adds no layer, as in the paper's table)."""
    if rate:
        layers.append({"dropout": rate, "name": name})


@register_block
class TransformerEncoder(BlockType):
    """Transformer encoder block: multi-head self-attention and a two-layer MLP, each added to
    its input; ``norm: pre`` (ViT) puts a layer norm before each, ``norm: post`` (the original
    Transformer) after each sum.

    pre:  x + MHA(LN(x)) -> y;  y + MLP(LN(y))
    post: LN(x + MHA(x)) -> y;  LN(y + MLP(y))
    """

    name = "transformer_encoder"
    aliases = ("encoder_block", "transformer_block")
    primary = "heads"
    args = (
        Arg("heads", "int", low=1, aliases=("num_heads",), doc="Attention heads h."),
        Arg("key_dim", "int", None, low=1, nullable=True, doc="Size of each head's query/key/value; default D // h."),
        Arg("mlp_dim", "int", None, low=1, nullable=True, aliases=("mlp_units",),
            doc="Hidden units of the MLP; default 4 D (ViT-B: 3072 for D = 768)."),
        Arg("norm", "enum", "pre", choices=("pre", "post"), doc="pre: LN before attention/MLP (ViT); post: after the sums."),
        Arg("activation", "activation", "gelu", doc="MLP activation (ViT: gelu; Vaswani et al.: relu)."),
        Arg("epsilon", "float", 1e-6, low=0.0, doc="Layer-norm epsilon (ViT: 1e-6; Keras' default is 1e-3)."),
        DROPOUT,
        Arg("attention_dropout", "float", 0.0, low=0.0, high=1.0, doc="Dropout on the attention weights."),
    )  # fmt: skip

    def expand(self, args: Mapping[str, Any], input_shape: Shape) -> Expansion:
        if len(input_shape) < 2:
            raise ShapeError(f"transformer_encoder needs tokens (tokens, dim); got shape {list(input_shape)}")
        dim, heads = input_shape[-1], args["heads"]
        if args["key_dim"] is None and dim % heads:
            raise ShapeError(f"{dim} channels do not split into {heads} heads; give `key_dim` or another `heads`")
        key_dim = args["key_dim"] or dim // heads
        mlp = args["mlp_dim"] or 4 * dim
        ln = {"epsilon": args["epsilon"]}
        pre = args["norm"] == "pre"
        layers: list[Any] = [{"layernorm": dict(ln), "name": "norm1"}] if pre else []
        layers.append(
            {"attention": heads, "key_dim": key_dim, "dropout": args["attention_dropout"], "name": "attention"}
        )
        _dropout(args["dropout"], "attention_dropout", layers)
        layers.append({"add": None, "inputs": ["input", layers[-1]["name"]], "name": "add1"})
        layers.append({"layernorm": dict(ln), "name": "norm2" if pre else "norm1"})
        residual = "add1" if pre else "norm1"
        layers.append({"dense": mlp, "activation": args["activation"], "name": "mlp_dense1"})
        _dropout(args["dropout"], "mlp_dropout1", layers)
        layers.append({"dense": dim, "name": "mlp_dense2"})
        _dropout(args["dropout"], "mlp_dropout2", layers)
        layers.append({"add": None, "inputs": [residual, layers[-1]["name"]], "name": "add2"})
        if not pre:
            layers.append({"layernorm": dict(ln), "name": "norm2"})
        notes = (f"{heads} heads of {key_dim} (D = {dim})",) if key_dim * heads != dim else ()
        return Expansion(layers, notes=notes)


@register_block
class VitEmbedding(BlockType):
    """ViT's input: cut the image into ``patch`` x ``patch`` patches, project each linearly to
    ``dim``, prepend a learned [class] token and add position embeddings (then dropout).

    (H, W, C) becomes (H W / P^2 + 1, dim). ``projection: conv`` writes the projection as a
    P x P convolution with stride P and a reshape (the same function and weights' count).
    """

    name = "vit_embedding"
    aliases = ("patch_embedding", "vit_embed")
    primary = "dim"
    args = (
        Arg("dim", "int", low=1, aliases=("hidden_size", "projection_dim"), doc="Token width D (ViT-B: 768)."),
        Arg("patch", "int", 16, low=1, aliases=("patch_size",), doc="Patch size P (ViT-B/16: 16)."),
        Arg("projection", "enum", "dense", choices=("dense", "conv"),
            doc="dense: patches then a dense layer (the paper's E); conv: a P x P / P conv then a reshape."),
        Arg("class_token", "bool", True, aliases=("cls_token",), doc="Prepend the learned [class] token."),
        Arg("position", "enum", "learned", choices=("learned", "sincos", "none"),
            doc="Position embedding: learned (ViT), sincos (fixed), none."),
        DROPOUT,
    )  # fmt: skip

    def expand(self, args: Mapping[str, Any], input_shape: Shape) -> Expansion:
        h, w, _ = spatial(input_shape, "vit_embedding")
        p, dim = args["patch"], args["dim"]
        if h % p or w % p:
            raise ShapeError(f"{p}x{p} patches do not tile the {h}x{w} input; use a patch size that divides it")
        if args["projection"] == "dense":
            layers: list[Any] = [{"patches": p, "name": "patches"}, {"dense": dim, "name": "projection"}]
        else:
            layers = [
                {"conv": dim, "kernel": p, "strides": p, "padding": "valid", "name": "projection"},
                {"reshape": [-1, dim], "name": "tokens"},
            ]
        if args["class_token"]:
            layers.append({"class_token": None, "name": "class_token"})
        if args["position"] != "none":
            layers.append({"position_embedding": args["position"], "name": "position_embedding"})
        _dropout(args["dropout"], "dropout", layers)
        n = (h // p) * (w // p)
        return Expansion(layers, notes=(f"{h}x{w} in {p}x{p} patches: {n} tokens of {dim}",))
