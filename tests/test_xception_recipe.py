"""Seed 004's recipe from one spec and one command: Xception frozen with a new head, then unfrozen.

specs/transfer/xception_flowers.yaml is the recipe; here it runs at Xception's smallest input (71
pixels) with fresh weights (no download) on a folder of digit images, and its per-stage counts are
held to Keras' own for the notes' freezing loops.
"""

from __future__ import annotations

import pytest
import yaml
from click.testing import CliRunner
from conftest import ROOT, digit_folders, n_weights

import archspec
from archspec.transfer import plan

pytestmark = pytest.mark.slow
RECIPE = ROOT / "specs" / "transfer" / "xception_flowers.yaml"


def small_recipe(tmp_path):
    data = yaml.safe_load(RECIPE.read_text())
    data["input"] = [71, 71, 3]
    data["classes"] = 10
    data["base"]["weights"] = "none"
    data["train"]["data"] = {"path": str(tmp_path / "images"), "image_size": [80, 80], "validation": 0.2}
    data["train"]["batch_size"] = 8
    for stage in data["fine_tune"]:
        stage["epochs"] = 1
    path = tmp_path / "recipe.yaml"
    path.write_text(yaml.safe_dump(data))
    return path


def test_stage_counts_equal_the_notes_loops_in_keras(keras, tmp_path):
    stages = plan(archspec.expand(small_recipe(tmp_path))).stages
    base = keras.applications.Xception(weights=None, include_top=False, input_shape=(71, 71, 3))
    avg = keras.layers.GlobalAveragePooling2D()(base.output)
    model = keras.Model(base.input, keras.layers.Dense(10, activation="softmax")(avg))
    for layer in base.layers:  # the notes' lines 21-22
        layer.trainable = False
    frozen = n_weights(model.trainable_weights)
    assert (stages[0].trainable_params, stages[0].non_trainable_params) == (frozen, model.count_params() - frozen)
    for layer in base.layers:  # lines 27-28
        layer.trainable = True
    unfrozen = n_weights(model.trainable_weights)
    assert (stages[1].trainable_params, stages[1].non_trainable_params) == (unfrozen, model.count_params() - unfrozen)


def test_the_recipe_trains_from_one_command(tmp_path):
    digit_folders(tmp_path / "images", per_class=3, size=80)
    run = tmp_path / "run"
    result = CliRunner().invoke(main_cli(), ["train", str(small_recipe(tmp_path)), "--run-dir", str(run), "-q"])
    assert result.exit_code == 0, result.output
    log = (run / "train.log").read_text()
    assert "stage 0 (frozen)" in log and "stage 1 (unfrozen)" in log


def main_cli():
    from archspec.cli import main

    return main
