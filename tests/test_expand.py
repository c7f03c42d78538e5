"""Stage 2-3: semantic checks and expansion into the immutable graph."""

from __future__ import annotations

import dataclasses

import pytest
from conftest import spec_files

import archspec
from archspec.emit_yaml import dump
from archspec.errors import SpecError
from archspec.expand import Expander

HEAD = "archspec: 1\nname: t\ninput: [32, 32, 3]\n"


def problems(text: str) -> list[str]:
    with pytest.raises(SpecError) as info:
        archspec.expand(text, **{})
    return [str(p) for p in info.value.problems]


def test_defaults_apply_and_layers_override_them():
    g = archspec.expand(
        HEAD + "defaults: {conv: {kernel: 5, padding: same}}\nlayers: [{conv: 8}, {conv: 8, kernel: 1}]\n"
    )
    assert [n.args["kernel"] for n in g.nodes] == [(5, 5), (1, 1)]
    assert g.nodes[0].args["padding"] == "same"


def test_nested_and_sibling_argument_forms_are_equal():
    a = archspec.expand(HEAD + "layers: [{conv: 8, kernel: 5, strides: 2}]\n")
    b = archspec.expand(HEAD + "layers: [{conv: {filters: 8, kernel_size: [5, 5], stride: 2}}]\n")
    assert dict(a.nodes[0].args) == dict(b.nodes[0].args)


def test_repeat_binds_its_index_and_names_interpolate():
    g = archspec.expand(HEAD + "layers:\n  - {repeat: 3, as: i, layers: [{conv: '${8 * (i + 1)}', name: 'c${i+1}'}]}\n")
    assert [(n.name, n.args["filters"]) for n in g.nodes] == [("c1", 8), ("c2", 16), ("c3", 24)]


def test_user_blocks_are_parameterized_nested_and_scoped():
    text = HEAD + (
        "blocks:\n"
        "  cbr:\n    params: {filters: null, strides: 1}\n"
        "    layers: [{conv: '${filters}', strides: '${strides}', name: conv}, {bn: null, name: bn}, {relu: null, name: relu}]\n"
        "  res:\n    params: {filters: null}\n"
        "    layers:\n      - {cbr: '${filters}', name: a}\n      - {cbr: {filters: '${filters}'}, name: b}\n"
        "      - {add: null, inputs: [input, b], name: add}\n"
        "layers:\n  - {conv: 16, padding: same, name: stem}\n  - {res: 16, name: unit1}\n  - {res: 16, name: unit2}\n  - gap\n"
    )
    text = text.replace("{conv: '${filters}', strides", "{conv: '${filters}', padding: same, strides")
    g = archspec.expand(text)
    names = [n.name for n in g.nodes]
    assert names[:8] == [
        "stem",
        "unit1_a_conv",
        "unit1_a_bn",
        "unit1_a_relu",
        "unit1_b_conv",
        "unit1_b_bn",
        "unit1_b_relu",
        "unit1_add",
    ]
    assert g.node("unit1_add").inputs == ("stem", "unit1_b_relu")
    assert g.node("unit2_add").inputs == ("unit1_add", "unit2_b_relu")
    assert g.node("unit1_a_conv").scope == ("unit1", "unit1_a")
    assert g.scopes["unit1"].kind == "res"


def test_multi_output_graph():
    text = (
        HEAD
        + "layers:\n  - {conv: 8, name: trunk}\n  - {gap: null, name: g1}\n  - {dense: 3, name: main}\n  - {gap: null, inputs: trunk, name: g2}\n  - {dense: 2, name: aux}\noutputs: [main, aux]\n"
    )
    g = archspec.expand(text)
    assert g.outputs == ("main", "aux")
    assert g.node("g2").inputs == ("trunk",)


def test_graph_is_immutable():
    g = archspec.expand(HEAD + "layers: [flatten]\n")
    with pytest.raises(dataclasses.FrozenInstanceError):
        g.nodes[0].name = "x"  # type: ignore[misc]
    with pytest.raises(TypeError):
        g.nodes[0].args["x"] = 1  # type: ignore[index]


@pytest.mark.parametrize(
    ("body", "expected"),
    [
        (
            "layers: [{conv: 8, kernal: 3}]",
            "4:20: layers[0].kernal: conv has no argument 'kernal'. Did you mean 'kernel'",
        ),
        ("layers: [{convv: 8}]", "4:11: layers[0].convv: unknown layer type 'convv'. Did you mean one of 'conv'"),
        ("layers: [{conv: -3}]", "`filters` must be a positive integer. Received: filters=-3"),
        ("layers: [{conv: 8, inputs: nope}]", "unknown input 'nope'"),
        ("layers: [{conv: 8, name: a}, {conv: 8, name: a}]", "duplicate layer name 'a'"),
        ("layers: [{repeat: -1, layers: [relu]}]", "4:19: layers[0].repeat: must be >= 0; got number -1"),
        ("layers: [{repeat: '${2.5}', layers: [relu]}]", "`repeat` must be a whole number >= 0; got 2.5"),
        ("layers: [{conv: 8, bias: no}]", "`bias` must be true or false ('no' is a boolean only in YAML 1.1"),
        ("layers: [{maxpool: 64}]", "does not fit the 32x32 input"),
        ("layers: [{conv: 8}, {dense: 3}]", "dense needs a flat input; got shape [30, 30, 8]"),
        ("layers: [{conv: 8, name: a}, {conv: 4, name: b}, {add: null, inputs: [a, b]}]", "projection shortcut"),
        (
            "layers: [{conv: 8, name: a}, {maxpool: 2, name: b}, {concat: null, inputs: [a, b]}]",
            "concat on axis -1 needs",
        ),
        ("layers: [{conv: 8, groups: 3}]", "groups=3 must divide"),
        ("layers: [{conv: '${filters}'}]", "unknown name 'filters'"),
        ("blocks: {a: {layers: [b]}, b: {layers: [a]}}\nlayers: [a]", "blocks use each other in a cycle"),
        ("blocks: {conv: {layers: [relu]}}\nlayers: [relu]", "is already a layer type"),
        ("layers: [{relu: null, max_value: -1}]", "`max_value` must be >= 0"),
        ("stages: [{conv: 8}]\nlayers: [relu]", "exactly one of `pattern`, `stages` or `layers`"),
        ("layers: [relu]\noutputs: [nope]", "unknown output 'nope'"),
    ],
)
def test_semantic_errors(body, expected):
    found = problems(HEAD + body + "\n")
    assert any(expected in p for p in found), found


def test_all_errors_are_reported_not_only_the_first():
    found = problems(HEAD + "layers: [{conv: -1}, {maxpool: 2, padding: middle}, {dense: 3, unitz: 4}]\n")
    assert len(found) == 3, found


def test_arguments_reused_across_identical_items_but_problems_reported_at_each():
    # Items without ${...} share their checked arguments; problems are never shared.
    g = archspec.expand(HEAD + "layers: [{conv: 8, kernel: 1}, {conv: 8, kernel: 1}, {conv: 8, kernel: 3}]\n")
    assert [n.args["kernel"] for n in g.nodes] == [(1, 1), (1, 1), (3, 3)]
    found = problems(HEAD + "layers: [{conv: 8, kernel: 0}, relu, {conv: 8, kernel: 0}]\n")
    assert [p.split(":")[1:3] for p in found] == [["4", "28"], ["4", "56"]], found


def test_defaults_with_variables_are_resolved_in_each_scope():
    g = archspec.expand(
        HEAD
        + "defaults: {conv: {kernel: '${2 * k + 1}', padding: same}}\n"
        + "layers:\n  - repeat: 2\n    as: k\n    layers: [{conv: 4}, {conv: 4}]\n"
    )
    assert [n.args["kernel"][0] for n in g.nodes] == [1, 1, 3, 3]


def test_schema_errors_have_locations_and_suggestions():
    found = problems("archspec: 1\ninput: [8, 8, 1]\nlayrs: [relu]\n")
    assert found == ["<spec>:3:1: layrs: unknown key 'layrs' at the top level. Did you mean one of 'layers', 'vars'?"]


def test_expand_output_is_a_spec_that_expands_to_the_same_graph():
    text = (
        HEAD
        + "defaults: {conv: {padding: same}}\nlayers:\n  - {repeat: 2, as: i, layers: [{conv: '${8*(i+1)}'}, relu]}\n  - {conv: 4, name: side, inputs: conv}\n  - {add: null, inputs: [side, relu_1]}\n"
    )
    text = text.replace("{conv: 4, name: side, inputs: conv}", "{conv: 16, name: side, inputs: conv}")
    g1 = archspec.expand(text)
    g2 = archspec.expand(dump(g1))
    assert [(n.name, n.type, dict(n.args), n.inputs) for n in g1.nodes] == [
        (n.name, n.type, dict(n.args), n.inputs) for n in g2.nodes
    ]


def test_variants_and_overrides():
    text = HEAD + "vars: {w: 1}\nscales: {wide: {w: 4}}\nlayers: [{conv: '${8 * w}'}]\n"
    assert archspec.expand(text).nodes[0].args["filters"] == 8
    assert archspec.expand(text, variant="wide").nodes[0].args["filters"] == 32
    assert archspec.expand(text, overrides={"w": 2}).nodes[0].args["filters"] == 16
    with pytest.raises(archspec.UsageError, match=r"unknown variant 'wid'.*Did you mean 'wide'"):
        archspec.expand(text, variant="wid")


def _graph_fields(graph):
    nodes = [(n.name, n.type, dict(n.args), n.inputs, n.scope, n.location, n.path, n.trainable) for n in graph.nodes]
    return nodes, dict(graph.scopes), graph.outputs


_STAMPING_CASES = {
    "frozen_instance": HEAD
    + "layers:\n  - {conv: 16, padding: same}\n  - {residual: 4}\n  - {residual: 4, trainable: false}\n  - {residual: 4}\n",
    "shapes_change": HEAD + "layers:\n  - repeat: 3\n    layers: [{residual: 8, kind: basic}, {maxpool: 2}]\n",
    "dynamic_defaults": HEAD
    + "vars: {k: 0}\ndefaults: {conv: {l2: '${k / 1000}'}}\n"
    + "layers:\n  - {conv: 16, padding: same}\n  - repeat: 3\n    as: k\n    layers: [{residual: 4, kind: basic}]\n",
    "nested_se": HEAD
    + "layers:\n  - {conv: 32, padding: same}\n  - repeat: 3\n    layers: [{residual: 8, se_ratio: 4}]\n",
}


@pytest.mark.parametrize("source", [*spec_files(), *_STAMPING_CASES], ids=lambda s: getattr(s, "stem", s))
def test_stamped_block_instances_equal_walked_ones(source, monkeypatch):
    """Repeated built-in block instances are copied from the first (Expander.stamp); the
    graph must be exactly the one walking every instance gives."""
    spec = _STAMPING_CASES.get(source, source)
    stamped = archspec.expand(spec)
    monkeypatch.setattr(Expander, "replay_blocks", False)
    walked = archspec.expand(spec)
    assert _graph_fields(stamped) == _graph_fields(walked)


def test_stamping_is_used_for_repeated_units(monkeypatch):
    calls = []
    original = Expander.stamp
    monkeypatch.setattr(Expander, "stamp", lambda self, *a: calls.append(1) or original(self, *a))
    graph = archspec.expand(_STAMPING_CASES["shapes_change"])
    assert len(calls) == 0 and len(graph.nodes) > 0  # every unit sees a new input shape
    archspec.expand(HEAD + "layers:\n  - {conv: 32, padding: same}\n  - repeat: 5\n    layers: [{residual: 8}]\n")
    assert len(calls) == 4


def test_size_limits_count_with_overridden_variables():
    """The layer count before expansion sees --set values in place, as expansion does:
    reps follows n=1 (3,000 layers), not the spec's n=10 (30,000, over the limit)."""
    text = HEAD + "vars: {n: 10, reps: '${n * 1000}'}\nlayers:\n  - repeat: '${reps}'\n    layers: [relu, relu, relu]\n"
    assert len(archspec.expand(text, overrides={"n": 1})) == 3000
