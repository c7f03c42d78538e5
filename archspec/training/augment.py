"""Augmentation: the notes' ImageDataGenerator vocabulary, meaning exactly what it means there.

=====================================  ===============================================
``augment:`` key                        what it does (ImageDataGenerator's meaning)
=====================================  ===============================================
rotation_range (degrees)               rotate by U(-r, r) degrees
width_shift_range / height_shift_range  shift by U(-f, f) x width / height
shear_range (degrees)                  shear by U(-s, s) degrees, along one axis
zoom_range (z or [lo, hi])             zoom x and y independently by U(1 - z, 1 + z)
horizontal_flip / vertical_flip        flip with probability 1/2
brightness_range: [lo, hi]             multiply pixel values by U(lo, hi) (clipped to 0..255)
brightness_range: f (archspec)         Keras RandomBrightness(f): add U(-f, f) x 255
contrast_range (archspec)              Keras RandomContrast
gaussian_noise (after normalize)       Keras GaussianNoise(stddev)
=====================================  ===============================================

Rotation, shift, shear and zoom are one affine transform per image, built as
``keras.src.legacy.preprocessing.image.apply_affine_transform`` builds it (the same matrix,
the same centre, bilinear sampling, ``fill_mode``), and the random parameters are drawn as its
``get_random_transform`` draws them; ``tests/test_augment_reference.py`` compares the two on
the same parameters. The transforms run inside the tf.data pipeline on the training split
only, on raw pixel values (as ImageDataGenerator transforms before it rescales); the noise is
added after normalization.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Mapping, Sequence
from typing import Any

import keras


def augmenter(spec: Mapping[str, Any], seed: int | None = None) -> Callable[[Any], Any] | None:
    """The geometric and photometric augmentation as one function on image batches, or None."""
    import tensorflow as tf

    gen = (
        tf.random.Generator.from_seed(seed) if seed is not None else tf.random.Generator.from_non_deterministic_state()
    )
    steps: list[Callable[[Any], Any]] = []
    if any(spec.get(k) for k in ("rotation_range", "width_shift_range", "height_shift_range", "shear_range")) or (
        spec.get("zoom_range") and _zoom_bounds(spec["zoom_range"]) != (1.0, 1.0)
    ):
        steps.append(lambda x: affine(x, draw_transform(spec, tf.shape(x), gen), spec.get("fill_mode", "nearest")))
    flips = [d for d in ("horizontal", "vertical") if spec.get(f"{d}_flip")]
    layers: list[keras.layers.Layer] = []
    if flips:
        layers.append(keras.layers.RandomFlip("_and_".join(flips), seed=seed))
    brightness = spec.get("brightness_range")
    if isinstance(brightness, list | tuple):
        steps_after = [lambda x: multiply_brightness(x, gen, brightness)]
    else:
        steps_after = []
        if brightness:
            layers.append(keras.layers.RandomBrightness(brightness, value_range=(0, 255), seed=seed))
    if spec.get("contrast_range"):
        layers.append(keras.layers.RandomContrast(spec["contrast_range"], seed=seed))
    if layers:
        model = keras.Sequential(layers, name="augment")
        steps.append(lambda x: model(x, training=True))
    steps += steps_after
    if not steps:
        return None

    def apply(x: Any) -> Any:
        for step in steps:
            x = step(x)
        return x

    return apply


def draw_transform(spec: Mapping[str, Any], shape: Any, gen: Any) -> dict[str, Any]:
    """One random transform per image, drawn as ImageDataGenerator.get_random_transform draws it:
    theta ~ U(-rotation, rotation) degrees, tx ~ U(-h, h) x height, ty ~ U(-w, w) x width,
    shear ~ U(-shear, shear) degrees, zx and zy ~ U(lo, hi) independently."""
    import tensorflow as tf

    n = shape[0]
    height, width = tf.cast(shape[1], tf.float32), tf.cast(shape[2], tf.float32)

    def sym(limit: float) -> Any:
        return gen.uniform((n,), -float(limit), float(limit)) if limit else tf.zeros((n,))

    low, high = _zoom_bounds(spec.get("zoom_range") or 0.0)
    zoom = (lambda: gen.uniform((n,), low, high)) if (low, high) != (1.0, 1.0) else (lambda: tf.ones((n,)))
    return {
        "theta": sym(spec.get("rotation_range", 0)),
        "tx": sym(spec.get("height_shift_range", 0)) * height,
        "ty": sym(spec.get("width_shift_range", 0)) * width,
        "shear": sym(spec.get("shear_range", 0)),
        "zx": zoom(),
        "zy": zoom(),
    }


def affine(images: Any, params: Mapping[str, Any], fill_mode: str = "nearest", cval: float = 0.0) -> Any:
    """Apply ImageDataGenerator's affine transform with ``params`` (per image: theta, tx, ty, shear, zx, zy)
    to a batch (N, H, W, C): the matrix of legacy ``apply_affine_transform``, rotation @ shift @ shear @ zoom
    about the centre. After that function's axis swap its matrix maps output (column, row) to input
    (column, row), which is exactly the transform ImageProjectiveTransformV3 takes."""
    import tensorflow as tf

    theta, shear = params["theta"] * (math.pi / 180), params["shear"] * (math.pi / 180)
    zeros, ones = tf.zeros_like(theta), tf.ones_like(theta)

    def mat(rows: list[list[Any]]) -> Any:
        return tf.stack([tf.stack(r, axis=-1) for r in rows], axis=-2)  # (N, 3, 3)

    rotation = mat(
        [[tf.cos(theta), -tf.sin(theta), zeros], [tf.sin(theta), tf.cos(theta), zeros], [zeros, zeros, ones]]
    )
    shift = mat([[ones, zeros, params["tx"]], [zeros, ones, params["ty"]], [zeros, zeros, ones]])
    shearing = mat([[ones, -tf.sin(shear), zeros], [zeros, tf.cos(shear), zeros], [zeros, zeros, ones]])
    zoom = mat([[params["zx"], zeros, zeros], [zeros, params["zy"], zeros], [zeros, zeros, ones]])
    m = rotation @ shift @ shearing @ zoom
    # transform_matrix_offset_center(m, h, w): the legacy code centres its first axis on h, its second on w
    o_x = tf.cast(tf.shape(images)[1], tf.float32) / 2 - 0.5
    o_y = tf.cast(tf.shape(images)[2], tf.float32) / 2 - 0.5
    m = _translate(o_x, o_y, zeros, ones, mat) @ m @ _translate(-o_x, -o_y, zeros, ones, mat)
    transforms = tf.stack([m[:, 0, 0], m[:, 0, 1], m[:, 0, 2], m[:, 1, 0], m[:, 1, 1], m[:, 1, 2], zeros, zeros], -1)
    return tf.raw_ops.ImageProjectiveTransformV3(
        images=tf.cast(images, tf.float32),
        transforms=tf.cast(transforms, tf.float32),
        output_shape=tf.shape(images)[1:3],
        fill_value=tf.constant(cval, tf.float32),
        interpolation="BILINEAR",
        fill_mode=fill_mode.upper(),
    )


def _translate(dx: Any, dy: Any, zeros: Any, ones: Any, mat: Callable[[list[list[Any]]], Any]) -> Any:
    return mat([[ones, zeros, zeros + dx], [zeros, ones, zeros + dy], [zeros, zeros, ones]])


def multiply_brightness(images: Any, gen: Any, bounds: Sequence[float]) -> Any:
    """ImageDataGenerator's brightness_range: each image times U(lo, hi), clipped to 0..255 (as PIL's
    ImageEnhance.Brightness does on 8-bit images; archspec keeps the fractions PIL would round away)."""
    import tensorflow as tf

    factor = gen.uniform((tf.shape(images)[0], 1, 1, 1), float(bounds[0]), float(bounds[1]))
    return tf.clip_by_value(images * factor, 0.0, 255.0)


def _zoom_bounds(value: Any) -> tuple[float, float]:
    """ImageDataGenerator's zoom_range: z means [1 - z, 1 + z]; [lo, hi] is used as it is."""
    if isinstance(value, list | tuple):
        return float(value[0]), float(value[1])
    return 1.0 - float(value), 1.0 + float(value)


def meaning_notes(spec: Mapping[str, Any]) -> list[str]:
    """Options whose meaning changed to ImageDataGenerator's: said whenever the old meaning would have applied."""
    notes = []
    if spec.get("shear_range"):
        s = float(spec["shear_range"])
        notes.append(
            f"augment.shear_range: {s:g} is a shear angle in degrees along one axis (ImageDataGenerator's "
            f"meaning); archspec 0.1.0 until this change read it as a fraction on both axes (about {math.degrees(math.atan(s)):.3g} "
            "degrees)"
        )
    if spec.get("zoom_range"):
        notes.append(
            "augment.zoom_range zooms width and height independently (ImageDataGenerator's meaning); "
            "archspec 0.1.0 until this change kept the aspect ratio"
        )
    return notes


def noise(spec: Mapping[str, Any], seed: int | None = None) -> Callable[[Any], Any] | None:
    """Gaussian noise on normalized batches (training only), or None."""
    stddev = spec.get("gaussian_noise")
    if not stddev:
        return None
    layer = keras.layers.GaussianNoise(stddev, seed=seed)
    return lambda x: layer(x, training=True)
