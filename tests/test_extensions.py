"""The extension points (archspec.extensions), tested with small extensions made here.

Transfer learning is the real user of every hook (tests/test_transfer*.py); these tests pin
the contract itself: which stage calls which hook, and with what.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator

import pytest
from conftest import SPECS

import archspec
from archspec import report
from archspec.codegen import generate
from archspec.emit_yaml import graph_to_spec
from archspec.errors import SpecError
from archspec.extensions import Extension, ModuleParts, TrainingStage, register, registered, unregister
from archspec.view.scene import scene

STEM = "archspec: 1\ninput: [8, 8, 3]\nstem: 4\nlayers: [{conv: 2, kernel: 1, name: body}, flatten, {dense: 2}]\n"


@pytest.fixture
def extension() -> Iterator[list[str]]:
    """Register extensions for one test (their names go in the list); unregistered afterwards."""
    names: list[str] = []
    yield names
    for name in names:
        unregister(name)


def _stem(ex, ctx):  # a `stem: N` section: an N-filter conv before the body, as a transfer base is
    ex.item({"conv": ex.spec["stem"], "kernel": 3, "name": "stem"}, ("stem",), ctx)
    return "stem state"


def test_transfer_and_training_are_registered_by_importing_archspec():
    assert [e.name for e in registered()][:2] == ["transfer", "training"]


def test_a_section_belongs_to_one_extension(extension):
    with pytest.raises(ValueError, match="section 'base' belongs to 'transfer'"):
        register(Extension("other", sections={"base": {"type": "object"}}))


def test_an_unregistered_section_is_refused_by_the_schema(extension):
    extension.append("stem")
    register(Extension("stem", sections={"stem": {"type": "integer", "minimum": 1}}, begin=_stem))
    assert archspec.expand(STEM).prelude == ("stem",)
    unregister("stem")
    with pytest.raises(SpecError, match="unknown key 'stem' at the top level"):  # once unregistered
        archspec.expand(STEM)


def test_begin_adds_nodes_before_the_body_and_finish_sees_its_state(extension):
    seen = []

    def finish(doc, graph, state):
        seen.append(state)
        return graph

    extension.append("stem")
    register(Extension("stem", sections={"stem": {"type": "integer", "minimum": 1}}, begin=_stem, finish=finish))
    graph = archspec.expand(STEM)
    assert [n.name for n in graph.nodes][:2] == ["stem", "body"]
    assert graph.node("body").inputs == ("stem",)
    assert (graph.prelude, graph.body_input, seen) == (("stem",), "stem", ["stem state"])
    spec = graph_to_spec(graph)  # the section writes its nodes back itself: they are not under `layers:`
    assert spec["stem"] == 4 and spec["layers"][0]["name"] == "body"
    with pytest.raises(SpecError, match=r"<spec>:3:7: stem: .*0"):  # its schema fragment is applied
        archspec.expand(STEM.replace("stem: 4", "stem: 0"))


def test_codegen_writes_the_module_parts_of_every_extension(extension):
    parts = ModuleParts(
        constants=("STEP = 3",),
        parameters=("step=STEP",),
        build_lines=("    model.step = step",),
        functions=("def twice(x):", "    return 2 * x", "", ""),
        notes=("the step is not a layer",),
    )
    extension.append("parts")
    register(Extension("parts", code=lambda graph, literal: parts))
    source = generate("archspec: 1\ninput: [4]\nlayers: [{dense: 2}]")
    ast.parse(source)
    assert "def build_model(input_shape=INPUT_SHAPE, num_classes=NUM_CLASSES, step=STEP):" in source
    assert "STEP = 3" in source and "    model.step = step" in source and "def twice(x):" in source
    assert "Not carried: the step is not a layer." in source


def test_the_report_shows_an_extensions_training_stages(extension):
    stage = TrainingStage("one", 1, "sgd", 10, 0, ("dense", "out"), frozenset({"out"}))
    extension.append("stages")
    register(Extension("stages", stages=lambda graph: [stage]))
    analysis = archspec.summary("archspec: 1\ninput: [4]\nlayers: [{dense: 2}, {dense: 2, name: out}]")
    row = {"stage": "one", "epochs": 1, "optimizer": "sgd", "trainable_params": 10, "non_trainable_params": 0}
    assert report.stage_rows(analysis) == [{**row, "trainable_layers": 1, "frozen_layers": 1}]


def test_a_fine_tuning_plan_reaches_the_report_and_the_diagram():
    analysis = archspec.summary(SPECS / "transfer" / "vgg16_finetune.yaml")
    assert [(r["stage"], r["trainable_params"]) for r in report.stage_rows(analysis)] == [
        ("warmup", 6427153),
        ("block5", 13506577),
    ]
    drawn = scene(archspec.expand(SPECS / "transfer" / "vgg16_finetune.yaml"))
    assert [(s["name"], s["trainable_params"]) for s in drawn["stages"]] == [("warmup", 6427153), ("block5", 13506577)]
