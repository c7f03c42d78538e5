"""Emit stage: the expanded graph as a Keras 3 functional model.

Every layer comes from the registry's ``build``; names are the graph's, so users can pick
layers by name for fine-tuning and feature taps. Extensions (:mod:`archspec.extensions`) make
the nodes they own (transfer: a keras.applications base, by Keras itself) and finish the model.
Importing this module imports Keras.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import ExitStack, contextmanager
from typing import Any

import keras

from . import extensions
from .api import expand
from .ir import Graph, prune
from .registry import layer_type


def build(
    spec: Any,
    *,
    variant: str | None = None,
    overrides: dict[str, Any] | None = None,
    outputs: list[str] | None = None,
) -> keras.Model:
    """Build the Keras model of a spec (path, YAML text, mapping, Document or Graph).

    ``outputs`` keeps only those outputs (e.g. ``["predictions"]`` drops auxiliary heads).
    Under a mixed-precision policy the output layers compute in float32, as Keras'
    mixed-precision guide asks, so that softmax and the loss stay numerically stable.

    >>> model = build("archspec: 1\\ninput: [8, 8, 1]\\nlayers: [flatten, {dense: 3}]")
    >>> model.count_params()
    195
    """
    if isinstance(spec, Graph):
        graph = spec
    else:
        with building():
            graph = expand(spec, variant=variant, overrides=overrides)
    if outputs:
        graph = prune(graph, outputs)
    return build_graph(graph)


@contextmanager
def building() -> Iterator[None]:
    """Expand specs for building: every extension's ``building`` context (transfer: a base
    without a reference spec is measured by building it with Keras)."""
    with ExitStack() as stack:
        for ext in extensions.registered():
            if ext.building is not None:
                stack.enter_context(ext.building())
        yield


def build_graph(graph: Graph) -> keras.Model:
    inputs = keras.Input(shape=graph.input_shape, name=graph.input_name)
    tensors: dict[str, Any] = {graph.input_name: inputs}
    for ext in extensions.registered():  # nodes an extension makes itself (transfer: a keras.applications base)
        made = ext.keras_tensors(graph, inputs) if ext.keras_tensors is not None else None
        if made is not None:
            inputs, more = made
            tensors.update(more)
    mixed = keras.mixed_precision.global_policy().compute_dtype != "float32"
    outputs = set(graph.outputs)
    for node in graph.nodes:
        if node.name in tensors:
            continue
        lt = layer_type(node.type)
        extra = {"dtype": "float32"} if mixed and node.name in outputs else {}
        layer = lt.build(node, **extra)
        if not node.trainable:
            layer.trainable = False
        args = [tensors[name] for name in node.inputs]
        tensors[node.name] = layer(args if lt.multi_input else args[0])
    result = [tensors[name] for name in graph.outputs]
    model = keras.Model(inputs, result[0] if len(result) == 1 else result, name=graph.name)
    for ext in extensions.registered():  # transfer: a spec base's weights, the base's trainable flags
        if ext.keras_finish is not None:
            ext.keras_finish(model, graph)
    return model
