"""Dense (per-pixel) outputs: the synthetic shapes set, mask checks, IoU against a hand-computed
confusion matrix and keras.metrics.MeanIoU, and specs/unet_tiny.yaml trained from one command."""

from __future__ import annotations

import json

import numpy as np
import pytest
from click.testing import CliRunner
from conftest import ROOT

from archspec.errors import UsageError
from archspec.training import datasets, dense
from archspec.training.labels import check_masks

UNET = ROOT / "specs" / "unet_tiny.yaml"


# -- the data set ----------------------------------------------------------------------------
def test_shapes_set_is_deterministic_and_its_masks_match_its_pixels():
    images, masks, names = datasets.shapes(50, seed=3)
    again, masks_again, _ = datasets.shapes(50, seed=3)
    other, _, _ = datasets.shapes(50, seed=4)
    assert names == ["background", "rectangle", "disc"]
    assert images.shape == (50, 32, 32, 1) and images.dtype == np.uint8
    assert masks.shape == (50, 32, 32) and set(np.unique(masks)) == {0, 1, 2}
    assert (images == again).all() and (masks == masks_again).all() and not (images == other).all()
    # shapes are painted brighter than the background: the masks mark the bright pixels
    assert images[..., 0][masks > 0].mean() > images[..., 0][masks == 0].mean() + 80


@pytest.mark.parametrize("fmt", ["npz", "hdf5"])
def test_shapes_files_load_as_images_and_masks(tmp_path, fmt):
    from archspec.training.config import data_config
    from archspec.training.data import load_source

    path = datasets.write(fmt, tmp_path / f"s.{'h5' if fmt == 'hdf5' else fmt}", limit=20, dataset="shapes")
    source = load_source(str(path), data_config({}), (32, 32, 1), classes=3, label_shape=(32, 32))
    images, masks, names = datasets.shapes(20)
    assert source.class_names == tuple(names)
    assert (source.images == images).all() and (source.labels == masks).all() and source.labels.dtype == np.int32


def test_the_dataset_command_writes_shapes_and_refuses_a_folder(tmp_path, capsys):
    assert datasets.main(["npz", str(tmp_path / "s.npz"), "--dataset", "shapes", "--limit", "8"]) == 0
    assert "8 shapes images" in capsys.readouterr().out
    with pytest.raises(SystemExit):
        datasets.main(["folder", str(tmp_path / "f"), "--dataset", "shapes"])
    assert "per-pixel masks" in capsys.readouterr().err


# -- mask checks -----------------------------------------------------------------------------
def test_masks_of_the_wrong_size_say_expected_and_received():
    with pytest.raises(UsageError, match=r"d.npz: masks of 16x16 per example do not fit the model's output of "
                       r"32x32 x 3 classes; expected masks of shape \(N, 32, 32\)"):  # fmt: skip
        check_masks(np.zeros((4, 16, 16), np.uint8), "d.npz", 3, (32, 32))
    with pytest.raises(UsageError, match=r"one label per example \(shape \(4,\)\); give masks of shape \(N, 32, 32\)"):
        check_masks(np.zeros(4, np.int64), "d.npz", 3, (32, 32))
    assert check_masks(np.zeros((4, 32, 32, 1)), "d.npz", 3, (32, 32)).shape == (4, 32, 32)  # a channel of 1


def test_out_of_range_and_fractional_class_ids_are_refused_at_their_pixel():
    masks = np.zeros((3, 8, 8), np.int64)
    masks[2, 5, 7] = 3
    with pytest.raises(UsageError, match=r"d.npz: mask 2 at row 5, column 7 is 3, but the model has 3 outputs"):
        check_masks(masks, "d.npz", 3, (8, 8))
    masks[2, 5, 7] = -1
    with pytest.raises(UsageError, match=r"mask 2 at row 5, column 7 is -1; class ids start at 0"):
        check_masks(masks, "d.npz", 3, (8, 8))
    masks = masks.astype(float)
    masks[1, 0, 2] = 0.5
    with pytest.raises(UsageError, match=r"whole class ids 0, 1, ...; mask 1 at row 0, column 2 is 0.5"):
        check_masks(masks, "d.npz", 3, (8, 8))
    with pytest.raises(UsageError, match=r"the data names 2 classes"):
        check_masks(np.full((1, 8, 8), 2), "d.npz", 3, (8, 8), names=2)


def test_a_folder_or_csv_cannot_feed_a_per_pixel_model(tmp_path):
    from archspec.training.config import data_config
    from archspec.training.data import load_source

    (tmp_path / "d.csv").write_text("label,p1\n0,1\n")
    with pytest.raises(UsageError, match=r"d.csv: the model outputs one class per position \(32x32\), and a csv"):
        load_source(str(tmp_path / "d.csv"), data_config({}), (32, 32, 1), classes=3, label_shape=(32, 32))


# -- IoU ---------------------------------------------------------------------------------------
TRUTH = np.array([[0, 0, 1, 1], [2, 2, 2, 0]])
PRED = np.array([[0, 1, 1, 1], [2, 0, 2, 2]])
# rows true, columns predicted, counted by hand from the 8 pixels above
HAND = np.array([[1, 1, 1], [0, 2, 0], [1, 0, 2]])


def test_confusion_and_iou_against_a_hand_computed_matrix():
    matrix = dense.confusion(TRUTH, PRED, 3)
    assert (matrix == HAND).all()
    per_class, mean = dense.iou(matrix)
    # IoU_c = TP / (row + column - TP): 1/(3+2-1), 2/(2+3-2), 2/(3+3-2)
    assert per_class == pytest.approx([1 / 4, 2 / 3, 2 / 4])
    assert mean == pytest.approx((1 / 4 + 2 / 3 + 2 / 4) / 3)
    # a class in neither truth nor prediction is left out of the mean, as Keras leaves it out
    per_class, mean4 = dense.iou(dense.confusion(TRUTH, PRED, 4))
    assert per_class[3] is None and mean4 == pytest.approx(mean)


@pytest.mark.slow
def test_iou_is_keras_mean_iou(keras):
    """The same numbers as keras.metrics.MeanIoU on probabilities (sparse_y_pred=False), including a
    class that is never predicted (IoU 0, in the mean) and one that never occurs (left out)."""
    rng = np.random.default_rng(0)
    truth = rng.integers(0, 3, (5, 6, 6))
    probs = rng.random((5, 6, 6, 4)).astype(np.float32)
    probs[..., 2] = 0  # class 2 is in the truth but never predicted
    metric = keras.metrics.MeanIoU(num_classes=4, sparse_y_true=True, sparse_y_pred=False)
    metric.update_state(truth, probs)
    per_class, mean = dense.iou(dense.confusion(truth, probs.argmax(-1), 4))
    assert per_class[2] == 0.0
    assert mean == pytest.approx(float(metric.result()), abs=1e-6)


# -- training ----------------------------------------------------------------------------------
@pytest.fixture(scope="module")
def unet_run(tmp_path_factory):
    """specs/unet_tiny.yaml trained by one `archspec train` command on 600 synthetic images."""
    from archspec.cli import main

    root = tmp_path_factory.mktemp("unet")
    data = datasets.write("npz", root / "shapes.npz", limit=600, dataset="shapes")
    run = root / "run"
    args = ["train", str(UNET), "--data", str(data), "--run-dir", str(run), "--epochs", "8", "--batch-size", "16", "-q"]
    result = CliRunner().invoke(main, args)
    assert result.exit_code == 0, result.output + repr(result.exception)
    return {"run": run, "data": data, "output": result.output}


def _baseline(masks: np.ndarray) -> tuple[float, float]:
    """Pixel accuracy and mean IoU of predicting background everywhere."""
    return dense.iou(dense.confusion(masks, np.zeros_like(masks), 3))[1], float(np.mean(masks == 0))


@pytest.mark.slow
def test_unet_trains_well_above_the_all_background_baseline(unet_run):
    test = json.loads((unet_run["run"] / "test.json").read_text())
    _, masks, _ = datasets.shapes(600)
    base_iou, base_accuracy = _baseline(masks)
    assert "sparse categorical cross-entropy" in unet_run["output"] and "test IoU per class:" in unet_run["output"]
    assert test["count"] == 120 and test["positions"] == 120 * 32 * 32
    assert test["metrics"]["accuracy"] > base_accuracy + 0.08, (test["metrics"], base_accuracy)
    assert test["metrics"]["mean_iou"] > base_iou + 0.2, (test["metrics"], base_iou)
    assert set(test["per_class_iou"]) == {"background", "rectangle", "disc"}


@pytest.mark.slow
def test_evaluate_prints_pixel_accuracy_and_iou_equal_to_keras(unet_run, keras):
    from archspec.cli import main
    from archspec.training.evaluate import load_model

    result = CliRunner().invoke(main, ["evaluate", str(unet_run["run"]), "--data", str(unet_run["data"])])
    assert result.exit_code == 0, result.output
    assert "(600 examples, 614,400 positions of 32x32)" in result.output
    assert "mean_iou:" in result.output and "mean IoU" in result.output and "disc" in result.output
    line = next(s for s in result.output.splitlines() if s.startswith("loss:"))
    printed = dict(zip(line.split()[::2], map(float, line.split()[1::2])))
    # Keras' own metrics over the same images and masks, scaled as the run scaled them
    images, masks, _ = datasets.shapes(600)
    model = load_model(unet_run["run"] / "best.keras")
    model.compile(
        loss="sparse_categorical_crossentropy",
        metrics=[keras.metrics.MeanIoU(3, sparse_y_pred=False), keras.metrics.SparseCategoricalAccuracy()],
    )
    loss, miou, accuracy = model.evaluate(images / 255.0, masks, verbose=0, batch_size=600)
    assert printed["accuracy:"] == pytest.approx(accuracy, abs=1e-4)
    assert printed["mean_iou:"] == pytest.approx(miou, abs=1e-4)
    assert printed["loss:"] == pytest.approx(loss, abs=1e-3)


@pytest.mark.slow
def test_per_pixel_runs_refuse_what_cannot_apply(unet_run, tmp_path):
    from archspec.cli import main

    spec = tmp_path / "u.yaml"
    spec.write_text(UNET.read_text().replace("seed: 42", "seed: 42\n  augment: {rotation_range: 10}"))
    runner = CliRunner()
    result = runner.invoke(
        main, ["train", str(spec), "--data", str(unet_run["data"]), "--run-dir", str(tmp_path / "r")]
    )
    assert result.exit_code == 2 and "rotation_range would move the image but not its mask" in result.output
    digits = datasets.write("npz", tmp_path / "digits.npz", limit=50)
    result = runner.invoke(main, ["train", str(UNET), "--data", str(digits), "--run-dir", str(tmp_path / "r2")])
    assert result.exit_code == 2 and "one label per example" in result.output, result.output
    result = runner.invoke(main, ["predict", str(unet_run["run"]), str(tmp_path / "x.png")])
    assert result.exit_code == 2 and "outputs a class per position (32x32), not per image" in result.output


def test_train_options_that_cannot_apply_to_masks_are_refused_together():
    from archspec.training.config import TrainConfig

    cfg = TrainConfig(augment={"horizontal_flip": True, "gaussian_noise": 0.1}, label_smoothing=0.1, metrics=("auc",))
    with pytest.raises(UsageError) as info:
        dense.check_config(cfg, ["predictions"])
    message = str(info.value)
    assert "train.augment: horizontal_flip would move the image but not its mask" in message
    assert "label_smoothing" in message and "train.metrics: auc (per-position metrics: accuracy, mean_iou" in message
    dense.check_config(TrainConfig(augment={"gaussian_noise": 0.1}, metrics=("accuracy", "mean_iou")), ["p"])


@pytest.mark.slow
def test_mean_iou_on_a_classifier_is_refused(keras):
    from archspec.training.config import TrainConfig
    from archspec.training.trainer import _loss_and_metrics

    inputs = keras.Input((4,))
    model = keras.Model(inputs, keras.layers.Dense(3, activation="softmax")(inputs))
    with pytest.raises(UsageError, match=r"mean_iou is a per-position \(segmentation\) metric"):
        _loss_and_metrics(TrainConfig(metrics=("accuracy", "mean_iou")), model, 3)
    inputs = keras.Input((4, 4, 1))
    model = keras.Model(inputs, keras.layers.Conv2D(3, 1, activation="softmax")(inputs))
    loss, metrics = _loss_and_metrics(TrainConfig(), model, 3)
    assert isinstance(loss, keras.losses.SparseCategoricalCrossentropy)
    assert [m.name for m in metrics] == ["accuracy", "mean_iou"]
