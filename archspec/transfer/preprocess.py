"""The input preprocessing a base expects, as a function on a batch of images.

archspec applies it in the input pipeline (``archspec extract``, and the trainer through
:attr:`archspec.transfer.Plan.preprocess`), not inside the model, so a saved ``.keras``
model stays free of Lambda layers and loads with ``safe_mode=True``. ``base.preprocess:
auto`` (the default) picks the application's own ``keras.applications.MODULE.preprocess_input``;
``none``, ``caffe``, ``tf`` or ``torch`` (Keras' imagenet_utils modes) or another
application's name override it. Images are RGB arrays of 0..255 floats.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any

from .bases import PREPROCESS_MODES

MODES = ("caffe", "tf", "torch")


def preprocess_function(name: str) -> Callable[[Any], Any]:
    """The function for a resolved ``preprocess`` value (see :class:`archspec.transfer.BaseInfo`),
    on NumPy batches, which it leaves as they are (Keras' caffe mode works in place)."""
    if name == "none":
        return _identity
    if name not in MODES and name.removeprefix("keras.applications.") not in PREPROCESS_MODES:
        raise ValueError(f"unknown preprocessing {name!r}")  # only the modules archspec knows are ever imported
    from ..training.data import preprocess_input

    fn = preprocess_input(name)
    return lambda x: fn(x.copy())


def _identity(x: Any) -> Any:
    return x
