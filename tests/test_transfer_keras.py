"""Transfer learning against Keras itself: the static figures of every supported base and
freeze selector vs keras.applications' own trainable flags and counts; weights loading; a
two-stage plan run for a few steps; feature extraction to HDF5 with resume; fit-features."""

from __future__ import annotations

import subprocess
import sys

import h5py
import numpy as np
import pytest
from click.testing import CliRunner
from conftest import digit_folders, n_weights, weight_counts

import archspec
from archspec.errors import UsageError
from archspec.transfer import plan
from archspec.transfer.bases import APPLICATIONS, supported
from archspec.transfer.freeze import keras_order

pytestmark = pytest.mark.slow


def static_table(text: str) -> list[tuple[str, tuple, tuple[int, int]]]:
    a = archspec.summary(text)
    return [(s.name, s.shape, (s.trainable_params, s.non_trainable_params)) for s in a.layers]


def dict_table(source) -> dict[str, tuple[tuple, tuple[int, int]]]:
    rows = static_table(source) if isinstance(source, str) else keras_table(source)
    return {name: rest for name, *rest in rows}


def keras_table(model) -> list[tuple[str, tuple, tuple[int, int]]]:
    return [(layer.name, tuple(layer.output.shape[1:]), weight_counts(layer)) for layer in model.layers[1:]]


def base_spec(key: str, size: int, directives: str = "") -> str:
    return f"archspec: 1\ninput: [{size}, {size}, 3]\nbase: {{application: {key}}}\nlayers: []\n{directives}"


def freeze_in_keras(model, frozen) -> None:
    for layer in model.layers:
        layer.trainable = layer.name not in frozen


# ResNet101/152 differ from ResNet50 only in block counts (and take 15-30 s each to build here); the
# generated reference specs (tools/gen_bases.py) are held to Keras by tests/test_bases_generated.py
HAND_WRITTEN = [k for k in supported() if k not in ("resnet101", "resnet152") and not APPLICATIONS[k].generated]


@pytest.mark.parametrize("key", HAND_WRITTEN)
def test_reference_spec_matches_keras_application_under_freezing(key, keras):
    """Names, shapes and per-layer counts of the static base equal Keras', frozen or not; and
    the notes' 'freeze all, then unfreeze from the middle' matches Keras with BN kept frozen."""
    app = APPLICATIONS[key]
    size = 32
    keras.backend.clear_session()  # Keras numbers unnamed layers (rescaling, rescaling_1) per session
    model = getattr(keras.applications, app.keras_class)(weights=None, include_top=False, input_shape=(size, size, 3))
    assert model.layers[-1].name == app.features
    graph = archspec.expand(base_spec(key, size))
    order = keras_order(graph.nodes, graph.outputs)
    analysis = archspec.summary(graph)
    static = [(n, analysis[n].shape, (analysis[n].trainable_params, analysis[n].non_trainable_params)) for n in order]
    # Keras leaves ResNetV2's shortcut max pools unnamed (max_pooling2d, _1, ...); the spec names them
    renamed = {s[0]: k[0] for s, k in zip(static, keras_table(model)) if s[0] != k[0]}
    assert all(k.startswith("max_pooling2d") for k in renamed.values()), renamed
    assert [(renamed.get(n, n), *rest) for n, *rest in static] == keras_table(model)
    built = archspec.build(graph)  # the base made by keras.applications takes the spec's names
    assert [layer.name for layer in built.layers[1:]] == order

    layers = model.layers[1:]
    middle = layers[len(layers) // 2].name
    directives = f"fine_tune:\n  - {{freeze: all, optimizer: sgd, epochs: 1}}\n  - {{unfreeze: {{from: {middle}}}, optimizer: sgd, epochs: 1}}\n"
    p = plan(archspec.expand(base_spec(key, size, directives)))
    for layer in model.layers:  # the notes' loops, in plain Keras
        layer.trainable = False
    assert (p.stages[0].trainable_params, p.stages[0].non_trainable_params) == (0, model.count_params())
    start = [layer.name for layer in model.layers].index(middle)
    for layer in model.layers[start:]:
        if not isinstance(layer, keras.layers.BatchNormalization):
            layer.trainable = True
    keras_trainable = n_weights(model.trainable_weights)
    assert p.stages[1].trainable_params == keras_trainable > 0
    assert p.stages[1].non_trainable_params == model.count_params() - keras_trainable


VGG_SELECTORS = {
    "layers[15:]": lambda m: [layer.name for layer in m.layers[15:]],
    "{from: block5_conv1}": lambda m: [layer.name for layer in m.layers[15:]],
    "{pattern: 'block[34]_conv*'}": lambda m: [
        n.name for n in m.layers if n.name[:6] in ("block3", "block4") and "conv" in n.name
    ],
    "{block: block2}": lambda m: [layer.name for layer in m.layers if layer.name.startswith("block2_")],
    "{name: [block1_conv1, block5_conv3]}": lambda m: ["block1_conv1", "block5_conv3"],
    "{type: conv}": lambda m: [n.name for n in m.layers if isinstance(n, __import__("keras").layers.Conv2D)],
    "all": lambda m: [layer.name for layer in m.layers],
    "{index: '1:4'}": lambda m: [layer.name for layer in m.layers[1:4]],
}


@pytest.mark.parametrize("selector", list(VGG_SELECTORS))
def test_every_selector_against_keras_trainable_flags(selector, keras):
    """`freeze: SELECTOR` gives, layer by layer, Keras' counts after the notes' Python loop."""
    model = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    freeze_in_keras(model, set(VGG_SELECTORS[selector](model)))
    static = static_table(base_spec("vgg16", 32, f"freeze: {selector}\n"))
    assert static == keras_table(model)
    assert sum(t for _, _, (t, _) in static) == n_weights(model.trainable_weights)


def test_resnet_block_and_bn_selectors_against_keras(keras):
    model = keras.applications.ResNet50(weights=None, include_top=False, input_shape=(32, 32, 3))
    frozen = {n.name for n in model.layers if n.name.startswith("conv5_")}
    frozen |= {n.name for n in model.layers if isinstance(n, keras.layers.BatchNormalization)}
    freeze_in_keras(model, frozen)
    assert dict_table(base_spec("resnet50", 32, "freeze: [{block: conv5}, {type: bn}]\n")) == dict_table(model)
    # `layers[N:]` counts in Keras' own order, which for ResNet is not the order of the spec
    model = keras.applications.ResNet50(weights=None, include_top=False, input_shape=(32, 32, 3))
    freeze_in_keras(model, {layer.name for layer in model.layers[:100]})
    assert dict_table(base_spec("resnet50", 32, "freeze: layers[:100]\n")) == dict_table(model)


def test_build_has_keras_names_and_stage_counts_match_keras(keras):
    graph = archspec.expand(
        "archspec: 1\ninput: [32, 32, 3]\nclasses: 5\nbase: {application: vgg16, pooling: max}\n"
        "layers: [{gap_head: 5}]\nfine_tune:\n  - {freeze: base, optimizer: rmsprop, epochs: 1}\n"
        "  - {unfreeze: 'layers[15:]', optimizer: {name: sgd, lr: 0.001, momentum: 0.9}, epochs: 1}\n"
    )
    model = archspec.build(graph)
    assert [layer.name for layer in model.layers[1:]] == [n.name for n in graph.nodes]
    assert model.get_layer("block5_conv1").trainable is False  # built in stage 1's state
    for stage in plan(graph):
        stage.apply(model)
        trainable = n_weights(model.trainable_weights)
        assert (trainable, model.count_params() - trainable) == (stage.trainable_params, stage.non_trainable_params)
    assert keras_table(model) == [
        (s.name, s.shape, (s.trainable_params, s.non_trainable_params))
        for s in archspec.summary(plan(graph).stages[-1].graph(graph)).layers
    ]


def test_local_weights_file_loads_and_imagenet_fails_cleanly(keras, tmp_path):
    source = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    source.save_weights(tmp_path / "vgg.weights.h5")
    spec = tmp_path / "s.yaml"
    spec.write_text(
        "archspec: 1\ninput: [32, 32, 3]\nbase: {application: vgg16, weights: vgg.weights.h5}\nlayers: [{gap_head: 3}]\n"
    )
    model = archspec.build(spec)
    for layer in source.layers[1:]:
        for a, b in zip(layer.get_weights(), model.get_layer(layer.name).get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)

    from pathlib import Path

    if list((Path.home() / ".keras" / "models").glob("vgg16*notop*")):
        pytest.skip("the imagenet weights are cached here")
    spec.write_text("archspec: 1\ninput: [32, 32, 3]\nbase: {application: vgg16, weights: imagenet}\nlayers: []\n")
    with pytest.raises(UsageError, match="cannot load the imagenet weights of VGG16") as info:
        archspec.build(spec)
    assert info.value.problems[0].location.line == 3


TINY_BASE = """archspec: 1
name: tinybase
input: [16, 16, 3]
layers:
  - {conv: 8, kernel: 3, padding: same, name: c1}
  - {bn: null, name: bn1}
  - {relu: null, name: r1}
  - {maxpool: 2, name: p1}
  - {conv: 16, kernel: 3, padding: same, name: c2}
  - {relu: null, name: r2}
  - {gap: null, name: pool}
  - {dense: 10, activation: softmax, name: top}
"""


def test_two_stage_plan_on_a_small_spec_base(keras, tmp_path):
    """A tiny archspec spec as the base, with its saved weights; each stage recompiles and trains
    two steps: frozen weights stay, trained ones move, and batch norm stays in inference mode."""
    (tmp_path / "tiny.yaml").write_text(TINY_BASE)
    saved = archspec.build(tmp_path / "tiny.yaml")
    saved.save_weights(tmp_path / "tiny.weights.h5")
    spec = tmp_path / "ft.yaml"
    spec.write_text(
        "archspec: 1\ninput: [16, 16, 3]\nclasses: 3\n"
        "base: {spec: tiny.yaml, output: r2, weights: tiny.weights.h5}\n"
        "layers: [{fc_head: 8, classes: 3, pooling: gap}]\n"
        "fine_tune:\n"
        "  - {name: head, freeze: base, optimizer: {name: rmsprop, lr: 0.01}, epochs: 1}\n"
        "  - {name: all, unfreeze: all, optimizer: {name: sgd, lr: 0.1, momentum: 0.9}, epochs: 1}\n"
    )
    graph = archspec.expand(spec)
    model = archspec.build(graph)
    for name in ("c1", "bn1", "c2"):  # the spec base's weights are the saved ones
        for a, b in zip(saved.get_layer(name).get_weights(), model.get_layer(name).get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)
    rng = np.random.default_rng(0)
    x, y = rng.random((8, 16, 16, 3), dtype=np.float32), rng.integers(0, 3, 8)
    for stage in plan(graph):
        before = {n: [w.copy() for w in model.get_layer(n).get_weights()] for n in ("c1", "bn1", "fc_head_fc")}
        stage.apply(model)
        model.compile(optimizer=stage.optimizer.build(), loss="sparse_categorical_crossentropy")
        trainable = n_weights(model.trainable_weights)
        assert trainable == stage.trainable_params
        model.fit(x, y, batch_size=4, epochs=1, verbose=0)  # two steps
        after = {n: model.get_layer(n).get_weights() for n in before}
        moved = {n: not all(np.array_equal(a, b) for a, b in zip(before[n], after[n])) for n in before}
        assert moved == {"c1": stage.name == "all", "bn1": False, "fc_head_fc": True}


def test_extraction_layout_resume_and_shallow_classifier(keras, tmp_path):
    from archspec.transfer.extract import extract, load_images
    from archspec.transfer.preprocess import preprocess_function

    digit_folders(tmp_path / "digits", per_class=6, size=32)
    weights = tmp_path / "vgg.weights.h5"
    keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3)).save_weights(weights)
    spec = tmp_path / "features.yaml"
    spec.write_text(
        "archspec: 1\nname: feats\ninput: [32, 32, 3]\n"
        f"base: {{application: vgg16, weights: {weights.name}}}\nlayers: []\nfreeze: all\n"
    )
    graph = archspec.expand(spec)
    clean = tmp_path / "clean.hdf5"
    result = extract(graph, tmp_path / "digits", clean, batch_size=8, buffer_size=16, progress=False)
    assert (result.count, result.dim, result.layers) == (60, 512, ("block5_pool",))
    with h5py.File(clean, "r") as db:
        assert sorted(db) == ["features", "label_names", "labels"]
        assert db["features"].dtype == np.float32 and db["features"].shape == (60, 512)
        order = np.random.default_rng(42).permutation(60)  # rows shuffled with the default, recorded seed
        assert db["labels"][()].tolist() == np.repeat(np.arange(10), 6)[order].tolist()
        assert db.attrs["shuffle_seed"] == 42
        assert [n.decode() for n in db["label_names"][()]] == [f"digit{c}" for c in range(10)]
        assert db.attrs["layers"] == '["block5_pool"]' and db.attrs["preprocess"] == "keras.applications.vgg16"
        assert "base: {application: vgg16" in db.attrs["spec"] and len(db.attrs["spec_sha256"]) == 64
        features = db["features"][()]
    # the features are the model's own outputs on the application's preprocessing
    model = archspec.build(graph)
    paths = sorted((tmp_path / "digits" / "digit3").glob("*.png"))[:2]
    direct = model.predict(preprocess_function("keras.applications.vgg16")(load_images(paths, (32, 32, 3))), verbose=0)
    rows = [int(np.flatnonzero(order == i)[0]) for i in (18, 19)]  # digit3's first two images, after the shuffle
    np.testing.assert_allclose(features[rows], direct.reshape(2, -1), rtol=1e-5, atol=1e-5)

    # interrupted after the first buffer: no target, a partial file and marker; the rerun resumes
    target = tmp_path / "resumed.hdf5"

    def crash(rows: int) -> None:
        raise KeyboardInterrupt

    with pytest.raises(KeyboardInterrupt):
        extract(graph, tmp_path / "digits", target, batch_size=8, buffer_size=16, progress=False, on_flush=crash)
    assert not target.exists() and (tmp_path / "resumed.hdf5.partial").exists()
    again = extract(graph, tmp_path / "digits", target, batch_size=8, buffer_size=16, progress=False)
    assert again.resumed_at == 16
    assert not (tmp_path / "resumed.hdf5.partial").exists() and not (tmp_path / "resumed.hdf5.progress.json").exists()
    with h5py.File(target, "r") as db:
        np.testing.assert_array_equal(db["features"][()], features)

    from archspec.cli import main

    out = CliRunner().invoke(main, ["fit-features", str(clean), "--cv", "2"])
    assert out.exit_code == 0, out.output
    assert "best hyperparameters: {'C'" in out.output
    for word in ("precision", "recall", "f1-score", "support", "digit0", "digit9", "accuracy", "weighted avg"):
        assert word in out.output


def test_application_without_reference_spec_is_built_and_measured_by_keras(keras, tmp_path):
    """MobileNetV3Small at alpha 0.75 is not its (generated, alpha 1) reference spec: one opaque base, measured by Keras."""
    text = (
        "archspec: 1\ninput: [32, 32, 3]\nbase: {application: MobileNetV3Small, pooling: avg, vars: {alpha: 0.75}}\n"
        "layers: [{dense: 3, activation: softmax, name: out}]\n"
        "fine_tune:\n  - {freeze: base, optimizer: rmsprop, epochs: 1}\n  - {unfreeze: all, optimizer: sgd, epochs: 1}\n"
    )
    model = archspec.build(text)
    assert [layer.name for layer in model.layers] == ["input", "mobilenetv3small", "out"]
    from archspec.transfer.keras_build import probing

    with probing():
        graph = archspec.expand(text)
    p = plan(graph)
    assert p.input_shape == (32, 32, 3) and graph.input_shape == (model.get_layer("mobilenetv3small").output.shape[1],)
    reference = keras.applications.MobileNetV3Small(
        weights=None, include_top=False, pooling="avg", alpha=0.75, input_shape=(32, 32, 3)
    )
    assert model.get_layer("mobilenetv3small").count_params() == reference.count_params()
    for stage in p:
        stage.apply(model)
        trainable = n_weights(model.trainable_weights)
        assert (trainable, model.count_params() - trainable) == (stage.trainable_params, stage.non_trainable_params)

    from archspec.transfer.extract import extract

    digit_folders(tmp_path / "digits", per_class=1, size=32)
    result = extract(graph, tmp_path / "digits", tmp_path / "f.hdf5", model=model, progress=False)
    assert (result.count, result.dim, result.layers) == (10, graph.input_shape[0], ("mobilenetv3small",))


def test_saved_keras_model_as_base(keras, tmp_path):
    (tmp_path / "tiny.yaml").write_text(TINY_BASE)
    source = archspec.build(tmp_path / "tiny.yaml")
    source.save(tmp_path / "tiny.keras")
    spec = tmp_path / "s.yaml"
    spec.write_text(
        "archspec: 1\ninput: [16, 16, 3]\nbase: {model: tiny.keras, name: tiny}\nlayers: [{gap_head: 3}]\nfreeze: base\n"
    )
    model = archspec.build(spec)
    assert model.get_layer("tiny").trainable is False
    for a, b in zip(source.weights, model.get_layer("tiny").weights, strict=True):
        np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
    assert n_weights(model.trainable_weights) == 10 * 3 + 3


def test_saved_base_with_archspec_layers_loads(keras, tmp_path):
    """A .keras base holding archspec's own layers (LRN, stochastic depth) deserialises."""
    (tmp_path / "own.yaml").write_text(
        "archspec: 1\ninput: [16, 16, 3]\nlayers:\n  - {conv: 8, padding: same, name: c1}\n  - {lrn: null, name: n1}\n"
        "  - {residual: 8, kind: basic, survival: 0.5, name: u1}\n"
    )
    archspec.build(tmp_path / "own.yaml").save(tmp_path / "own.keras")
    spec = tmp_path / "s.yaml"
    spec.write_text("archspec: 1\ninput: [16, 16, 3]\nbase: {model: own.keras, name: own}\nlayers: [{gap_head: 2}]\n")
    # A fresh process: here archspec's layers are registered already, by the build above.
    out = tmp_path / "s.keras"
    cmd = [sys.executable, "-m", "archspec", "build", str(spec), "-o", str(out)]
    result = subprocess.run(cmd, capture_output=True, text=True, timeout=300)
    assert result.returncode == 0 and out.is_file(), result.stderr[-2000:]


def test_include_top_with_own_classes_matches_keras(keras):
    text = "archspec: 1\ninput: [32, 32, 3]\nbase: {application: resnet50, include_top: true, classes: 7}\nlayers: []\n"
    model = keras.applications.ResNet50(weights=None, include_top=True, classes=7, input_shape=(32, 32, 3))
    assert dict_table(text) == dict_table(model)
    assert archspec.build(text).count_params() == model.count_params()


def test_predict_uses_the_bases_own_preprocessing_and_says_what_it_cannot_know(keras, tmp_path):
    """Issue 14 item 6: predict rescaled a pretrained application's inputs to [0, 1] and printed indices."""
    from PIL import Image

    from archspec.cli import main
    from archspec.training import evaluate as ev
    from archspec.transfer.preprocess import preprocess_function

    weights = tmp_path / "vgg.weights.h5"
    keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3)).save_weights(weights)
    spec = tmp_path / "pets.yaml"
    spec.write_text(
        "archspec: 1\nname: pets\ninput: [32, 32, 3]\nclasses: 3\n"
        f"base: {{application: vgg16, weights: {weights.name}}}\n"
        "layers: [{fc_head: 8, classes: 3, pooling: gap}]\n"
    )
    image = tmp_path / "cat.png"
    Image.fromarray(np.random.default_rng(0).integers(0, 255, (32, 32, 3), dtype=np.uint8)).save(image)
    loaded = ev.open_model(spec)
    assert loaded.normalize == {"preprocess_input": "keras.applications.vgg16"}
    x = preprocess_function("keras.applications.vgg16")(ev.read_image(image, (32, 32, 3))[None])
    expected = np.asarray(loaded.model(x, training=False))[0]
    (top, *_), *_ = ev.predict(loaded, [image], top_k=3)
    assert top == (str(int(expected.argmax())), pytest.approx(float(expected.max()), rel=1e-5))

    names = tmp_path / "names.txt"
    names.write_text("cat\ndog\nbird\n")
    result = CliRunner().invoke(main, ["predict", str(spec), str(image), "--labels", str(names)])
    assert result.exit_code == 0, result.output
    # the command builds its own model from the spec (a new random head), so only the names are comparable
    ranked = [line.split()[1] for line in result.output.splitlines() if line.strip()[:2] in ("1.", "2.", "3.")]
    assert sorted(ranked) == ["bird", "cat", "dog"] and "note:" not in result.output

    model = tmp_path / "pets.keras"  # a bare model file cannot tell its preprocessing or names: said, not guessed
    loaded.model.save(model)
    result = CliRunner().invoke(main, ["predict", str(model), str(image)])
    assert result.exit_code == 0, result.output
    assert "has no run directory: images are rescaled to [0, 1]" in result.output
    assert "the model has 3 classes and no run directory names them" in result.output
    result = CliRunner().invoke(main, ["predict", str(model), str(image), "--preprocess", "vgg16", "-k", "1"])
    assert f"{float(expected.max()):.4f}" in result.output and "rescaled" not in result.output


def test_compiled_transfer_module_does_what_the_spec_says(keras, tmp_path):
    """Issue 14 item 7: compile dropped the pretrained weights, the preprocessing and the stages."""
    from archspec.codegen import generate
    from archspec.training.data import preprocess_input

    weights = tmp_path / "vgg.weights.h5"
    reference = keras.applications.VGG16(weights=None, include_top=False, input_shape=(32, 32, 3))
    reference.save_weights(weights)
    spec = tmp_path / "ft.yaml"
    spec.write_text(
        "archspec: 1\nname: ft\ninput: [32, 32, 3]\nclasses: 3\n"
        f"base: {{application: vgg16, weights: {weights.name}}}\n"
        "layers: [{fc_head: 8, classes: 3, pooling: gap, name: head}]\n"
        "fine_tune:\n"
        "  - {name: warmup, freeze: base, optimizer: {name: rmsprop, lr: 0.01}, epochs: 1}\n"
        "  - {name: block5, unfreeze: {from: block5_conv1}, optimizer: {name: sgd, lr: 0.001, momentum: 0.9}, epochs: 1}\n"
    )
    graph = archspec.expand(spec)
    namespace: dict = {"__name__": "generated"}
    exec(compile(generate(graph), "ft.py", "exec"), namespace)
    model = namespace["build_model"]()
    for layer in (lyr for lyr in reference.layers if lyr.weights):  # the pretrained weights, not fresh ones
        for a, b in zip(layer.get_weights(), model.get_layer(layer.name).get_weights(), strict=True):
            np.testing.assert_array_equal(a, b)
    images = np.random.default_rng(0).uniform(0, 255, (4, 32, 32, 3)).astype("float32")
    np.testing.assert_allclose(
        namespace["preprocess_input"](images.copy()), preprocess_input("vgg16")(images.copy()), rtol=1e-6
    )
    stages = plan(graph)
    assert [(s["name"], s["epochs"], s["optimizer"][0]) for s in namespace["STAGES"]] == [
        ("warmup", 1, "RMSprop"),
        ("block5", 1, "SGD"),
    ]
    assert [set(s["trainable"]) for s in namespace["STAGES"]] == [set(s.trainable) for s in stages]
    labels = keras.utils.to_categorical([0, 1, 2, 0], 3)
    histories = namespace["fine_tune"](model, namespace["preprocess_input"](images), labels, batch_size=2, verbose=0)
    assert [len(h.history["loss"]) for h in histories] == [1, 1]
    assert n_weights(model.trainable_weights) == stages.stages[-1].trainable_params


def test_compile_refuses_what_a_module_cannot_carry(tmp_path):
    from archspec.codegen import generate

    (tmp_path / "tiny.yaml").write_text(TINY_BASE)
    (tmp_path / "tiny.weights.h5").write_bytes(b"")
    spec = tmp_path / "s.yaml"
    spec.write_text(
        "archspec: 1\ninput: [16, 16, 3]\nclasses: 3\n"
        "base: {spec: tiny.yaml, output: r2, weights: tiny.weights.h5}\nlayers: [gap, {dense: 3, activation: softmax}]\n"
    )
    with pytest.raises(UsageError, match="compile cannot carry a spec base's weights file"):
        generate(spec)
    from archspec.transfer.keras_build import probing

    spec.write_text(
        "archspec: 1\ninput: [32, 32, 3]\nbase: {application: MobileNetV3Small, pooling: avg, vars: {alpha: 0.75}}\n"
        "layers: [{dense: 3, activation: softmax}]\n"
    )  # an opaque base (no reference spec for alpha 0.75)
    with probing(), pytest.raises(UsageError, match="the module would hold the head only"):
        generate(spec)
