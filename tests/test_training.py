"""Training end to end on real data (scikit-learn's digits): data formats, augmentation,
optimizers, multi-output models, fine-tuning stages, and the run directory."""

from __future__ import annotations

import json
import math

import numpy as np
import pytest
from conftest import ROOT

from archspec.training import datasets

pytestmark = pytest.mark.slow

TINY = """archspec: 1
name: tiny
input: [8, 8, 1]
classes: 10
layers:
  - {conv: 8, kernel: 3, padding: same, activation: relu, name: c1}
  - {maxpool: 2, name: p1}
  - {flatten: null, name: flat}
  - {dense: 10, activation: softmax, name: predictions}
"""


@pytest.fixture(scope="module")
def digits_dir(tmp_path_factory):
    root = tmp_path_factory.mktemp("digits")
    datasets.write("npz", root / "digits.npz")
    datasets.write("npz", root / "small.npz", limit=300)
    datasets.write("csv", root / "small.csv", limit=300)
    datasets.write("hdf5", root / "small.h5", limit=300)
    datasets.write("folder", root / "folder", limit=300)
    return root


def _spec(tmp_path, text, name="spec.yaml"):
    path = tmp_path / name
    path.write_text(text)
    return str(path)


def _train(spec, data, run_dir, **options):
    from archspec.training import trainer

    opts = trainer.Options(data=str(data), verbose=0, **options)
    return trainer.train(spec, opts, run_dir=run_dir, echo=lambda s: None)


# -- data ---------------------------------------------------------------------------------
def test_every_format_reads_the_same_digits(digits_dir):
    from archspec.training.config import data_config
    from archspec.training.data import as_dataset, load_source

    images, labels, _ = datasets.digits()
    cfg = data_config({})
    by_format = {}
    for name in ("small.npz", "small.csv", "small.h5", "folder"):
        source = load_source(str(digits_dir / name), cfg, (8, 8, 1))
        pairs = [(x.numpy(), int(y)) for x, y in as_dataset(source)]
        assert source.count == 300 and len(pairs) == 300
        assert source.class_names == tuple(str(i) for i in range(10))
        by_format[name] = pairs
    # arrays keep file order; the folder is read class by class: compare as multisets
    for name in ("small.npz", "small.csv", "small.h5"):
        got = np.stack([x for x, _ in by_format[name]]).astype(np.uint8)
        assert np.array_equal(got, images[:300]) and [y for _, y in by_format[name]] == labels[:300].tolist()
    key = lambda p: (p[1], p[0].tobytes())  # noqa: E731
    folder = sorted(((x.astype(np.uint8), y) for x, y in by_format["folder"]), key=key)
    expected = sorted(((images[i], int(labels[i])) for i in range(300)), key=key)
    assert all(np.array_equal(a[0], b[0]) and a[1] == b[1] for a, b in zip(folder, expected))


def test_splits_are_disjoint_reproducible_and_sized(digits_dir):
    from archspec.training.config import data_config
    from archspec.training.data import load_splits

    cfg = data_config({"path": str(digits_dir / "folder"), "validation": 0.1, "test": 0.2})

    def contents(ds):
        return sorted(x.numpy().tobytes() + bytes([int(y)]) for x, y in ds)

    first, again = load_splits(cfg, (8, 8, 1), seed=3), load_splits(cfg, (8, 8, 1), seed=3)
    assert first.counts == {"train": 210, "validation": 30, "test": 60}
    parts = {k: contents(getattr(first, k)) for k in ("train", "validation", "test")}
    assert sum(len(v) for v in parts.values()) == 300
    assert contents(again.test) == parts["test"] and contents(first.test) == parts["test"]  # not reshuffled
    assert load_splits(cfg, (8, 8, 1), seed=4).counts == first.counts
    assert contents(load_splits(cfg, (8, 8, 1), seed=4).test) != parts["test"]


def test_shape_mismatch_and_missing_keys_are_usage_errors(digits_dir, tmp_path):
    from archspec.errors import UsageError
    from archspec.training.config import data_config
    from archspec.training.data import load_source

    with pytest.raises(UsageError, match=r"do not fit the model input \(16, 16, 3\)"):
        load_source(str(digits_dir / "small.npz"), data_config({}), (16, 16, 3))
    np.savez(tmp_path / "bad.npz", pixels=np.zeros((3, 64)), labels=np.zeros(3))
    with pytest.raises(UsageError, match="has no array 'images'"):
        load_source(str(tmp_path / "bad.npz"), data_config({}), (8, 8, 1))
    with pytest.raises(UsageError, match="no column 'target'"):
        load_source(str(digits_dir / "small.csv"), data_config({"label_column": "target"}), (8, 8, 1))


def test_augmentation_maps_the_notes_vocabulary_and_runs_on_training_only(digits_dir):
    import keras

    from archspec.training.augment import augmenter, noise

    spec = {
        "rotation_range": 20,
        "width_shift_range": 0.1,
        "height_shift_range": 0.1,
        "shear_range": 0.2,
        "zoom_range": 0.15,
        "horizontal_flip": True,
        "brightness_range": 0.2,
        "contrast_range": 0.2,
    }
    aug = augmenter(
        spec, seed=1
    )  # what each option means is checked against ImageDataGenerator in test_augment_reference
    images = datasets.digits()[0][:16].astype("float32")
    out = np.asarray(aug(images))
    assert out.shape == images.shape and not np.allclose(out, images)
    assert augmenter({}) is None and noise({}) is None
    noisy = np.asarray(noise({"gaussian_noise": 0.1}, seed=1)(keras.ops.zeros((1000,))))
    assert 0.08 < noisy.std() < 0.12


# -- optimizers and schedules ---------------------------------------------------------------
def test_optimizers_schedules_and_clipping():
    import keras

    from archspec.training.config import optimizer_config
    from archspec.training.optimizers import learning_rate, optimizer, plateau_callback, schedule

    cfg = optimizer_config({"name": "sgd", "lr": 0.01, "momentum": 0.9, "nesterov": True, "clipnorm": 1.0})
    opt = optimizer(cfg, learning_rate(cfg))
    assert isinstance(opt, keras.optimizers.SGD) and opt.nesterov and opt.momentum == 0.9 and opt.clipnorm == 1.0
    assert optimizer(optimizer_config({"name": "adam", "clipvalue": 0.5}), 1e-3).clipvalue == 0.5
    assert learning_rate(optimizer_config("rmsprop")) == 0.001
    step = schedule(0.1, {"name": "step", "every": 2, "factor": 0.1}, steps_per_epoch=10, epochs=6)
    assert [round(float(step(s)), 6) for s in (0, 19, 20, 39, 40)] == [0.1, 0.1, 0.01, 0.01, 0.001]
    cosine = schedule(0.1, {"name": "cosine"}, steps_per_epoch=10, epochs=5)
    assert math.isclose(float(cosine(25)), 0.05, rel_tol=1e-5) and float(cosine(50)) < 1e-7
    expo = schedule(0.1, {"name": "exponential", "decay_rate": 0.5, "decay_epochs": 1}, steps_per_epoch=4, epochs=3)
    assert math.isclose(float(expo(4)), 0.05, rel_tol=1e-6)
    plateau = plateau_callback({"name": "plateau", "patience": 2}, "val_loss")
    assert plateau.factor == 0.1 and plateau.patience == 2 and plateau.monitor == "val_loss"


def test_l2_applies_to_kernels_without_their_own(tmp_path):
    import keras

    from archspec import expand
    from archspec.keras_backend import build_graph
    from archspec.training.trainer import with_l2

    graph = expand(TINY.replace("{dense: 10,", "{dense: 10, l2: 0.1,"))
    model = build_graph(with_l2(graph, 0.001))
    assert isinstance(model.get_layer("c1").kernel_regularizer, keras.regularizers.L2)
    assert math.isclose(model.get_layer("c1").kernel_regularizer.l2, 0.001, rel_tol=1e-6)
    assert math.isclose(model.get_layer("predictions").kernel_regularizer.l2, 0.1, rel_tol=1e-6)


# -- training -----------------------------------------------------------------------------
def test_train_writes_the_run_directory_and_learns(digits_dir, tmp_path):
    spec = _spec(
        tmp_path,
        TINY + "train:\n  data: {validation: 0.2}\n  epochs: 3\n  batch_size: 64\n"
        "  optimizer: {name: sgd, lr: 0.05, momentum: 0.9, nesterov: true}\n"
        "  schedule: {name: step, every: 2, factor: 0.5}\n  metrics: [accuracy, top5]\n  seed: 1\n"
        "  augment: {rotation_range: 5}\n  label_smoothing: 0.05\n  class_weight: balanced\n",
    )
    result = _train(spec, digits_dir / "digits.npz", tmp_path / "run")
    run = tmp_path / "run"
    for name in (
        "spec.yaml",
        "run.json",
        "state.json",
        "best.keras",
        "last.keras",
        "history.json",
        "curves.png",
        "train.log",
    ):
        assert (run / name).exists(), name
    assert (run / "spec.yaml").read_text() == (tmp_path / "spec.yaml").read_text()
    history = json.loads((run / "history.json").read_text())
    assert history["epoch"] == [1, 2, 3] and result.epochs == 3
    assert {"loss", "accuracy", "top5", "val_loss", "val_accuracy", "val_top5", "lr"} <= set(history)
    assert [round(v, 6) for v in history["lr"]] == [0.05, 0.05, 0.025]  # the step schedule, once per 2 epochs
    assert history["val_accuracy"][-1] > 0.6  # real learning from 10% chance, in 3 short epochs
    assert len(list((run / "checkpoints").glob("*.keras"))) == 1  # only the latest checkpoint is kept
    meta = json.loads((run / "run.json").read_text())
    assert meta["counts"] == {"train": 1438, "validation": 359} and meta["class_names"][3] == "3"


def test_multi_output_model_trains_with_loss_weights(digits_dir, tmp_path):
    spec = _spec(
        tmp_path,
        """archspec: 1
name: two_heads
input: [8, 8, 1]
layers:
  - {conv: 8, kernel: 3, padding: same, activation: relu, name: c1}
  - {flatten: null, name: flat}
  - {dense: 10, activation: softmax, name: aux1}
  - {dense: 10, activation: softmax, name: predictions, inputs: flat}
outputs: [predictions, aux1]
train:
  data: {validation: 0.2}
  epochs: 1
  loss_weights: {predictions: 1.0, aux1: 0.3}
""",
    )
    result = _train(spec, digits_dir / "small.npz", tmp_path / "run")
    assert {"predictions_loss", "aux1_loss", "val_predictions_accuracy", "val_aux1_accuracy"} <= set(result.history)
    # the total loss is the weighted sum of the heads' losses (no regularizers here)
    h = result.history
    assert math.isclose(h["val_loss"][0], h["val_predictions_loss"][0] + 0.3 * h["val_aux1_loss"][0], rel_tol=1e-3)


def test_loss_weights_may_use_the_specs_output_names(digits_dir, tmp_path):
    # `aux1` is a block instance: its output layer is aux1_out, and either name works
    spec = _spec(
        tmp_path,
        """archspec: 1
name: block_head
input: [8, 8, 1]
blocks:
  head: {layers: [{dense: 10, activation: softmax, name: out}]}
layers:
  - {conv: 8, kernel: 3, padding: same, activation: relu, name: c1}
  - {flatten: null, name: flat}
  - {head: null, name: aux1}
  - {dense: 10, activation: softmax, name: predictions, inputs: flat}
outputs: [predictions, aux1]
train:
  data: {validation: 0.2}
  epochs: 1
  loss_weights: {predictions: 1.0, aux1: 0.3}
""",
    )
    h = _train(spec, digits_dir / "small.npz", tmp_path / "run").history
    assert math.isclose(h["val_loss"][0], h["val_predictions_loss"][0] + 0.3 * h["val_aux1_out_loss"][0], rel_tol=1e-3)


def test_fine_tune_stages_run_in_order_with_their_trainable_sets(digits_dir, tmp_path):
    from archspec import expand
    from archspec.transfer import plan

    text = (
        TINY
        + """fine_tune:
  - {name: head, freeze: c1, optimizer: rmsprop, epochs: 1}
  - {name: all, unfreeze: all, optimizer: {name: sgd, lr: 0.001, momentum: 0.9}, epochs: 2}
"""
    )
    spec = _spec(tmp_path, text)
    result = _train(spec, digits_dir / "small.npz", tmp_path / "run")
    assert result.history["epoch"] == [1, 2, 3] and result.history["stage"] == [0, 1, 1]
    log = (tmp_path / "run" / "train.log").read_text()
    expected = [s.trainable_params for s in plan(expand(spec))]
    assert f"stage 0 (head): epochs 1..1, optimizer rmsprop, trainable params {expected[0]:,}" in log
    assert f"stage 1 (all): epochs 2..3, optimizer sgd, trainable params {expected[1]:,}" in log
    assert expected[0] < expected[1]


def test_mixed_precision_and_errors(digits_dir, tmp_path):
    import keras

    from archspec.errors import UsageError

    spec = _spec(tmp_path, TINY + "train: {epochs: 1}\n")
    try:
        _train(spec, digits_dir / "small.npz", tmp_path / "run", mixed_precision=True)
        from archspec.training.evaluate import load_model

        model = load_model(tmp_path / "run" / "last.keras")
        assert model.get_layer("c1").dtype_policy.name == "mixed_float16"
        assert model.get_layer("predictions").dtype_policy.name == "float32"
    finally:
        keras.mixed_precision.set_global_policy("float32")
    with pytest.raises(UsageError, match=r"run directory .* exists and is not empty"):
        _train(spec, digits_dir / "small.npz", tmp_path / "run")
    with pytest.raises(UsageError, match="no such data file"):
        _train(spec, tmp_path / "nope.npz", tmp_path / "run2")
    five = _spec(tmp_path, TINY.replace("dense: 10", "dense: 5"), "five.yaml")
    with pytest.raises(UsageError, match=r"label \d+ is 9, but the model has 5 outputs .*--set classes=N"):
        _train(five, digits_dir / "small.npz", tmp_path / "run3")


def test_seed_spec_train_section_is_the_documented_one():
    from archspec.api import validate
    from archspec.training.config import train_config

    doc = validate(str(ROOT / "specs" / "seed_cnn.yaml"))
    assert train_config(doc, doc.data["train"]).data.test == 0.2


def test_feature_file_head_with_early_stopping(tmp_path):
    """The feature layout of `archspec extract` (features/labels/label_names) trains a head; features are not rescaled."""
    import h5py

    images, labels, names = datasets.digits()
    with h5py.File(tmp_path / "features.h5", "w") as fh:
        fh["features"] = images.reshape(len(images), -1)[:600].astype("float32") / 255.0
        fh["labels"] = labels[:600]
        fh["label_names"] = np.array([f"digit{n}" for n in names], dtype="S")
    spec = _spec(
        tmp_path,
        """archspec: 1
name: head
input: [64]
layers: [{dense: 32, activation: relu}, {dense: 10, activation: softmax, name: predictions}]
train:
  data: {validation: 0.2}
  epochs: 6
  optimizer: {name: adam, lr: 0.01}
  early_stopping: {monitor: val_accuracy, patience: 0, min_delta: 1.0}
""",
    )
    result = _train(spec, tmp_path / "features.h5", tmp_path / "run")
    assert result.history["epoch"] == [1, 2]  # no epoch improves accuracy by 1.0: stop after the first that fails
    assert "early stopping after epoch 2" in (tmp_path / "run" / "train.log").read_text()
    meta = json.loads((tmp_path / "run" / "run.json").read_text())
    assert meta["class_names"][:2] == ["digit0", "digit1"] and meta["data"]["normalize"] is None
    assert result.history["val_accuracy"][-1] > 0.5
    from archspec.training.data import normalizer

    assert float(normalizer(None, features=True)(0.5)) == 0.5 and float(normalizer(None, features=False)(51.0)) == 0.2


def test_resume_extends_a_fine_tune_plan_mid_stage(digits_dir, tmp_path):
    """--epochs caps each stage; resuming with a larger cap continues stage 2 with its optimizer state."""
    import keras

    from archspec.training import trainer

    spec = _spec(
        tmp_path,
        TINY
        + """train: {data: {validation: 0.2}, batch_size: 50}
fine_tune:
  - {name: head, freeze: c1, optimizer: rmsprop, epochs: 1}
  - {name: all, unfreeze: all, optimizer: {name: sgd, lr: 0.01, momentum: 0.9}, epochs: 5}
""",
    )
    first = _train(spec, digits_dir / "small.npz", tmp_path / "run", epochs=1)
    assert first.history["stage"] == [0, 1]
    second = trainer.resume(tmp_path / "run", epochs=2, echo=lambda s: None, verbose=0)
    assert second.history["epoch"] == [1, 2, 3] and second.history["stage"] == [0, 1, 1]
    assert "resumed from epoch 2 in stage 1 (all)" in (tmp_path / "run" / "train.log").read_text()
    model = keras.models.load_model(tmp_path / "run" / "last.keras")
    assert int(model.optimizer.iterations.numpy()) == 2 * 5  # stage 2's SGD: 2 epochs of 240/50 -> 5 steps
    assert trainer.resume(tmp_path / "run", echo=lambda s: None).epochs == 3  # finished: nothing to do


class _Crash(Exception):
    pass


@pytest.mark.parametrize(("point", "resumed_from"), [("before_commit", 1), ("after_commit", 2)])
def test_a_crash_around_the_epoch_commit_loses_and_repeats_nothing(
    digits_dir, tmp_path, monkeypatch, point, resumed_from
):
    """Crash in epoch 2 just before state.json commits it (log written, history.json ahead) or just after."""
    from archspec.training import trainer
    from archspec.training.rundir import RunDir

    log, write_json = RunDir.log, RunDir.write_json

    def crashing_log(self, message):
        log(self, message)
        if point == "before_commit" and message.startswith("epoch 2 "):
            raise _Crash

    def crashing_write_json(self, name, data):
        write_json(self, name, data)
        if point == "after_commit" and name == "state.json" and data.get("epoch") == 2:
            raise _Crash

    monkeypatch.setattr(RunDir, "log", crashing_log)
    monkeypatch.setattr(RunDir, "write_json", crashing_write_json)
    spec = _spec(tmp_path, TINY + "train: {epochs: 3, data: {validation: 0.2}}\n")
    with pytest.raises(_Crash):
        _train(spec, digits_dir / "small.npz", tmp_path / "run")
    monkeypatch.undo()
    history = json.loads((tmp_path / "run" / "history.json").read_text())
    assert history["epoch"] == [1, 2]  # written before the commit in both cases
    result = trainer.resume(tmp_path / "run", echo=lambda s: None, verbose=0)
    assert result.history["epoch"] == [1, 2, 3] and all(len(v) == 3 for v in result.history.values())
    assert json.loads((tmp_path / "run" / "history.json").read_text())["epoch"] == [1, 2, 3]
    assert f"resumed from epoch {resumed_from} in stage 0" in (tmp_path / "run" / "train.log").read_text()
