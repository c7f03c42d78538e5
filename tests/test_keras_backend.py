"""The Keras model is GPU-trainable: tf.function + XLA, mixed precision, tf.distribute."""

from __future__ import annotations

import subprocess
import sys
import textwrap

import numpy as np
import pytest
from conftest import ROOT

import archspec

pytestmark = pytest.mark.slow
SPEC = ROOT / "specs" / "seed_cnn.yaml"
SMALL = "archspec: 1\nname: small\ninput: [8, 8, 3]\nclasses: 4\nlayers: [{conv: 4, padding: same}, bn, relu, lrn, gap, {dense: '${classes}', activation: softmax, name: predictions}]\n"


def _data(n=16, shape=(8, 8, 1), classes=10):
    rng = np.random.default_rng(0)
    return rng.random((n, *shape), dtype=np.float32), rng.integers(0, classes, n)


def test_layer_names_are_the_specs(keras):
    model = archspec.build(SPEC)
    assert [layer.name for layer in model.layers][:3] == ["input", "block1_conv1", "block1_relu1"]
    assert model.get_layer("predictions").units == 10


def test_xla_compiled_training_step(keras):
    model = archspec.build(SMALL)
    x, y = _data(shape=(8, 8, 3), classes=4)
    model.compile(optimizer="adam", loss="sparse_categorical_crossentropy", jit_compile=True)
    history = model.fit(x, y, epochs=2, batch_size=8, verbose=0)
    assert np.all(np.isfinite(history.history["loss"]))


def test_mixed_precision_keeps_the_output_in_float32(keras):
    keras.mixed_precision.set_global_policy("mixed_float16")
    try:
        model = archspec.build(SMALL)
        assert model.get_layer("conv").compute_dtype == "float16"
        assert model.get_layer("predictions").compute_dtype == "float32"
        x, y = _data(shape=(8, 8, 3), classes=4)
        model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        assert np.isfinite(model.fit(x, y, epochs=1, verbose=0).history["loss"][0])
        assert model(x).dtype == "float32"
    finally:
        keras.mixed_precision.set_global_policy("float32")


def test_mirrored_strategy_on_two_logical_cpus():
    code = textwrap.dedent(
        f"""
        import tensorflow as tf
        cpu = tf.config.list_physical_devices("CPU")[0]
        tf.config.set_logical_device_configuration(cpu, [tf.config.LogicalDeviceConfiguration()] * 2)
        import numpy as np, archspec
        strategy = tf.distribute.MirroredStrategy(["/cpu:0", "/cpu:1"])
        assert strategy.num_replicas_in_sync == 2
        with strategy.scope():
            model = archspec.build({str(SPEC)!r})
            model.compile(optimizer="sgd", loss="sparse_categorical_crossentropy")
        x = np.random.rand(32, 8, 8, 1).astype("float32"); y = np.random.randint(0, 10, 32)
        loss = model.fit(x, y, batch_size=16, epochs=1, verbose=0).history["loss"][0]
        assert np.isfinite(loss)
        print("ok", strategy.num_replicas_in_sync)
        """
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=300)
    assert proc.returncode == 0 and "ok 2" in proc.stdout, proc.stderr[-2000:]


def test_saved_model_loads_in_safe_mode(keras, tmp_path):
    import archspec.keras_layers

    model = archspec.build(SMALL)
    model.save(tmp_path / "m.keras")
    loaded = keras.saving.load_model(tmp_path / "m.keras", safe_mode=True)
    x, _ = _data(shape=(8, 8, 3))
    np.testing.assert_allclose(model.predict(x, verbose=0), loaded.predict(x, verbose=0), rtol=1e-6)


def test_lrn_matches_tensorflow(keras):
    import tensorflow as tf

    from archspec.keras_layers import LocalResponseNormalization

    x = np.random.default_rng(1).random((2, 5, 5, 16), dtype=np.float32) * 3
    ours = LocalResponseNormalization(size=5, k=2.0, alpha=1e-4, beta=0.75)(x)
    ref = tf.nn.local_response_normalization(x, depth_radius=2, bias=2.0, alpha=1e-4, beta=0.75)
    np.testing.assert_allclose(np.asarray(ours), ref.numpy(), rtol=1e-5)


def test_cli_build_writes_a_loadable_model(tmp_path):
    from click.testing import CliRunner

    from archspec.cli import main

    out = tmp_path / "seed.keras"
    result = CliRunner().invoke(main, ["build", str(SPEC), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.exists() and not list(tmp_path.glob(".seed.keras*"))
    bad = CliRunner().invoke(main, ["build", str(SPEC), "-o", str(tmp_path / "seed.h5")])
    assert bad.exit_code == 2 and "must end in .keras" in bad.output


@pytest.mark.slow
@pytest.mark.parametrize("axis", [0, 1, 2, -1, -2, -3])
def test_concat_axis_counts_the_examples_axes_as_every_spec_shape_does(axis):
    """`concat: {axis: 2}` joins channels (Keras' axis 3): a positive axis was passed on unshifted."""
    import archspec

    spec = (
        "archspec: 1\ninput: [8, 8, 3]\nlayers: [{conv: 4, padding: same, name: a}, "
        f"{{conv: 4, padding: same, inputs: input, name: b}}, {{concat: {{axis: {axis}}}, inputs: [a, b]}}]"
    )
    static = archspec.summary(spec)["concat"].shape
    assert tuple(archspec.build(spec).output.shape[1:]) == static
    namespace: dict = {}
    exec(archspec.compile_source(archspec.expand(spec)), namespace)
    assert tuple(namespace["build_model"]().output.shape[1:]) == static


@pytest.mark.slow
def test_scaled_add_computes_inception_resnets_custom_scale_layer(tmp_path):
    """`scaled_add` equals keras.applications' CustomScaleLayer, built, compiled to source and reloaded."""
    import keras
    from keras.src.applications.inception_resnet_v2 import CustomScaleLayer

    spec = (
        "archspec: 1\ninput: [4, 4, 2]\nlayers: [{conv: 2, padding: same, name: branch}, "
        "{scaled_add: {scale: 0.17}, inputs: [input, branch], name: up}]"
    )
    assert archspec.summary(spec)["up"].shape == (4, 4, 2)
    model = archspec.build(spec)
    x = np.random.default_rng(0).normal(size=(3, 4, 4, 2)).astype("float32")
    branch = keras.Model(model.input, model.get_layer("branch").output)(x)
    want = CustomScaleLayer(0.17)([x, branch])
    np.testing.assert_allclose(np.asarray(model(x)), np.asarray(want), rtol=1e-6)
    namespace: dict = {}
    exec(archspec.compile_source(archspec.expand(spec)), namespace)
    assert "archspec_layers.ScaledAdd(scale=0.17" in archspec.compile_source(archspec.expand(spec))
    model.save(tmp_path / "m.keras")
    from archspec.safe_hdf5 import load_model_file

    np.testing.assert_allclose(np.asarray(load_model_file(tmp_path / "m.keras")(x)), np.asarray(want), rtol=1e-6)
