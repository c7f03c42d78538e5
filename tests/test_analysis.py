"""Stage 4: static analysis checked against figures computed by hand (the notes' arithmetic)."""

from __future__ import annotations

import pytest

import archspec
from archspec.analysis import analyse

HEAD = "archspec: 1\nname: t\n"


def net(input_shape: str, layers: str) -> archspec.Analysis:
    return archspec.summary(f"{HEAD}input: {input_shape}\nlayers: {layers}\n")


def test_alexnet_conv1_and_pool1_as_in_the_notes():
    a = net("[227, 227, 3]", "[{conv: 96, kernel: 11, strides: 4, name: conv1}, {maxpool: 3, strides: 2, name: pool1}]")
    assert a["conv1"].shape == (55, 55, 96)
    assert a["conv1"].params == (11 * 11 * 3) * 96 + 96 == 34_944
    assert a["conv1"].macs == 55 * 55 * 96 * (11 * 11 * 3)
    assert a["pool1"].shape == (27, 27, 96) and a["pool1"].params == 0


def test_three_3x3_convs_see_what_one_7x7_sees():
    a = net(
        "[32, 32, 8]",
        "[{conv: 8, padding: same}, {conv: 8, padding: same}, {conv: 8, padding: same, name: c3}, {conv: 8, kernel: 7, padding: same, inputs: input, name: c7}]",
    )
    assert a["c3"].rf.size == a["c7"].rf.size == (7, 7)
    # ...with fewer weights: 3 * (3*3*C*C) vs 7*7*C*C (biases aside)
    assert 3 * (a["c3"].params - 8) < a["c7"].params - 8


def test_receptive_field_grows_by_the_jump_after_pooling():
    a = net(
        "[32, 32, 3]",
        "[{conv: 4, name: a}, {maxpool: 2, name: p}, {conv: 4, name: b}, {conv: 4, dilation: 2, name: d}]",
    )
    assert (str(a["a"].rf), str(a["p"].rf), str(a["b"].rf)) == ("3", "4", "8")
    assert a["b"].rf.jump == (2, 2)
    assert a["d"].rf.size == (8 + (5 - 1) * 2,) * 2


def test_batch_norm_split_as_keras_counts_it():
    a = net("[8, 8, 64]", "[{bn: null, name: bn}, {bn: null, scale: false, name: bn2}]")
    assert (a["bn"].trainable_params, a["bn"].non_trainable_params) == (128, 128)
    assert (a["bn2"].trainable_params, a["bn2"].non_trainable_params) == (64, 128)


@pytest.mark.parametrize(
    ("layer", "params", "shape"),
    [
        ("{depthwise: 3, bias: false, padding: same}", 3 * 3 * 32, (16, 16, 32)),
        ("{depthwise: 3, depth_multiplier: 2, strides: 2, padding: same}", 3 * 3 * 64 + 64, (8, 8, 64)),
        ("{separable: 64, padding: same}", 3 * 3 * 32 + 32 * 64 + 64, (16, 16, 64)),
        ("{conv: 128, groups: 32}", 3 * 3 * (32 // 32) * 128 + 128, (14, 14, 128)),
        ("{conv: 16, kernel: [1, 3], padding: valid}", 1 * 3 * 32 * 16 + 16, (16, 14, 16)),
        ("{conv: 16, strides: 2, padding: same}", 3 * 3 * 32 * 16 + 16, (8, 8, 16)),
        ("{conv: 16, strides: 2}", 3 * 3 * 32 * 16 + 16, (7, 7, 16)),
        ("{zeropad: [[1, 2], [3, 4]]}", 0, (19, 23, 32)),
        ("{avgpool: 3, strides: 1, padding: same}", 0, (16, 16, 32)),
        ("{gap: null, keepdims: true}", 0, (1, 1, 32)),
        ("{normalize: null}", 2 * 32 + 1, (16, 16, 32)),
        ("{reshape: [256, 32]}", 0, (256, 32)),
        ("{lrn: null}", 0, (16, 16, 32)),
    ],
)
def test_layer_rules(layer, params, shape):
    a = net("[16, 16, 32]", f"[{layer}]")
    (only,) = a.layers
    assert (only.params, only.shape) == (params, shape)


def test_vgg16_dense_and_totals():
    a = archspec.summary("specs/vgg16.yaml")
    assert a["fc1"].params == 7 * 7 * 512 * 4096 + 4096 == 102_764_544
    assert a.total_params == 138_357_544
    # the notes' memory column counts values per layer: CONV3-64 at 224x224 is 3.2M
    assert a["block1_conv1"].elements == 224 * 224 * 64


def test_frozen_layers_count_as_non_trainable():
    a = net("[8, 8, 3]", "[{conv: 4, trainable: false, name: c}, flatten, {dense: 2, name: d}]")
    assert a["c"].trainable_params == 0 and a["c"].non_trainable_params == 3 * 3 * 3 * 4 + 4
    assert a.trainable_params == a["d"].params


def test_macs_flops_and_memory_conventions():
    a = net("[10, 10, 1]", "[{conv: 2, kernel: 1, name: c}, flatten, {dense: 3, name: d}]")
    assert a.macs == 10 * 10 * 2 * 1 + 200 * 3
    assert a.flops == 2 * a.macs
    assert a.activation_elements == 100 + 200 + 200 + 3
    assert a.activation_bytes("float16") == 2 * a.activation_elements
    mem = a.training_memory(batch_size=8, optimizer="adam")
    assert mem["activations"] == 8 * a.activation_elements * 4
    assert mem["optimizer_state"] == 2 * 4 * a.trainable_params
    assert mem["total"] == sum(v for k, v in mem.items() if k != "total")


def test_analysis_of_a_hand_built_graph():
    from archspec.ir import Graph, Node, freeze

    conv = Node(
        "c",
        "conv",
        freeze(
            {
                "filters": 4,
                "kernel": (3, 3),
                "strides": (1, 1),
                "padding": "valid",
                "dilation": (1, 1),
                "groups": 1,
                "activation": None,
                "bias": False,
                "init": "glorot_uniform",
                "l2": None,
            }
        ),
        ("input",),
    )
    a = analyse(Graph("g", (5, 5, 2), (conv,), ("c",)))
    assert a["c"].shape == (3, 3, 4) and a.total_params == 3 * 3 * 2 * 4
