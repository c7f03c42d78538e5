"""What the published schema (the one editors use) flags, and that it flags nothing shipped.

JSON Schema cannot see a file's ``blocks:`` section, so the schema cannot tell an unknown
layer type from a user block. It flags near misses: an identifier one edit from a built-in
type name of four or more letters (or that name in upper or title case) that is not itself
a known name. archspec's own validator leaves that check out and reports unknown types
after expansion, where it knows the blocks.
"""

from __future__ import annotations

import pytest
from conftest import spec_files
from jsonschema import Draft202012Validator
from test_docs import SPEC_BLOCKS

from archspec import schema
from archspec.api import expand
from archspec.errors import SpecError
from archspec.loader import load_file, load_text

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
