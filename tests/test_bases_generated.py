"""Every keras.applications model the language can express is a base with static figures.

Their reference specs are `archspec import` of the installed Keras' own models
(tools/gen_bases.py); applications.json records Keras' parameter counts with and without the top
at generation time. Fast tests hold every spec to those counts and to the issue's figures; slow
ones build a sample with Keras now and compare layer by layer, and train one.
"""

from __future__ import annotations

import json

import pytest
from conftest import weight_counts

import archspec
from archspec.transfer.bases import APPLICATIONS, GENERATED_DIR, reference_spec

TABLE = json.loads((GENERATED_DIR / "applications.json").read_text(encoding="utf-8"))
GENERATED = sorted(k for k, v in TABLE.items() if "features" in v)

# Keras 3.15's counts (weights=None, 1000 classes), as issue 16 lists them: an authority no script wrote.
ISSUE_FIGURES = {
    "xception": 22_910_480,
    "inceptionv3": 23_851_784,
    "densenet169": 14_307_880,
    "densenet201": 20_242_984,
    "resnet101v2": 44_675_560,
    "resnet152v2": 60_380_648,
    "nasnetmobile": 5_326_716,
    "nasnetlarge": 88_949_818,
    "efficientnetb1": 7_856_239,
    "efficientnetb7": 66_658_687,
    "efficientnetv2b0": 7_200_312,
    "efficientnetv2l": 119_027_848,
    "mobilenetv3small": 2_554_968,
    "mobilenetv3large": 5_507_432,
    "convnexttiny": 28_589_128,
    "convnextxlarge": 350_196_968,
    "inceptionresnetv2": 55_873_736,
}


def test_every_application_has_a_reference_spec_or_a_stated_reason():
    from archspec.transfer.bases import KERAS_APPLICATIONS

    missing = [k for k in KERAS_APPLICATIONS if k not in APPLICATIONS or reference_spec(APPLICATIONS[k]) is None]
    assert all(k in TABLE and "not_expressible" in TABLE[k] for k in missing), missing
    assert missing == []  # every keras.applications model of the installed Keras
    assert len(GENERATED) == 30


@pytest.mark.parametrize("key", GENERATED)
def test_generated_spec_has_keras_counts_with_top(key):
    analysis = archspec.summary(reference_spec(APPLICATIONS[key]))
    assert analysis.total_params == TABLE[key]["params"]
    if key in ISSUE_FIGURES:
        assert analysis.total_params == ISSUE_FIGURES[key]


def _base_spec(key: str, size: int, head: str = "[]") -> str:
    return (
        f"archspec: 1\nname: t\ninput: [{size}, {size}, 3]\nclasses: 5\n"
        f"base: {{application: {key}, weights: none}}\nlayers: {head}\n"
    )


@pytest.mark.parametrize("key", GENERATED)
def test_generated_base_without_top_has_keras_counts(key):
    analysis = archspec.summary(_base_spec(key, TABLE[key]["default_size"]))
    assert analysis.total_params == TABLE[key]["params_notop"]
    assert analysis.layers[-1].name == TABLE[key]["features"]


SAMPLE = ["xception", "mobilenetv3small", "efficientnetv2b0", "convnexttiny", "densenet169", "inceptionresnetv2"]


def _table(analysis):
    return {s.name: (tuple(s.shape), s.trainable_params, s.non_trainable_params) for s in analysis.layers}


def _keras_table(model):
    """Every operation of the model (Keras' layers and the ``x + 3`` kind), nested Sequentials opened."""
    out = {}
    for op in model.operations[1:]:
        for sub in getattr(op, "layers", [op]):  # ConvNeXt's stem and head are Sequential models
            counts = weight_counts(sub) if hasattr(sub, "trainable_weights") else (0, 0)
            out[sub.name] = (tuple(sub.output.shape[1:]), *counts)
    return out


@pytest.mark.slow
@pytest.mark.parametrize("key", SAMPLE)
@pytest.mark.parametrize("top", [True, False], ids=["top", "notop"])
def test_sample_equals_keras_now_layer_by_layer(key, top):
    import keras

    keras.backend.clear_session()  # Keras numbers unnamed layers per session, as the generator's build did
    name = TABLE[key]["keras_class"]
    size = TABLE[key]["default_size"]
    model = getattr(keras.applications, name)(weights=None, include_top=top, input_shape=(size, size, 3))
    if top:
        analysis = archspec.summary(reference_spec(APPLICATIONS[key]))
    else:
        analysis = archspec.summary(_base_spec(key, size))
    assert _table(analysis) == _keras_table(model)
    keras.backend.clear_session()


@pytest.mark.slow
def test_a_generated_base_trains_frozen_with_a_new_head(tmp_path):
    from click.testing import CliRunner
    from conftest import digit_folders

    from archspec.cli import main

    digit_folders(tmp_path / "images", per_class=4, size=32)
    head = "[{gap: null, name: pool}, {dense: 10, activation: softmax, name: predictions}]"
    spec = tmp_path / "spec.yaml"
    spec.write_text(_base_spec("mobilenetv3small", 32, head).replace("classes: 5", "classes: 10") + "freeze: base\n")
    summary = archspec.summary(spec)
    assert summary.trainable_params == 576 * 10 + 10  # only the head trains
    args = ["train", str(spec), "--data", str(tmp_path / "images"), "--run-dir", str(tmp_path / "run"), "--epochs", "1"]
    result = CliRunner().invoke(main, [*args, "-q"])
    assert result.exit_code == 0, result.output
