"""archspec: a declarative YAML architecture compiler for convolutional networks.

>>> import archspec
>>> net = archspec.summary('''
... archspec: 1
... name: tiny
... input: [28, 28, 1]
... layers: [{conv: 8, kernel: 3}, relu, {maxpool: 2}, flatten, {dense: 10, activation: softmax}]
... ''')
>>> net.total_params
13610

Building Keras models (:func:`build`) and writing Keras source (:func:`compile_source`)
import TensorFlow; everything else does not.
"""

from __future__ import annotations

from typing import Any

from .analysis import Analysis, analyse
from .api import expand, summary, validate
from .errors import ArchspecError, Location, Problem, SpecError, UsageError
from .ir import Graph, Node
from .loader import Document, load
from .view import notebook as _notebook  # how graphs and analyses show in print() and Jupyter

# isort: split
# The built-in vocabulary registers itself when imported: archspec.registry and archspec.blocks
# hold the registries and import none of their entries (that was an import cycle).
from . import layers as _layers  # noqa: F401
from . import plugins as _plugins  # noqa: F401  (hands the registry its plugin loader)
from .blocks import library as _block_library  # noqa: F401

# isort: split
# The layers above the core register their extensions (archspec.extensions) when imported:
# the `base:`, `freeze:`, `fine_tune:` and `train:` sections, for every command and library
# call. In this order, which is the order of their sections in the schema.
from . import transfer as _transfer  # noqa: F401

# isort: split
from . import training as _training  # noqa: F401

_notebook.register()

__version__ = "0.1.0"


def build(spec: Any, **kwargs: Any) -> Any:
    """Build the Keras 3 functional model of a spec (imports TensorFlow/Keras)."""
    from .keras_backend import build as _build

    return _build(spec, **kwargs)


def compile_source(spec: Any, **kwargs: Any) -> str:
    """Write standalone Keras 3 Python source for a spec (no TensorFlow needed to write it)."""
    from .codegen import generate

    return generate(spec, **kwargs)


__all__ = [
    "Analysis",
    "ArchspecError",
    "Document",
    "Graph",
    "Location",
    "Node",
    "Problem",
    "SpecError",
    "UsageError",
    "analyse",
    "build",
    "compile_source",
    "expand",
    "load",
    "summary",
    "validate",
]
