"""The transformer, U-Net, ConvNeXt and MobileNetV3 specs against their authorities.

Keras (slow tests): convnext_tiny, mobilenetv3_small and mobilenetv3_large equal
``keras.applications.X(weights=None)`` layer by layer (name, output shape, trainable and
non-trainable parameters); vit_b16 (and its Ti/S variants), vit_tiny_cifar and vit_hybrid
equal a ViT written here by hand with Keras' own layers (MultiHeadAttention,
LayerNormalization(epsilon=1e-6), Dense, Add; the [class] token and position embedding as
two small layers of this file). Each Keras model is built once per module.
Paper: unet.yaml's every map size against Ronneberger et al. 2015, Figure 1, and its
parameter count against the figure's channels by hand; the ViT counts against Table 1.
"""

from __future__ import annotations

import math

import pytest
from conftest import SPECS, n_weights, weight_counts

import archspec
from archspec.errors import SpecError

# -- Keras' tables ------------------------------------------------------------------------------


def _flat(ops):
    """Keras' operations, with nested models (ConvNeXt's Sequential stem) put in line."""
    import keras

    for op in ops:
        if isinstance(op, keras.Model):
            yield from _flat(op.layers)
        elif op.__class__.__name__ != "InputLayer":
            yield op


def _keras_table(model, operations: bool = False) -> dict[str, tuple]:
    """name -> (output shape, trainable, non-trainable) of Keras' layers, or of all its operations
    (``x + y`` on tensors is an operation that Keras names, ``add_3``, but not a layer)."""
    ops = _flat(model.operations if operations else model.layers)
    return {op.name: (tuple(op.output.shape[1:]), *_counts(op)) for op in ops}


def _counts(op) -> tuple[int, int]:
    return weight_counts(op) if hasattr(op, "trainable_weights") else (0, 0)  # an operation has no weights


def _ours(spec: str, variant: str | None = None, **overrides):
    return archspec.summary(SPECS / spec, variant=variant, overrides=overrides or None)


def _assert_same(analysis, table: dict[str, tuple], model) -> None:
    ours = {s.name: (s.shape, s.trainable_params, s.non_trainable_params) for s in analysis.layers}
    assert set(ours) == set(table), (
        f"only Keras: {sorted(set(table) - set(ours))[:5]}, only ours: {sorted(set(ours) - set(table))[:5]}"
    )
    mismatched = {name: (table[name], row) for name, row in ours.items() if table[name] != row}
    assert not mismatched, list(mismatched.items())[:5]
    assert analysis.total_params == model.count_params()
    assert analysis.trainable_params == n_weights(model.trainable_weights)
    assert [tuple(analysis.output_shapes[0])] == [tuple(model.output.shape[1:])]


# -- keras.applications --------------------------------------------------------------------------
#: spec -> (Keras application, compare Keras' operations too (ConvNeXt's residual `+`))
APPS = {
    "convnext_tiny.yaml": ("ConvNeXtTiny", True),
    "mobilenetv3_small.yaml": ("MobileNetV3Small", False),
    "mobilenetv3_large.yaml": ("MobileNetV3Large", False),
}


@pytest.fixture(scope="module")
def application(keras):
    cache: dict[tuple[str, bool], object] = {}

    def get(spec: str, top: bool):
        if (spec, top) not in cache:
            keras.backend.clear_session()  # Keras' automatic names (add_3, re_lu_7) count per session
            app = getattr(keras.applications, APPS[spec][0])
            cache[spec, top] = app(weights=None, include_top=top, input_shape=(224, 224, 3))
        return cache[spec, top]

    return get


@pytest.mark.slow
@pytest.mark.parametrize("top", [True, False], ids=["top", "notop"])
@pytest.mark.parametrize("spec", list(APPS))
def test_spec_equals_keras_application_layer_by_layer(spec, top, application):
    model = application(spec, top)
    analysis = _ours(spec, None if top else "notop")
    _assert_same(analysis, _keras_table(model, operations=APPS[spec][1]), model)


def test_mobilenetv3_auto_names_follow_keras_counters():
    """The block's re_lu_K / activation_K come from the spec's counters, one per unnamed layer."""
    graph = archspec.expand(SPECS / "mobilenetv3_small.yaml")
    relu = sorted(int(n.name.split("_")[-1]) for n in graph.nodes if n.name.startswith("re_lu_"))
    act = sorted(int(n.name.split("_")[-1]) for n in graph.nodes if n.name.startswith("activation_"))
    assert relu == list(range(1, len(relu) + 1)) and "re_lu" in {n.name for n in graph.nodes}
    assert act == list(range(1, len(act) + 1)) and graph.node("activation").type == "hard_swish"
    assert graph.node("re_lu_1").type == "hard_sigmoid"  # the first block's SE gate: Keras' ReLU(6)(x + 3) / 6


# -- ViT: a Keras model written by hand -----------------------------------------------------------


def _keras_vit(keras, image, patch, dim, depth, heads, mlp, classes, *, conv=True, dropout=0.0, stem=None):
    """ViT as a Keras user writes it from the paper (names as the spec's blocks give them)."""
    from keras import layers, ops

    class ClassToken(layers.Layer):
        def build(self, shape):
            self.token = self.add_weight(shape=(1, 1, shape[-1]), initializer="zeros")

        def call(self, x):
            return ops.concatenate([ops.tile(self.token, (ops.shape(x)[0], 1, 1)), x], axis=1)

        def compute_output_shape(self, shape):
            return (shape[0], shape[1] + 1, shape[2])

    class PositionEmbedding(layers.Layer):
        def build(self, shape):
            self.table = self.add_weight(shape=tuple(shape[1:]), initializer="random_normal")

        def call(self, x):
            return x + self.table

    class Patches(layers.Layer):  # keras.io's ViT example: image patches, flattened
        def call(self, x):
            p = ops.image.extract_patches(x, patch)
            return ops.reshape(p, (-1, p.shape[1] * p.shape[2], p.shape[3]))

    inputs = keras.Input(image)
    x = stem(inputs) if stem else inputs
    if conv:
        x = layers.Conv2D(dim, patch, strides=patch, name="embedding_projection")(x)
        x = layers.Reshape((-1, dim), name="embedding_tokens")(x)
    else:
        x = Patches(name="embedding_patches")(x)
        x = layers.Dense(dim, name="embedding_projection")(x)
    x = ClassToken(name="embedding_class_token")(x)
    x = PositionEmbedding(name="embedding_position_embedding")(x)
    if dropout:
        x = layers.Dropout(dropout, name="embedding_dropout")(x)
    for i in range(depth):
        b = f"encoder_block{i}_"
        y = layers.LayerNormalization(epsilon=1e-6, name=b + "norm1")(x)
        y = layers.MultiHeadAttention(heads, dim // heads, name=b + "attention")(y, y)
        if dropout:
            y = layers.Dropout(dropout, name=b + "attention_dropout")(y)
        x = layers.Add(name=b + "add1")([x, y])
        y = layers.LayerNormalization(epsilon=1e-6, name=b + "norm2")(x)
        y = layers.Dense(mlp, activation="gelu", name=b + "mlp_dense1")(y)
        if dropout:
            y = layers.Dropout(dropout, name=b + "mlp_dropout1")(y)
        y = layers.Dense(dim, name=b + "mlp_dense2")(y)
        if dropout:
            y = layers.Dropout(dropout, name=b + "mlp_dropout2")(y)
        x = layers.Add(name=b + "add2")([x, y])
    x = layers.LayerNormalization(epsilon=1e-6, name="encoder_norm")(x)
    x = layers.Lambda(lambda t: t[:, 0], name="class_token_output")(x)
    outputs = layers.Dense(classes, activation="softmax", name="head")(x)
    return keras.Model(inputs, outputs)


def _resnet_stem(keras, units):
    """keras.applications.ResNet50's stem and stages 2-4 with ``units`` bottlenecks each (Keras' own code)."""
    from keras import layers
    from keras.src.applications.resnet import stack_residual_blocks_v1

    def stem(x):
        x = layers.ZeroPadding2D(3, name="conv1_pad")(x)
        x = layers.Conv2D(64, 7, strides=2, name="conv1_conv")(x)
        x = layers.BatchNormalization(epsilon=1.001e-5, name="conv1_bn")(x)
        x = layers.Activation("relu", name="conv1_relu")(x)
        x = layers.ZeroPadding2D(1, name="pool1_pad")(x)
        x = layers.MaxPooling2D(3, strides=2, name="pool1_pool")(x)
        for s, n in enumerate(units):
            x = stack_residual_blocks_v1(x, 64 * 2**s, n, stride1=1 if s == 0 else 2, name=f"conv{s + 2}")
        return x

    return stem


#: spec, variant -> keyword arguments of _keras_vit
VITS = {
    ("vit_b16.yaml", None): {"image": (224, 224, 3), "patch": 16, "dim": 768, "depth": 12, "heads": 12, "mlp": 3072},
    ("vit_b16.yaml", "ti"): {"image": (224, 224, 3), "patch": 16, "dim": 192, "depth": 12, "heads": 3, "mlp": 768},
    ("vit_b16.yaml", "s"): {"image": (224, 224, 3), "patch": 16, "dim": 384, "depth": 12, "heads": 6, "mlp": 1536},
    ("vit_tiny_cifar.yaml", None): {
        "image": (32, 32, 3), "patch": 4, "dim": 64, "depth": 4, "heads": 4, "mlp": 128, "conv": False, "dropout": 0.1,
    },
    ("vit_hybrid.yaml", None): {
        "image": (224, 224, 3), "patch": 1, "dim": 768, "depth": 12, "heads": 12, "mlp": 3072, "conv": False,
    },
}  # fmt: skip


@pytest.mark.slow
@pytest.mark.parametrize(("spec", "variant"), list(VITS), ids=[f"{s[:-5]}-{v or 'default'}" for s, v in VITS])
def test_vit_equals_a_keras_vit_written_by_hand(keras, spec, variant):
    kwargs = dict(VITS[spec, variant])
    if spec == "vit_hybrid.yaml":
        kwargs["stem"] = _resnet_stem(keras, (3, 4, 9))
    keras.backend.clear_session()
    model = _keras_vit(keras, classes=10 if "cifar" in spec else 1000, **kwargs)
    _assert_same(_ours(spec, variant), _keras_table(model), model)


def test_vit_counts_against_the_papers():
    """ViT Table 1 (86M B, 307M L) and DeiT Table 1 (5M Ti, 22M S): the tables truncate to whole
    millions (DeiT-Ti has 5.72M); ViT-L's 307M is 0.9% above the arithmetic (docs/zoo.md)."""
    millions = {v: _ours("vit_b16.yaml", v).total_params / 1e6 for v in ("ti", "s", "b", "l")}
    assert [math.floor(millions[v]) for v in ("ti", "s", "b")] == [5, 22, 86]
    assert millions["l"] == pytest.approx(307, rel=0.01)


# -- U-Net against Figure 1 ----------------------------------------------------------------------
#: Ronneberger et al. 2015, Figure 1: the size written under every map, per step.
FIGURE_1 = {
    "conv1_1": 570, "conv1_2": 568, "pool1": 284, "conv2_1": 282, "conv2_2": 280, "pool2": 140,
    "conv3_1": 138, "conv3_2": 136, "pool3": 68, "conv4_1": 66, "conv4_2": 64, "pool4": 32,
    "conv5_1": 30, "conv5_2": 28,
    "up4_up": 56, "up4_conv1": 54, "up4_conv2": 52,
    "up3_up": 104, "up3_conv1": 102, "up3_conv2": 100,
    "up2_up": 200, "up2_conv1": 198, "up2_conv2": 196,
    "up1_up": 392, "up1_conv1": 390, "up1_conv2": 388,
    "segmentation": 388,
}  # fmt: skip
CHANNELS = [64, 128, 256, 512, 1024]


def test_unet_every_size_of_figure_1():
    analysis = _ours("unet.yaml")
    assert analysis.graph.input_shape == (572, 572, 1)
    assert {name: analysis[name].shape[0] for name in FIGURE_1} == FIGURE_1
    assert all(analysis[name].shape[0] == analysis[name].shape[1] for name in FIGURE_1)
    # copy and crop: each skip cut to the up-conv's size, then concatenated (channels doubled)
    for step, size, channels in [("up4", 56, 512), ("up3", 104, 256), ("up2", 200, 128), ("up1", 392, 64)]:
        assert analysis[f"{step}_crop"].shape == (size, size, channels)
        assert analysis[f"{step}_concat"].shape == (size, size, 2 * channels)
    assert analysis.output_shapes == [(388, 388, 2)]


def test_unet_parameters_by_hand_from_the_figure():
    """3x3 convs (9 c_in c_out + c_out), 2x2 up-convs halving the channels, the 1x1 conv to 2."""
    conv = lambda k, cin, cout: k * k * cin * cout + cout  # noqa: E731
    down = sum(conv(3, cin, c) + conv(3, c, c) for cin, c in zip([1, *CHANNELS], CHANNELS, strict=False))
    up = sum(conv(2, 2 * c, c) + conv(3, 2 * c, c) + conv(3, c, c) for c in CHANNELS[:4])
    assert down + up + conv(1, 64, 2) == 31_030_658 == _ours("unet.yaml").total_params


def test_unet_same_variant_keeps_sizes_and_crops_nothing():
    analysis = _ours("unet.yaml", "same")
    assert analysis.output_shapes == [(512, 512, 2)]
    assert not [s for s in analysis.layers if s.type == "crop_to"]
    assert analysis.total_params == 31_030_658


# -- blocks ---------------------------------------------------------------------------------------
def _spec(layers: str, input_: str = "[8, 16]") -> str:
    return f"archspec: 1\ninput: {input_}\nlayers:\n{layers}"


def test_transformer_encoder_pre_and_post_norm_order():
    pre = archspec.expand(_spec("  - {transformer_encoder: 4, name: b}"))
    assert [n.name for n in pre.nodes] == [
        "b_norm1", "b_attention", "b_add1", "b_norm2", "b_mlp_dense1", "b_mlp_dense2", "b_add2",
    ]  # fmt: skip
    post = archspec.expand(_spec("  - {transformer_encoder: 4, norm: post, activation: relu, name: b}"))
    assert [n.name for n in post.nodes] == [
        "b_attention", "b_add1", "b_norm1", "b_mlp_dense1", "b_mlp_dense2", "b_add2", "b_norm2",
    ]  # fmt: skip
    assert post.node("b_add2").inputs == ("b_norm1", "b_mlp_dense2")  # the residual is the normed sum
    assert pre.node("b_add2").inputs == ("b_add1", "b_mlp_dense2")
    assert post.node("b_mlp_dense1").args["activation"] == "relu"
    a = archspec.summary(_spec("  - {transformer_encoder: 4, name: b}"))
    assert a["b_mlp_dense1"].shape == (8, 64) and a["b_attention"].trainable_params == 4 * (16 * 16 + 16)


def test_transformer_encoder_heads_must_split_the_width():
    with pytest.raises(SpecError, match="do not split into 3 heads"):
        archspec.expand(_spec("  - {transformer_encoder: 3}"))
    graph = archspec.expand(_spec("  - {transformer_encoder: 3, key_dim: 8, name: b}"))
    assert graph.node("b_attention").args["key_dim"] == 8


def test_vit_embedding_tokens_and_projection_forms():
    dense = archspec.summary(_spec("  - {vit_embedding: 32, patch: 4, name: e}", "[16, 16, 3]"))
    conv = archspec.summary(_spec("  - {vit_embedding: 32, patch: 4, projection: conv, name: e}", "[16, 16, 3]"))
    assert dense.output_shapes == conv.output_shapes == [(17, 32)]
    assert dense.total_params == conv.total_params == 4 * 4 * 3 * 32 + 32 + 32 + 17 * 32
    with pytest.raises(SpecError, match="5x5 patches do not tile the 16x16 input"):
        archspec.expand(_spec("  - {vit_embedding: 32, patch: 5}", "[16, 16, 3]"))


def test_unet_up_needs_two_inputs_and_same_padding_needs_matching_sizes():
    with pytest.raises(SpecError, match="takes two inputs"):
        archspec.expand(_spec("  - {unet_up: 8}", "[16, 16, 3]"))
    text = _spec(
        "  - {conv: 4, padding: same, name: skip}\n  - {maxpool: 2}\n"
        "  - {unet_up: 4, padding: same, inputs: [maxpool, skip], name: up}",
        "[15, 15, 3]",
    )
    with pytest.raises(SpecError, match="the skip is 15x15 but the up-sampled map is 14x14"):
        archspec.expand(text)
    cropped = archspec.summary(text.replace("padding: same, inputs", "padding: valid, inputs"))
    assert cropped["up_crop"].shape == (14, 14, 4) and cropped["up_conv2"].shape == (10, 10, 4)


def test_convnext_and_mobilenetv3_blocks_without_keras_names_use_local_ones():
    convnext = archspec.expand(_spec("  - {convnext_block: 4, name: c}", "[8, 8, 16]"))
    assert convnext.node("c_add").inputs == ("input", "c_identity")
    drop = archspec.expand(_spec("  - {convnext_block: 4, drop_path: 0.1, name: c}", "[8, 8, 16]"))
    assert drop.node("c_add").type == "stochastic_depth" and drop.node("c_add").args["survival"] == 0.9
    v3 = archspec.expand(
        _spec("  - {mobilenetv3_block: 16, expanded: 64, se: true, activation: hard_swish, name: m}", "[8, 8, 16]")
    )
    names = [n.name for n in v3.nodes]
    assert names[:3] == ["m_expand", "m_expand_bn", "m_expand_activation"]
    assert "m_squeeze_excite_gate" in names and names[-1] == "m_add"
    assert v3.node("m_squeeze_excite_conv").args["filters"] == 16  # make_divisible(64 / 4, 8)


# -- receptive field through decoders and attention ---------------------------------------------
def _rf(layers: str, input_: str = "[32, 32, 3]"):
    a = archspec.summary(_spec(layers, input_))
    return {s.name: (s.rf.size[0], s.rf.jump[0]) if s.rf else None for s in a.layers}


def test_receptive_field_after_upsampling_keeps_the_field_and_divides_the_jump():
    from fractions import Fraction

    rf = _rf(
        "  - {conv: 4, strides: 2, name: c}\n  - {upsample: 2, name: up}\n  - {conv: 4, name: after}\n"
        "  - {upsample: 2, interpolation: bilinear, name: bil}\n  - {conv_transpose: 4, kernel: 3, strides: 2, name: t}"
    )
    assert rf["c"] == (3, 2)
    assert rf["up"] == (3, 1)  # nearest: one input per output, two outputs per input
    assert rf["after"] == (5, 1)
    assert rf["bil"] == (6, Fraction(1, 2))  # bilinear: two inputs per output
    assert rf["t"] == (7, Fraction(1, 4))  # 3x3 / 2 transposed: ceil(3 / 2) = 2 inputs per output


def test_receptive_field_of_attention_and_kept_global_pooling_is_the_whole_map():
    rf = _rf(
        "  - {conv: 4, strides: 2, name: c}\n  - {attention: 2, key_dim: 4, name: a}\n  - {gap: null, keepdims: true}"
    )
    # every one of the 15x15 positions (two pixels apart): the same field for every query, so
    # the effective stride is 0 and nothing after it widens the field further
    assert rf["a"] == (3 + 14 * 2, 0)
    assert rf["gap"] == (31, 0)
    assert _rf("  - {conv: 4, strides: 2}\n  - {gap: null, keepdims: true}")["gap"] == (31, 0)
    assert _rf("  - {patches: 4}\n  - {attention: 2, key_dim: 4}")["attention"] is None  # tokens: no spatial field


def test_receptive_field_after_resize_and_the_json_stride():
    rf = _rf("  - {resize: {height: 64, width: 64}, name: r}\n  - {conv: 2, name: c}")
    assert rf["r"][0] == 2 and float(rf["r"][1]) == 0.5
    report = archspec.summary(_spec("  - {upsample: 2}", "[4, 4, 1]"))
    from archspec.report import to_json

    assert '"effective_stride": [0.5, 0.5]' in to_json(report)
