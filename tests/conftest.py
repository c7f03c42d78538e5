"""Shared fixtures and helpers. Keras is imported only by tests that need it (they are marked slow)."""

from __future__ import annotations

import functools
import importlib.util
import json
import math
import os
import subprocess
import sys
from pathlib import Path
from types import ModuleType
from typing import Any

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"

#: The environment of the archspec subprocesses started by tests (TensorFlow's logging quiet).
SUBPROCESS_ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "2"}


def spec_files() -> list[Path]:
    """Every spec shipped in specs/ (a new spec is covered without editing tests)."""
    return sorted(p for p in SPECS.rglob("*.yaml"))


@pytest.fixture(scope="session")
def keras():
    import keras as _keras

    return _keras


# -- Keras weight counts ---------------------------------------------------------------------------


def n_weights(weights) -> int:
    """The number of scalars in a list of Keras weights."""
    return sum(math.prod(w.shape) for w in weights)


def weight_counts(model_or_layer) -> tuple[int, int]:
    """(trainable, non-trainable) parameters of a Keras model or layer, from its weights."""
    x = model_or_layer
    return n_weights(x.trainable_weights), n_weights(x.non_trainable_weights)


# -- scripts outside the package (bench/, tools/) --------------------------------------------------


@functools.cache
def load_script(relpath: str, name: str | None = None) -> ModuleType:
    """Import the script at ROOT/relpath as a module (once per session), named `name` or its stem.

    The module is registered in sys.modules before it runs: dataclasses look their module up."""
    path = ROOT / relpath
    name = name or path.stem
    spec = importlib.util.spec_from_file_location(name, path)
    module = importlib.util.module_from_spec(spec)
    sys.modules[name] = module
    spec.loader.exec_module(module)
    return module


# -- training runs -------------------------------------------------------------------------------


def run_state(run: Path) -> dict[str, Any]:
    """A run directory's state.json as written, or {} while it is absent or half-written."""
    try:
        return json.loads((run / "state.json").read_text())
    except (FileNotFoundError, json.JSONDecodeError):
        return {}


# -- image folders ---------------------------------------------------------------------------------


def digit_folders(root: Path, per_class: int, size: int) -> None:
    """root/digit0 ... root/digit9, each with `per_class` of sklearn's 8x8 digits as size x size RGB PNGs."""
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    for c in range(10):
        folder = root / f"digit{c}"
        folder.mkdir(parents=True)
        for k, i in enumerate(np.where(digits.target == c)[0][:per_class]):
            img = Image.fromarray((digits.images[i] * 255 / 16).astype(np.uint8)).resize((size, size), Image.NEAREST)
            img.convert("RGB").save(folder / f"{k:03d}.png")


# -- the static commands stay free of TensorFlow -------------------------------------------------


def run_cli_without_framework(*args: object) -> subprocess.CompletedProcess:
    """Run `archspec ARGS` through click's runner in a fresh interpreter that exits 1 (printing
    the culprits) if tensorflow or keras got imported, or fails if the command did."""
    code = (
        "import sys; from click.testing import CliRunner; from archspec.cli import main;"
        f"r = CliRunner().invoke(main, {[str(a) for a in args]!r});"
        "assert r.exit_code == 0, r.output;"
        "bad = [m for m in ('tensorflow', 'keras') if m in sys.modules]; print(bad); sys.exit(1 if bad else 0)"
    )
    return subprocess.run([sys.executable, "-c", code], capture_output=True, text=True)


def release_memory() -> None:
    """Let go of the Keras models built so far and hand freed memory back to the system.

    An xdist worker runs many tests that build large models (VGG-19, ViT-B, the hybrid ViT,
    ConvNeXt); glibc keeps what TensorFlow frees in its arenas, and a worker grew to 10 GB in a
    fresh-clone run where the kernel then killed it. Nothing to do where Keras was never imported."""
    if "keras" not in sys.modules:
        return
    import gc

    sys.modules["keras"].backend.clear_session()
    gc.collect()
    if sys.platform.startswith("linux"):
        import ctypes

        try:
            ctypes.CDLL("libc.so.6").malloc_trim(0)
        except (OSError, AttributeError):  # not glibc
            pass


@pytest.fixture(autouse=True, scope="module")
def _give_memory_back():
    yield
    release_memory()
