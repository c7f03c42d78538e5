"""archspec's augmentation against the reference it is named after: Keras' legacy
ImageDataGenerator (``keras.src.legacy.preprocessing.image``, still shipped with Keras 3).

The same transform parameters must give the same image (a vertical bar sheared, zoomed,
rotated, shifted), and the random parameters must be drawn from the same ranges.
"""

from __future__ import annotations

import numpy as np
import pytest

pytestmark = pytest.mark.slow  # TensorFlow and Keras

legacy = pytest.importorskip("keras.src.legacy.preprocessing.image")


def _bar(size: int = 32) -> np.ndarray:
    """A vertical white bar on black, with a short horizontal arm (so axes cannot be confused)."""
    image = np.zeros((size, size, 1), dtype=np.float32)
    image[4:28, 14:18] = 255.0
    image[6:9, 18:26] = 255.0
    return image


PARAMS = [
    {"shear": 20.0},
    {"shear": -35.0},
    {"zx": 0.7, "zy": 1.2},
    {"theta": 25.0},
    {"tx": 3.0, "ty": -5.0},
    {"theta": -10.0, "tx": 2.0, "ty": 1.0, "shear": 15.0, "zx": 1.1, "zy": 0.9},
]


@pytest.mark.parametrize("params", PARAMS, ids=[",".join(p) for p in PARAMS])
@pytest.mark.parametrize("fill_mode", ["nearest", "constant"])
def test_the_same_parameters_give_imagedatagenerators_image(params, fill_mode):
    import tensorflow as tf

    from archspec.training.augment import affine

    image = _bar()
    full = {"theta": 0.0, "tx": 0.0, "ty": 0.0, "shear": 0.0, "zx": 1.0, "zy": 1.0, **params}
    reference = legacy.ImageDataGenerator(fill_mode=fill_mode).apply_transform(image.copy(), full)
    ours = affine(image[None], {k: tf.constant([v], tf.float32) for k, v in full.items()}, fill_mode)[0].numpy()
    assert not np.allclose(reference, image)  # the transform does something
    # bilinear sampling on both sides; float32 vs float64 coordinates move a few edge pixels slightly
    assert np.abs(ours - reference).mean() < 1.0
    assert np.percentile(np.abs(ours - reference), 99) < 30


def test_shear_range_is_degrees_on_one_axis_as_in_the_reference():
    """Issue 14 item 4: shear_range 0.3 was about 57x too strong (a fraction on both axes). Averaged over
    200 random draws, the sheared bar's row and column profiles match the reference's."""
    from archspec.training.augment import augmenter

    images = np.repeat(_bar()[None], 200, axis=0)
    gen = legacy.ImageDataGenerator(shear_range=30.0)
    np.random.seed(3)
    reference = np.stack([gen.random_transform(x.copy()) for x in images])
    ours = np.asarray(augmenter({"shear_range": 30.0}, seed=3)(images))
    for axis in ((2, 3), (1, 3)):  # row profile, column profile
        want, got = reference.sum(axis=axis).mean(0), ours.sum(axis=axis).mean(0)
        assert np.abs(got - want).sum() / want.sum() < 0.08
        assert np.abs(images.sum(axis=axis).mean(0) - want).sum() / want.sum() > 0.05  # the shear shows


def test_zoom_range_zooms_width_and_height_independently():
    import tensorflow as tf

    from archspec.training.augment import draw_transform

    params = draw_transform({"zoom_range": 0.2}, tf.constant([500, 8, 8, 1]), tf.random.Generator.from_seed(0))
    zx, zy = params["zx"].numpy(), params["zy"].numpy()
    assert zx.min() >= 0.8 and zx.max() <= 1.2 and abs(np.corrcoef(zx, zy)[0, 1]) < 0.2
    gen = legacy.ImageDataGenerator(zoom_range=0.2)
    draws = np.array([[(t := gen.get_random_transform((8, 8, 1)))["zx"], t["zy"]] for _ in range(500)])
    assert abs(np.corrcoef(draws.T)[0, 1]) < 0.2  # the reference draws them independently too
    assert zx.std() == pytest.approx(draws[:, 0].std(), rel=0.2)


def test_brightness_range_lo_hi_is_multiplicative():
    import tensorflow as tf

    from archspec.training.augment import augmenter, multiply_brightness

    image = np.linspace(0, 200, 64, dtype=np.float32).reshape(1, 8, 8, 1)
    for factor in (0.5, 1.3):
        ours = multiply_brightness(image, tf.random.Generator.from_seed(0), (factor, factor)).numpy()
        reference = legacy.apply_brightness_shift(image[0].copy(), factor, False)
        assert np.abs(ours[0] - reference).max() < 3  # PIL truncates to 8 bits and works in integers
    out = np.asarray(augmenter({"brightness_range": [0.5, 1.5]}, seed=1)(np.repeat(image, 100, axis=0)))
    ratios = out[:, 0, 7, 0] / image[0, 0, 7, 0]
    assert 0.5 <= ratios.min() < 0.6 and 1.4 < ratios.max() <= 1.5


def test_a_run_says_when_an_option_changed_meaning(tmp_path):
    from click.testing import CliRunner

    from archspec.cli import main

    spec = tmp_path / "s.yaml"
    spec.write_text(
        "archspec: 1\nname: s\ninput: [8, 8, 1]\nclasses: 2\nlayers: [flatten, {dense: 2, activation: softmax}]\n"
        "train: {epochs: 1, batch_size: 4, augment: {shear_range: 0.3}}\n"
    )
    data = tmp_path / "d.npz"
    np.savez(data, images=np.zeros((4, 8, 8, 1)), labels=np.array([0, 1, 0, 1]))
    result = CliRunner().invoke(main, ["train", str(spec), "--data", str(data), "--run-dir", str(tmp_path / "r"), "-q"])
    assert result.exit_code == 0, result.output
    assert "note: augment.shear_range: 0.3 is a shear angle in degrees" in result.output
    assert "augment.shear_range: 0.3 is a shear angle" in (tmp_path / "r" / "train.log").read_text()


def test_featurewise_normalization_is_fitted_on_the_training_split_as_the_reference_fits(tmp_path):
    import json

    import tensorflow as tf
    from click.testing import CliRunner

    from archspec.cli import main
    from archspec.training.data import normalizer

    rng = np.random.default_rng(0)
    images = rng.integers(0, 256, (12, 8, 8, 3)).astype(np.uint8)
    data = tmp_path / "d.npz"
    np.savez(data, images=images, labels=np.arange(12) % 2)
    spec = tmp_path / "s.yaml"
    spec.write_text(
        "archspec: 1\nname: s\ninput: [8, 8, 3]\nclasses: 2\nlayers: [flatten, {dense: 2, activation: softmax}]\n"
        "train:\n  epochs: 1\n  batch_size: 4\n  data:\n    normalize: {rescale: 0.00392156862745098, "
        "featurewise_center: true, featurewise_std_normalization: true}\n"
    )
    run = tmp_path / "run"
    result = CliRunner().invoke(main, ["train", str(spec), "--data", str(data), "--run-dir", str(run), "-q"])
    assert result.exit_code == 0, result.output
    stored = json.loads((run / "run.json").read_text())["data"]["normalize"]
    reference = legacy.ImageDataGenerator(rescale=1 / 255, featurewise_center=True, featurewise_std_normalization=True)
    reference.fit(images.astype(np.float32))  # no validation split: the training split is every image
    np.testing.assert_allclose(stored["mean"], reference.mean.reshape(-1), rtol=1e-5)
    np.testing.assert_allclose(stored["std"], reference.std.reshape(-1), rtol=1e-5)
    ours = np.asarray(normalizer(stored, False)(tf.constant(images[:2], tf.float32)))
    want = np.stack([reference.standardize(x.astype(np.float32)) for x in images[:2]])
    np.testing.assert_allclose(ours, want, rtol=1e-4, atol=1e-5)


def test_a_normalize_layer_is_adapted_on_the_training_split(tmp_path):
    from click.testing import CliRunner

    from archspec.cli import main
    from archspec.training.evaluate import load_model

    images = np.random.default_rng(1).integers(0, 256, (12, 8, 8, 1)).astype(np.uint8)
    data = tmp_path / "d.npz"
    np.savez(data, images=images, labels=np.arange(12) % 2)
    spec = tmp_path / "s.yaml"
    spec.write_text(
        "archspec: 1\nname: s\ninput: [8, 8, 1]\nclasses: 2\n"
        "layers: [{normalize: null, name: norm}, flatten, {dense: 2, activation: softmax}]\n"
        "train: {epochs: 1, batch_size: 4}\n"
    )
    run = tmp_path / "run"
    result = CliRunner().invoke(main, ["train", str(spec), "--data", str(data), "--run-dir", str(run), "-q"])
    assert result.exit_code == 0, result.output
    assert "note: adapted the normalize layer 'norm' on the training split" in result.output
    layer = load_model(run / "last.keras").get_layer("norm")
    pixels = images.astype(np.float64) / 255  # the default normalize: rescale, before the layer
    np.testing.assert_allclose(np.asarray(layer.mean).reshape(-1), [pixels.mean()], rtol=1e-4)
    np.testing.assert_allclose(np.asarray(layer.variance).reshape(-1), [pixels.var()], rtol=1e-3)


def test_random_crop_cuts_random_windows_for_training_and_the_centre_otherwise():
    """The notes' tf.image.random_crop: a window of the input's size, anywhere in the larger image."""
    import tensorflow as tf

    from archspec.training.data import pipeline

    image = np.arange(144, dtype=np.float32).reshape(12, 12, 1)  # every pixel tells where it came from
    ds = tf.data.Dataset.from_tensor_slices((np.repeat(image[None], 64, 0), np.zeros(64, np.int64)))
    common = {"batch_size": 64, "classes": 2, "input_shape": (8, 8, 1), "normalize": lambda x: x, "crop_from": (12, 12)}
    train = pipeline(ds, training=True, seed=0, **common)
    offsets = set()
    for _ in range(2):  # a new place every epoch
        (x, _), *_ = list(train)
        for window in np.asarray(x)[..., 0]:
            top, left = divmod(int(window[0, 0]), 12)
            np.testing.assert_array_equal(window, image[top : top + 8, left : left + 8, 0])
            offsets.add((top, left))
    assert len(offsets) > 10 and all(0 <= t <= 4 and 0 <= left <= 4 for t, left in offsets)
    (x, _), *_ = list(pipeline(ds, **common))
    np.testing.assert_array_equal(np.asarray(x)[0, ..., 0], image[2:10, 2:10, 0])


def test_random_crop_needs_a_larger_image_size():
    from archspec.errors import SpecError
    from archspec.training.config import train_config

    with pytest.raises(SpecError, match="random_crop crops the model's input from images read larger"):
        train_config(None, {"augment": {"random_crop": True}})
    assert train_config(None, {"augment": {"random_crop": True}, "data": {"image_size": [12, 12]}}).data.center_crop


def test_a_run_with_random_crop_trains_evaluates_and_predicts(tmp_path):
    from click.testing import CliRunner
    from PIL import Image

    from archspec.cli import main

    images = np.random.default_rng(2).integers(0, 256, (16, 12, 12, 1)).astype(np.uint8)
    data = tmp_path / "d.npz"
    np.savez(data, images=images, labels=np.arange(16) % 2)
    spec = tmp_path / "s.yaml"
    spec.write_text(
        "archspec: 1\nname: s\ninput: [8, 8, 1]\nclasses: 2\nlayers: [flatten, {dense: 2, activation: softmax}]\n"
        "train: {epochs: 1, batch_size: 4, augment: {random_crop: true}, data: {image_size: [12, 12], test: 0.25}}\n"
    )
    run = tmp_path / "run"
    runner = CliRunner()
    result = runner.invoke(main, ["train", str(spec), "--data", str(data), "--run-dir", str(run), "-q"])
    assert result.exit_code == 0, result.output
    assert runner.invoke(main, ["evaluate", str(run)]).exit_code == 0
    Image.fromarray(images[0, ..., 0]).save(tmp_path / "x.png")
    result = runner.invoke(main, ["predict", str(run), str(tmp_path / "x.png")])
    assert result.exit_code == 0, result.output


def test_preprocess_input_cannot_be_combined_with_rescale_or_featurewise_statistics():
    from archspec.errors import SpecError
    from archspec.training.config import train_config

    for extra in ({"rescale": 0.5}, {"featurewise_center": True}):
        normalize = {"preprocess_input": "resnet50", **extra}
        with pytest.raises(SpecError, match=f"preprocess_input does all the input scaling itself; {next(iter(extra))}"):
            train_config(None, {"data": {"normalize": normalize}})
    assert train_config(None, {"data": {"normalize": {"preprocess_input": "resnet50"}}}).data.normalize
