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

from ..errors import UsageError, did_you_mean
from .bases import PREPROCESS_MODES

MODES = ("caffe", "tf", "torch")


def preprocess_function(name: str) -> Callable[[Any], Any]:
    """The function for a resolved ``preprocess`` value (see :class:`archspec.transfer.BaseInfo`),
    on NumPy batches, which it leaves as they are (Keras' caffe mode works in place)."""
    if name == "none":
        return _identity
    if name not in MODES and name.removeprefix("keras.applications.") not in PREPROCESS_MODES:
        raise ValueError(f"unknown preprocessing {name!r}")  # only the modules archspec knows are ever imported
    fn = preprocess_input(name)
    return lambda x: fn(x.copy())


def preprocess_input(name: str) -> Callable[[Any], Any]:
    """An application's preprocessing on float batches of 0..255 RGB: ``keras.applications.<module>``
    (resnet50, vgg16, mobilenet_v2, ...) or an imagenet_utils mode (caffe, tf, torch)."""
    import keras
    from keras.applications import imagenet_utils

    if name == "none":
        return lambda x: x
    if name in ("caffe", "tf", "torch"):
        return lambda x: imagenet_utils.preprocess_input(x, mode=name)
    module = name.removeprefix("keras.applications.")
    apps = keras.applications
    known = sorted(n for n in dir(apps) if not n.startswith("_") and hasattr(getattr(apps, n), "preprocess_input"))
    if module not in known:
        raise UsageError(
            f"unknown preprocess_input {name!r}: expected caffe, tf, torch or a keras.applications module "
            f"({', '.join(known)}).{did_you_mean(module, known)}"
        )
    return getattr(apps, module).preprocess_input  # type: ignore[no-any-return]


def _identity(x: Any) -> Any:
    return x
