"""Augmentation: the notes' ImageDataGenerator vocabulary as Keras preprocessing layers.

================================  ==========================================
``augment:`` key (ImageDataGenerator)  Keras layer
================================  ==========================================
rotation_range (degrees)          RandomRotation(degrees / 360)
width_shift_range / height_shift  RandomTranslation(height, width)
shear_range                       RandomShear(x_factor, y_factor)
zoom_range (z or [lo, hi])        RandomZoom(-z..z; [lo, hi] as ImageDataGenerator)
horizontal_flip / vertical_flip   RandomFlip
brightness_range                  RandomBrightness(value_range=(0, 255))
contrast_range                    RandomContrast
gaussian_noise (after normalize)  GaussianNoise(stddev)
================================  ==========================================

The layers run inside the tf.data pipeline on the training split only, on raw pixel values
(as ImageDataGenerator transforms before it rescales); the noise is added after normalization.
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from typing import Any

import keras


def augmenter(spec: Mapping[str, Any], seed: int | None = None) -> Callable[[Any], Any] | None:
    """The geometric and photometric augmentation as one function on image batches, or None."""
    fill = spec.get("fill_mode", "nearest")
    layers: list[keras.layers.Layer] = []
    if spec.get("rotation_range"):
        layers.append(keras.layers.RandomRotation(spec["rotation_range"] / 360, fill_mode=fill, seed=seed))
    if spec.get("width_shift_range") or spec.get("height_shift_range"):
        h, w = spec.get("height_shift_range", 0.0), spec.get("width_shift_range", 0.0)
        layers.append(keras.layers.RandomTranslation(h, w, fill_mode=fill, seed=seed))
    if spec.get("shear_range"):
        s = spec["shear_range"]
        layers.append(keras.layers.RandomShear(x_factor=s, y_factor=s, fill_mode=fill, seed=seed))
    if spec.get("zoom_range"):
        layers.append(keras.layers.RandomZoom(_zoom(spec["zoom_range"]), fill_mode=fill, seed=seed))
    flips = [d for d in ("horizontal", "vertical") if spec.get(f"{d}_flip")]
    if flips:
        layers.append(keras.layers.RandomFlip("_and_".join(flips), seed=seed))
    if spec.get("brightness_range"):
        layers.append(keras.layers.RandomBrightness(spec["brightness_range"], value_range=(0, 255), seed=seed))
    if spec.get("contrast_range"):
        layers.append(keras.layers.RandomContrast(spec["contrast_range"], seed=seed))
    if not layers:
        return None
    model = keras.Sequential(layers, name="augment")
    return lambda x: model(x, training=True)


def _zoom(value: Any) -> Any:
    """ImageDataGenerator zooms by a factor in [1 - z, 1 + z]; RandomZoom's negative factor zooms in."""
    if isinstance(value, list | tuple):
        low, high = value
        return (low - 1.0, high - 1.0)
    return (-float(value), float(value))


def noise(spec: Mapping[str, Any], seed: int | None = None) -> Callable[[Any], Any] | None:
    """Gaussian noise on normalized batches (training only), or None."""
    stddev = spec.get("gaussian_noise")
    if not stddev:
        return None
    layer = keras.layers.GaussianNoise(stddev, seed=seed)
    return lambda x: layer(x, training=True)
