"""The hand-written, readable specs of Keras applications (issue 16): specs/xception.yaml,
specs/inception_v3.yaml and specs/densenet169.yaml (with DenseNet-201 as its variant).

Each is written with blocks, ``let``, ``naming: keras``, ``name_output`` and list
expressions, and must equal keras.applications layer by layer: every layer's name, output
shape and trainable / non-trainable parameters (slow: Keras builds the models), and, without
Keras, the generated reference spec of the same model (archspec/data/bases/generated/),
including which tensors each layer reads.
"""

from __future__ import annotations

from pathlib import Path

import pytest
import yaml
from conftest import SPECS, weight_counts

import archspec

GENERATED = Path(archspec.__file__).parent / "data" / "bases" / "generated"

#: (spec, variant, keras.applications class, its generated reference spec, Keras' total params)
CASES = [
    ("xception.yaml", None, "Xception", "xception.yaml", 22_910_480),
    ("inception_v3.yaml", None, "InceptionV3", "inceptionv3.yaml", 23_851_784),
    ("densenet169.yaml", None, "DenseNet169", "densenet169.yaml", 14_307_880),
    ("densenet169.yaml", "densenet201", "DenseNet201", "densenet201.yaml", 20_242_984),
]
IDS = [c[2] for c in CASES]


def _table(analysis) -> dict[str, tuple]:
    return {s.name: (tuple(s.shape), s.trainable_params, s.non_trainable_params) for s in analysis.layers}


@pytest.fixture(scope="module", params=CASES, ids=IDS)
def case(request):
    spec, variant, keras_class, generated, total = request.param
    graph = archspec.expand(SPECS / spec, variant=variant)
    return {"graph": graph, "analysis": archspec.summary(graph), "keras_class": keras_class,
            "generated": generated, "total": total, "spec": spec, "variant": variant}  # fmt: skip


def test_pinned_to_keras_count_and_named_by_its_variant(case):
    assert case["analysis"].total_params == case["total"]
    assert case["graph"].name == {"DenseNet201": "densenet201", "InceptionV3": "inception_v3"}.get(
        case["keras_class"], case["keras_class"].lower()
    )


def test_equals_the_generated_reference_spec_layer_by_layer_and_wire_by_wire(case):
    reference = archspec.expand(GENERATED / case["generated"])
    assert _table(case["analysis"]) == _table(archspec.summary(reference))
    inputs = {n.name: tuple(i if i != reference.input_name else "input" for i in n.inputs) for n in reference.nodes}
    assert {n.name: n.inputs for n in case["graph"].nodes} == inputs


def test_the_notop_variant_drops_exactly_the_head(case):
    variants = [v for v in (case["variant"], "notop") if v]
    notop = archspec.summary(archspec.expand(SPECS / case["spec"], variant=variants))
    full = _table(case["analysis"])
    assert set(full) - set(_table(notop)) == {"avg_pool", "predictions"}
    assert all(full[name] == row for name, row in _table(notop).items())


@pytest.fixture(scope="module")
def keras_model(case):
    import keras

    keras.backend.clear_session()  # Keras numbers unnamed layers per session
    model = getattr(keras.applications, case["keras_class"])(weights=None)
    yield model
    keras.backend.clear_session()


@pytest.mark.slow
def test_equals_keras_applications_layer_by_layer(case, keras_model):
    keras_table = {
        layer.name: (tuple(layer.output.shape[1:]), *weight_counts(layer)) for layer in keras_model.layers[1:]
    }
    assert _table(case["analysis"]) == keras_table


@pytest.mark.slow
def test_freezing_up_to_mixed7_counts_as_keras_does(case, keras_model):
    """The tutorials' cut of InceptionV3 ("freeze everything up to mixed7"), by its Keras name."""
    if case["keras_class"] != "InceptionV3":
        pytest.skip("mixed7 is InceptionV3's")
    data = yaml.safe_load((SPECS / case["spec"]).read_text())
    data.pop("expect")
    data["freeze"] = {"from": "conv2d", "to": "mixed7"}
    analysis = archspec.summary(data)
    names = [layer.name for layer in keras_model.layers]
    frozen = keras_model.layers[: names.index("mixed7") + 1]
    try:
        for layer in frozen:
            layer.trainable = False
        assert (analysis.trainable_params, analysis.non_trainable_params) == weight_counts(keras_model)
    finally:
        for layer in frozen:
            layer.trainable = True
