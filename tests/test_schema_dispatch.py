"""archspec validates with a faster form of its published schema (the layer-type dispatch by
dict lookup instead of ~100 if/then pairs). Both forms must report exactly the same problems."""

from __future__ import annotations

import pytest
from conftest import spec_files
from jsonschema import Draft202012Validator

from archspec import schema
from archspec.loader import load, load_file

INVALID = [
    "archspec: 1\ninput: [8, 8, 1]\nlayers:\n  - {conv: 16, paddin: same}\n  - {maxpool: 2, strides: [2, 2, 2]}\n",
    "archspec: 1\ninput: [8, 8, 1]\nlayers: [{conv: {filters: x}}, {dense: 3, units: 4}, 7, [1], {}]\n",
    "archspec: 1\ninput: [8, 8, 1]\nlayers: [{repeat: 2, layers: [{bn: {momentum: 2}}], extra: 1}]\n",
    "archspec: 1\ninput: [8, 8, 1]\nlayers: [{conv: 3, dense: 4}, {relu: null, max_value: -1}, {act: sigmoidd}]\n",
    "archspec: 2\nname: 'bad name'\ninput: [0]\nstages: [{conv: 8, n: -1, pool: min}]\nlayerz: []\n",
]


def _problems(doc, validator):
    original = schema._validator
    schema._validator = lambda: validator  # type: ignore[assignment]
    try:
        return [str(p) for p in schema.schema_problems(doc)]
    finally:
        schema._validator = original


@pytest.mark.parametrize("text", INVALID)
def test_fast_validator_reports_what_the_published_schema_does(text):
    doc = load(text)
    published = _problems(doc, Draft202012Validator(schema.json_schema()))
    assert published, "the example should be invalid"
    assert _problems(doc, schema._validator()) == published


@pytest.mark.parametrize("path", spec_files()[:40], ids=lambda p: p.name)
def test_fast_validator_accepts_what_the_published_schema_accepts(path):
    doc = load_file(path)
    assert _problems(doc, schema._validator()) == _problems(doc, Draft202012Validator(schema.json_schema())) == []


def test_published_schema_is_unchanged_by_the_fast_form():
    published = schema.json_schema()
    layer = published["$defs"]["layer"]["anyOf"][2]
    assert "allOf" in layer and schema._DISPATCH not in layer
