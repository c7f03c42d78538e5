"""Mobile blocks: MobileNet's depthwise separable conv, MobileNetV2's inverted residual and
EfficientNet's MBConv with squeeze-and-excitation, each built from primitive layers with
the layer names of ``keras.applications`` (MobileNet, MobileNetV2, EfficientNetB0).

Strided depthwise convs are padded explicitly and run with ``padding: valid``, as Keras
does, so the output size and the receptive field are Keras' own.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import Any

from ..expressions import make_divisible
from ..ir import Shape
from ..registry import Arg, ShapeError
from . import BlockType, Expansion, register_block

ALPHA = Arg("alpha", "float", 1.0, low=0.0, aliases=("width",), doc="Width multiplier alpha applied to `filters`.")
STRIDES = Arg("strides", "int", 1, low=1, high=2, aliases=("stride",), doc="1 or 2 (applied by the depthwise conv).")
KERNEL = Arg("kernel", "int", 3, low=1, aliases=("kernel_size",), doc="Depthwise kernel size.")


def _hwc(shape: Shape, what: str) -> tuple[int, int, int]:
    if len(shape) != 3:
        raise ShapeError(f"{what} needs a 3-D input (height, width, channels); got shape {list(shape)}")
    return shape[0], shape[1], shape[2]


def correct_pad(height: int, width: int, kernel: int) -> list[list[int]]:
    """Zero padding before a stride-2 'valid' conv, as ``keras.applications.imagenet_utils.correct_pad``:
    one row/column less at the top/left when the size is even."""
    half = kernel // 2
    return [[half - (1 - height % 2), half], [half - (1 - width % 2), half]]


def _conv1x1(filters: int, name: str, **extra: Any) -> dict[str, Any]:
    return {"conv": filters, "kernel": 1, "padding": "same", "bias": False, "activation": None, "name": name, **extra}


def _depthwise(kernel: int, strides: int, name: str, **extra: Any) -> dict[str, Any]:
    padding = "same" if strides == 1 else "valid"
    return {"depthwise": kernel, "strides": strides, "padding": padding, "bias": False, "name": name, **extra}


@register_block
class DepthwiseSeparable(BlockType):
    """MobileNet v1 block: 3x3 depthwise - BN - ReLU6 - 1x1 conv to int(alpha * filters) - BN - ReLU6.

    With ``id: N`` the layers get Keras' MobileNet names (``conv_dw_N``, ``conv_dw_N_bn``,
    ``conv_pw_N_relu``, ``conv_pad_N``); otherwise ``{instance}_dw``, ``{instance}_pw_bn``, ...
    """

    name = "dw_separable"
    aliases = ("depthwise_separable", "mobilenet_block")
    primary = "filters"
    args = (
        Arg("filters", "int", low=1, doc="Pointwise filters before the width multiplier."),
        ALPHA,
        STRIDES,
        Arg("depth_multiplier", "int", 1, low=1, doc="Resolution-free depth multiplier of the depthwise conv."),
        Arg("id", "int", None, low=0, doc="Keras' block_id: use Keras' layer names conv_dw_{id}, ..."),
    )

    def expand(self, args: Mapping[str, Any], input_shape: Shape) -> Expansion:
        _hwc(input_shape, "dw_separable")
        filters = int(args["filters"] * args["alpha"])
        if filters < 1:
            raise ShapeError(f"alpha {args['alpha']} leaves int({args['filters']} x {args['alpha']}) = 0 filters")
        dw, pw, pad = (
            ("dw", "pw", "pad") if args["id"] is None else (f"dw_{args['id']}", f"pw_{args['id']}", f"pad_{args['id']}")
        )
        layers: list[Any] = []
        if args["strides"] == 2:
            layers.append({"zeropad": [[0, 1], [0, 1]], "name": pad})
        layers += [
            _depthwise(3, args["strides"], dw, depth_multiplier=args["depth_multiplier"]),
            {"bn": None, "name": f"{dw}_bn"},
            {"relu6": None, "name": f"{dw}_relu"},
            _conv1x1(filters, pw),
            {"bn": None, "name": f"{pw}_bn"},
            {"relu6": None, "name": f"{pw}_relu"},
        ]
        notes = (f"int({args['filters']} x alpha {args['alpha']}) = {filters} filters",) if args["alpha"] != 1 else ()
        return Expansion(layers, notes=notes, prefix=None if args["id"] is None else "conv_")


@register_block
class InvertedResidual(BlockType):
    """MobileNetV2 inverted residual: 1x1 expand - BN - ReLU6 - 3x3 depthwise - BN - ReLU6 -
    linear 1x1 project - BN, plus an identity shortcut when the shape is unchanged."""

    name = "inverted_residual"
    aliases = ("mbv2_block",)
    primary = "filters"
    args = (
        Arg("filters", "int", low=1, doc="Output channels before alpha; rounded with make_divisible(int(alpha*f), 8)."),
        Arg("expansion", "int", 6, low=1, aliases=("expand_ratio", "t"), doc="Expansion factor t; 1 skips the expand conv."),
        STRIDES,
        ALPHA,
        KERNEL,
        Arg("momentum", "float", 0.999, low=0.0, high=1.0, doc="Batch-norm momentum (Keras' MobileNetV2: 0.999)."),
        Arg("epsilon", "float", 1e-3, low=0.0, doc="Batch-norm epsilon."),
    )  # fmt: skip

    def expand(self, args: Mapping[str, Any], input_shape: Shape) -> Expansion:
        h, w, cin = _hwc(input_shape, "inverted_residual")
        raw = int(args["filters"] * args["alpha"])
        out = make_divisible(raw, 8)
        bn = {"momentum": args["momentum"], "epsilon": args["epsilon"]}
        layers: list[Any] = []
        if args["expansion"] != 1:
            layers += [
                _conv1x1(args["expansion"] * cin, "expand"),
                {"bn": dict(bn), "name": "expand_BN"},
                {"relu6": None, "name": "expand_relu"},
            ]
        if args["strides"] == 2:
            layers.append({"zeropad": correct_pad(h, w, args["kernel"]), "name": "pad"})
        layers += [
            _depthwise(args["kernel"], args["strides"], "depthwise"),
            {"bn": dict(bn), "name": "depthwise_BN"},
            {"relu6": None, "name": "depthwise_relu"},
            _conv1x1(out, "project"),
            {"bn": dict(bn), "name": "project_BN"},
        ]
        notes = [f"make_divisible(int({args['filters']} x {args['alpha']}), 8) = {out} filters"] if out != raw else []
        if cin == out and args["strides"] == 1:
            layers.append({"add": None, "inputs": ["input", "project_BN"], "name": "add"})
        return Expansion(layers, notes=tuple(notes))


@register_block
class MBConv(BlockType):
    """EfficientNet MBConv: 1x1 expand - BN - swish - kxk depthwise - BN - swish - squeeze-excitation -
    1x1 project - BN, plus (drop-connect and) an identity shortcut when the shape is unchanged."""

    name = "mbconv"
    primary = "filters"
    args = (
        Arg("filters", "int", low=1, aliases=("filters_out",), doc="Output channels (already width-rounded)."),
        Arg("expansion", "int", 6, low=1, aliases=("expand_ratio",), doc="Expansion ratio; 1 skips the expand conv."),
        KERNEL,
        STRIDES,
        Arg("se_ratio", "float", 0.25, low=0.0, high=1.0, doc="SE bottleneck: max(1, int(C_in * se_ratio)); 0: no SE."),
        Arg("activation", "activation", "swish", doc="Activation after expand, depthwise, SE reduce."),
        Arg("drop_rate", "float", 0.0, low=0.0, high=1.0, doc="Drop-connect rate on the residual branch (training only)."),
        Arg("skip", "bool", True, aliases=("id_skip",), doc="Add the identity shortcut when the shape is unchanged."),
    )  # fmt: skip

    def expand(self, args: Mapping[str, Any], input_shape: Shape) -> Expansion:
        h, w, cin = _hwc(input_shape, "mbconv")
        act, mid = args["activation"], cin * args["expansion"]
        layers: list[Any] = []
        if args["expansion"] != 1:
            layers += [_conv1x1(mid, "expand_conv"), {"bn": None, "name": "expand_bn"},
                       {"act": act, "name": "expand_activation"}]  # fmt: skip
        if args["strides"] == 2:
            layers.append({"zeropad": correct_pad(h, w, args["kernel"]), "name": "dwconv_pad"})
        layers += [
            _depthwise(args["kernel"], args["strides"], "dwconv"),
            {"bn": None, "name": "bn"},
            {"act": act, "name": "activation"},
        ]
        if args["se_ratio"]:
            squeezed = max(1, int(cin * args["se_ratio"]))
            layers += [
                {"gap": None, "name": "se_squeeze"},
                {"reshape": [1, 1, mid], "name": "se_reshape"},
                {"conv": squeezed, "kernel": 1, "padding": "same", "activation": act, "name": "se_reduce"},
                {"conv": mid, "kernel": 1, "padding": "same", "activation": "sigmoid", "name": "se_expand"},
                {"multiply": None, "inputs": ["activation", "se_expand"], "name": "se_excite"},
            ]
        layers += [_conv1x1(args["filters"], "project_conv"), {"bn": None, "name": "project_bn"}]
        if args["skip"] and args["strides"] == 1 and cin == args["filters"]:
            if args["drop_rate"] > 0:
                layers.append({"dropout": args["drop_rate"], "noise_shape": [1, 1, 1], "name": "drop"})
            layers.append({"add": None, "inputs": [layers[-1]["name"], "input"], "name": "add"})
        return Expansion(layers)


@register_block
class MobileNetV3Block(BlockType):
    """MobileNetV3 bottleneck (Howard et al. 2019, Tables 1-2): 1x1 expand - BN - act - kxk depthwise
    - BN - act - [squeeze-excite with a hard-sigmoid gate] - linear 1x1 project - BN (+ input).

    ``act`` is ``relu`` or ``hard_swish``; the expand conv is left out when ``expanded`` equals
    the input channels (the first bottleneck). With ``id: N`` the layers get the names of
    keras.applications.MobileNetV3 (``expanded_conv_N_expand``, ...; ``expanded_conv_...`` for
    id 0), and its unnamed activations Keras' model-wide names ``re_lu_K`` and
    ``activation_K``, counted from ``relu_index`` and ``activation_index``.
    """

    name = "mobilenetv3_block"
    aliases = ("mbv3_block", "bneck")
    primary = "filters"
    args = (
        Arg("filters", "int", low=1, aliases=("out",), doc="Output channels (the table's #out)."),
        Arg("expanded", "int", low=1, aliases=("exp_size", "exp"), doc="Channels after the expand conv (the table's exp size)."),
        KERNEL,
        STRIDES,
        Arg("se", "bool", False, doc="Squeeze-and-excite: gap - 1x1 conv to make_divisible(exp/4) - relu - 1x1 conv - hard sigmoid."),
        Arg("activation", "enum", "relu", choices=("relu", "hard_swish"), aliases=("nl",), doc="RE or HS in the table."),
        Arg("id", "int", None, low=0, nullable=True, doc="Keras' block_id: use Keras' layer names."),
        Arg("relu_index", "int", 0, low=0, doc="With `id`: Keras' counter of unnamed ReLU layers before this block."),
        Arg("activation_index", "int", 0, low=0, doc="With `id`: Keras' counter of unnamed Activation layers before it."),
    )  # fmt: skip

    def expand(self, args: Mapping[str, Any], input_shape: Shape) -> Expansion:
        h, w, cin = _hwc(input_shape, "mobilenetv3_block")
        names = _V3Names(args)
        exp, bn = args["expanded"], {"momentum": 0.999, "epsilon": 1e-3}
        layers: list[Any] = []
        if exp != cin:
            layers += [_conv1x1(exp, names("expand")), {"bn": dict(bn), "name": names("expand_bn")},
                       names.act("expand_activation")]  # fmt: skip
        if args["strides"] == 2:
            layers.append({"zeropad": correct_pad(h, w, args["kernel"]), "name": names("depthwise_pad")})
        layers += [
            _depthwise(args["kernel"], args["strides"], names("depthwise")),
            {"bn": dict(bn), "name": names("depthwise_bn")},
            names.act("depthwise_activation"),
        ]
        if args["se"]:
            layers += self._se(exp, layers[-1]["name"], names)
        layers += [_conv1x1(args["filters"], names("project")), {"bn": dict(bn), "name": names("project_bn")}]
        if args["strides"] == 1 and cin == args["filters"]:
            layers.append({"add": None, "inputs": ["input", names("project_bn")], "name": names("add")})
        return Expansion(layers, prefix=None if args["id"] is None else "")

    @staticmethod
    def _se(exp: int, before: str, names: _V3Names) -> list[Any]:
        squeeze = make_divisible(exp * 0.25, 8)
        se = "squeeze_excite_"
        gate = names.auto("re_lu", se + "gate")
        return [
            {"gap": None, "keepdims": True, "name": names(se + "avg_pool")},
            {"conv": squeeze, "kernel": 1, "padding": "same", "name": names(se + "conv")},
            {"relu": None, "name": names(se + "relu")},
            {"conv": exp, "kernel": 1, "padding": "same", "name": names(se + "conv_1")},
            # Keras writes the gate as ReLU(6.0)(x + 3.0) * (1/6): the same function, and only its
            # ReLU is a layer, an unnamed one: the hard_sigmoid layer carries that ReLU's name
            {"hard_sigmoid": None, "name": gate},
            {"multiply": None, "inputs": [before, gate], "name": names(se + "mul")},
        ]


class _V3Names:
    """Layer names of one MobileNetV3 block: local ones, or Keras' with ``id``."""

    def __init__(self, args: Mapping[str, Any]):
        self.id, self.act_kind = args["id"], args["activation"]
        self.count = {"re_lu": args["relu_index"], "activation": args["activation_index"]}
        self.prefix = "" if self.id is None else ("expanded_conv_" if self.id == 0 else f"expanded_conv_{self.id}_")

    def __call__(self, local: str) -> str:
        return self.prefix + local

    def auto(self, kind: str, local: str) -> str:
        """Keras' automatic name of the next unnamed layer of ``kind`` (``re_lu_7``), or ``local``."""
        if self.id is None:
            return local
        n = self.count[kind]
        self.count[kind] += 1
        return kind if n == 0 else f"{kind}_{n}"

    def act(self, local: str) -> dict[str, Any]:
        kind = "re_lu" if self.act_kind == "relu" else "activation"
        return {self.act_kind: None, "name": self.auto(kind, local)}
