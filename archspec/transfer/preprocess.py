"""The input preprocessing a base expects, as a function on a batch of images.

archspec applies it in the input pipeline (``archspec extract``, and the trainer through
:attr:`archspec.transfer.Plan.preprocess`), not inside the model, so a saved ``.keras``
model stays free of Lambda layers and loads with ``safe_mode=True``. ``base.preprocess:
auto`` (the default) picks the application's own ``keras.applications.MODULE.preprocess_input``;
``none``, ``caffe``, ``tf`` or ``torch`` (Keras' imagenet_utils modes) or another
application's name override it. Images are RGB arrays of 0..255 floats.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import Any

from .bases import PREPROCESS_MODES

MODES = ("caffe", "tf", "torch")


def preprocess_function(name: str) -> Callable[[Any], Any]:
    """The function for a resolved ``preprocess`` value (see :class:`archspec.transfer.BaseInfo`)."""
    if name == "none":
        return _identity
    if name in MODES:
        from keras.applications import imagenet_utils

        def apply(x: Any) -> Any:
            return imagenet_utils.preprocess_input(x.copy(), mode=name)

        return apply
    module = name.removeprefix("keras.applications.")
    if module not in PREPROCESS_MODES:  # only the modules archspec knows are ever imported
        raise ValueError(f"unknown preprocessing {name!r}")
    fn = importlib.import_module(f"keras.applications.{module}").preprocess_input
    return lambda x: fn(x.copy())


def _identity(x: Any) -> Any:
    return x
