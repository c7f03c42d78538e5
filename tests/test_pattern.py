"""The seed grammar INPUT -> [[CONV -> RELU]*N -> POOL?]*M -> [FC -> RELU]*K -> FC."""

from __future__ import annotations

import pytest

import archspec
from archspec.pattern import Group, PatternError, Token, parse

SEED = "INPUT -> [[CONV -> RELU]*N -> POOL?]*M -> [FC -> RELU]*K -> FC"


def test_parse_seed_pattern():
    tree = parse(SEED)
    assert tree.items[0] == Token("INPUT")
    outer = tree.items[1]
    assert isinstance(outer, Group) and outer.count == "M"
    inner = outer.items[0]
    assert isinstance(inner, Group) and inner.count == "N"
    assert outer.items[1] == Token("POOL", optional=True)
    assert tree.items[-1] == Token("FC")


def test_other_arrows_and_literal_counts():
    assert parse("INPUT => [CONV → RELU]*2 -> FC") == parse("INPUT -> [CONV -> RELU]*2 -> FC")


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("INPUT -> [CONV -> RELU", "never closed"),
        ("INPUT -> [CONV]*", "must be followed by a count"),
        ("INPUT -> -> FC", "expected a layer name"),
        ("INPUT -> CONV %", "unexpected character '%'"),
    ],
)
def test_parse_errors_name_the_column(text, message):
    with pytest.raises(PatternError, match=message):
        parse(text)


def _spec(n: int, m: int, k: int, pool: bool = True) -> str:
    tokens = "{CONV: {conv: '${16 * 2**m}', padding: same}, FC: {dense: 32}" + ("" if pool else ", POOL: false") + "}"
    return f"archspec: 1\ninput: [32, 32, 3]\nclasses: 10\nvars: {{N: {n}, M: {m}, K: {k}}}\npattern: '{SEED}'\ntokens: {tokens}\n"


@pytest.mark.parametrize(("n", "m", "k"), [(1, 1, 0), (2, 3, 2), (0, 2, 1), (3, 0, 0)])
def test_pattern_expands_to_the_counted_layers(n, m, k):
    graph = archspec.expand(_spec(n, m, k))
    types = [node.type for node in graph.nodes]
    assert types.count("conv") == n * m
    assert types.count("maxpool") == m
    assert types.count("dense") == k + 1
    assert types.count("flatten") == 1
    assert graph.nodes[-1].name == "predictions" and graph.nodes[-1].args["activation"] == "softmax"


def test_filters_double_per_stage_and_keras_style_names():
    graph = archspec.expand(_spec(2, 3, 1))
    convs = [(n.name, n.args["filters"]) for n in graph.nodes if n.type == "conv"]
    assert convs == [
        ("block1_conv1", 16), ("block1_conv2", 16), ("block2_conv1", 32),
        ("block2_conv2", 32), ("block3_conv1", 64), ("block3_conv2", 64),
    ]  # fmt: skip
    assert [n.name for n in graph.nodes if n.type == "dense"] == ["fc1", "predictions"]


def test_optional_pool_can_be_dropped():
    graph = archspec.expand(_spec(1, 2, 0, pool=False))
    assert "maxpool" not in [n.type for n in graph.nodes]


def test_undefined_token_is_a_located_error():
    spec = "archspec: 1\ninput: [8, 8, 1]\nclasses: 2\npattern: 'INPUT -> CONV -> FC'\n"
    with pytest.raises(archspec.SpecError, match=r"4:10: pattern: .*define it under `tokens:`"):
        archspec.expand(spec)
