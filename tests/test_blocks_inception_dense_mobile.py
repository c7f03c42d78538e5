"""Static analysis of the inception, dense, mobile and taps blocks on small hand-built inputs.

Expected figures are worked out by hand in the comments (kernel weights + biases; BN: 2
trainable + 2 non-trainable per channel; MACs: kernel weights x output positions).
"""

from __future__ import annotations

import pytest
from conftest import weight_counts

import archspec
from archspec.errors import SpecError


def spec(layers, shape=(8, 8, 16), **extra):
    return {"archspec": 1, "name": "t", "input": list(shape), "layers": layers, **extra}


def run(layers, shape=(8, 8, 16), **extra):
    return archspec.summary(spec(layers, shape, **extra))


def names(analysis):
    return [layer.name for layer in analysis.layers]


def out(analysis) -> tuple[int, ...]:
    (shape,) = analysis.output_shapes
    return tuple(shape)


def problems(layers, shape=(8, 8, 16)) -> str:
    with pytest.raises(SpecError) as info:
        run(layers, shape)
    return str(info.value)


# -- inception ---------------------------------------------------------------------------------
def test_inception_module_takes_table_1_columns():
    a = run([{"inception": [4, 6, 8, 2, 3, 5], "name": "m"}], (8, 8, 32))
    # 1x1: 32*4+4=132; 3x3 reduce: 32*6+6=198; 3x3: 9*6*8+8=440; 5x5 reduce: 32*2+2=66;
    # 5x5: 25*2*3+3=153; pool proj: 32*5+5=165  -> 1154
    assert a.total_params == 1154
    assert out(a) == (8, 8, 4 + 8 + 3 + 5)
    assert a.macs == 64 * (32 * 4 + 32 * 6 + 9 * 6 * 8 + 32 * 2 + 25 * 2 * 3 + 32 * 5)
    assert names(a) == ["m_1x1", "m_3x3_reduce", "m_3x3", "m_5x5_reduce", "m_5x5", "m_pool", "m_pool_proj", "m_output"]
    assert a["m_pool"].shape == (8, 8, 32)  # 3x3/1 max pool, same padding
    assert a["m_3x3"].node.args["activation"] == "relu"


def test_inception_named_columns_equal_the_list_and_zero_drops_a_branch():
    cols = dict(n1x1=4, n3x3_reduce=6, n3x3=8, n5x5_reduce=2, n5x5=3, pool_proj=5)
    assert run([{"inception": cols}], (8, 8, 32)).total_params == 1154
    a = run([{"inception": [0, 0, 8, 2, 3, 0], "name": "m"}], (8, 8, 32))
    assert names(a) == ["m_3x3", "m_5x5_reduce", "m_5x5", "m_output"]
    assert out(a) == (8, 8, 11)


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ({"inception": [4, 6, 8, 2, 3]}, "six Table 1 columns"),
        ({"inception": [4, 6, 8, 2, 3, 5], "n1x1": 4}, "not both"),
        ({"inception": {"n1x1": 4}}, "missing n3x3_reduce"),
        ({"inception": [0, 0, 0, 2, 3, 0]}, "at least two branches"),
        ({"inception": [4, 6, 8, 2, 3, 5], "n1x2": 3}, "Did you mean 'n1x1'"),
    ],
)
def test_inception_errors(item, message):
    assert message in problems([item], (8, 8, 32))


def test_se_inception_gates_the_concatenated_output():
    a = run([{"inception": [4, 6, 8, 2, 3, 5], "se_ratio": 4, "name": "m"}, {"gap": None}], (8, 8, 32))
    assert names(a)[7:13] == ["m_output", "m_se_squeeze", "m_se_reshape", "m_se_reduce", "m_se_expand", "m_se_excite"]
    # SE on 20 channels, r = 4: 20*5+5 and 5*20+20
    assert a.total_params == 1154 + 105 + 120
    assert a.layers[-1].node.inputs == ("m_se_excite",)


def test_inception_needs_a_feature_map():
    assert "3-D input" in problems([{"flatten": None}, {"inception": [1, 1, 1, 1, 1, 1]}])


def test_aux_head_as_in_googlenet_section_5():
    a = run([{"aux_head": 10, "name": "aux"}], (14, 14, 512))
    assert names(a) == ["aux_pool", "aux_conv", "aux_flatten", "aux_fc", "aux_dropout", "aux_predictions"]
    assert a["aux_pool"].shape == (4, 4, 512)  # 5x5 / 3, valid: (14 - 5) // 3 + 1
    assert a["aux_conv"].params == 512 * 128 + 128
    assert a["aux_fc"].params == 4 * 4 * 128 * 1024 + 1024
    assert a["aux_predictions"].params == 1024 * 10 + 10
    assert a["aux_dropout"].node.args["rate"] == 0.7
    assert out(a) == (10,)


def test_aux_heads_are_extra_outputs_that_prune_drops():
    layers = [
        {"conv": 8, "kernel": 3, "padding": "same", "name": "stem"},
        {"aux_head": 3, "name": "aux1"},
        {"gap": None, "inputs": "stem"},
        {"dense": 3, "activation": "softmax", "name": "predictions"},
    ]
    graph = archspec.expand(spec(layers, (16, 16, 3), outputs=["predictions", "aux1"]))
    assert graph.outputs == ("predictions", "aux1_predictions")
    pruned = archspec.ir.prune(graph, ["predictions"])
    assert not any(n.name.startswith("aux1") for n in pruned.nodes)
    assert archspec.summary(pruned).total_params == archspec.summary(graph).total_params - sum(
        s.params for s in archspec.summary(graph).layers if s.name.startswith("aux1")
    )


# -- dense -------------------------------------------------------------------------------------
def test_dense_unit_bn_relu_bottleneck_and_concat():
    a = run([{"dense_unit": 4, "name": "u"}])
    assert names(a) == ["u_0_bn", "u_0_relu", "u_1_conv", "u_1_bn", "u_1_relu", "u_2_conv", "u_concat"]
    # 0_bn 16*4; 1_conv 16*16 (4k = 16, no bias); 1_bn 16*4; 2_conv 9*16*4
    assert a.total_params == 64 + 256 + 64 + 576
    assert a.non_trainable_params == 2 * 16 + 2 * 16
    assert a.macs == 64 * 256 + 64 * 576
    assert out(a) == (8, 8, 20)
    assert a["u_0_bn"].node.args["epsilon"] == 1.001e-5
    assert a["u_concat"].node.inputs == ("input", "u_2_conv")


def test_dense_block_grows_by_k_per_unit_with_keras_names():
    a = run([{"dense_block": 3, "growth": 4, "name": "conv2"}])
    assert out(a) == (8, 8, 16 + 3 * 4)
    assert "conv2_block3_concat" in names(a) and "conv2_block1_0_bn" in names(a)
    assert a["conv2_block2_1_conv"].node.args["filters"] == 16
    assert a["conv2_block3_0_bn"].shape == (8, 8, 24)


def test_dense_unit_without_bottleneck():
    a = run([{"dense_unit": {"growth": 4, "bottleneck": 0}, "name": "u"}])
    assert names(a) == ["u_1_bn", "u_1_relu", "u_2_conv", "u_concat"]
    assert a.total_params == 64 + 9 * 16 * 4


def test_transition_compresses_and_halves():
    a = run([{"transition": 0.5, "name": "pool2"}], (8, 8, 28))
    assert names(a) == ["pool2_bn", "pool2_relu", "pool2_conv", "pool2_pool"]
    assert out(a) == (4, 4, 14)
    assert a.total_params == 4 * 28 + 28 * 14
    graph = archspec.expand(spec([{"transition": 0.5, "name": "t"}], (8, 8, 27)))
    assert graph.scopes["t"].notes == ("int(27 x 0.5) = 13 channels",)
    assert "leaves 0" in problems([{"transition": 0.01}], (8, 8, 27))


# -- mobile ------------------------------------------------------------------------------------
def test_depthwise_separable_with_keras_names_alpha_and_stride():
    a = run([{"dw_separable": 16, "alpha": 0.5, "strides": 2, "id": 3}], (8, 8, 8))
    assert names(a) == [
        "conv_pad_3", "conv_dw_3", "conv_dw_3_bn", "conv_dw_3_relu", "conv_pw_3", "conv_pw_3_bn", "conv_pw_3_relu",
    ]  # fmt: skip
    assert a["conv_pad_3"].shape == (9, 9, 8)
    assert out(a) == (4, 4, 8)  # int(16 * 0.5) filters
    assert a.total_params == 9 * 8 + 4 * 8 + 8 * 8 + 4 * 8
    assert a.macs == 16 * 8 * 9 + 16 * 8 * 8
    assert a["conv_dw_3"].node.args["padding"] == "valid"


def test_depthwise_separable_names_under_its_instance_without_id():
    a = run([{"dw_separable": 8, "name": "b"}], (8, 8, 8))
    assert names(a) == ["b_dw", "b_dw_bn", "b_dw_relu", "b_pw", "b_pw_bn", "b_pw_relu"]
    assert a["b_dw"].node.args["padding"] == "same"
    assert "must be at most 2" in problems([{"dw_separable": 8, "strides": 3}])


def test_inverted_residual_expands_projects_and_adds():
    a = run([{"inverted_residual": 16, "name": "block_1"}])
    assert names(a)[-1] == "block_1_add"
    # expand 16*96, BN 4*96, depthwise 9*96, BN 4*96, project 96*16, BN 4*16
    assert a.total_params == 1536 + 384 + 864 + 384 + 1536 + 64
    assert a["block_1_expand_BN"].node.args["momentum"] == 0.999
    assert a["block_1_project_BN"].node.type == "bn" and a["block_1_add"].node.inputs == ("input", "block_1_project_BN")


def test_inverted_residual_stride_2_pads_like_keras_and_has_no_shortcut():
    a = run([{"inverted_residual": 24, "strides": 2, "name": "b"}])
    assert a["b_pad"].node.args["padding"] == ((0, 1), (0, 1))  # correct_pad on an even 8x8
    assert out(a) == (4, 4, 24)
    assert "b_add" not in names(a)
    a = run([{"inverted_residual": 16, "strides": 2, "name": "b"}], (9, 9, 16))
    assert a["b_pad"].node.args["padding"] == ((1, 1), (1, 1)) and out(a) == (5, 5, 16)


def test_inverted_residual_rounds_alpha_filters_and_says_so():
    graph = archspec.expand(spec([{"inverted_residual": 24, "alpha": 0.35, "expansion": 1, "name": "b"}]))
    # int(24 * 0.35) = 8, already a multiple of 8; 16 * 0.35 -> int 5 -> make_divisible 8
    assert graph.node("b_project").args["filters"] == 8
    assert "b_expand" not in [n.name for n in graph.nodes]
    graph = archspec.expand(spec([{"inverted_residual": 16, "alpha": 0.35, "name": "b"}]))
    assert graph.node("b_project").args["filters"] == 8
    assert graph.scopes["b"].notes == ("make_divisible(int(16 x 0.35), 8) = 8 filters",)


def test_mbconv_with_squeeze_excitation_drop_connect_and_keras_names():
    a = run([{"mbconv": 16, "drop_rate": 0.1, "name": "block2b"}])
    assert names(a) == [
        "block2b_expand_conv", "block2b_expand_bn", "block2b_expand_activation", "block2b_dwconv", "block2b_bn",
        "block2b_activation", "block2b_se_squeeze", "block2b_se_reshape", "block2b_se_reduce", "block2b_se_expand",
        "block2b_se_excite", "block2b_project_conv", "block2b_project_bn", "block2b_drop", "block2b_add",
    ]  # fmt: skip
    # SE squeezes to max(1, int(16 * 0.25)) = 4 of the 96 expanded channels
    assert a["block2b_se_reduce"].params == 96 * 4 + 4 and a["block2b_se_expand"].params == 4 * 96 + 96
    assert a["block2b_se_reshape"].shape == (1, 1, 96) and a["block2b_se_excite"].shape == (8, 8, 96)
    assert a.total_params == 1536 + 384 + 864 + 384 + 388 + 480 + 1536 + 64
    drop = a["block2b_drop"].node.args
    assert drop["rate"] == 0.1 and drop["noise_shape"] == (1, 1, 1)
    assert a["block2b_expand_activation"].node.args["function"] == "swish"


def test_mbconv_stride_2_kernel_5_without_expansion_or_se():
    a = run([{"mbconv": 24, "expansion": 1, "kernel": 5, "strides": 2, "se_ratio": 0, "name": "b"}], (9, 9, 16))
    assert names(a) == ["b_dwconv_pad", "b_dwconv", "b_bn", "b_activation", "b_project_conv", "b_project_bn"]
    assert a["b_dwconv_pad"].node.args["padding"] == ((2, 2), (2, 2))
    assert out(a) == (5, 5, 24)
    assert a.macs == 25 * 16 * 25 + 25 * 16 * 24


def test_dropout_noise_shape_is_checked():
    assert "noise_shape" in problems([{"dropout": 0.2, "noise_shape": [1, 1]}])


# -- taps --------------------------------------------------------------------------------------
def test_taps_pools_mid_level_maps_and_concatenates_with_top():
    layers = [
        {"conv": 8, "kernel": 3, "padding": "same", "name": "mid"},
        {"conv": 32, "kernel": 3, "strides": 2, "padding": "same", "name": "top"},
        {"gap": None, "name": "avg_pool"},
        {"taps": "avg", "inputs": ["avg_pool", "mid"], "name": "taps"},
    ]
    a = run(layers)
    assert names(a)[-2:] == ["taps_pool1", "taps_concat"]
    assert a["taps_pool1"].node.inputs == ("mid",) and a["taps_concat"].node.inputs == ("avg_pool", "taps_pool1")
    assert out(a) == (40,)
    a = run([*layers[:2], {"taps": "max", "inputs": ["top", "mid"]}])
    assert [s.type for s in a.layers[-3:]] == ["gmp", "gmp", "concat"]


def test_taps_needs_several_inputs():
    assert "list them in `inputs`" in problems([{"conv": 4}, {"taps": None}])


def test_user_blocks_can_read_each_of_several_inputs():
    blocks = {"join": {"layers": [{"add": None, "inputs": ["input0", "input1"]}]}}
    a = run([{"conv": 16, "padding": "same", "name": "a"}, {"join": None, "inputs": ["a", "input"]}], blocks=blocks)
    assert a.layers[-1].node.inputs == ("a", "input")


def test_one_input_blocks_refuse_several():
    assert "takes one input; got 2" in problems([{"conv": 16, "name": "a"}, {"dense_unit": 4, "inputs": ["a", "a"]}])


# -- the blocks through Keras and generated code ------------------------------------------------
SMALL_NET = [
    {"conv": 16, "kernel": 3, "padding": "same", "name": "stem"},
    {"inception": [4, 4, 8, 2, 4, 4], "name": "inc"},
    {"aux_head": {"classes": 3, "pool": 3, "pool_strides": 2, "units_fc": 8}, "name": "aux"},
    {"dense_block": 2, "growth": 4, "name": "conv2", "inputs": "inc"},
    {"transition": 0.5, "name": "pool2"},
    {"dw_separable": 16, "strides": 2, "id": 1},
    {"inverted_residual": 16, "name": "block_1"},
    {"mbconv": 16, "drop_rate": 0.2, "name": "block2a"},
    {"gap": None, "name": "avg_pool"},
    {"taps": "avg", "inputs": ["avg_pool", "pool2"], "name": "taps"},
    {"dense": 3, "activation": "softmax", "name": "predictions"},
]


@pytest.mark.slow
def test_blocks_build_in_keras_and_generated_code_like_the_analysis(keras, tmp_path):
    from archspec.codegen import generate
    from archspec.keras_backend import build

    doc = spec(SMALL_NET, (16, 16, 3), outputs=["predictions", "aux"])
    analysis = archspec.summary(doc)
    want = [(s.name, s.shape, s.trainable_params, s.non_trainable_params) for s in analysis.layers]

    def table(model):
        return [(layer.name, tuple(layer.output.shape[1:]), *weight_counts(layer)) for layer in model.layers[1:]]

    def by_name(rows):
        return {row[0]: row for row in rows}

    model = build(doc)
    assert by_name(table(model)) == by_name(want) and len(model.layers) == len(want) + 1
    assert model.get_layer("block2a_drop").noise_shape == (None, 1, 1, 1)
    source = tmp_path / "net.py"
    source.write_text(generate(doc))
    namespace: dict = {}
    exec(compile(source.read_text(), str(source), "exec"), namespace)
    generated = namespace["build_model"]((16, 16, 3), 3)
    assert by_name(table(generated)) == by_name(want)
