"""The DenseNet, MobileNet, EfficientNet and GoogLeNet specs against their authorities.

Keras: the spec's static analysis equals ``keras.applications.X(weights=None)`` layer by
layer (name, output shape, trainable and non-trainable parameters) and in total, with and
without the top. Each Keras model is built once per session.
Paper: googlenet.yaml against GoogLeNet's Table 1 (Szegedy et al. 2015), per module.
"""

from __future__ import annotations

import math

import pytest
from conftest import SPECS, n_weights, weight_counts

import archspec

# (Keras application, its keyword arguments, spec, variant of the spec)
APPS = {
    "densenet121": ("DenseNet121", {}, "densenet121.yaml", None),
    "mobilenet": ("MobileNet", {}, "mobilenet.yaml", None),
    "mobilenetv2": ("MobileNetV2", {}, "mobilenetv2.yaml", None),
    "efficientnetb0": ("EfficientNetB0", {}, "efficientnet_b0.yaml", None),
    "efficientnetb1": ("EfficientNetB1", {}, "efficientnet_b0.yaml", "b1"),
}


def _keras_table(model) -> dict[str, tuple]:
    return {
        layer.name: (tuple(layer.output.shape[1:]), *weight_counts(layer))
        for layer in model.layers
        if layer.__class__.__name__ != "InputLayer"
    }


@pytest.fixture(scope="module")
def keras_tables(keras):
    """Per (app, top): the Keras model's layer table, built lazily once per module."""
    cache: dict[tuple[str, bool], tuple[dict, list[str], list]] = {}

    def get(key: str, top: bool):
        if (key, top) not in cache:
            app, kwargs, _, variant = APPS[key]
            keras.backend.clear_session()  # auto-named layers (zero_padding2d, ...) start from 0
            size = archspec.expand(SPECS / APPS[key][2], variant=variant).input_shape
            model = getattr(keras.applications, app)(weights=None, include_top=top, input_shape=size, **kwargs)
            cache[key, top] = (_keras_table(model), [layer.name for layer in model.layers[1:]], model)
        return cache[key, top]

    return get


def _ours(key: str, top: bool):
    _, _, spec, variant = APPS[key]
    overrides = None if top else {"top": False}
    return archspec.summary(SPECS / spec, variant=variant, overrides=overrides)


@pytest.mark.slow
@pytest.mark.parametrize("top", [True, False], ids=["top", "notop"])
@pytest.mark.parametrize("key", list(APPS))
def test_spec_equals_keras_application_layer_by_layer(key, top, keras_tables):
    if key == "efficientnetb1" and not top:
        pytest.skip("one variant is enough without the top")
    table, _, model = keras_tables(key, top)
    analysis = _ours(key, top)
    ours = {s.name: (s.shape, s.trainable_params, s.non_trainable_params) for s in analysis.layers}
    assert set(ours) == set(table), (
        f"only Keras: {sorted(set(table) - set(ours))[:5]}, only ours: {sorted(set(ours) - set(table))[:5]}"
    )
    mismatched = {name: (table[name], row) for name, row in ours.items() if table[name] != row}
    assert not mismatched, list(mismatched.items())[:5]
    trainable = n_weights(model.trainable_weights)
    assert (analysis.total_params, analysis.trainable_params) == (model.count_params(), trainable)
    assert [tuple(analysis.output_shapes[0])] == [tuple(model.output.shape[1:])]


@pytest.mark.slow
def test_efficientnet_dropout_and_drop_connect_rates_equal_keras(keras_tables):
    """Rates are not parameters; check them too, on B1 (23 blocks: 0.2 * b / 23)."""
    _, _, model = keras_tables("efficientnetb1", True)
    graph = archspec.expand(SPECS / "efficientnet_b0.yaml", variant="b1")
    ours = {n.name: n.args["rate"] for n in graph.nodes if n.type == "dropout"}
    theirs = {layer.name: layer.rate for layer in model.layers if layer.__class__.__name__ == "Dropout"}
    assert ours.keys() == theirs.keys()
    assert all(math.isclose(ours[k], theirs[k]) for k in ours), [(k, ours[k], theirs[k]) for k in ours]
    assert graph.node("block7b_drop").args["noise_shape"] == (1, 1, 1)


@pytest.mark.slow
@pytest.mark.parametrize(
    ("app", "kwargs", "overrides"),
    [
        ("MobileNet", {"alpha": 0.5}, {"alpha": 0.5}),
        ("MobileNetV2", {"alpha": 0.35}, {"alpha": 0.35}),
        ("MobileNetV2", {"alpha": 1.4}, {"alpha": 1.4}),  # the last conv becomes make_divisible(1280 * 1.4)
    ],
)
def test_width_multiplier_alpha_equals_keras(keras, app, kwargs, overrides):
    spec = SPECS / ("mobilenet.yaml" if app == "MobileNet" else "mobilenetv2.yaml")
    keras.backend.clear_session()
    model = getattr(keras.applications, app)(weights=None, **kwargs)
    analysis = archspec.summary(spec, overrides=overrides)
    ours = {s.name: (s.shape, s.params) for s in analysis.layers}
    theirs = {layer.name: (tuple(layer.output.shape[1:]), layer.count_params()) for layer in model.layers[1:]}
    assert ours == theirs
    assert analysis.total_params == model.count_params()


# -- GoogLeNet against its Table 1 --------------------------------------------------------------
#: Szegedy et al. 2015, Table 1: output size, params (K), ops (M), per row.
TABLE_1 = {
    "conv1": ((112, 112, 64), 2.7, 34),
    "pool1": ((56, 56, 64), None, None),
    "conv2": ((56, 56, 192), 112, 360),
    "pool2": ((28, 28, 192), None, None),
    "inception_3a": ((28, 28, 256), 159, 128),
    "inception_3b": ((28, 28, 480), 380, 304),
    "pool3": ((14, 14, 480), None, None),
    "inception_4a": ((14, 14, 512), 364, 73),
    "inception_4b": ((14, 14, 512), 437, 88),
    "inception_4c": ((14, 14, 512), 463, 100),
    "inception_4d": ((14, 14, 528), 580, 119),
    "inception_4e": ((14, 14, 832), 840, 170),
    "pool4": ((7, 7, 832), None, None),
    "inception_5a": ((7, 7, 832), 1072, 54),
    "inception_5b": ((7, 7, 1024), 1388, 71),
    "pool5": ((1, 1, 1024), None, None),
    "predictions": ((1000,), 1000, 1),
}
#: Rows whose params (kernel weights, in K = 1024) do not follow from their own layer sizes:
#: archspec's exact weights, which the description of googlenet.yaml documents.
PARAMS_DISAGREE = {"conv1": 9_408, "inception_4a": 375_552, "inception_4c": 509_440, "inception_4d": 604_672,
                   "inception_4e": 867_328, "inception_5a": 1_042_432, "inception_5b": 1_442_816}  # fmt: skip
#: Rows whose ops do not: conv1 (9,408 x 112 x 112) and 5a (1,042,432 x 7 x 7).
OPS_DISAGREE = {"conv1": 118_013_952, "inception_5a": 51_079_168}


def _googlenet_rows(analysis):
    """Table 1 row -> the conv/dense layers it is made of (a row is a module or a layer)."""

    def members(row: str) -> list:
        if row == "conv2":
            return [analysis["conv2_reduce"], analysis["conv2"]]
        if row.startswith("inception"):
            return [s for s in analysis.layers if s.name.startswith(row + "_") and s.type == "conv"]
        return [analysis[row]]

    return {row: members(row) for row in TABLE_1}


def test_googlenet_reproduces_table_1_per_module():
    analysis = archspec.summary(SPECS / "googlenet.yaml")
    rows = _googlenet_rows(analysis)
    for row, (size, params_k, ops_m) in TABLE_1.items():
        out = analysis[f"{row}_output"] if row.startswith("inception") else analysis[row]
        assert tuple(out.shape) == size, row
        if params_k is None:
            continue
        weights = sum(s.macs // math.prod(s.shape[:-1]) if len(s.shape) == 3 else s.macs for s in rows[row])
        ops = sum(s.macs for s in rows[row])
        if row in PARAMS_DISAGREE:
            assert weights == PARAMS_DISAGREE[row], row
            assert abs(weights / 1024 - params_k) > 1, f"{row} now agrees with Table 1: update the description"
        else:
            assert abs(weights / 1024 - params_k) <= 1, (row, weights / 1024, params_k)
        if row in OPS_DISAGREE:
            assert ops == OPS_DISAGREE[row], row
        else:
            assert abs(ops / 1e6 - ops_m) <= 1, (row, ops / 1e6, ops_m)


def test_googlenet_total_mult_adds_and_aux_heads():
    analysis = archspec.summary(SPECS / "googlenet.yaml")
    main = archspec.summary(archspec.ir.prune(analysis.graph, ["predictions"]))
    # Table 1's ops column sums to 1,502M ("1.5 billion multiply-adds", section 5); archspec's
    # main path exceeds it by conv1's 118M - 34M and 5a's 51M - 54M.
    assert sum(ops for _, _, ops in TABLE_1.values() if ops) == 1502
    assert main.macs == pytest.approx(1502e6 + (118_013_952 - 34e6) + (51_079_168 - 54e6), rel=2e-3)
    assert analysis.graph.outputs == ("predictions", "aux1_predictions", "aux2_predictions")
    for head, source in (("aux1", "inception_4a_output"), ("aux2", "inception_4d_output")):
        assert analysis[f"{head}_pool"].node.inputs == (source,)
        assert analysis[f"{head}_pool"].shape == (4, 4, analysis[source].shape[-1])
    assert main.total_params == analysis.total_params - 2 * (128 + 1024 + 1000) - 128 * (512 + 528) - 2 * (
        2048 * 1024 + 1024 * 1000
    )
    assert analysis.graph.sections["train"]["loss_weights"] == {
        "predictions": 1.0, "aux1": 0.3, "aux2": 0.3,
    }  # fmt: skip


def test_googlenet_is_22_layers_deep():
    """Section 5: "22 layers deep when counting only layers with parameters" (Table 1's depth
    column: 1 + 2 + 9 x 2 + 1), the longest chain of weight layers from input to predictions."""
    graph = archspec.ir.prune(archspec.expand(SPECS / "googlenet.yaml"), ["predictions"])
    depth = {graph.input_name: 0}
    for node in graph.nodes:
        depth[node.name] = max(depth[i] for i in node.inputs) + (node.type in ("conv", "dense"))
    assert depth["predictions"] == 22
    assert [
        depth[f"inception_{m}_output"] - depth[src] for m, src in (("3a", "pool2"), ("5b", "inception_5a_output"))
    ] == [2, 2]
