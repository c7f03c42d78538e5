"""Building transfer-learning models with Keras: the base's layers and weights.

A keras.applications base is made by Keras itself, on the model's input tensor, so its layers
have Keras' exact names and structure and ``weights`` (imagenet or a local file) load the way
Keras loads them; the head is then built from the graph on the base's tensors. A spec base is
built from its nodes like any layers; its weights file (saved from the base spec's own model,
e.g. ``archspec build base.yaml --weights -o base.weights.h5``) is loaded into a model of the
whole base spec and copied layer by layer, by name. Importing this module imports Keras.
"""

from __future__ import annotations

import contextlib
import socket
from collections.abc import Iterator
from pathlib import Path
from typing import Any

import keras
import numpy as np

from ..errors import Problem, UsageError
from ..ir import Graph, Shape
from .expand import POOL_NODES, PROBE
from .info import BaseInfo, transfer_info

DOWNLOAD_TIMEOUT = 20  # seconds; with no network the download fails instead of hanging


def _error(base: BaseInfo, message: str) -> UsageError:
    return UsageError(Problem(message, base.location, ("base", "weights")))


@contextlib.contextmanager
def _socket_timeout(seconds: float) -> Iterator[None]:
    old = socket.getdefaulttimeout()
    socket.setdefaulttimeout(seconds)
    try:
        yield
    finally:
        socket.setdefaulttimeout(old)


@contextlib.contextmanager
def probing() -> Iterator[None]:
    """Let expansion measure bases without a reference spec by building them with Keras."""
    token = PROBE.set(_probe)
    try:
        yield
    finally:
        PROBE.reset(token)


def _probe(kind: str, source: str, raw: Any, shape: Shape) -> tuple[Shape, int, int]:
    """Output shape, trainable and non-trainable parameters of an opaque base (random weights)."""
    if kind == "model":
        model = _load_saved(source, bool(raw.get("trust")), shape)
    else:
        kwargs = _app_kwargs(raw.get("include_top", False), raw.get("pooling"), raw.get("classes"), raw.get("vars"))
        model = getattr(keras.applications, source)(weights=None, input_shape=tuple(shape), **kwargs)
    trainable = sum(int(np.prod(w.shape)) for w in model.trainable_weights)
    return tuple(model.output.shape[1:]), trainable, model.count_params() - trainable


def _app_kwargs(include_top: bool, pooling: str | None, classes: int | None, variables: Any) -> dict[str, Any]:
    kwargs: dict[str, Any] = {"include_top": bool(include_top), "pooling": pooling, **dict(variables or {})}
    if include_top and classes:
        kwargs["classes"] = classes
    return kwargs


def _load_saved(path: str, trust: bool, shape: Shape) -> Any:
    from ..errors import ArchspecError
    from ..safe_hdf5 import load_model_file  # checks the file; registers archspec's own layers

    try:
        if path.endswith(".h5") and not trust:
            raise ValueError("a .h5 full model needs `trust: true`")
        model = load_model_file(path, trust_h5=trust)
    except (ArchspecError, ValueError, OSError, TypeError) as exc:
        raise ValueError(f"cannot load {path} (safe_mode=True): {exc}") from None
    expected = tuple(model.input_shape[1:])
    if len(expected) != len(shape) or any(e is not None and e != s for e, s in zip(expected, shape)):
        raise ValueError(f"the saved model reads inputs of shape {list(expected)}; the spec's input is {list(shape)}")
    return model


def base_tensors(graph: Graph, base: BaseInfo, inputs: Any) -> tuple[Any, dict[str, Any]]:
    """The model's input and the output tensor of every base layer of the graph.

    A keras.applications base with a reference spec is built on ``inputs`` (its layers become
    the model's); an opaque base is called as one nested model on a new image input (in
    inference mode when ``bn_inference``, as Keras' fine-tuning guide does).
    """
    if base.opaque:
        return _opaque_tensors(base)
    if base.kind != "application":
        return inputs, {}
    app = _application_model(graph, base, inputs)
    pool = {POOL_NODES[base.pooling][1]} if base.pooling else set()
    wanted = [n.name for n in graph.nodes if n.name in base.nodes and n.name not in pool]
    _adopt_unnamed_layers(graph, base, app, wanted)
    # operations, not only layers: an application may compute in plain Keras operations (MobileNetV3's x + 3)
    have = {op.name: op for op in app.operations}
    missing = [n for n in wanted if n not in have]
    if missing:  # the reference spec and Keras disagree: a bug in the reference spec
        raise UsageError(
            f"the reference spec of {base.keras_class} names layers keras.applications does not have: "
            f"{', '.join(missing[:5])}"
        )
    return inputs, {name: have[name].output for name in wanted}


def _opaque_tensors(base: BaseInfo) -> tuple[Any, dict[str, Any]]:
    image = keras.Input(shape=base.image_shape, name="input")
    if base.kind == "model":
        model = _load_saved(base.source, base.trust, base.image_shape)
    else:
        kwargs = _app_kwargs(base.include_top, base.pooling, base.classes, base.vars)
        model = _construct(base, getattr(keras.applications, base.source), input_shape=base.image_shape, **kwargs)
    model.name = base.scope  # so that plan stages and selectors find it by the spec's name
    out = model(image, training=False) if base.bn_inference else model(image)
    return image, {base.scope: out}


def _adopt_unnamed_layers(graph: Graph, base: BaseInfo, app: Any, wanted: list[str]) -> None:
    """Give Keras' auto-named layers the reference spec's names.

    A few application layers have no name in Keras' source (ResNetV2's shortcut max pools
    become ``max_pooling2d``, ``max_pooling2d_1``, ... depending on what was built before), so
    the reference spec names them; they are matched by position in Keras' layer order (the
    same order :func:`archspec.transfer.freeze.keras_order` computes) and by Keras class.
    """
    from ..registry import layer_type
    from .freeze import keras_order

    have = {op.name for op in app.operations}
    if all(n in have for n in wanted):
        return
    nodes = [n for n in graph.nodes if n.name in wanted]
    order = keras_order(nodes, [base.features])
    layers = app.layers[1:]
    if len(order) != len(layers):
        return
    by_name = {n.name: n for n in nodes}
    for name, layer in zip(order, layers):
        same_class = type(layer).__name__ == layer_type(by_name[name].type).keras_class
        if name not in have and layer.name not in by_name and same_class:
            layer.name = name


def _application_model(graph: Graph, base: BaseInfo, inputs: Any) -> Any:
    constructor = getattr(keras.applications, str(base.keras_class))
    # archspec adds the pooling layer itself, named avg_pool / max_pool
    kwargs = _app_kwargs(base.include_top, None, base.classes, base.vars)
    return _construct(base, constructor, input_tensor=inputs, input_shape=tuple(graph.input_shape), **kwargs)


def _construct(base: BaseInfo, constructor: Any, **kwargs: Any) -> Any:
    weights = base.weights
    if weights not in (None, "imagenet") and not Path(weights).is_file():
        raise _error(base, f"weights file not found: {weights}")
    try:
        with _socket_timeout(DOWNLOAD_TIMEOUT):
            return constructor(weights=weights, **kwargs)
    except Exception as exc:  # Keras raises URL, OS and Value errors: all mean "cannot load"
        if weights == "imagenet":
            raise _error(
                base,
                f"cannot load the imagenet weights of {base.keras_class}: {type(exc).__name__}: {exc}. "
                "Without network access, download the weights file elsewhere and give its path in `weights:`, "
                "or put it in ~/.keras/models/",
            ) from None
        raise _error(base, f"cannot build {base.keras_class} with weights {weights!r}: {exc}") from None


def finish_model(model: Any, graph: Graph, base: BaseInfo) -> None:
    """Load a spec base's weights, and set the trainable flags of the graph on every layer."""
    if base.kind == "spec" and base.weights is not None:
        _load_spec_weights(model, graph, base)
    layers = {layer.name: layer for layer in model.layers}
    if base.opaque:
        info = transfer_info(graph)
        layers[base.scope].trainable = info is not None and base.scope in info.initial
    for node in graph.nodes:
        if node.name in layers:
            layers[node.name].trainable = node.trainable


def _load_spec_weights(model: Any, graph: Graph, base: BaseInfo) -> None:
    from ..keras_backend import build_graph
    from ..safe_hdf5 import load_weights_file

    weights = str(base.weights)
    if weights == "imagenet":
        raise _error(base, "`weights: imagenet` is for keras.applications bases; give a weights file")
    if not Path(weights).is_file():
        raise _error(base, f"weights file not found: {weights}")
    assert base.base_graph is not None  # set for every spec base
    source = build_graph(base.base_graph)
    try:
        load_weights_file(source, weights)  # checked first, as every HDF5 file archspec reads
    except Exception as exc:
        raise _error(base, f"cannot load {weights} into the base spec's model: {exc}") from None
    src = {layer.name: layer for layer in source.layers}
    for layer in model.layers:
        if layer.name in base.nodes and layer.name in src and layer.weights:
            layer.set_weights(src[layer.name].get_weights())
