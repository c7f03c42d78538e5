"""What the published schema (the one editors use) flags, and that it flags nothing shipped.

JSON Schema cannot see a file's ``blocks:`` section, so the schema cannot tell an unknown
layer type from a user block. It flags near misses: an identifier one edit from a built-in
type name of four or more letters (or that name in upper or title case) that is not itself
a known name. archspec's own validator leaves that check out and reports unknown types
after expansion, where it knows the blocks.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from conftest import spec_files
from jsonschema import Draft202012Validator
from test_docs import SPEC_BLOCKS

from archspec import schema
from archspec.api import expand, validate
from archspec.errors import SpecError
from archspec.loader import load_file, load_text

ROOT = Path(__file__).resolve().parent.parent

HEAD = "archspec: 1\ninput: [8, 8, 1]\n"


@pytest.fixture(scope="module")
def published():
    return Draft202012Validator(schema.json_schema())


def _flagged(validator, layers: str) -> list[str]:
    data = load_text(HEAD + f"layers: {layers}\n").data
    return [e.message for e in validator.iter_errors(data)]


@pytest.mark.parametrize(
    "layers",
    [
        "[{conv2: 8}, flatten]",  # inserted
        "[{conv: 8}, relux, flatten]",
        "[{dens: 3}]",  # deleted
        "[{dense: 3}, rleu]",  # swapped
        "[{maxpoop: 2}]",  # replaced
        "[Conv]",
        "[{RELU: null}]",
        "[{repeat: 2, layers: [{conv: 8}, relux]}]",  # inside a repeat
    ],
)
def test_a_misspelt_layer_type_is_flagged_for_editors(published, layers):
    assert _flagged(published, layers), layers


@pytest.mark.parametrize(
    "layers",
    [
        "[{conv: 8}, relu, relu6, {dense: 3, name: fc}]",
        "[my_block, b1, fc1, stem, {head: 3}, {unit: 8, width: 2}]",  # user blocks far from a name, or short names
        "[{conv: 8, kernel: 3, padding: same, activation: relu}]",  # arguments are known names too
    ],
)
def test_known_names_and_other_identifiers_are_not_flagged(published, layers):
    assert _flagged(published, layers) == []


@pytest.mark.parametrize("path", spec_files(), ids=lambda p: p.name)
def test_every_shipped_spec_passes_the_published_schema(published, path):
    assert [e.message for e in published.iter_errors(load_file(path).data)] == []


@pytest.mark.parametrize("block", [b for b in SPEC_BLOCKS if b.mark != "invalid"], ids=lambda b: b.id)
def test_every_documented_spec_passes_the_published_schema(published, block):
    assert [e.message for e in published.iter_errors(load_text(block.text).data)] == []


def test_archspec_itself_accepts_a_block_named_like_a_near_miss():
    """The near-miss check is for editors only: a user block called `conv3` is valid archspec."""
    text = HEAD + "blocks:\n  conv3:\n    layers: [{conv: 8}, relu]\nlayers: [conv3, flatten, {dense: 2}]\n"
    assert [n.type for n in expand(text).nodes][:2] == ["conv", "relu"]


def test_archspec_reports_the_misspelling_itself_with_a_suggestion():
    with pytest.raises(SpecError, match=r"unknown layer type 'relux'\. Did you mean .*'relu'"):
        expand(HEAD + "layers: [{conv: 8}, relux, flatten, {dense: 2}]\n")


def test_a_file_that_declares_a_near_miss_block_is_not_flagged(published):
    """The file's own blocks: a block named `conv3` turns the near-miss check off for that file."""
    text = HEAD + "blocks:\n  conv3:\n    layers: [{conv: 8}, relux]\nlayers: [conv3, relux, flatten]\n"
    assert [e.message for e in published.iter_errors(load_text(text).data)] == []


def test_a_file_with_other_blocks_is_still_checked_inside_them(published):
    text = HEAD + "blocks:\n  unit:\n    layers: [{conv: 8}, relux]\nlayers: [unit, flatten]\n"
    paths = {tuple(e.absolute_path) for e in published.iter_errors(load_text(text).data)}
    assert paths == {("blocks", "unit", "layers", 1)}  # one edit from relu (and from relu6)


@pytest.mark.parametrize(
    ("defaults", "flagged"),
    [
        ("{conv: {kernel: 3, padding: same}, bn: {momentum: 0.9}, fc: {activation: relu}}", False),
        ("{conv: {kernal: 3}}", True),  # not an argument of conv
        ("{dense: {units: -1}}", True),  # out of range
        ("{conv: {padding: sam}}", True),  # not a choice
    ],
)
def test_defaults_entries_are_checked_against_their_layer_for_editors(published, defaults, flagged):
    data = load_text(HEAD + f"defaults: {defaults}\nlayers: [{{conv: 8}}, flatten]\n").data
    assert bool(list(published.iter_errors(data))) is flagged


def test_archspec_reports_a_defaults_mistake_with_its_own_message():
    """The editors' defaults check is not archspec's: its message is the expander's, unchanged."""
    validate(HEAD + "defaults: {conv: {kernal: 3}}\nlayers: [{conv: 8}, flatten]\n")  # the schema stage passes
    with pytest.raises(
        SpecError, match=r"defaults\.conv\.kernal: conv has no argument 'kernal'\. Did you mean 'kernel'\?"
    ):
        expand(HEAD + "defaults: {conv: {kernal: 3}}\nlayers: [{conv: 8}, flatten]\n")


def _schema_at(published, *path: str) -> dict:
    node = published.schema
    for key in path:
        node = node[key]
    return node


def test_a_type_key_is_described_as_its_type_not_as_its_main_argument(published):
    conv = _schema_at(published, "$defs", "layer_conv", "properties", "conv")
    assert conv["title"] == "conv"
    assert conv["description"].startswith("2-D convolution") and "Conv2D" in conv["description"]
    assert all("description" not in branch for branch in conv["anyOf"])  # not filters' text
    assert "title" not in published.schema  # no heading standing in for every hover


def test_types_are_offered_in_a_new_item_with_their_documentation(published):
    bare = _schema_at(published, "$defs", "layer", "anyOf", 0)
    snippets = {s["label"]: s for s in bare["defaultSnippets"]}
    assert {"conv", "relu", "bn", "residual", "dense"} <= set(snippets)
    assert snippets["conv"]["body"] == {"conv": "${1:filters}"} and snippets["relu"]["body"] == "relu"
    assert all(s["description"] for s in snippets.values())


@pytest.mark.parametrize("path", spec_files(), ids=lambda p: p.name)
def test_every_shipped_spec_carries_the_modeline(path):
    """Editors apply the schema through this first line; a new spec in specs/ needs it too."""
    first = path.read_text(encoding="utf-8").splitlines()[0]
    prefix = "# yaml-language-server: $schema="
    assert first.startswith(prefix), f"{path.name}: first line must be {prefix}<path to the schema>"
    target = (path.parent / first[len(prefix) :]).resolve()
    assert target == (ROOT / "archspec" / "data" / "archspec-1.schema.json").resolve()
