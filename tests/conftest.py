"""Shared fixtures. Keras is imported only by tests that need it (they are marked slow)."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "2")

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"


def spec_files() -> list[Path]:
    """Every spec shipped in specs/ (a new spec is covered without editing tests)."""
    return sorted(p for p in SPECS.rglob("*.yaml"))


@pytest.fixture(scope="session")
def keras():
    import keras as _keras

    return _keras
