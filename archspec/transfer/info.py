"""What transfer learning resolves from a spec, kept on the expanded graph for the later stages.

:func:`archspec.transfer.expand.finish` stores a :class:`TransferInfo` under
``graph.extensions[EXTENSION_NAME]``; :func:`transfer_info` reads it back, typed. The data
types live here, apart from the expansion pass, so that the plan, the freeze selectors, the
code generator and the Keras builder can read them without importing the pass.
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass
from typing import Any

from ..errors import Location
from ..ir import Graph, Shape

#: The transfer extension's name (:mod:`archspec.extensions`), and its key in ``graph.extensions``.
EXTENSION_NAME = "transfer"


@dataclass(frozen=True)
class BaseInfo:
    """What the base is, resolved from the ``base:`` section (passed to the Keras builder).

    ``nodes`` are the base's layer names in graph order (the pooling layer included);
    ``output`` is the tensor the head reads; ``weights`` is ``None`` (random init),
    ``"imagenet"`` or an absolute path; ``preprocess`` is ``"none"``, an imagenet_utils
    mode (``caffe``, ``tf``, ``torch``) or ``"keras.applications.MODULE"``.
    """

    kind: str  # "application" | "spec"
    source: str  # application key, or the base spec's path
    scope: str
    nodes: tuple[str, ...]
    output: str
    features: str
    include_top: bool
    pooling: str | None
    weights: str | None
    preprocess: str
    keras_class: str | None
    vars: Mapping[str, Any]
    classes: int | None
    bn_inference: bool
    location: Location = Location()
    base_graph: Graph | None = None  # the whole base spec, for loading a spec base's weights
    #: A base with no reference spec (another keras.applications model, a saved model) is one
    #: opaque unit named ``scope``, built and measured by Keras; the graph is then the head
    #: alone, whose input (``graph.input_name == scope``) is the base's output.
    opaque: bool = False
    image_shape: Shape = ()
    output_shape: Shape = ()
    measured: tuple[int, int] = (0, 0)  # the opaque base's trainable, non-trainable params
    trust: bool = False


@dataclass(frozen=True)
class TransferInfo:
    """The resolved directives, kept on ``graph.extensions["transfer"]`` (read with :func:`transfer_info`)."""

    base: BaseInfo | None
    stages: tuple[tuple[str, frozenset[str], Mapping[str, Any]], ...]  # (name, trainable layers, raw stage)
    initial: frozenset[str] = frozenset()  # the trainable layers the model is built with


def transfer_info(graph: Graph) -> TransferInfo | None:
    """The transfer-learning directives a graph was expanded with; None for a spec without them."""
    info = graph.extensions.get(EXTENSION_NAME)
    return info if isinstance(info, TransferInfo) else None
