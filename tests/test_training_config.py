"""The ``train:`` section: schema, defaults and errors (static: no TensorFlow)."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from click.testing import CliRunner
from conftest import ROOT

from archspec.api import validate
from archspec.cli import main
from archspec.errors import SpecError
from archspec.training.config import OptimizerConfig, optimizer_config, train_config

SPEC = """archspec: 1
input: [8, 8, 1]
layers: [flatten, {dense: 10, activation: softmax}]
train:
"""


def _doc(train_yaml: str):
    return validate(SPEC + train_yaml)


def test_seed_cnn_train_section_reads_with_defaults():
    doc = validate(str(ROOT / "specs" / "seed_cnn.yaml"))
    cfg = train_config(doc, doc.data["train"])
    assert cfg.optimizer == OptimizerConfig("adam", 0.001, {})
    assert (cfg.data.validation, cfg.data.test, cfg.seed) == (0.1, 0.2, 42)
    assert cfg.data.normalize == {"rescale": 1 / 255, "offset": 0.0}
    assert cfg.metrics == ("accuracy",) and cfg.label_smoothing == 0.0


def test_full_train_section():
    doc = _doc(
        "  data: {path: d.npz, validation: 0.1, normalize: {preprocess_input: resnet50}}\n"
        "  augment: {rotation_range: 10, width_shift_range: 0.1, zoom_range: [0.9, 1.1], horizontal_flip: true}\n"
        "  optimizer: {name: sgd, lr: 0.01, momentum: 0.9, nesterov: true, clipnorm: 1.0}\n"
        "  schedule: plateau\n"
        "  l2: 0.0005\n  label_smoothing: 0.1\n  class_weight: {0: 2.0, '1': 0.5}\n"
        "  metrics: [accuracy, top5]\n  early_stopping: true\n  loss_weights: {predictions: 1.0, aux1: 0.3}\n"
    )
    cfg = train_config(doc, doc.data["train"])
    assert cfg.optimizer.name == "sgd" and cfg.optimizer.lr == 0.01
    assert dict(cfg.optimizer.args) == {"momentum": 0.9, "nesterov": True, "clipnorm": 1.0}
    assert cfg.schedule == {"name": "plateau"} and cfg.early_stopping == {}
    assert cfg.class_weight == {0: 2.0, 1: 0.5}
    assert cfg.data.normalize == {"preprocess_input": "resnet50"}
    assert cfg.loss_weights == {"predictions": 1.0, "aux1": 0.3}


def test_bare_optimizer_name():
    assert optimizer_config("rmsprop") == OptimizerConfig("rmsprop", None, {})
    assert optimizer_config({"name": "adamw", "learning_rate": 3e-4, "weight_decay": 0.05}).lr == 3e-4


def test_unknown_key_is_located_with_a_hint():
    with pytest.raises(SpecError) as err:
        _doc("  epoch: 3\n")
    text = str(err.value)
    assert "train.epoch" in text and "Did you mean 'epochs'?" in text and ":5:" in text


@pytest.mark.parametrize(
    ("yaml", "expected"),
    [
        ("  optimizer: adagrad\n", "train.optimizer"),
        ("  optimizer: {name: sgd, momentum: 1.5}\n", "train.optimizer.momentum"),
        ("  data: {validation: 1.5}\n", "train.data.validation"),
        ("  schedule: {name: step, factor: 2}\n", "train.schedule.factor"),
        ("  augment: {rotation: 10}\n", "train.augment.rotation"),
        ("  batch_size: 0\n", "train.batch_size"),
    ],
)
def test_schema_rejects(yaml, expected):
    with pytest.raises(SpecError) as err:
        _doc(yaml)
    assert expected in str(err.value)


def test_fractions_must_leave_training_data():
    doc = _doc("  data: {validation: 0.5, test: 0.5}\n")
    with pytest.raises(SpecError) as err:
        train_config(doc, doc.data["train"])
    assert "train.data" in str(err.value) and "add up to 1" in str(err.value) and ":5:" in str(err.value)


def test_bad_class_weight_key():
    doc = _doc("  class_weight: {cat: 1.0}\n")
    with pytest.raises(SpecError, match=r"train\.class_weight\.cat: class_weight keys are class indices"):
        train_config(doc, doc.data["train"])


def test_validate_with_train_section_does_not_import_tensorflow():
    code = (
        "import sys\nfrom archspec.cli import main\n"
        f"try:\n    main(['validate', {str(ROOT / 'specs' / 'seed_cnn.yaml')!r}])\nexcept SystemExit:\n    pass\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'imported TF'\n"
    )
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60)
    assert result.returncode == 0, result.stderr


def test_train_needs_a_spec_or_resume():
    result = CliRunner().invoke(main, ["train"])
    assert result.exit_code == 2 and "give a SPEC to train, or --resume RUN_DIR" in result.output


def test_multiworker_is_refused_with_the_upstream_reason_before_tensorflow_starts(tmp_path):
    """Keras 3's fit() fails under MultiWorkerMirroredStrategy (test_training_e2e.py shows it
    with plain Keras); archspec says so at once instead of crashing once the cluster formed."""
    code = (
        "import sys\nfrom archspec.cli import main\n"
        f"try:\n    main(['train', {str(ROOT / 'specs' / 'seed_cnn.yaml')!r}, '--data', 'x.npz', "
        f"'--strategy', 'multiworker', '--run-dir', {str(tmp_path / 'run')!r}])\n"
        "except SystemExit as exc:\n    assert exc.code == 2, exc.code\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'imported TF'\n"
    )
    cluster = '{"cluster": {"worker": ["localhost:1", "localhost:2"]}, "task": {"type": "worker", "index": 0}}'
    env = {**os.environ, "TF_CONFIG": cluster}
    result = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=60, env=env)
    assert result.returncode == 0, result.stderr
    assert "keras-team/keras#20585" in result.stderr and "--strategy mirrored" in result.stderr
    assert "--strategy data-parallel --workers" in result.stderr  # the path that works, named
    assert not (tmp_path / "run").exists()
