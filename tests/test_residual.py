"""Static analysis of the residual and squeeze-excitation blocks on small hand-built inputs.

Every expected number below is worked out by hand from the layer definitions (a k x k conv
from c to f channels has k*k*c*f weights, BN has 4 numbers per channel, 2 of them trainable),
not read back from archspec. No TensorFlow here.
"""

from __future__ import annotations

from typing import Any

import pytest

import archspec
from archspec.emit_yaml import dump
from archspec.errors import SpecError
from archspec.report import to_dict


def spec(shape: list[int], *items: Any, **extra: Any) -> dict[str, Any]:
    return {"archspec": 1, "name": "t", "input": shape, "layers": list(items), **extra}


def analyse(shape: list[int], *items: Any, **extra: Any) -> archspec.Analysis:
    return archspec.summary(spec(shape, *items, **extra))


def names(a: archspec.Analysis) -> list[str]:
    return [s.name for s in a.layers]


def bn(c: int) -> int:
    return 4 * c


# -- basic units -----------------------------------------------------------------------------


def test_basic_unit_identity_shortcut():
    a = analyse([8, 8, 16], {"residual": 16, "kind": "basic", "name": "u"})
    assert names(a) == ["u_1_conv", "u_1_bn", "u_1_relu", "u_2_conv", "u_2_bn", "u_add", "u_out"]
    assert a["u_add"].node.inputs == ("input", "u_2_bn")  # the shortcut is the raw input
    assert a.total_params == 2 * (3 * 3 * 16 * 16) + 2 * bn(16)  # convs have no bias before BN
    assert a.non_trainable_params == 2 * 2 * 16
    assert a["u_out"].shape == (8, 8, 16)
    assert a.graph.scopes["u"].notes == ()  # nothing unexpected to report


def test_basic_unit_with_stride_gets_a_projection():
    a = analyse([8, 8, 16], {"residual": 32, "kind": "basic", "strides": 2, "name": "u"})
    assert a["u_0_conv"].shape == (4, 4, 32)
    assert a["u_0_conv"].node.args["strides"] == (2, 2)
    assert a["u_0_conv"].node.args["kernel"] == (1, 1)
    assert a["u_1_conv"].node.args["strides"] == (2, 2)  # basic units stride on the first 3x3
    assert a["u_add"].node.inputs == ("u_0_bn", "u_2_bn")
    expected = (16 * 32) + bn(32) + (9 * 16 * 32) + bn(32) + (9 * 32 * 32) + bn(32)
    assert a.total_params == expected
    # MACs: every output position of each conv, times its kernel volume.
    assert a.macs == 4 * 4 * 32 * (16 + 9 * 16 + 9 * 32)
    (note,) = a.graph.scopes["u"].notes
    assert "projection shortcut" in note and "chosen automatically" in note and "8x8x16 -> 4x4x32" in note


def test_option_a_zero_padded_shortcut_has_no_parameters():
    a = analyse([8, 8, 16], {"residual": 32, "kind": "basic", "strides": 2, "shortcut": "pad", "name": "u"})
    assert a["u_0_pool"].node.args["pool"] == (1, 1) and a["u_0_pool"].node.args["strides"] == (2, 2)
    assert a["u_0_zeros"].node.args["scale"] == 0.0
    assert a["u_0_pad"].shape == (4, 4, 32)
    assert a["u_add"].node.inputs == ("u_0_pad", "u_2_bn")
    assert a.total_params == 9 * 16 * 32 + 9 * 32 * 32 + 2 * bn(32)
    assert "option A" in a.graph.scopes["u"].notes[0]


def test_pad_shortcut_needs_a_whole_multiple_of_channels():
    with pytest.raises(SpecError, match="multiple of input channels"):
        analyse([8, 8, 16], {"residual": 24, "kind": "basic", "shortcut": "pad"})


# -- bottleneck units ------------------------------------------------------------------------


def test_bottleneck_projection_chosen_from_channels_alone():
    # Keras' conv2_block1: stride 1, but 64 -> 256 channels, so a projection is needed.
    a = analyse([8, 8, 64], {"residual": 64, "name": "conv2_block1"})
    assert names(a)[:2] == ["conv2_block1_0_conv", "conv2_block1_0_bn"]
    assert a["conv2_block1_0_conv"].params == 64 * 256
    assert a["conv2_block1_out"].shape == (8, 8, 256)
    expected = 64 * 256 + bn(256) + 64 * 64 + bn(64) + 9 * 64 * 64 + bn(64) + 64 * 256 + bn(256)
    assert a.total_params == expected


def test_bottleneck_identity_when_shape_agrees():
    a = analyse([8, 8, 256], {"residual": 64, "name": "u"})
    assert not any("_0_" in n for n in names(a))
    assert a["u_add"].node.inputs == ("input", "u_3_bn")


def test_keras_resnet50_unit_names_and_biases():
    a = analyse([8, 8, 256], {"residual": 128, "strides": 2, "stride_on": "1x1", "bias": True, "name": "conv3_block1"})
    assert names(a) == [
        f"conv3_block1_{n}"
        for n in (
            "0_conv", "0_bn", "1_conv", "1_bn", "1_relu", "2_conv", "2_bn", "2_relu", "3_conv", "3_bn", "add", "out",
        )
    ]  # fmt: skip
    assert all(s.node.args["bias"] for s in a.layers if s.type == "conv")
    assert all(s.node.args["epsilon"] == 1.001e-5 for s in a.layers if s.type == "bn")
    assert a["conv3_block1_0_conv"].params == 256 * 512 + 512


@pytest.mark.parametrize(("stride_on", "s1", "s3"), [("1x1", (2, 2), (1, 1)), ("3x3", (1, 1), (2, 2))])
def test_stride_placement(stride_on, s1, s3):
    a = analyse([8, 8, 256], {"residual": 128, "strides": 2, "stride_on": stride_on, "name": "u"})
    assert a["u_1_conv"].node.args["strides"] == s1
    assert a["u_2_conv"].node.args["strides"] == s3
    assert a["u_0_conv"].node.args["strides"] == (2, 2)
    assert a["u_out"].shape == (4, 4, 512)
    # Same parameters; the 1x1 placement runs the first 1x1 and the 3x3 at the lower resolution.
    first_1x1 = (4 * 4 if s1 == (2, 2) else 8 * 8) * 256 * 128
    assert a["u_1_conv"].macs == first_1x1
    assert a["u_2_conv"].macs == 4 * 4 * 128 * 9 * 128
    assert any(f"on the {stride_on} conv" in n for n in a.graph.scopes["u"].notes)


def test_default_stride_is_on_the_3x3():
    a = analyse([8, 8, 256], {"residual": 128, "strides": 2, "name": "u"})
    assert a["u_2_conv"].node.args["strides"] == (2, 2)


def test_resnext_grouped_convolution():
    # 32x4d at filters 64: 3x3 conv of 64 * 4 / 64 * 32 = 128 channels in 32 groups.
    a = analyse([8, 8, 256], {"residual": 64, "cardinality": 32, "bottleneck_width": 4, "name": "u"})
    conv = a["u_2_conv"]
    assert conv.node.args["groups"] == 32 and conv.shape == (8, 8, 128)
    assert conv.params == 3 * 3 * (128 // 32) * 128
    assert a["u_1_conv"].shape == (8, 8, 128)
    assert a["u_3_conv"].shape == (8, 8, 256)
    assert any("32 groups" in n for n in a.graph.scopes["u"].notes)


def test_resnext_needs_a_channel_per_group():
    with pytest.raises(SpecError, match="less than one channel per group"):
        analyse([8, 8, 256], {"residual": 8, "cardinality": 32, "bottleneck_width": 4})


# -- v2 (pre-activation) ---------------------------------------------------------------------


def test_v2_projection_unit_matches_keras_layout():
    a = analyse([8, 8, 64], {"residual": 64, "version": "v2", "name": "b"})
    assert names(a) == [
        "b_preact_bn", "b_preact_relu", "b_0_conv", "b_1_conv", "b_1_bn", "b_1_relu",
        "b_2_pad", "b_2_conv", "b_2_bn", "b_2_relu", "b_3_conv", "b_out",
    ]  # fmt: skip
    assert a["b_0_conv"].node.inputs == ("b_preact_relu",)  # projects the pre-activated input
    assert a["b_1_conv"].node.inputs == ("b_preact_relu",)
    bias = {s.name: s.node.args["bias"] for s in a.layers if s.type == "conv"}
    assert bias == {"b_0_conv": True, "b_1_conv": False, "b_2_conv": False, "b_3_conv": True}
    assert a["b_2_conv"].node.args["padding"] == "valid" and a["b_2_pad"].shape == (10, 10, 64)
    assert a["b_out"].type == "add" and a["b_out"].node.inputs == ("b_0_conv", "b_3_conv")


def test_v2_strided_identity_subsamples_the_raw_input():
    a = analyse([8, 8, 256], {"residual": 64, "version": "v2", "strides": 2, "shortcut": "identity", "name": "b"})
    assert a["b_0_pool"].node.inputs == ("input",)  # x, not the pre-activation (Keras' ResNetV2)
    assert a["b_0_pool"].shape == (4, 4, 256) and a["b_0_pool"].params == 0
    assert a["b_2_conv"].node.args["strides"] == (2, 2)
    assert "subsampled by a 1x1 max pool" in a.graph.scopes["b"].notes[0]


# -- errors ----------------------------------------------------------------------------------


def test_identity_shortcut_cannot_change_channels():
    with pytest.raises(SpecError) as exc:
        analyse([8, 8, 64], {"residual": 64, "shortcut": "identity"})
    text = str(exc.value)
    assert "identity shortcut cannot change channels" in text and "64" in text and "256" in text
    assert ":" in text.splitlines()[0]  # a location, not a traceback


def test_residual_needs_a_feature_map():
    with pytest.raises(SpecError, match="3-D input"):
        analyse([8, 8, 3], "flatten", {"residual": 4})


def test_options_of_bottlenecks_refused_on_basic_units():
    with pytest.raises(SpecError, match="bottleneck units only"):
        analyse([8, 8, 16], {"residual": 16, "kind": "basic", "cardinality": 4})
    with pytest.raises(SpecError, match="bottleneck units only"):
        analyse([8, 8, 16], {"residual": 16, "kind": "basic", "stride_on": "1x1"})


def test_unknown_argument_suggests():
    with pytest.raises(SpecError, match="Did you mean"):
        analyse([8, 8, 16], {"residual": 16, "shortcutt": "pad"})


def test_bad_choice_names_the_choices():
    with pytest.raises(SpecError, match='"auto", "identity", "projection", "pad"'):
        analyse([8, 8, 16], {"residual": 16, "shortcut": "conv"})


# -- squeeze-excitation ----------------------------------------------------------------------


def test_se_block_alone():
    a = analyse([4, 4, 32], {"se": 4, "name": "x_se"})
    assert names(a) == ["x_se_squeeze", "x_se_reshape", "x_se_reduce", "x_se_expand", "x_se_excite"]
    assert a["x_se_reduce"].shape == (1, 1, 8)
    assert a.total_params == (32 * 8 + 8) + (8 * 32 + 32)
    assert a.macs == 2 * 32 * 8
    assert a["x_se_excite"].shape == (4, 4, 32) and a["x_se_excite"].node.inputs == ("input", "x_se_expand")


def test_se_explicit_width_and_activations():
    a = analyse([4, 4, 32], {"se": {"reduced": 5, "activation": "swish"}, "name": "s"})
    assert a["s_reduce"].shape == (1, 1, 5) and a["s_reduce"].node.args["activation"] == "swish"
    assert a.total_params == (32 * 5 + 5) + (5 * 32 + 32)


def test_se_attached_to_a_residual_unit():
    a = analyse([8, 8, 256], {"residual": 64, "se_ratio": 16, "name": "u"})
    assert a["u_add"].node.inputs == ("input", "u_se_excite")  # gates the branch, before the add
    assert a["u_se_squeeze"].node.inputs == ("u_3_bn",)
    se_params = sum(s.params for s in a.layers if "_se_" in s.name)
    assert se_params == 2 * 256 * 16 + 16 + 256
    assert a.graph.scopes["u_se"].kind == "se"
    assert a["u_se_excite"].node.scope == ("u", "u_se")


def test_se_needs_a_feature_map():
    with pytest.raises(SpecError, match="3-D input"):
        analyse([8, 8, 3], "flatten", {"se": 4})


# -- stochastic depth ------------------------------------------------------------------------


def test_stochastic_depth_replaces_the_add():
    a = analyse([8, 8, 16], {"residual": 16, "kind": "basic", "survival": 0.8, "name": "u"})
    merge = a["u_add"]
    assert merge.type == "stochastic_depth" and merge.node.args["survival"] == 0.8
    assert merge.node.inputs == ("input", "u_2_bn") and merge.params == 0
    assert "p_l = 0.8" in a.graph.scopes["u"].notes[0]


def test_stochastic_depth_linear_decay_rule():
    # p_l = 1 - l/L (1 - p_L) with L = 4, p_L = 0.5: 0.875, 0.75, 0.625, 0.5.
    item = {
        "repeat": 4,
        "as": "l",
        "layers": [
            {
                "residual": 16,
                "kind": "basic",
                "survival_last": 0.5,
                "block_index": "${l + 1}",
                "num_blocks": 4,
                "name": "u${l + 1}",
            }
        ],
    }
    a = analyse([8, 8, 16], item)
    got = [a[f"u{i}_add"].node.args["survival"] for i in range(1, 5)]
    assert got == [0.875, 0.75, 0.625, 0.5]
    assert "1 - 2/4 (1 - 0.5) = 0.75" in a.graph.scopes["u2"].notes[0]


@pytest.mark.parametrize(
    ("args", "message"),
    [
        ({"survival_last": 0.5}, "needs `block_index`"),
        ({"survival_last": 0.5, "survival": 0.9, "block_index": 1, "num_blocks": 2}, "not both"),
        ({"survival_last": 0.5, "block_index": 3, "num_blocks": 2}, "cannot exceed"),
        ({"block_index": 1}, "go with `survival_last`"),
        ({"survival": 1.5}, "survival"),
    ],
)
def test_stochastic_depth_argument_errors(args, message):
    with pytest.raises(SpecError, match=message):
        analyse([8, 8, 16], {"residual": 16, "kind": "basic", **args})


def test_stochastic_depth_layer_checks_its_inputs():
    with pytest.raises(SpecError, match="one shape"):
        analyse([8, 8, 16], {"conv": 8, "name": "c"}, {"stochastic_depth": 0.5, "inputs": ["input", "c"]})
    with pytest.raises(SpecError, match="survival"):
        analyse([8, 8, 16], {"stochastic_depth": 0.0, "inputs": ["input", "input"]})


# -- visibility ------------------------------------------------------------------------------


def test_projection_visible_in_expand_and_summary():
    s = spec([8, 8, 64], {"residual": 64, "name": "conv2_block1"}, {"residual": 64, "name": "conv2_block2"})
    text = dump(archspec.expand(s))
    assert "conv2_block1: bottleneck v1 unit; projection shortcut" in text
    assert text.count("projection shortcut") == 1  # the identity unit reports nothing
    notes = to_dict(archspec.summary(s))["notes"]
    assert list(notes) == ["conv2_block1"] and "8x8x64 -> 8x8x256" in notes["conv2_block1"][0]


def test_expanded_spec_expands_to_the_same_graph():
    s = spec([8, 8, 64], {"residual": 32, "strides": 2, "se_ratio": 4, "survival": 0.9, "name": "u"})
    first = archspec.summary(s)
    again = archspec.summary(dump(first.graph))
    assert [(x.name, x.type, x.shape, x.params) for x in again.layers] == [
        (x.name, x.type, x.shape, x.params) for x in first.layers
    ]


def test_basic_v2_unit_pads_both_3x3_convs():
    a = analyse([8, 8, 16], {"residual": 32, "kind": "basic", "version": "v2", "strides": 2, "name": "b"})
    assert names(a) == [
        "b_preact_bn", "b_preact_relu", "b_0_conv", "b_1_pad", "b_1_conv", "b_1_bn", "b_1_relu",
        "b_2_pad", "b_2_conv", "b_out",
    ]  # fmt: skip
    assert a["b_1_conv"].shape == (4, 4, 32) and a["b_1_conv"].node.args["strides"] == (2, 2)
    assert a.total_params == bn(16) + (16 * 32 + 32) + 9 * 16 * 32 + bn(32) + (9 * 32 * 32 + 32)


def test_spec_defaults_reach_block_convs_but_cannot_add_activations():
    s = spec(
        [8, 8, 16],
        {"residual": 16, "kind": "basic", "name": "u"},
        defaults={"conv": {"init": "he_normal", "l2": 1e-4, "activation": "relu"}},
    )
    convs = [n for n in archspec.expand(s).nodes if n.type == "conv"]
    assert {n.args["init"] for n in convs} == {"he_normal"} and {n.args["l2"] for n in convs} == {1e-4}
    assert {n.args["activation"] for n in convs} == {None}  # the unit's ReLUs are its own layers


def test_stride_larger_than_the_map_is_refused():
    with pytest.raises(SpecError, match="does not fit the 2x2 input"):
        analyse([2, 2, 16], {"residual": 16, "kind": "basic", "strides": 4})
