"""Stage 1: safe YAML loading with positions and YAML 1.2 scalars."""

from __future__ import annotations

import io

import pytest

from archspec.errors import SpecError
from archspec.loader import MAX_FILE_BYTES, load_file, load_stream, load_text


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


# -- odd but legal input: archspec's own error with a location, never an internal error -----------------------


@pytest.mark.parametrize("value", ["0x_", "-0x_", "0x__", "+0x_"])
def test_number_like_text_int_cannot_read_is_a_located_error(value):
    with pytest.raises(SpecError) as info:
        load_text(f"layers:\n  - {{dense: {value}}}\n", "n.yaml")
    (problem,) = info.value.problems
    assert (problem.location.line, problem.location.column) == (2, 13)
    assert f"malformed number {value!r}" in problem.message


@pytest.mark.parametrize(
    "text",
    [
        "x: &a {k: 1, <<: *a}\n",
        "x: &a {k: {<<: *a}}\n",  # an ancestor merged from inside
        "x: &a {k: 1, <<: [*a]}\n",
        "x: &a {k: 1, <<: {j: {<<: *a}}}\n",
    ],
)
def test_recursive_merge_keys_are_located_errors(text):
    with pytest.raises(SpecError) as info:
        load_text(text, "m.yaml")
    assert any("recursive merge key" in p.message and p.location.line == 1 for p in info.value.problems)


def test_a_chain_of_merges_deeper_than_the_limit_is_refused():
    text = "a0: &a0 {k: 0}\n" + "".join(f"a{i}: &a{i} {{<<: *a{i - 1}}}\n" for i in range(1, 80))
    with pytest.raises(SpecError, match="nested more than 64 levels"):
        load_text(text)


# -- YAML syntax errors: the parser's text plus a hint for the usual cause ------------------------------------


@pytest.mark.parametrize(
    ("text", "hint"),
    [
        ("archspec: 1\n\tinput: [8, 8, 1]\n", "YAML indents with spaces only"),
        ("layers:\n\t- flatten\n", "YAML indents with spaces only"),
        ("layers:\n  - conv: 8\n   - relu\n", "Check this line's indentation"),
        ("archspec: 1\nname: t\n  input: [8, 8, 1]\n", "Check this line's indentation"),
        ("layers:\n  - {dense: ${n}}\n", "Quote an expression inside [...] or {...}"),
        ("input: [${h}, 8, 1]\n", "Quote an expression inside [...] or {...}"),
        ("input: [8, 8, 1\nlayers: [flatten]\n", "is not closed (or a comma is missing)"),
        ('name: "abc\nlayers: []\n', "A quoted string is not closed"),
    ],
)
def test_yaml_syntax_errors_carry_a_one_line_hint(text, hint):
    with pytest.raises(SpecError) as info:
        load_text(text, "h.yaml")
    (problem,) = info.value.problems
    assert problem.message.startswith("YAML syntax error: ")
    assert hint in problem.message and "\n" not in problem.message
    assert problem.location.line is not None


# -- standard input --------------------------------------------------------------------------------------------


def test_stdin_reads_at_most_one_byte_past_the_limit():
    class Endless(io.RawIOBase):  # /dev/zero without the device: counts what is asked of it
        asked = 0

        def readable(self):
            return True

        def readinto(self, buf):
            Endless.asked += len(buf)
            buf[:] = b"\0" * len(buf)
            return len(buf)

    stream = io.BufferedReader(Endless(), buffer_size=1 << 16)
    with pytest.raises(SpecError, match="larger than 1048576 bytes"):
        load_stream(stream)
    assert Endless.asked <= MAX_FILE_BYTES + (1 << 16) + 1


def test_stdin_that_is_not_utf8_is_a_located_error():
    with pytest.raises(SpecError) as info:
        load_stream(io.BytesIO(b"archspec: 1\nname: \xff\xfe\n"))
    (problem,) = info.value.problems
    assert "not UTF-8" in problem.message
    assert (problem.location.file, problem.location.line, problem.location.column) == ("<stdin>", 2, 7)


def test_stdin_text_that_looks_like_a_path_is_parsed_as_yaml(tmp_path):
    spec = tmp_path / "real.yaml"
    spec.write_text("archspec: 1\nname: t\ninput: [8]\nlayers: [{dense: 2}]\n")
    doc = load_stream(io.BytesIO(str(spec).encode()))
    assert doc.data == str(spec)  # the text itself, not the file it names


def test_a_folder_is_not_reported_as_a_missing_file(tmp_path):
    (tmp_path / "spec.yaml").mkdir()
    with pytest.raises(SpecError, match=r"spec.yaml is a folder, not a spec file"):
        load_file(tmp_path / "spec.yaml")
