"""The language bends where specs written by new users broke it (issue 15), one test per bend.

Each test writes the spec a user wrote, and checks the expanded graph (names, arguments,
shapes) or the located error; nothing here imports Keras.
"""

from __future__ import annotations

import pytest
import yaml

import archspec
from archspec.errors import SpecError
from archspec.expressions import ExpressionError, TensorShape, evaluate


def spec(layers, **top) -> str:
    data = {"archspec": 1, "input": top.pop("input", [16, 16, 8]), **top, "layers": layers}
    return yaml.safe_dump(data, sort_keys=False)


def args(graph, name):
    return dict(graph.node(name).args)


def problems(text: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        archspec.expand(text)
    return [f"{'.'.join(map(str, p.path))}: {p.message}" for p in info.value.problems]


# -- 1. an expression as one element of a list argument ----------------------------------------


def test_an_element_of_a_list_argument_may_be_an_expression():
    graph = archspec.expand(
        spec(
            [
                {"conv": 4, "kernel": [1, "${n}"], "strides": ["${n - 2}", 1], "padding": "same", "name": "c"},
                {"maxpool": [2, "${n - 1}"], "name": "p"},
                {"avgpool": 1, "strides": ["${1}", 1], "name": "a"},
                {"zeropad": [[0, "${n - 2}"], [1, 1]], "name": "z"},
                {"reshape": ["${9 * 10}", -1], "name": "r"},
            ],
            vars={"n": 3},
        )
    )
    assert args(graph, "c")["kernel"] == (1, 3) and args(graph, "c")["strides"] == (1, 1)
    assert args(graph, "p")["pool"] == (2, 2)
    assert args(graph, "r")["target"] == (90, -1)
    assert args(graph, "z")["padding"] == ((0, 1), (1, 1))


def test_a_list_element_expression_is_checked_like_a_number_written_there():
    found = problems(spec([{"conv": 4, "kernel": [1, "${n / 2}"]}], vars={"n": 3}))
    assert found == [
        "layers.0.kernel: `kernel` must be an integer or a list of two integers. Received: kernel=[1, 1.5]"
    ]
    assert "unknown name 'm'" in problems(spec([{"conv": 4, "kernel": [1, "${m}"]}], vars={"n": 3}))[0]


# -- 2. expressions inside lists (and mappings) in vars ------------------------------------------


def test_expressions_inside_vars_lists_and_mappings_are_evaluated():
    graph = archspec.expand(
        spec(
            [{"conv": "${widths[1]}", "kernel": "${sizes['k']}", "name": "c"}, {"conv": "${widths[2]}", "name": "d"}],
            vars={"a": 8, "widths": [4, "${a * 2}", "${a * 3}"], "sizes": {"k": "${a // 4}"}},
        )
    )
    assert args(graph, "c")["filters"] == 16 and args(graph, "d")["filters"] == 24


def test_a_bad_value_in_a_vars_list_is_reported_at_the_variable_not_leaked_later():
    found = problems(spec([{"conv": "${widths[1]}"}], vars={"a": 8, "widths": [4, "${a * 2.4}"]}))
    assert found == ["layers.0.conv: `filters` must be an integer. Received: filters=19.2"]
    found = problems(spec([{"conv": "${widths[1]}"}], vars={"widths": [4, "${b * 2}"]}))
    assert found == ["vars.widths.1: unknown name 'b'."]  # once, at its definition; not again where used


# -- 3. a block reads its input's shape ----------------------------------------------------------


BLOCKS = {
    "bottleneck": {
        "params": {"expand": 4},
        "let": {"mid": "${input.channels * expand}"},
        "layers": [
            {"conv": "${mid}", "kernel": 1, "name": "expand"},
            {"depthwise": 3, "padding": "same", "name": "dw"},
            {"conv": "${input.channels}", "kernel": 1, "name": "project"},
            {"add": None, "inputs": ["input", "project"], "name": "add"},
        ],
    }
}


def test_a_block_reads_the_channels_of_the_tensor_it_receives():
    layers = [
        {"bottleneck": 2, "name": "b1"},
        {"conv": 12, "kernel": 1, "name": "widen"},
        {"bottleneck": 3, "name": "b2"},
    ]
    graph = archspec.expand(spec(layers, blocks=BLOCKS))
    assert args(graph, "b1_expand")["filters"] == 16 and args(graph, "b1_project")["filters"] == 8
    assert args(graph, "b2_expand")["filters"] == 36 and args(graph, "b2_project")["filters"] == 12


def test_input_shape_fields_and_multi_input_blocks():
    blocks = {
        "fuse": {
            "let": {"total": "${input0.channels + input1.channels}", "area": "${input.height * input.width}"},
            "layers": [
                {"concat": None, "inputs": ["input0", "input1"], "name": "cat"},
                {"conv": "${total}", "kernel": 1, "name": "mix"},
                {"dense": "${area}", "name": "fc", "per_position": True},
                {"reshape": "${input.shape[:2] + [area]}", "name": "same_shape"},
            ],
        }
    }
    layers = [{"conv": 3, "padding": "same", "name": "a"}, {"fuse": None, "inputs": ["a", "input"], "name": "f"}]
    graph = archspec.expand(spec(layers, blocks=blocks))
    assert args(graph, "f_mix")["filters"] == 11 and args(graph, "f_fc")["units"] == 256
    assert args(graph, "f_same_shape")["target"] == (16, 16, 256)


def test_a_shape_has_only_its_own_attributes():
    shape = TensorShape((7, 5, 3))
    assert evaluate("[input.height, input.width, input.channels, input.rank]", {"input": shape}) == [7, 5, 3, 3]
    assert evaluate("input.tokens", {"input": TensorShape((197, 768))}) == 197
    with pytest.raises(ExpressionError, match=r"has no 'chanels'\. Did you mean 'channels'"):
        evaluate("input.chanels", {"input": shape})
    with pytest.raises(ExpressionError, match="Attribute is not allowed"):
        evaluate("n.real", {"n": 3})
    with pytest.raises(ExpressionError, match="has no 'height'"):
        evaluate("input.height", {"input": TensorShape((64,))})


def test_a_block_whose_input_failed_is_not_reported_again_for_its_shape():
    layers = [{"conv": -1, "name": "bad"}, {"bottleneck": 2, "name": "b1"}]
    assert problems(spec(layers, blocks=BLOCKS)) == [
        "layers.0.conv: `filters` must be a positive integer. Received: filters=-1"
    ]


# -- 4. let, string functions, list repetition ---------------------------------------------------


def test_let_values_are_computed_in_order_and_reach_names():
    blocks = {
        "unit": {
            "params": {"i": None, "width": 8},
            "let": {"w2": "${width * 2}", "w4": "${w2 * 2}", "tag": "${fmt('unit{}_{}', i, str(w4))}"},
            "layers": [{"conv": "${w4}", "kernel": 1, "name": "${tag}"}],
        }
    }
    layers = [{"repeat": 2, "as": "i", "layers": [{"unit": {"i": "${i}", "width": "${4 * (i + 1)}"}}]}]
    graph = archspec.expand(spec(layers, blocks=blocks))
    assert [n.name for n in graph.nodes] == ["unit_unit0_16", "unit_1_unit1_32"]


def test_let_errors_are_located_in_the_let():
    blocks = {"b": {"let": {"x": "${nope + 1}", "p": 3}, "params": {"p": 1}, "layers": ["relu"]}}
    found = problems(spec([{"b": None}], blocks=blocks))
    assert "blocks.b.let.x: in '${nope + 1}': unknown name 'nope'." in found
    assert "blocks.b.let.p: 'p' is both a parameter and a `let` value of block 'b'" in found


def test_list_repetition_and_joining():
    graph = archspec.expand(
        spec(
            [{"repeat": "${len(widths)}", "as": "i", "layers": [{"conv": "${widths[i]}", "kernel": 1}]}],
            vars={"widths": "${[64] * 3 + [128] * 2}"},
        )
    )
    assert [n.args["filters"] for n in graph.nodes] == [64, 64, 64, 128, 128]
    assert evaluate("fmt('block{}_{{x}}', 2) + '_' + str(1.0)", {}) == "block2_{x}_1"
    with pytest.raises(ExpressionError, match="more than 100,000"):
        evaluate("[0] * 10**9", {})
    with pytest.raises(ExpressionError, match="only \\{\\} may stand in braces"):
        evaluate("fmt('{0.__class__}', 1)", {})


# -- 5. an instance names its output; the model's name is an expression -------------------------


def test_an_instance_output_carries_the_instance_name():
    blocks = {
        "mixed": {
            "output": "cat",
            "name_output": True,
            "layers": [
                {"conv": 4, "kernel": 1, "name": "b1"},
                {"conv": 4, "kernel": 1, "inputs": "input", "name": "b2"},
                {"concat": None, "inputs": ["b1", "b2"], "name": "cat"},
            ],
        }
    }
    layers = [{"mixed": None, "name": "mixed0"}, {"mixed": None, "name": "mixed1"}, {"conv": 4, "inputs": "mixed0"}]
    graph = archspec.expand(spec(layers, blocks=blocks))
    assert [n.name for n in graph.nodes] == [
        "mixed0_b1", "mixed0_b2", "mixed0", "mixed1_b1", "mixed1_b2", "mixed1", "conv",
    ]  # fmt: skip
    assert graph.node("mixed1_b1").inputs == ("mixed0",) and graph.node("conv").inputs == ("mixed0",)
    del blocks["mixed"]["output"]
    assert problems(spec(layers, blocks=blocks))[0].startswith("blocks.mixed.name_output: `name_output` names")


def test_the_model_name_may_be_an_expression():
    text = spec(["flatten"], name="densenet${depth}", vars={"depth": 169}, scales={"d201": {"depth": 201}})
    assert archspec.expand(text).name == "densenet169"
    assert archspec.expand(text, variant="d201").name == "densenet201"
    assert problems(spec(["flatten"], name="${'a b'}"))[0].startswith("name: the model name must be letters")


def test_keras_naming_counts_each_class_over_the_model():
    blocks = {"conv_bn": {"layers": [{"conv": 4, "kernel": 1}, "bn", {"act": "relu"}]}}
    layers = [
        {"conv_bn": None},
        {"conv_bn": None, "name": "second"},
        {"maxpool": 2},
        "relu",
        {"relu": None, "max_value": 6},  # Keras' ReLU class, not Activation: named as that class is
        "relu6",
        {"add": None, "inputs": ["second", "second"]},
    ]
    graph = archspec.expand(spec(layers, blocks=blocks, naming="keras"))
    assert [n.name for n in graph.nodes] == [
        "conv2d", "batch_normalization", "activation", "conv2d_1", "batch_normalization_1", "activation_1",
        "max_pooling2d", "activation_2", "re_lu", "re_lu_1", "add",
    ]  # fmt: skip
    assert [s for s in graph.scopes] == ["conv_bn", "second"]


@pytest.mark.slow
def test_keras_naming_is_the_name_keras_gives_an_unnamed_layer(keras):
    """The same layers made by Keras itself without names, in the same order, in a fresh session."""
    text = spec([{"conv": 4}, "bn", "relu", {"relu": None, "max_value": 6}, {"maxpool": 2}, {"separable": 4},
                 {"dense": 3, "per_position": True}, "gap", {"dropout": 0.1}, {"dense": 2}], naming="keras")  # fmt: skip
    keras.backend.clear_session()
    made = [keras.layers.Conv2D(4, 3), keras.layers.BatchNormalization(), keras.layers.Activation("relu"),
            keras.layers.ReLU(6.0), keras.layers.MaxPooling2D(), keras.layers.SeparableConv2D(4, 3),
            keras.layers.Dense(3), keras.layers.GlobalAveragePooling2D(), keras.layers.Dropout(0.1),
            keras.layers.Dense(2)]  # fmt: skip
    assert [n.name for n in archspec.expand(text).nodes] == [layer.name for layer in made]
    assert [layer.name for layer in archspec.build(text).layers[1:]] == [layer.name for layer in made]


# -- 6. an optional group ------------------------------------------------------------------------


def test_a_group_is_included_or_left_out_as_one():
    blocks = {
        "unit": {
            "params": {"se": True, "project": False, "filters": 8},
            "layers": [
                {"conv": "${filters}", "padding": "same", "name": "conv"},
                {
                    "when": "${se}",
                    "layers": [
                        {"gap": None, "keepdims": True, "name": "se_pool"},
                        {"conv": 2, "kernel": 1, "activation": "relu", "name": "se_reduce"},
                        {"conv": "${filters}", "kernel": 1, "activation": "sigmoid", "name": "se_expand"},
                        {"multiply": None, "inputs": ["conv", "se_expand"], "name": "se"},
                    ],
                },
                {
                    "layers": [{"conv": "${filters}", "kernel": 1, "inputs": "input", "name": "shortcut"}],
                    "when": "${project}",
                },
                {
                    "add": None,
                    "inputs": ["${'shortcut' if project else 'input'}", "${'se' if se else 'conv'}"],
                    "name": "add",
                },
            ],
        }
    }
    layers = [{"unit": None, "name": "u1"}, {"unit": {"se": False, "project": True, "filters": 4}, "name": "u2"}]
    graph = archspec.expand(spec(layers, blocks=blocks))
    assert [n.name for n in graph.nodes] == [
        "u1_conv", "u1_se_pool", "u1_se_reduce", "u1_se_expand", "u1_se", "u1_add", "u2_conv", "u2_shortcut", "u2_add",
    ]  # fmt: skip
    assert graph.node("u2_add").inputs == ("u2_shortcut", "u2_conv")


def test_a_misspelt_key_in_a_group_is_an_error():
    found = problems(spec([{"layers": ["relu"], "whn": True}]))
    assert found and "whn" in found[0]


# -- the language grows by addition ---------------------------------------------------------------


def test_a_block_param_default_may_read_the_input_shape_but_a_given_value_reads_the_callers_scope():
    blocks = {
        "inner": {"params": {"width": "${input.channels}"}, "layers": [{"conv": "${width}", "kernel": 1, "name": "c"}]},
        "outer": {
            "layers": [
                {"conv": 6, "kernel": 1, "name": "w"},
                {"inner": None, "name": "a"},
                {"inner": "${input.channels}", "name": "b"},
            ]
        },
    }
    graph = archspec.expand(spec([{"outer": None, "name": "o"}], blocks=blocks))
    assert args(graph, "o_a_c")["filters"] == 6  # the inner instance's input: o_w
    assert args(graph, "o_b_c")["filters"] == 8  # written in outer: outer's input


def test_outputs_may_be_expressions():
    layers = [{"conv": 4, "name": "head1"}, {"conv": 4, "inputs": "input", "name": "head2"}]
    graph = archspec.expand(spec(layers, vars={"n": 2}, outputs=["head${n}", "${'head' + str(n - 1)}"]))
    assert graph.outputs == ("head2", "head1")
    assert problems(spec(layers, outputs="head${n + 1}", vars={"n": 2})) == [
        "outputs: unknown output 'head3'. Did you mean one of 'head2', 'head1'?"
    ]


def test_an_unresolvable_expression_in_a_longer_text_is_an_error_not_a_name():
    found = problems(spec([{"repeat": 2, "as": "i", "layers": [{"conv": 4, "name": "b${fmt('{}', i)}"}]}]))
    assert found == [
        "layers.0.layers.0.name: in \"b${fmt('{}', i)}\": a ${ without its }, or braces inside ${...} within a "
        "longer text: write the whole value as one expression, e.g. \"${fmt('block{}_conv', i)}\" "
        "(in 2 instances: i=0; i=1)"
    ]
    graph = archspec.expand(spec([{"repeat": 2, "as": "i", "layers": [{"conv": 4, "name": "${fmt('b{}', i)}"}]}]))
    assert [n.name for n in graph.nodes] == ["b0", "b1"]


def test_a_variable_named_input_keeps_its_meaning_inside_blocks():
    blocks = {"b": {"layers": [{"conv": "${input * 2}", "kernel": 1, "name": "c"}]}}
    graph = archspec.expand(
        spec(
            [{"b": None, "name": "x"}, {"conv": "${input}", "kernel": 1, "name": "top"}],
            blocks=blocks,
            vars={"input": 3},
        )
    )
    assert args(graph, "x_c")["filters"] == 6 and args(graph, "top")["filters"] == 3


def test_an_unknown_type_with_nothing_near_it_points_to_the_documented_limits():
    (message,) = problems(spec([{"lstm": 8}]))
    assert message.startswith("layers.0.lstm: unknown layer type 'lstm'. No layer type, built-in block or block")
    assert "docs/spec-language.md#what-the-language-cannot-express" in message and "docs/plugins.md" in message
    assert "Did you mean one of 'conv2d'" in problems(spec([{"conv2": 8}]))[0]  # a near name: the suggestion only
