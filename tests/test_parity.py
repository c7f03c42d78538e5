"""Parity of the three emitters on every spec in specs/ (the core of the Keras backend).

For each spec: (1) the model from ``archspec.build`` has, layer by layer, the output shape
and the trainable/non-trainable parameter counts of the static analysis; (2) the source from
``archspec compile``, executed, builds the same layers; (3) a forward pass and one training
step run, and the ``.keras`` file round-trips with ``safe_mode=True``.
"""

from __future__ import annotations

import importlib

import numpy as np
import pytest
from conftest import ROOT, n_weights, release_memory, spec_files, weight_counts

import archspec
from archspec.analysis import analyse

pytestmark = pytest.mark.slow
ROUNDTRIP_MAX_PARAMS = 30_000_000  # saving VGG's 138M weights costs ~0.5 GB of disk and time


@pytest.fixture(autouse=True)
def _one_model_at_a_time():
    """Each test builds its spec twice, at full size and small; VGG-19 and the hybrid ViT are 100M+
    parameters, and two workers holding several such at once ran a 24 GB machine out of memory."""
    yield
    release_memory()


def _layer_table(model) -> dict[str, tuple[tuple, tuple[int, int]]]:
    """Name -> (output shape, (trainable, non-trainable)); Keras orders layers its own way."""
    return {layer.name: (tuple(layer.output.shape[1:]), weight_counts(layer)) for layer in model.layers[1:]}


def _small(path, graph):
    """The same spec at the smallest of 32, 64, 128, 188 pixels that it accepts (or as written;
    188 is the smallest input of the paper's U-Net, whose unpadded convs need 16 k + 124)."""
    if len(graph.input_shape) != 3:
        return graph
    doc = archspec.load(path)
    for size in (32, 64, 128, 188):
        if size >= graph.input_shape[0]:
            break
        data = {**doc.data, "input": [size, size, graph.input_shape[2]]}
        try:
            return archspec.expand(archspec.Document(data, doc.file, doc.positions, doc.key_positions))
        except archspec.SpecError:
            continue
    return graph


def _graph(path):
    graph = archspec.expand(path)
    if "base" in graph.sections:
        pytest.skip("transfer specs have their own parity tests (tests/test_transfer*.py)")
    return graph


@pytest.mark.parametrize("path", spec_files(), ids=lambda p: str(p.relative_to(ROOT / "specs")))
def test_build_matches_static_analysis(path, keras, tmp_path):
    from archspec.keras_backend import build_graph

    graph = _graph(path)
    analysis = analyse(graph)
    model = build_graph(graph)
    static = {s.name: (s.shape, (s.trainable_params, s.non_trainable_params)) for s in analysis.layers}
    assert _layer_table(model) == static
    assert model.count_params() == analysis.total_params
    trainable = n_weights(model.trainable_weights)
    assert trainable == analysis.trainable_params

    # (2) the generated module builds the very same layers
    namespace: dict = {"__name__": "generated"}
    exec(compile(archspec.compile_source(graph), f"{path.stem}.py", "exec"), namespace)
    generated = namespace["build_model"]()
    assert _layer_table(generated) == _layer_table(model)
    assert sorted(type(a).__name__ for a in generated.layers) == sorted(type(b).__name__ for b in model.layers)

    # (3) forward pass, one training step and a .keras round trip, at a small resolution where
    # the net allows one (a training step of ResNeXt-50 at 224x224 takes minutes on 2 CPUs)
    graph = _small(path, graph)
    analysis = analyse(graph)
    model = build_graph(graph)
    rng = np.random.default_rng(0)
    x = rng.random((2, *graph.input_shape), dtype=np.float32)
    outputs = model(x, training=False)
    outputs = outputs if isinstance(outputs, list | tuple) else [outputs]
    assert [tuple(o.shape[1:]) for o in outputs] == [tuple(s) for s in analysis.output_shapes]
    targets = [np.zeros((2, *s), dtype=np.float32) for s in analysis.output_shapes]
    # eagerly: tracing a 400-layer graph costs more than the step; tf.function is tested elsewhere
    model.compile(optimizer="sgd", loss=["mse"] * len(targets), run_eagerly=True)
    history = model.fit(x, targets if len(targets) > 1 else targets[0], epochs=1, batch_size=2, verbose=0)
    assert np.isfinite(history.history["loss"][0])

    if analysis.total_params <= ROUNDTRIP_MAX_PARAMS:
        importlib.import_module("archspec.keras_layers")  # registers archspec's layers for loading

        file = tmp_path / "m.keras"
        model.save(file)
        loaded = keras.saving.load_model(file, safe_mode=True, compile=False)
        for a, b in zip(model.weights, loaded.weights, strict=True):
            np.testing.assert_array_equal(np.asarray(a), np.asarray(b))
        again = loaded(x, training=False)
        again = again if isinstance(again, list | tuple) else [again]
        outputs = model(x, training=False)
        outputs = outputs if isinstance(outputs, list | tuple) else [outputs]
        for a, b in zip(outputs, again, strict=True):
            np.testing.assert_allclose(np.asarray(a), np.asarray(b), rtol=1e-5, atol=1e-6)
