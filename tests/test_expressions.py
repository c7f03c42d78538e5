"""Safe ${...} expressions: arithmetic only, never Python eval."""

from __future__ import annotations

import pytest

from archspec.expressions import ExpressionError, evaluate, make_divisible, substitute


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
