"""Emit stage: the expanded graph as a Keras 3 functional model.

Every layer comes from the registry's ``build``; names are the graph's, so users can pick
layers by name for fine-tuning and feature taps. Importing this module imports Keras.
"""

from __future__ import annotations

from typing import Any

import keras

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
        from .transfer.keras_build import probing  # a base without a reference spec is measured by Keras

        with probing():
            graph = expand(spec, variant=variant, overrides=overrides)
    if outputs:
        graph = prune(graph, outputs)
    return build_graph(graph)


def build_graph(graph: Graph) -> keras.Model:
    inputs = keras.Input(shape=graph.input_shape, name=graph.input_name)
    tensors: dict[str, Any] = {graph.input_name: inputs}
    transfer = graph.sections.get("_transfer")
    base = transfer.base if transfer is not None else None
    if base is not None:  # a keras.applications base is made by Keras itself: its names, its weights
        from .transfer.keras_build import base_tensors

        inputs, made = base_tensors(graph, base, inputs)
        tensors.update(made)
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
    if base is not None:
        from .transfer.keras_build import finish_model

        finish_model(model, graph, base)
    return model
