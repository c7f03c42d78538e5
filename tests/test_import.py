"""`archspec import` and `archspec summary model.keras`: Keras models in, read without TensorFlow.

Hand-written configs test the reader and its refusals; the zoo round trip (build -> Keras
config -> import -> analyse) and keras.applications models test it against Keras' own counts.
"""

from __future__ import annotations

import json
import zipfile

import pytest
from click.testing import CliRunner
from conftest import ROOT, run_cli_without_framework, spec_files, weight_counts

from archspec import analyse, expand, importer, summary
from archspec.cli import main
from archspec.errors import ArchspecError

# -- hand-written configs, no framework --------------------------------------------------------------


def _tensor(name):
    return {"class_name": "__keras_tensor__", "config": {"keras_history": [name, 0, 0]}}


def _layer(cls, name, inputs=(), **config):
    nodes = [{"args": [[_tensor(i) for i in inputs]] if len(inputs) > 1 else [_tensor(inputs[0])], "kwargs": {}}]
    return {"class_name": cls, "config": {"name": name, **config}, "inbound_nodes": nodes if inputs else []}


def functional(*layers, outputs=None, shape=(8, 8, 3)):
    first = {"class_name": "InputLayer", "config": {"name": "image", "batch_shape": [None, *shape]}}
    body = {
        "name": "tiny",
        "layers": [first, *layers],
        "output_layers": outputs or [[layers[-1]["config"]["name"], 0, 0]],
    }
    return {"class_name": "Functional", "config": body}


BRANCHY = functional(
    _layer("Conv2D", "stem", ["image"], filters=4, kernel_size=[3, 3], padding="same", use_bias=True),
    _layer("Conv2D", "side", ["image"], filters=4, kernel_size=[1, 1], activation="relu"),
    _layer("Add", "sum", ["stem", "side"]),
    {**_layer("Concatenate", "cat", ["sum", "stem"], axis=3), "build_config": {"input_shape": [[None, 8, 8, 4]] * 2}},
    _layer("BatchNormalization", "bn", ["cat"], axis=-1, momentum=0.9),
    _layer("GlobalAveragePooling2D", "gap", ["bn"]),
    _layer("Dense", "out", ["gap"], units=3, activation="softmax"),
)


def test_a_functional_config_becomes_a_spec_with_keras_names_and_wiring():
    imported = importer.from_config(BRANCHY)
    spec = imported.spec
    assert spec["input"] == {"shape": [8, 8, 3], "name": "image"}
    by_name = {item["name"]: item for item in spec["layers"]}
    assert by_name["stem"] == {"conv": 4, "padding": "same", "name": "stem"}
    assert by_name["side"]["inputs"] == "image" and by_name["side"]["kernel"] == 1
    assert by_name["sum"]["inputs"] == ["stem", "side"]
    assert by_name["cat"] == {"concat": None, "name": "cat", "inputs": ["sum", "stem"]}  # Keras axis 3 = last
    assert by_name["bn"]["momentum"] == 0.9
    analysis = analyse(expand(spec))
    assert analysis["cat"].shape == (8, 8, 8) and analysis["out"].shape == (3,)
    assert analysis.total_params == (3 * 3 * 3 * 4 + 4) + (3 * 4 + 4) + 4 * 8 + (8 * 3 + 3)


def test_the_yaml_it_writes_reads_back_as_the_same_spec(tmp_path):
    imported = importer.from_config(BRANCHY)
    text = importer.to_yaml(imported)
    assert analyse(expand(text)).total_params == analyse(expand(imported.spec)).total_params


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda c: c["config"]["layers"].append(_layer("Mystery", "m", ["out"])), "unknown layer class 'Mystery'"),
        (lambda c: c["config"]["layers"][1]["config"].update(data_format="channels_first"), "channels-last"),
        (lambda c: c["config"]["layers"][5]["config"].update(axis=1), "axis=1; archspec normalises the last"),
        (lambda c: c["config"]["layers"][2]["inbound_nodes"].append({"args": []}), "used 2 times"),
        (
            lambda c: c["config"]["layers"][3]["inbound_nodes"][0]["args"][0].__setitem__(0, _tensor("later")),
            "not above",
        ),
        (lambda c: c.update(class_name="Dense"), "expected a Functional or Sequential model"),
        (lambda c: c["config"]["layers"][0]["config"].update(batch_shape=[None, None, None, 3]), "is not fixed"),
        (
            lambda c: c["config"]["layers"].append(
                {"class_name": "Functional", "config": {"name": "inner"}, "inbound_nodes": [{"args": [_tensor("out")]}]}
            ),
            "a model nested as a layer",
        ),
    ],
)
def test_what_archspec_cannot_express_is_refused_by_name_and_place(change, message):
    config = json.loads(json.dumps(BRANCHY))
    change(config)
    with pytest.raises(ArchspecError, match=message) as info:
        importer.from_config(config, "model.keras")
    assert "model.keras" in str(info.value)


def test_settings_without_a_spec_equivalent_are_notes_not_silence():
    init = {"class_name": "VarianceScaling", "config": {"scale": 2.0, "mode": "fan_out", "distribution": "normal"}}
    config = functional(
        _layer(
            "Conv2D", "c", ["image"], filters=2, kernel_initializer=init, kernel_constraint={"class_name": "MaxNorm"}
        )
    )
    notes = importer.from_config(config, "m.keras").notes
    assert any("'variance_scaling' with Keras' default settings" in n and "'scale': 2.0" in n for n in notes)
    assert any("kernel_constraint" in n and "not carried over" in n for n in notes)


def _op(cls, name, *args):
    """A Keras operation node as a functional model records it (module keras.src.ops.numpy)."""
    node = {"args": [_tensor(a) if isinstance(a, str) else a for a in args], "kwargs": {}}
    return {"module": "keras.src.ops.numpy", "class_name": cls, "config": {"name": name}, "inbound_nodes": [node]}


def test_keras_operations_with_a_number_are_affine_maps_and_between_tensors_merges():
    config = functional(
        _layer("Conv2D", "c", ["image"], filters=2, kernel_size=[1, 1]),
        _op("Add", "plus3", "c", 3.0),
        _op("Multiply", "sixth", "plus3", 1 / 6),
        _op("Subtract", "rsub", 1.0, "sixth"),
        _op("Add", "both", "rsub", "c"),
    )
    by_name = {item["name"]: item for item in importer.from_config(config).spec["layers"]}
    assert by_name["plus3"] == {"rescale": 1.0, "offset": 3.0, "name": "plus3"}
    assert by_name["sixth"] == {"rescale": 1 / 6, "name": "sixth"}
    assert by_name["rsub"] == {"rescale": -1.0, "offset": 1.0, "name": "rsub"}
    assert by_name["both"] == {"add": None, "name": "both", "inputs": ["rsub", "c"]}
    with pytest.raises(ArchspecError, match="the Keras operation Power on 1 tensor"):
        importer.from_config(functional(_op("Power", "p", "image", 2.0)))


def test_a_sequential_used_as_a_layer_is_put_in_line_and_said_so():
    stem = {
        "class_name": "Sequential",
        "config": {
            "name": "stem",
            "layers": [
                {"class_name": "Conv2D", "config": {"name": "stem_conv", "filters": 4, "kernel_size": [2, 2]}},
                {"class_name": "LayerNormalization", "config": {"name": "stem_ln", "axis": -1, "epsilon": 1e-6}},
            ],
        },
        "inbound_nodes": [{"args": [_tensor("image")], "kwargs": {}}],
    }
    imported = importer.from_config(functional(stem, _layer("Flatten", "f", ["stem"])))
    assert [item["name"] for item in imported.spec["layers"]] == ["stem_conv", "stem_ln", "f"]
    assert any("a Sequential model used as a layer, put in line (2 layers)" in n for n in imported.notes)
    assert analyse(expand(imported.spec))["f"].shape == (7 * 7 * 4,)


def test_a_per_channel_normalization_is_kept():
    config = functional(_layer("Normalization", "n", ["image"], mean=[1.0, 2.0, 3.0], variance=[4.0, 5.0, 6.0]))
    item = importer.from_config(config).spec["layers"][0]
    assert item["mean"] == [1.0, 2.0, 3.0] and item["variance"] == [4.0, 5.0, 6.0]
    assert analyse(expand(importer.from_config(config).spec)).total_params == 0
    wrong = functional(_layer("Normalization", "n", ["image"], mean=[1.0, 2.0], variance=[4.0, 5.0]))
    with pytest.raises(ArchspecError, match="`mean` has 2 values; the input has 3 channels"):
        analyse(expand(importer.from_config(wrong).spec))


def _zip(path, members):
    with zipfile.ZipFile(path, "w") as archive:
        for name, data in members.items():
            archive.writestr(name, data)
    return path


@pytest.mark.parametrize(
    ("make", "message"),
    [
        (lambda p: p.write_text("not a zip"), "a .keras file is a zip archive"),
        (lambda p: _zip(p, {"metadata.json": "{}"}), "no config.json"),
        (lambda p: _zip(p, {"config.json": "{bad"}), "not valid JSON"),
        (lambda p: _zip(p, {"config.json": "[" * 100_000 + "]" * 100_000}), "nested too deeply|not a JSON object"),
        (lambda p: _zip(p, {"config.json": "[1]"}), "not a JSON object"),
    ],
)
def test_broken_model_files_are_clean_errors(tmp_path, make, message):
    path = tmp_path / "m.keras"
    make(path)
    result = CliRunner().invoke(main, ["summary", str(path)])
    assert result.exit_code == 2, result.output  # a broken model file is a data error (docs/cli.md)
    assert str(path) in result.output and pytest.importorskip("re").search(message, result.output)


def test_an_oversized_config_is_refused_before_it_is_read(tmp_path, monkeypatch):
    monkeypatch.setattr(importer, "MAX_CONFIG_BYTES", 1000)
    path = _zip(tmp_path / "m.keras", {"config.json": json.dumps(BRANCHY) + " " * 2000})
    with pytest.raises(ArchspecError, match="limit is 1,000"):  # UsageError: exit 2
        importer.import_file(path)


def test_summary_of_a_keras_file_imports_no_framework(tmp_path):
    path = _zip(tmp_path / "m.keras", {"config.json": json.dumps(BRANCHY)})
    proc = run_cli_without_framework("summary", path)
    assert proc.returncode == 0, proc.stdout + proc.stderr


# -- against Keras ------------------------------------------------------------------------------------


def _layer_table(analysis):
    return {s.name: (tuple(s.shape), s.trainable_params, s.non_trainable_params) for s in analysis.layers}


@pytest.mark.slow
@pytest.mark.parametrize("spec", [p for p in spec_files() if p.parent.name == "specs"], ids=lambda p: p.stem)
def test_zoo_round_trip_through_the_keras_config(spec):
    """build -> Keras' own config JSON -> import -> analyse: every layer's name, shape and counts."""
    import keras

    from archspec.keras_backend import build_graph

    graph = expand(spec)
    model = build_graph(graph)
    imported = importer.from_config(json.loads(model.to_json()), spec.name)
    assert imported.notes == ()
    assert _layer_table(analyse(expand(imported.spec))) == _layer_table(analyse(graph))
    keras.backend.clear_session()


@pytest.mark.slow
def test_a_saved_file_round_trips_with_its_weights_to_the_same_outputs(tmp_path):
    import numpy as np

    import archspec

    model = archspec.build(ROOT / "specs" / "lenet5.yaml")
    path = tmp_path / "lenet.keras"
    model.save(path)
    result = CliRunner().invoke(main, ["import", str(path), "-o", str(tmp_path / "lenet.yaml")])
    assert result.exit_code == 0, result.output
    rebuilt = archspec.build(tmp_path / "lenet.yaml")
    assert [layer.name for layer in rebuilt.layers] == [layer.name for layer in model.layers]
    for layer in model.layers:
        rebuilt.get_layer(layer.name).set_weights(layer.get_weights())
    x = np.random.default_rng(0).uniform(0, 1, (4, *model.inputs[0].shape[1:])).astype("float32")
    np.testing.assert_allclose(np.asarray(rebuilt(x)), np.asarray(model(x)), rtol=1e-6, atol=1e-6)
    assert summary(tmp_path / "lenet.yaml").total_params == summary(ROOT / "specs" / "lenet5.yaml").total_params


# keras.applications models the language reaches today, with Keras 3.15's counts (weights=None).
APPLICATIONS = {
    "Xception": 22_910_480,
    "InceptionV3": 23_851_784,
    "DenseNet121": 8_062_504,
    "NASNetMobile": 5_326_716,
    "ResNet50V2": 25_613_800,
    "EfficientNetB0": 5_330_571,
    "EfficientNetV2B0": 7_200_312,  # a per-channel Normalization mean
    "MobileNetV3Small": 2_554_968,  # hard-swish written as Keras operations (x + 3, x * 1/6)
    "ConvNeXtTiny": 28_589_128,  # LayerScale, Sequential stem and head put in line
    "InceptionResNetV2": 55_873_736,  # CustomScaleLayer as scaled_add
}
SHAPES = {"MobileNetV3Small": (224, 224, 3)}  # Keras leaves its input size open without one


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(APPLICATIONS))
def test_applications_import_with_keras_counts(name):
    import keras
    import numpy as np

    import archspec

    model = getattr(keras.applications, name)(weights=None, **({"input_shape": SHAPES[name]} if name in SHAPES else {}))
    # the model's own config (Keras numbers unnamed layers per session: a second instance names them anew)
    imported = importer.from_config(json.loads(model.to_json()), name)
    analysis = analyse(expand(imported.spec))
    assert analysis.total_params == APPLICATIONS[name] == model.count_params()
    assert (analysis.trainable_params, analysis.non_trainable_params) == weight_counts(model)
    rebuilt = archspec.build(imported.spec)  # with Keras' weights copied in: the same outputs
    for layer in model.layers:
        for sub in getattr(layer, "layers", [layer]):
            if sub.weights:
                rebuilt.get_layer(sub.name).set_weights(sub.get_weights())
    x = np.random.default_rng(0).uniform(0, 255, (2, *model.inputs[0].shape[1:])).astype("float32")
    np.testing.assert_allclose(np.asarray(rebuilt(x)), np.asarray(model(x)), rtol=1e-5, atol=1e-6)
    keras.backend.clear_session()


@pytest.mark.slow
def test_import_by_application_name_on_the_command_line(tmp_path):
    result = CliRunner().invoke(
        main, ["import", "MobileNetV3Small", "--input-shape", "96,96,3", "-o", str(tmp_path / "m.yaml")]
    )
    assert result.exit_code == 0, result.output
    assert summary(tmp_path / "m.yaml")["predictions"].shape == (1000,)
    wrong = CliRunner().invoke(main, ["import", "MobileNetV4"])
    assert wrong.exit_code == 2 and "Did you mean" in wrong.output
