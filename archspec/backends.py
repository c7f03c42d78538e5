"""Choosing Keras' backend (TensorFlow or JAX) before Keras starts.

Keras reads ``KERAS_BACKEND`` once, when it is first imported, so ``--backend`` must be
applied before anything imports Keras; this module imports neither Keras nor a backend.
Every model archspec builds is written with ``keras.ops`` (no ``tf.*`` in any layer), so
the same spec builds under both backends with the same layer names, shapes and parameter
counts, and a weights file saved under one loads under the other.
"""

from __future__ import annotations

import importlib.util
import os
import sys
from collections.abc import Callable
from typing import Any

import click

from .errors import UsageError

BACKENDS = ("tensorflow", "jax")
#: The pip extra that installs each backend that is not a core dependency.
_EXTRAS = {"jax": "archspec[jax]"}


def select_backend(name: str | None) -> str:
    """Make ``name`` Keras' backend for this process (``None``: keep ``KERAS_BACKEND`` or Keras'
    default) and return the backend that will be used. Refused, with the reason, when the
    backend is not installed or Keras already started with another one.

    >>> select_backend(None) in BACKENDS
    True
    """
    current = os.environ.get("KERAS_BACKEND") or "tensorflow"
    if name is None:
        return current
    if name not in BACKENDS:
        raise UsageError(f"unknown backend {name!r}; expected one of {', '.join(BACKENDS)}")
    if importlib.util.find_spec(name) is None:
        extra = _EXTRAS.get(name, name)
        raise UsageError(f"--backend {name} needs {name}, which is not installed: pip install '{extra}'")
    started = _started_backend()
    if started is not None and started != name:
        raise UsageError(
            f"--backend {name}: Keras already started in this process with the {started} backend; "
            "the backend must be chosen before Keras is imported (start a new process)"
        )
    os.environ["KERAS_BACKEND"] = name
    return name


def _started_backend() -> str | None:
    """The backend of an already imported Keras, or None."""
    keras = sys.modules.get("keras")
    if keras is None:
        return None
    return str(keras.backend.backend())


def backend_option(command: Callable[..., Any]) -> Callable[..., Any]:
    """``--backend tensorflow|jax`` for a command that builds models (applied before Keras starts)."""
    return click.option(
        "--backend",
        type=click.Choice(BACKENDS),
        default=None,
        help="Keras backend (default: KERAS_BACKEND, else tensorflow); jax needs the archspec[jax] extra.",
    )(command)
