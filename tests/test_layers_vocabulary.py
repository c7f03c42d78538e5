"""The layer types beyond classification CNNs (issue 15): each against Keras itself.

For every case a one-layer spec (after whatever layers make its input) is built by
archspec, and the same layer is built by Keras directly (or, for archspec's own layers, by
the Keras class they copy or by the formula they implement). The static analysis, the
archspec layer and the reference agree on the output shape and the trainable and
non-trainable parameter counts, and with the archspec layer's weights copied into the
reference the outputs are equal. The generated source builds the same layers, and the
``.keras`` file of each case loads again in safe mode with equal outputs.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from dataclasses import dataclass
from typing import Any

import numpy as np
import pytest
import yaml
from conftest import weight_counts

import archspec
from archspec.registry import registry

NEW_TYPES = {
    "layernorm", "groupnorm", "layer_scale", "conv_transpose", "upsample", "resize", "crop_to",
    "attention", "class_token", "position_embedding", "select_token",
    "patches", "permute", "conv1d",
    "gelu", "hard_swish", "hard_sigmoid", "dense", "reshape",  # older types the issue asks again of
}  # fmt: skip


@dataclass(frozen=True)
class Case:
    id: str
    input: tuple[int, ...]
    layers: tuple[Any, ...]  # the spec's layers; the last one is the layer under test
    reference: Callable[[Any], Callable[[list[np.ndarray]], Any]]  # keras -> (inputs -> output)
    weights: bool = True  # the reference has weights to copy from the archspec layer

    def spec(self) -> str:
        data = {"archspec": 1, "name": self.id, "input": list(self.input), "layers": list(self.layers)}
        return yaml.safe_dump(data, sort_keys=False)


def _layer(make: Callable[[Any], Any], *, call: Callable[[Any, list], Any] | None = None) -> Callable:
    """A reference made from a Keras layer; ``call`` says how it takes the inputs (default: one)."""

    def reference(keras: Any) -> Any:
        layer = make(keras)
        run = (lambda xs: call(layer, xs)) if call else (lambda xs: layer(xs[0]))
        run.layer = layer  # type: ignore[attr-defined]
        return run

    return reference


def _function(fn: Callable[[list[np.ndarray], list[np.ndarray]], np.ndarray]) -> Callable:
    """A reference written from the layer's definition (archspec layers Keras lacks)."""

    def reference(keras: Any) -> Any:
        run = lambda xs, weights=(): fn(xs, list(weights))  # noqa: E731
        run.layer = None  # type: ignore[attr-defined]
        return run

    return reference


def _patches(x: np.ndarray, ph: int, pw: int) -> np.ndarray:
    """Patches by loops: token t = (i, j) in row-major order, values in (row, col, channel) order."""
    n, h, w, _ = x.shape
    out = [x[:, i : i + ph, j : j + pw, :].reshape(n, -1) for i in range(0, h, ph) for j in range(0, w, pw)]
    return np.stack(out, axis=1)


def _sincos(tokens: int, dim: int) -> np.ndarray:
    pos = np.arange(tokens)[:, None]
    freq = 10000.0 ** (-2.0 * np.arange(dim // 2) / dim)
    return np.concatenate([np.sin(pos * freq), np.cos(pos * freq)], axis=1)


_TOKENS = {"conv": 8, "kernel": 2, "strides": 2, "name": "patch"}  # 8x8x3 -> 4x4x8 -> 16 tokens
CASES = [
    Case("layernorm", (5, 6, 8), ({"layernorm": None, "epsilon": 1e-6},),
         _layer(lambda k: k.layers.LayerNormalization(epsilon=1e-6))),
    Case("layernorm_plain", (7, 4), ({"layernorm": None, "center": False},),
         _layer(lambda k: k.layers.LayerNormalization(center=False))),
    Case("groupnorm", (6, 6, 8), ({"groupnorm": 4},), _layer(lambda k: k.layers.GroupNormalization(groups=4))),
    Case("groupnorm_instance", (6, 6, 6), ({"groupnorm": -1, "scale": False},),
         _layer(lambda k: k.layers.GroupNormalization(groups=-1, scale=False))),
    Case("layer_scale", (4, 4, 12), ({"layer_scale": 0.5},),
         _layer(lambda k: importlib.import_module("keras.src.applications.convnext").LayerScale(0.5, 12))),
    Case("conv_transpose", (5, 7, 3), ({"conv_transpose": 4, "kernel": 3, "strides": 2},),
         _layer(lambda k: k.layers.Conv2DTranspose(4, 3, strides=2))),
    Case("conv_transpose_same", (5, 7, 3), ({"conv_transpose": 4, "kernel": 2, "strides": 2, "padding": "same"},),
         _layer(lambda k: k.layers.Conv2DTranspose(4, 2, strides=2, padding="same"))),
    Case("conv_transpose_output_padding", (5, 7, 3),
         ({"conv_transpose": 2, "kernel": 3, "strides": 3, "output_padding": [1, 2], "activation": "relu"},),
         _layer(lambda k: k.layers.Conv2DTranspose(2, 3, strides=3, output_padding=(1, 2), activation="relu"))),
    Case("conv_transpose_same_odd_kernel", (5, 7, 3),
         ({"conv_transpose": 2, "kernel": 3, "strides": 3, "padding": "same", "output_padding": [0, 2]},),
         _layer(lambda k: k.layers.Conv2DTranspose(2, 3, strides=3, padding="same", output_padding=(0, 2)))),
    Case("conv_transpose_same_output_padding", (5, 7, 3),
         ({"conv_transpose": 2, "kernel": 4, "strides": 2, "padding": "same", "output_padding": 1, "bias": False},),
         _layer(lambda k: k.layers.Conv2DTranspose(2, 4, strides=2, padding="same", output_padding=1,
                                                   use_bias=False))),
    Case("upsample", (3, 4, 2), ({"upsample": [2, 3]},), _layer(lambda k: k.layers.UpSampling2D((2, 3)))),
    Case("upsample_bilinear", (3, 4, 2), ({"upsample": 2, "interpolation": "bilinear"},),
         _layer(lambda k: k.layers.UpSampling2D(2, interpolation="bilinear"))),
    Case("resize", (9, 7, 2), ({"resize": None, "height": 4, "width": 5},),
         _layer(lambda k: k.layers.Resizing(4, 5))),
    Case("resize_nearest", (9, 7, 2), ({"resize": None, "height": 12, "width": 3, "interpolation": "nearest"},),
         _layer(lambda k: k.layers.Resizing(12, 3, interpolation="nearest"))),
    Case("resize_area", (9, 7, 2), ({"resize": None, "height": 3, "width": 3, "interpolation": "area"},),
         _layer(lambda k: k.layers.Resizing(3, 3, interpolation="area"))),
    Case("resize_crop_to_aspect_ratio", (9, 7, 2),
         ({"resize": None, "height": 4, "width": 4, "crop_to_aspect_ratio": True},),
         _layer(lambda k: k.layers.Resizing(4, 4, crop_to_aspect_ratio=True))),
    Case("upsample_bicubic", (3, 4, 2), ({"upsample": 2, "interpolation": "bicubic"},),
         _layer(lambda k: k.layers.UpSampling2D(2, interpolation="bicubic"))),
    Case("crop_to", (13, 12, 2),
         ({"maxpool": 2, "padding": "same", "name": "small"}, {"crop_to": None, "inputs": ["input", "small"]}),
         _layer(lambda k: k.layers.Cropping2D(((3, 3), (3, 3))))),
    Case("crop_to_odd", (12, 11, 2),
         ({"conv": 1, "kernel": [4, 3], "name": "small"}, {"crop_to": None, "inputs": ["input", "small"]}),
         _layer(lambda k: k.layers.Cropping2D(((1, 2), (1, 1))))),
    Case("attention_self", (8, 8, 3), (_TOKENS, {"reshape": [16, 8]}, {"attention": 2, "key_dim": 5}),
         _layer(lambda k: k.layers.MultiHeadAttention(2, 5), call=lambda layer, xs: layer(xs[0], xs[0]))),
    Case("attention_cross", (8, 8, 3),
         (_TOKENS, {"reshape": [16, 8], "name": "tokens"}, {"conv": 6, "kernel": 1, "inputs": ["patch"], "name": "other"},
          {"reshape": [16, 6], "name": "memory"},
          {"attention": 3, "key_dim": 4, "value_dim": 7, "bias": False, "inputs": ["tokens", "memory"]}),
         _layer(lambda k: k.layers.MultiHeadAttention(3, 4, value_dim=7, use_bias=False),
                call=lambda layer, xs: layer(xs[0], xs[1]))),
    Case("attention_feature_map", (3, 4, 6), ({"attention": 2, "key_dim": 3},),
         _layer(lambda k: k.layers.MultiHeadAttention(2, 3), call=lambda layer, xs: layer(xs[0], xs[0]))),
    Case("class_token", (8, 8, 3), (_TOKENS, {"reshape": [16, 8]}, "class_token"),
         _function(lambda xs, w: np.concatenate([np.broadcast_to(w[0], (len(xs[0]), 1, 8)), xs[0]], axis=1))),
    Case("position_embedding", (8, 8, 3), (_TOKENS, {"reshape": [16, 8]}, "position_embedding"),
         _function(lambda xs, w: xs[0] + w[0])),
    Case("position_embedding_sincos", (8, 8, 3), (_TOKENS, {"reshape": [16, 8]}, {"position_embedding": "sincos"}),
         _function(lambda xs, w: xs[0] + _sincos(16, 8)), weights=False),
    Case("select_token_first", (8, 8, 3), (_TOKENS, {"reshape": [16, 8]}, "select_token"),
         _function(lambda xs, w: xs[0][:, 0]), weights=False),
    Case("select_token_mean", (8, 8, 3), (_TOKENS, {"reshape": [16, 8]}, {"select_token": "mean"}),
         _layer(lambda k: k.layers.GlobalAveragePooling1D())),
    Case("patches", (8, 12, 3), ({"patches": 4},), _function(lambda xs, w: _patches(xs[0], 4, 4)), weights=False),
    Case("patches_oblong", (6, 8, 2), ({"patches": [3, 2]},), _function(lambda xs, w: _patches(xs[0], 3, 2)),
         weights=False),
    Case("permute_tokens", (5, 6), ({"permute": [2, 1]},), _layer(lambda k: k.layers.Permute((2, 1)))),
    Case("permute_map", (3, 4, 6), ({"permute": [3, 1, 2]},), _layer(lambda k: k.layers.Permute((3, 1, 2)))),
    Case("conv1d", (9, 4), ({"conv1d": 6, "kernel": 4, "activation": "relu"},),
         _layer(lambda k: k.layers.Conv1D(6, 4, activation="relu"))),
    Case("conv1d_same_strided", (9, 4), ({"conv1d": 3, "kernel": 3, "strides": 2, "padding": "same"},),
         _layer(lambda k: k.layers.Conv1D(3, 3, strides=2, padding="same"))),
    Case("conv1d_causal_dilated", (9, 4), ({"conv1d": 3, "kernel": 2, "dilation": 3, "padding": "causal"},),
         _layer(lambda k: k.layers.Conv1D(3, 2, dilation_rate=3, padding="causal"))),
    Case("dense_tokens", (5, 6), ({"dense": 4, "activation": "gelu"},),
         _layer(lambda k: k.layers.Dense(4, activation="gelu"))),
    Case("dense_per_position", (3, 4, 6), ({"dense": 5, "per_position": True, "bias": False},),
         _layer(lambda k: k.layers.Dense(5, use_bias=False))),
    Case("reshape_inferred", (4, 4, 6), ({"reshape": [-1, 6]},), _layer(lambda k: k.layers.Reshape((-1, 6)))),
    Case("gelu", (4, 5), ("gelu",), _layer(lambda k: k.layers.Activation("gelu"))),
    Case("hard_swish", (4, 5), ("hard_swish",), _layer(lambda k: k.layers.Activation("hard_swish"))),
    Case("hard_sigmoid", (4, 5), ("hard_sigmoid",), _layer(lambda k: k.layers.Activation("hard_sigmoid"))),
    Case("conv_hard_swish", (6, 6, 2), ({"conv": 3, "activation": "hard_swish"},),
         _layer(lambda k: k.layers.Conv2D(3, 3, activation="hard_swish"))),
    Case("dense_hard_sigmoid", (6,), ({"dense": 3, "activation": "hard_sigmoid"},),
         _layer(lambda k: k.layers.Dense(3, activation="hard_sigmoid"))),
]  # fmt: skip


def test_every_new_layer_type_has_a_parity_case():
    tested = {registry().resolve(next(iter(c.layers[-1])) if isinstance(c.layers[-1], dict) else c.layers[-1])
              for c in CASES}  # fmt: skip
    assert set(registry().types) >= NEW_TYPES
    assert tested >= NEW_TYPES


def _inputs_of(model: Any, graph: Any, name: str, x: np.ndarray) -> list[np.ndarray]:
    """The values the layer `name` receives, from the archspec model itself."""
    import keras

    sources = graph.node(name).inputs
    tensors = [model.input if s == graph.input_name else model.get_layer(s).output for s in sources]
    values = keras.Model(model.input, tensors)(x, training=False)
    return [np.asarray(v) for v in (values if isinstance(values, list | tuple) else [values])]


@pytest.mark.slow
@pytest.mark.parametrize("case", CASES, ids=lambda c: c.id)
def test_layer_matches_keras(case, keras):
    spec = case.spec()
    graph = archspec.expand(spec)
    name = graph.outputs[0]
    stats = archspec.summary(spec)[name]
    model = archspec.build(spec)
    layer = model.get_layer(name)
    assert tuple(layer.output.shape[1:]) == stats.shape
    assert weight_counts(layer) == (stats.trainable_params, stats.non_trainable_params)

    rng = np.random.default_rng(1)
    x = rng.normal(size=(3, *case.input)).astype("float32")
    for w in layer.weights:  # not the initial values, so that a weight used wrongly shows
        w.assign(rng.normal(size=w.shape).astype("float32"))
    inputs = _inputs_of(model, graph, name, x)
    reference = case.reference(keras)
    if reference.layer is not None:
        reference(inputs)  # builds it
        assert weight_counts(reference.layer) == weight_counts(layer)
        reference.layer.set_weights(layer.get_weights())
        expected = reference(inputs)
    else:
        assert len(layer.weights) == int(case.weights) and stats.params == sum(w.size for w in layer.get_weights())
        expected = reference(inputs, layer.get_weights())
    assert tuple(np.shape(expected)[1:]) == stats.shape
    np.testing.assert_allclose(np.asarray(model(x, training=False)), np.asarray(expected), rtol=1e-5, atol=1e-5)


@pytest.mark.slow
def test_generated_code_and_keras_file_carry_the_new_layers(keras, tmp_path):
    importlib.import_module("archspec.keras_layers")
    rng = np.random.default_rng(2)
    for case in CASES:
        graph = archspec.expand(case.spec())
        model = archspec.build(graph)
        namespace: dict = {"__name__": "generated"}
        exec(compile(archspec.compile_source(graph), f"{case.id}.py", "exec"), namespace)
        generated = namespace["build_model"]()
        assert [(type(a).__name__, a.name, weight_counts(a)) for a in generated.layers] == [
            (type(b).__name__, b.name, weight_counts(b)) for b in model.layers
        ], case.id
        generated.set_weights(model.get_weights())
        x = rng.normal(size=(2, *case.input)).astype("float32")
        np.testing.assert_allclose(generated(x), model(x), rtol=1e-5, atol=1e-5, err_msg=case.id)

        model.save(tmp_path / f"{case.id}.keras")
        loaded = keras.saving.load_model(tmp_path / f"{case.id}.keras", safe_mode=True, compile=False)
        np.testing.assert_allclose(loaded(x), model(x), rtol=1e-5, atol=1e-5, err_msg=case.id)


@pytest.mark.slow
def test_patches_then_dense_is_keras_patch_embedding_conv(keras):
    """The paper's linear projection of flattened patches is Keras' strided conv + reshape."""
    spec = _spec({"patches": [4, 2]}, {"dense": 5, "name": "embed"}, shape=(8, 6, 3))
    model = archspec.build(spec)
    x = keras.Input((8, 6, 3))
    conv = keras.layers.Conv2D(5, (4, 2), strides=(4, 2))
    reference = keras.Model(x, keras.layers.Reshape((-1, 5))(conv(x)))
    kernel, bias = model.get_layer("embed").get_weights()
    conv.set_weights([kernel.reshape(4, 2, 3, 5), bias])
    images = np.random.default_rng(3).normal(size=(2, 8, 6, 3)).astype("float32")
    np.testing.assert_allclose(model(images), reference(images), rtol=1e-5, atol=1e-5)
    assert archspec.summary(spec)["embed"].shape == tuple(reference.output.shape[1:]) == (6, 5)


# -- whole networks of the new layers: the issue's authorities -------------------------------------

VIT_B16 = """\
archspec: 1
name: vit_b16
input: [224, 224, 3]
vars: {dim: 768, heads: 12, mlp: 3072, depth: 12}
blocks:
  encoder:
    params: {dim: null, heads: null, mlp: null}
    layers:
      - {layernorm: null, epsilon: 1.0e-6, name: ln1}
      - {attention: "${heads}", key_dim: "${dim // heads}", name: mha}
      - {add: null, inputs: [input, mha], name: add1}
      - {layernorm: null, epsilon: 1.0e-6, name: ln2}
      - {dense: "${mlp}", activation: gelu, name: fc1}
      - {dense: "${dim}", name: fc2}
      - {add: null, inputs: [add1, fc2], name: add2}
layers:
  - {patches: 16}
  - {dense: "${dim}", name: embed}
  - class_token
  - position_embedding
  - {repeat: "${depth}", as: i, layers: [{encoder: {dim: "${dim}", heads: "${heads}", mlp: "${mlp}"}, name: "block${i}"}]}
  - {layernorm: null, epsilon: 1.0e-6, name: ln}
  - select_token
  - {dense: 1000, name: head}
"""

CONVNEXT_TINY = """\
archspec: 1
name: convnext_tiny
input: [224, 224, 3]
blocks:
  cnblock:
    params: {dim: null}
    layers:
      - {depthwise: 7, padding: same, name: dw}
      - {layernorm: null, epsilon: 1.0e-6, name: ln}
      - {dense: "${4 * dim}", per_position: true, activation: gelu, name: pw1}
      - {dense: "${dim}", per_position: true, name: pw2}
      - {layer_scale: 1.0e-6, name: ls}
      - {add: null, inputs: [input, ls], name: add}
layers:
  - {conv: 96, kernel: 4, strides: 4, name: stem}
  - {layernorm: null, epsilon: 1.0e-6, name: stem_ln}
  - {repeat: 3, as: i, layers: [{cnblock: 96, name: "s0b${i}"}]}
  - {layernorm: null, epsilon: 1.0e-6, name: d1_ln}
  - {conv: 192, kernel: 2, strides: 2, name: d1}
  - {repeat: 3, as: i, layers: [{cnblock: 192, name: "s1b${i}"}]}
  - {layernorm: null, epsilon: 1.0e-6, name: d2_ln}
  - {conv: 384, kernel: 2, strides: 2, name: d2}
  - {repeat: 9, as: i, layers: [{cnblock: 384, name: "s2b${i}"}]}
  - {layernorm: null, epsilon: 1.0e-6, name: d3_ln}
  - {conv: 768, kernel: 2, strides: 2, name: d3}
  - {repeat: 3, as: i, layers: [{cnblock: 768, name: "s3b${i}"}]}
  - gap
  - {layernorm: null, epsilon: 1.0e-6, name: head_ln}
  - {dense: 1000, name: head}
"""


def test_vit_b16_reaches_the_papers_parameter_count():
    """ViT-Base/16 written with the new layers: 86,567,656 parameters (Keras' count, the
    paper's 86M); 17.56 G MACs with attention's products (timm lists 17.6 GMACs)."""
    analysis = archspec.summary(VIT_B16)
    assert analysis.total_params == 86_567_656
    assert analysis.output_shapes == [(1000,)]
    assert round(analysis.macs / 1e9, 2) == 17.56


def test_convnext_tiny_reaches_keras_parameter_count():
    analysis = archspec.summary(CONVNEXT_TINY)
    assert analysis.total_params == 28_589_128  # keras.applications.ConvNeXtTiny(weights=None)
    assert round(analysis.macs / 1e9, 2) == 4.46  # the paper's 4.5 GFLOPs


@pytest.mark.slow
def test_convnext_tiny_matches_keras_application_layer_by_layer(keras):
    """Every weighted layer, in order: same parameter count and output shape as Keras' own
    ConvNeXtTiny (whose stem and downsampling layers are nested Sequentials)."""

    def flat(layers):
        for layer in layers:
            yield from flat(layer.layers) if isinstance(layer, keras.Sequential) else [layer]

    reference = keras.applications.ConvNeXtTiny(weights=None)
    theirs = [(layer.count_params(), tuple(layer.output.shape[1:])) for layer in flat(reference.layers)]
    ours = [(s.params, s.shape) for s in archspec.summary(CONVNEXT_TINY).layers if s.params]
    assert ours == [t for t in theirs if t[0]]


UNET = """\
archspec: 1
name: unet
input: [572, 572, 1]
vars: {w: 64}
blocks:
  double:
    params: {f: null}
    layers:
      - {conv: "${f}", kernel: 3, activation: relu, name: c1}
      - {conv: "${f}", kernel: 3, activation: relu, name: c2}
  up:
    params: {f: null}
    layers:
      - {conv_transpose: "${f}", kernel: 2, strides: 2, inputs: input0, name: upconv}
      - {crop_to: null, inputs: [input1, upconv], name: crop}
      - {concat: null, inputs: [crop, upconv], name: cat}
      - {double: "${f}", name: convs}
layers:
  - {double: "${w}", name: e1}
  - {maxpool: 2, name: p1}
  - {double: "${2 * w}", name: e2}
  - {maxpool: 2, name: p2}
  - {double: "${4 * w}", name: e3}
  - {maxpool: 2, name: p3}
  - {double: "${8 * w}", name: e4}
  - {maxpool: 2, name: p4}
  - {double: "${16 * w}", name: bottom}
  - {up: "${8 * w}", inputs: [bottom, e4], name: u4}
  - {up: "${4 * w}", inputs: [u4, e3], name: u3}
  - {up: "${2 * w}", inputs: [u3, e2], name: u2}
  - {up: "${w}", inputs: [u2, e1], name: u1}
  - {conv: 2, kernel: 1, name: out}
"""


def test_unet_is_figure_1_of_the_paper():
    """Ronneberger et al. 2015, Figure 1: valid 3x3 convs, 2x2 up-convs, copy and crop."""
    analysis = archspec.summary(UNET)
    assert analysis.total_params == 31_030_658
    sizes = [s.shape[0] for s in analysis.layers if s.type in ("conv", "maxpool", "conv_transpose")]
    assert sizes == [570, 568, 284, 282, 280, 140, 138, 136, 68, 66, 64, 32, 30, 28,
                     56, 54, 52, 104, 102, 100, 200, 198, 196, 392, 390, 388, 388]  # fmt: skip
    assert analysis["u4_crop"].shape == (56, 56, 512) and analysis.output_shapes == [(388, 388, 2)]


@pytest.mark.slow
def test_small_unet_builds_and_trains_on_per_pixel_labels(keras):
    spec = UNET.replace("[572, 572, 1]", "[188, 188, 1]").replace("{w: 64}", "{w: 2}")
    analysis = archspec.summary(spec)
    model = archspec.build(spec)
    for stats in analysis.layers:
        layer = model.get_layer(stats.name)
        assert (tuple(layer.output.shape[1:]), weight_counts(layer)) == (
            stats.shape,
            (stats.trainable_params, stats.non_trainable_params),
        ), stats.name
    namespace: dict = {"__name__": "generated"}
    exec(compile(archspec.compile_source(archspec.expand(spec)), "unet.py", "exec"), namespace)
    generated = namespace["build_model"]()
    assert [(a.name, weight_counts(a)) for a in generated.layers] == [(b.name, weight_counts(b)) for b in model.layers]
    rng = np.random.default_rng(4)
    x = rng.normal(size=(2, 188, 188, 1)).astype("float32")
    y = rng.integers(0, 2, size=(2, *analysis.output_shapes[0][:2]))  # a class per output pixel
    model.compile(optimizer="adam", loss=keras.losses.SparseCategoricalCrossentropy(from_logits=True))
    history = model.fit(x, y, epochs=2, batch_size=2, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))


@pytest.mark.slow
def test_attention_layer_hands_out_its_attention_maps(keras):
    model = archspec.build(_spec({"attention": 3, "key_dim": 4}, shape=(5, 6)))
    layer = model.get_layer("attention")
    x = np.random.default_rng(6).normal(size=(2, 5, 6)).astype("float32")
    output, scores = layer(x, return_attention_scores=True)
    assert tuple(scores.shape) == (2, 3, 5, 5)
    np.testing.assert_allclose(np.sum(scores, axis=-1), 1.0, rtol=1e-5)
    np.testing.assert_allclose(output, model(x), rtol=1e-5, atol=1e-6)
    symbolic = layer(keras.Input((5, 6)), return_attention_scores=True)
    assert [tuple(t.shape) for t in symbolic] == [(None, 5, 6), (None, 3, 5, 5)]


@pytest.mark.slow
def test_tiny_vit_trains_compiled_with_xla_and_in_mixed_precision(keras):
    """The custom layers cast their weights to the compute dtype and trace under XLA."""
    spec = _spec(
        {"patches": 4}, {"dense": 16}, "class_token", "position_embedding",
        {"layernorm": None}, {"attention": 2, "key_dim": 8, "dropout": 0.1}, {"layer_scale": 0.1},
        {"select_token": "first"}, {"dense": 3, "name": "predictions"}, shape=(8, 8, 3),
    )  # fmt: skip
    rng = np.random.default_rng(5)
    x, y = rng.normal(size=(8, 8, 8, 3)).astype("float32"), rng.integers(0, 3, 8)
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = archspec.build(spec)
        model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", jit_compile=True)
        history = model.fit(x, y, epochs=2, batch_size=4, verbose=0)
    finally:
        keras.mixed_precision.set_global_policy("float32")
    assert np.all(np.isfinite(history.history["loss"]))
    assert model.get_layer("attention").compute_dtype == "float16" and model(x).dtype == "float32"


# -- static rules and errors (no Keras) ------------------------------------------------------------


def _spec(*layers: Any, shape: tuple[int, ...] = (8, 8, 3)) -> str:
    return yaml.safe_dump({"archspec": 1, "input": list(shape), "layers": list(layers)}, sort_keys=False)


def test_vit_base_attention_counts_and_macs():
    """ViT-B/16's attention: 4 projections of 768 x 768 plus biases (Keras: 2,362,368), and the
    MACs of the convention in docs/analysis.md: projections + QK^T + AV."""
    stats = archspec.summary(_spec({"attention": 12, "key_dim": 64}, shape=(197, 768)))["attention"]
    assert stats.trainable_params == 4 * 768 * 768 + 4 * 768 == 2_362_368
    assert stats.macs == 4 * 197 * 768 * 768 + 2 * 12 * 197 * 197 * 64


def test_dense_on_tokens_is_position_wise():
    stats = archspec.summary(_spec({"dense": 3072}, shape=(197, 768)))["dense"]
    assert stats.shape == (197, 3072)
    assert stats.trainable_params == 768 * 3072 + 3072
    assert stats.macs == 197 * 768 * 3072


def test_dense_per_position_on_a_feature_map_is_a_pointwise_conv():
    dense = archspec.summary(_spec({"dense": 16, "per_position": True}))["dense"]
    conv = archspec.summary(_spec({"conv": 16, "kernel": 1}))["conv"]
    assert (dense.shape, dense.params, dense.macs, dense.other_ops) == (
        conv.shape,
        conv.params,
        conv.macs,
        conv.other_ops,
    )


def test_reshape_infers_its_minus_one():
    assert archspec.summary(_spec({"reshape": [-1, 3]}))["reshape"].shape == (64, 3)


def test_conv_transpose_macs_count_every_input_value_against_the_kernel():
    stats = archspec.summary(_spec({"conv_transpose": 16, "kernel": 2, "strides": 2}))["conv_transpose"]
    assert stats.shape == (16, 16, 16)
    assert stats.macs == 8 * 8 * 2 * 2 * 3 * 16
    assert stats.trainable_params == 2 * 2 * 3 * 16 + 16


@pytest.mark.parametrize(
    ("layers", "shape", "message"),
    [
        ([{"groupnorm": 2}], (8, 8, 3), "layers[0]: groupnorm: groupnorm needs `groups` to divide the channels"),
        ([{"groupnorm": 0}], (8, 8, 4), "`groups` must be a positive integer or -1"),
        ([{"conv_transpose": 4, "strides": 2, "output_padding": 2}], (8, 8, 3),
         "`output_padding` must be less than `strides` on each axis"),
        ([{"conv": 2, "name": "a"}, {"maxpool": 2, "name": "b"}, {"crop_to": None, "inputs": ["b", "a"]}], (8, 8, 3),
         "crop_to cannot crop 'b' (3x3) to the larger 6x6 of 'a'"),
        ([{"crop_to": None}], (8, 8, 3), "crop_to takes exactly two inputs"),
        (["class_token"], (8, 8, 3), "class_token needs a sequence of tokens, shape (tokens, dim)"),
        ([{"select_token": "mean"}], (8, 8, 3), "select_token needs a sequence of tokens"),
        ([{"position_embedding": "sincos"}], (8, 8, 3), "needs a sequence of tokens"),
        ([{"attention": 2}], (4, 8), "attention needs `key_dim`"),
        ([{"attention": 2, "key_dim": 4}], (8,), "attention needs tokens (tokens, dim) or a feature map"),
        ([{"upsample": 2, "interpolation": "bilinar"}], (8, 8, 3), "Did you mean 'bilinear'?"),
        ([{"resize": None, "height": 4}], (8, 8, 3), "resize needs `width`"),
        ([{"reshape": [-1, -1]}], (8, 8, 3), "`target` must hold positive sizes and at most one -1"),
        ([{"reshape": [-1, 5]}], (8, 8, 3), "cannot reshape [8, 8, 3] (192 values) to [-1, 5]"),
        ([{"dense": 4}], (8, 8, 3), "dense needs a flat input; got shape [8, 8, 3]"),
        ([{"patches": 3}], (8, 8, 3), "patches of 3x3 do not tile the 8x8 input"),
        ([{"permute": [1, 3]}], (8, 8, 3), "permute needs `dims` to be a permutation of 1..3"),
        ([{"conv1d": 4}], (8, 8, 3), "conv1d needs a sequence, shape (steps, channels)"),
        ([{"conv1d": 4, "kernel": 5, "dilation": 2}], (8, 3), "a window of 5 (dilation 2) does not fit 8 steps"),
        ([{"conv1d": 4, "strides": 2, "dilation": 2}], (8, 3), "`strides` > 1 cannot be combined with `dilation` > 1"),
    ],
)  # fmt: skip
def test_bad_use_is_a_located_error(layers, shape, message):
    with pytest.raises(archspec.SpecError) as err:
        archspec.summary(_spec(*layers, shape=shape))
    text = str(err.value)
    assert message in text
    assert text.startswith("<spec>:") and "layers[" in text  # FILE:LINE:COL: path: message
