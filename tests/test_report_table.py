"""The terminal table of `archspec summary` is written directly (fast) in the common case; it
must be byte for byte what rich's table gives, and rich must take over where it would wrap."""

from __future__ import annotations

import pytest
from conftest import ROOT, spec_files

import archspec
from archspec import report


@pytest.mark.parametrize("path", spec_files(), ids=lambda p: str(p.relative_to(ROOT / "specs")))
def test_plain_table_is_rich_table(path):
    analysis = archspec.summary(path)
    for depth in (None, 1):
        plain = report._plain_table(analysis, depth, "float32", 110)
        if plain is not None:
            assert plain == report._rich_table(analysis, depth, "float32")
        assert report.render_table(analysis, depth) == report._rich_table(analysis, depth, "float32")


def test_most_tables_are_written_directly():
    used = [report._plain_table(archspec.summary(p), None, "float32", 110) is not None for p in spec_files()]
    assert sum(used) >= 0.8 * len(used)


@pytest.mark.parametrize(
    "name",
    ["x" * 120, "ünïcode_名前", "[bold]markup[bold]", "wide_ｗｉｄｅ"],
)
def test_unusual_tables_fall_back_to_rich(name):
    spec = {"archspec": 1, "input": [4], "layers": [{"dense": 2, "name": name}]}
    analysis = archspec.summary(spec)
    assert report.render_table(analysis) == report._rich_table(analysis)
    if len(name) > 100 or not name.isascii():
        assert report._plain_table(analysis, None, "float32", 110) is None


@pytest.mark.parametrize("path", spec_files(), ids=lambda p: p.stem)
def test_json_text_is_the_same_json(path):
    """The line-per-layer JSON layout parses to exactly what ``json.dumps`` would write."""
    import json

    data = report.to_dict(archspec.analyse(archspec.expand(path)), depth=None)
    data["odd"] = {"nested": {"a": [1, {"b": None}]}, "ünï": "cödé"}
    data["empty"], data["empty_list"] = {}, []
    text = report.json_text(data)
    assert json.loads(text) == json.loads(json.dumps(data))
    lines = text.splitlines()
    assert all(f"    {json.dumps(layer)}," in lines or f"    {json.dumps(layer)}" in lines for layer in data["layers"])
