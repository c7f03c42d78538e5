"""The residual family: ResNet v1/v2 basic and bottleneck units, ResNeXt, SE-ResNet,
stochastic depth.

``{residual: 64, strides: 2, name: conv3_block1}`` expands into primitive layers named the
way ``keras.applications`` names them (``conv3_block1_1_conv``, ``conv3_block1_0_bn``,
``conv3_block1_add``, ``conv3_block1_out``), so a spec can reproduce Keras' ResNets layer
for layer. The shortcut is chosen from the shape the unit receives and recorded in the
expansion's notes, because a projection adds parameters the user did not write.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..ir import Shape
from ..layers._common import spatial
from ..registry import Arg
from . import BlockType, Expansion, register_block


@dataclass(frozen=True)
class _Plan:
    """The resolved choices of one unit, from its arguments and input shape."""

    cin: int
    cout: int
    inner: int
    strides: int
    v2: bool
    bottleneck: bool
    shortcut: str  # identity | projection | pad
    stride_on: str  # 1x1 | 3x3
    explicit_pad: bool


@register_block
class Residual(BlockType):
    """Residual unit (He et al. 2016): basic or bottleneck, v1 or v2, with ResNeXt groups,
    squeeze-excitation and stochastic depth.

    Layer names follow keras.applications: ``1_conv``/``1_bn``/``1_relu``, ``2_...``,
    ``3_...`` on the residual branch, ``0_conv``/``0_bn`` on a projection shortcut,
    ``preact_bn``/``preact_relu`` (v2), ``add`` and ``out`` (v1), ``out`` (the add, v2).
    """

    name = "residual"
    aliases = ("resblock", "residual_block")
    primary = "filters"
    args = (
        Arg("filters", "int", low=1,
            doc="Width of the unit: both 3x3 convs (basic), or the 1x1/3x3 convs of a bottleneck, "
                "whose output has filters * expansion channels (Keras' `filters`)."),
        Arg("kind", "enum", "bottleneck", choices=("basic", "bottleneck"),
            doc="basic: two 3x3 convs (ResNet-18/34, CIFAR); bottleneck: 1x1-3x3-1x1 (ResNet-50+)."),
        Arg("version", "enum", "v1", choices=("v1", "v2"),
            doc="v1: conv-BN-ReLU, ReLU after the add (post-activation); v2: BN-ReLU-conv (pre-activation, "
                "He et al. 2016b), nothing after the add."),
        Arg("strides", "int", 1, low=1, aliases=("stride",), doc="Spatial stride of the unit."),
        Arg("stride_on", "enum", None, choices=("1x1", "3x3"),
            doc="Bottleneck only: the conv that carries the stride. 1x1: the first 1x1 (the original Caffe "
                "ResNet and keras.applications.ResNet50); 3x3 (default): torchvision's 'ResNet v1.5', ResNeXt, "
                "keras ResNetV2."),
        Arg("shortcut", "enum", "auto", choices=("auto", "identity", "projection", "pad"),
            doc="auto: identity when the shape is unchanged, else projection (the paper's option B). "
                "identity: parameter-free, subsampled by a 1x1 max pool when strided. projection: 1x1 conv "
                "with the stride (+ BN in v1). pad: identity with zero channels appended where the channels "
                "grow (the paper's option A, its CIFAR nets)."),
        Arg("expansion", "int", None, low=1, doc="Output channels / filters of a bottleneck (default 4)."),
        Arg("cardinality", "int", 1, low=1, doc="ResNeXt: groups of the 3x3 conv of a bottleneck (C in 32x4d)."),
        Arg("bottleneck_width", "int", 64, low=1, aliases=("base_width", "width_per_group"),
            doc="ResNeXt: width d of each group at filters=64 (d in 32x4d); the 3x3 conv has "
                "floor(filters * d / 64) * cardinality channels. Default 64 with cardinality 1: plain ResNet."),
        Arg("bias", "bool", None, nullable=True,
            doc="Conv biases. Default (null): only on convs not followed by batch norm (v2's last conv and "
                "projection). true: on every conv (keras.applications.ResNet50). false: on none."),
        Arg("padding", "enum", "auto", choices=("auto", "same", "explicit"),
            doc="How a 3x3 conv pads: same (Keras 'same'), or explicit (a 1-pixel ZeroPadding2D `N_pad`, then a "
                "'valid' conv, as Keras' ResNetV2 and PyTorch do). auto: explicit for v2, same for v1."),
        Arg("epsilon", "float", 1.001e-5, low=0.0, doc="Batch-norm epsilon (keras.applications' ResNets: 1.001e-5)."),
        Arg("momentum", "float", 0.99, low=0.0, high=1.0, doc="Batch-norm momentum."),
        Arg("se_ratio", "int", None, low=1, nullable=True,
            doc="Attach a squeeze-excitation block with this reduction ratio r to the residual branch, before "
                "the add (SE-ResNet: 16)."),
        Arg("survival", "float", 1.0, low=0.0, high=1.0,
            doc="Stochastic depth: probability p_l that the residual branch is kept in training (1.0: off)."),
        Arg("survival_last", "float", None, low=0.0, high=1.0, nullable=True,
            doc="Stochastic depth by the linear decay rule p_l = 1 - l/L (1 - p_L): p_L here, with "
                "`block_index` (l, from 1) and `num_blocks` (L)."),
        Arg("block_index", "int", None, low=1, nullable=True, doc="l of the linear decay rule (1 = first unit)."),
        Arg("num_blocks", "int", None, low=1, nullable=True, doc="L of the linear decay rule (units in the net)."),
    )  # fmt: skip

    @classmethod
    def check_args(cls, args: Mapping[str, Any]) -> dict[str, Any]:
        out = dict(args)
        bottleneck = out["kind"] == "bottleneck"
        if not bottleneck:
            misplaced = {
                "stride_on": out["stride_on"] == "1x1",
                "expansion": out["expansion"] not in (None, 1),
                "cardinality": out["cardinality"] != 1,
            }
            for key, bad in misplaced.items():
                if bad:
                    raise ValueError(
                        f"`{key}` applies to bottleneck units only. Received: kind='basic', {key}={out[key]!r}"
                    )
        out["stride_on"] = out["stride_on"] or "3x3"
        out["expansion"] = out["expansion"] or (4 if bottleneck else 1)
        out["survival"] = _survival(out)
        return out

    def expand(self, args: Mapping[str, Any], input_shape: Shape) -> Expansion:
        plan = _plan(args, spatial(input_shape, "residual"))
        unit = _Unit(args, plan)
        layers = unit.layers()
        return Expansion(layers=layers, output="out", notes=tuple(unit.notes(input_shape)))


def _survival(args: Mapping[str, Any]) -> float:
    """p_l of this unit: given directly, or by the linear decay rule p_l = 1 - l/L (1 - p_L)."""
    last, index, total = args["survival_last"], args["block_index"], args["num_blocks"]
    if last is None:
        if index is not None or total is not None:
            raise ValueError("`block_index` and `num_blocks` go with `survival_last` (p_L of the linear decay rule)")
        return float(args["survival"])
    if args["survival"] != 1.0:
        raise ValueError("give either `survival` (p_l) or `survival_last` (p_L, with the decay rule), not both")
    if index is None or total is None:
        raise ValueError(
            "`survival_last` (p_L) needs `block_index` (l) and `num_blocks` (L) for p_l = 1 - l/L (1 - p_L)"
        )
    if index > total:
        raise ValueError(f"`block_index` ({index}) cannot exceed `num_blocks` ({total})")
    return 1.0 - index / total * (1.0 - last)


def _plan(args: Mapping[str, Any], hwc: tuple[int, int, int]) -> _Plan:
    h, w, cin = hwc
    bottleneck = args["kind"] == "bottleneck"
    filters, strides = args["filters"], args["strides"]
    cout = filters * args["expansion"]
    inner = filters
    if bottleneck:
        inner = filters * args["bottleneck_width"] // 64 * args["cardinality"]
        if inner < args["cardinality"]:
            raise ValueError(
                f"filters={filters} with bottleneck_width={args['bottleneck_width']} leaves less than one channel "
                f"per group (cardinality {args['cardinality']}); raise filters or bottleneck_width"
            )
    changed = cin != cout or strides > 1
    shortcut = args["shortcut"]
    if shortcut == "auto":
        shortcut = "projection" if changed else "identity"
    if shortcut == "identity" and cin != cout:
        raise ValueError(
            f"an identity shortcut cannot change channels: the unit gets {cin} and gives {cout} "
            f"(filters {filters} x expansion {args['expansion']}). Use shortcut: projection (1x1 conv + BN) "
            "or pad (zero channels, the paper's option A), or shortcut: auto"
        )
    if shortcut == "pad" and cout != cin and (cout < cin or cout % cin):
        raise ValueError(
            f"a zero-padded shortcut (option A) appends zero channels: it needs output channels ({cout}) to be a "
            f"multiple of input channels ({cin}). Use shortcut: projection"
        )
    if strides > 1 and (h < strides or w < strides):
        raise ValueError(f"strides={strides} does not fit the {h}x{w} input")
    padding = args["padding"]
    explicit = padding == "explicit" or (padding == "auto" and args["version"] == "v2")
    return _Plan(cin, cout, inner, strides, args["version"] == "v2", bottleneck, shortcut, args["stride_on"], explicit)


class _Unit:
    """Writes the layer items of one unit (local names; ``input`` is the unit's input)."""

    def __init__(self, args: Mapping[str, Any], plan: _Plan):
        self.a, self.p = args, plan

    # -- pieces --------------------------------------------------------------------------------
    def bias(self, followed_by_bn: bool) -> bool:
        return (not followed_by_bn) if self.a["bias"] is None else self.a["bias"]

    def conv(self, n: str, filters: int, kernel: int, strides: int, inputs: str | None, bn: bool, groups: int = 1):
        items: list[dict[str, Any]] = []
        padding = "same" if kernel > 1 else "valid"  # a 1x1 conv never pads; 'valid' is Keras' default
        if kernel > 1 and self.p.explicit_pad:
            pad: dict[str, Any] = {"zeropad": kernel // 2, "name": f"{n}_pad"}
            if inputs:
                pad["inputs"] = inputs
            items.append(pad)
            inputs, padding = None, "valid"
        conv: dict[str, Any] = {
            "conv": filters,
            "kernel": kernel,
            "strides": strides,
            "padding": padding,
            "groups": groups,
            "bias": self.bias(bn),
            "activation": None,
            "name": f"{n}_conv",
        }
        if inputs:
            conv["inputs"] = inputs
        items.append(conv)
        return items

    def bn(self, name: str) -> dict[str, Any]:
        return {"bn": None, "epsilon": self.a["epsilon"], "momentum": self.a["momentum"], "name": name}

    # -- the unit ------------------------------------------------------------------------------
    def layers(self) -> list[dict[str, Any]]:
        p = self.p
        items: list[dict[str, Any]] = []
        source = "input"
        if p.v2:
            items += [self.bn("preact_bn"), {"act": "relu", "name": "preact_relu"}]
            source = "preact_relu"
        shortcut = self.shortcut_layers(source)
        short = shortcut[-1]["name"] if shortcut else "input"
        items += shortcut
        items += self.branch(source)
        branch = items[-1]["name"]
        if self.a["se_ratio"]:
            items.append({"se": self.a["se_ratio"], "name": "se"})
            branch = "se"
        merge_name = "out" if p.v2 else "add"
        if self.a["survival"] < 1.0:
            merge: dict[str, Any] = {"stochastic_depth": self.a["survival"]}
        else:
            merge = {"add": None}
        items.append({**merge, "inputs": [short, branch], "name": merge_name})
        if not p.v2:
            items.append({"act": "relu", "name": "out"})
        return items

    def shortcut_layers(self, source: str) -> list[dict[str, Any]]:
        p = self.p
        if p.shortcut == "projection":
            # v2 projects the pre-activated tensor and adds no BN (Keras' ResNetV2, He et al. 2016b).
            items = self.conv("0", p.cout, 1, p.strides, source, bn=not p.v2)
            return items if p.v2 else [*items, self.bn("0_bn")]
        items: list[dict[str, Any]] = []
        if p.strides > 1:
            # The raw input is subsampled (Keras' ResNetV2: MaxPooling2D(1, strides)); v2 adds to x, not preact.
            items.append({"maxpool": 1, "strides": p.strides, "inputs": "input", "name": "0_pool"})
        if p.shortcut == "pad" and p.cout > p.cin:
            base = items[-1]["name"] if items else "input"
            items.append({"rescale": 0.0, "inputs": base, "name": "0_zeros"})
            copies = p.cout // p.cin - 1
            items.append({"concat": None, "inputs": [base] + ["0_zeros"] * copies, "name": "0_pad"})
        return items

    def branch(self, source: str) -> list[dict[str, Any]]:
        p = self.p
        if p.bottleneck:
            s1 = p.strides if p.stride_on == "1x1" else 1
            s3 = p.strides if p.stride_on == "3x3" else 1
            convs = [("1", p.inner, 1, s1, 1), ("2", p.inner, 3, s3, self.a["cardinality"]), ("3", p.cout, 1, 1, 1)]
        else:
            convs = [("1", p.inner, 3, p.strides, 1), ("2", p.cout, 3, 1, 1)]
        items: list[dict[str, Any]] = []
        last = len(convs) - 1
        for k, (n, filters, kernel, strides, groups) in enumerate(convs):
            # v2's last conv feeds the add directly: no BN after it (so it keeps its bias by default).
            has_bn = not (p.v2 and k == last)
            items += self.conv(n, filters, kernel, strides, source if k == 0 else None, has_bn, groups)
            if has_bn:
                items.append(self.bn(f"{n}_bn"))
            if k < last:
                items.append({"act": "relu", "name": f"{n}_relu"})
        return items

    def notes(self, input_shape: Shape) -> list[str]:
        p, a = self.p, self.a
        h, w = input_shape[0], input_shape[1]
        oh, ow = -(-h // p.strides), -(-w // p.strides)
        change = f"{h}x{w}x{p.cin} -> {oh}x{ow}x{p.cout}"
        kind = f"{'bottleneck' if p.bottleneck else 'basic'} {'v2' if p.v2 else 'v1'}"
        how = "chosen automatically" if a["shortcut"] == "auto" else "as requested"
        if p.shortcut == "projection":
            extra = "" if p.v2 else " + BN"
            shortcut = f"projection shortcut (1x1 conv{extra}, stride {p.strides}; {how}): {change}"
        elif p.shortcut == "pad" and (p.cout > p.cin or p.strides > 1):
            shortcut = f"zero-padded identity shortcut (option A, no parameters): {change}"
        elif p.strides > 1:
            shortcut = f"identity shortcut subsampled by a 1x1 max pool, stride {p.strides} ({how}): {change}"
        else:
            shortcut = ""  # the shape is unchanged and nothing was inserted: nothing to report
        notes = [f"{kind} unit; {shortcut}"] if shortcut else []
        if p.bottleneck and p.strides > 1:
            notes.append(f"stride {p.strides} on the {p.stride_on} conv")
        if a["cardinality"] > 1:
            notes.append(f"ResNeXt: 3x3 conv of {p.inner} channels in {a['cardinality']} groups")
        if a["survival"] < 1.0:
            rule = (
                f" = 1 - {a['block_index']}/{a['num_blocks']} (1 - {a['survival_last']:g})"
                if a["survival_last"] is not None
                else ""
            )
            notes.append(f"stochastic depth: survival p_l{rule} = {a['survival']:.4g}")
        return notes
