"""Stage 1: safe YAML loading with positions and YAML 1.2 scalars."""

from __future__ import annotations

import pytest

from archspec.errors import SpecError
from archspec.loader import load_text


def test_positions_point_at_values():
    doc = load_text("archspec: 1\nlayers:\n  - conv: 64\n    kernel: 3\n", "f.yaml")
    assert doc.data == {"archspec": 1, "layers": [{"conv": 64, "kernel": 3}]}
    loc = doc.locate(("layers", 0, "kernel"))
    assert (loc.file, loc.line, loc.column) == ("f.yaml", 4, 13)
    # a missing path falls back to its nearest ancestor
    assert doc.locate(("layers", 0, "nothing")).line == 3


@pytest.mark.parametrize(
    ("text", "value"),
    [
        ("no", "no"),
        ("yes", "yes"),
        ("off", "off"),
        ("true", True),
        ("false", False),
        ("1e-3", 0.001),
        ("1.5e3", 1500.0),
        ("0x1f", 31),
        ("1_000", 1000),
        ("~", None),
        ("2001-12-14", "2001-12-14"),
        ("'010'", "010"),
        ("12:30", "12:30"),
    ],
)
def test_yaml_12_scalars(text, value):
    assert load_text(f"v: {text}\n").data["v"] == value


def test_leading_zero_is_refused_with_the_octal_reading():
    with pytest.raises(SpecError, match=r"ambiguous number '010'.*octal \(8\)"):
        load_text("v: 010\n")


def test_duplicate_keys_are_errors_with_both_lines():
    with pytest.raises(SpecError) as info:
        load_text("a: 1\nb: 2\na: 3\n", "d.yaml")
    (problem,) = info.value.problems
    assert problem.location.line == 3
    assert "duplicate key 'a' (first defined at line 1)" in problem.message


def test_python_tags_never_construct_objects():
    with pytest.raises(SpecError, match="tag"):
        load_text("a: !!python/object/apply:os.system ['echo pwned']\n")


def test_alias_bomb_is_capped():
    bomb = "a: &a [x, x, x, x, x, x, x, x, x, x]\n"
    for i, name in enumerate("bcdefgh"):
        prev = "abcdefgh"[i]
        bomb += f"{name}: &{name} [*{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}, *{prev}]\n"
    with pytest.raises(SpecError, match="alias bomb"):
        load_text(bomb)


def test_merge_keys_apply_and_explicit_keys_win():
    doc = load_text("base: &b {kernel: 3, padding: same}\nconv: {<<: *b, kernel: 5}\n")
    assert doc.data["conv"] == {"kernel": 5, "padding": "same"}


def test_syntax_error_has_a_location():
    with pytest.raises(SpecError) as info:
        load_text("a: [1, 2\nb: 3\n", "s.yaml")
    assert info.value.problems[0].location.line >= 2
    assert "YAML syntax error" in info.value.problems[0].message


def test_empty_spec():
    with pytest.raises(SpecError, match="empty"):
        load_text("   \n")
