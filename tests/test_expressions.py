"""Safe ${...} expressions: arithmetic only, never Python eval."""

from __future__ import annotations

import pytest

from archspec.expressions import ExpressionError, evaluate, make_divisible, substitute, typed_key


@pytest.mark.parametrize(
    ("text", "env", "value"),
    [
        ("32 * 2**m", {"m": 2}, 128),
        ("filters[i]", {"filters": [16, 32], "i": 1}, 32),
        ("max(8, int(w * 64))", {"w": 0.1}, 8),
        ("1 if n > 2 else 0", {"n": 3}, 1),
        ("ceil(3 * 1.1)", {}, 4),
        ("make_divisible(0.75 * 32)", {}, 24),
        ("7 // 2 + 7 % 2", {}, 4),
        ("a < b <= c", {"a": 1, "b": 2, "c": 2}, True),
    ],
)
def test_evaluate(text, env, value):
    assert evaluate(text, env) == value


def test_substitute_whole_and_inside_strings():
    assert substitute("${i + 1}", {"i": 1}) == 2
    assert substitute("block${i+1}_conv${j+1}", {"i": 0, "j": 2}) == "block1_conv3"
    assert substitute("plain", {}) == "plain"
    assert substitute(7, {}) == 7


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("__import__('os').system('x')", "only these functions"),
        ("x.__class__", "Attribute is not allowed"),
        ("(lambda: 1)()", "only these functions"),
        ("lambda: 1", "Lambda is not allowed"),
        ("9 ** 9 ** 9", "power is too large"),
        ("10 ** 20", "too large"),
        ("1 / 0", "division by zero"),
        ("undefined + 1", "unknown name 'undefined'"),
        ("[1, 2][5]", "out of range"),
        ("'a' * 3", "arithmetic needs numbers"),
        ("1 +", "cannot parse"),
        ("x" * 300, "longer than"),
    ],
)
def test_refusals(text, message):
    with pytest.raises(ExpressionError, match=message):
        evaluate(text, {"x": 1})


def test_unknown_name_suggests():
    with pytest.raises(ExpressionError, match="Did you mean 'filters'"):
        evaluate("filter * 2", {"filters": 3})


def test_make_divisible_matches_keras_mobilenet_rule():
    # keras.applications.mobilenet_v2._make_divisible(0.35 * 32, 8) == 16 (never >10% down)
    assert make_divisible(0.35 * 32, 8) == 16
    assert make_divisible(1.4 * 24, 8) == 32
    assert make_divisible(3, 8) == 8


def test_remembered_results_keep_types_apart():
    # evaluate() reuses results by the values of the names used; True, 1 and 1.0 are equal
    # in Python but must not share a result.
    assert type(evaluate("x", {"x": 1})) is int
    assert type(evaluate("x", {"x": 1.0})) is float
    with pytest.raises(ExpressionError, match="arithmetic needs numbers"):
        evaluate("x + 1", {"x": True}) if evaluate("x + 1", {"x": 1}) == 2 else None
    assert evaluate("x * 2", {"x": 3}) == 6 and evaluate("x * 2", {"x": 4}) == 8


def test_list_results_are_never_shared():
    first = evaluate("[x, 2]", {"x": 1})
    first.append(99)
    assert evaluate("[x, 2]", {"x": 1}) == [1, 2]
    assert evaluate("w[1]", {"w": [16, 32]}) == 32 and evaluate("w[1]", {"w": [16, 64]}) == 64


def test_typed_key():
    assert len({typed_key(v) for v in (1, 1.0, True)}) == 3
    assert typed_key({"conv": 8, "kernel": [3, 3]}) == typed_key({"conv": 8, "kernel": [3, 3]})
    assert typed_key([1, 2]) != typed_key((1, 2))
    for dynamic in ("${n}", ["${n}"], {"a": {"b": "x${n}"}}):
        with pytest.raises(TypeError):
            typed_key(dynamic)
