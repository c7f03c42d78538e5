"""The compiled yes/no schema check (archspec/fastcheck.py) against jsonschema, verdict for verdict.

archspec trusts the compiled check for valid specs and asks jsonschema only to explain a
refusal, so the two must agree on every document: all specs/, both corpora, tools/fuzz.py's
mutations of them, and hypothesis-drawn specs with junk put anywhere in them.
"""

from __future__ import annotations

import copy
import json
import random
import subprocess
import sys
from typing import Any

import pytest
from conftest import ROOT, load_script
from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from test_fuzz import _JUNK, mutated_specs, valid_specs

from archspec import fastcheck, schema
from archspec.errors import SpecError
from archspec.loader import load_text

FUZZ = load_script("tools/fuzz.py", "archspec_fuzz_tool")
CORPUS = sorted((ROOT / "specs").rglob("*.yaml")) + sorted((ROOT / "tests" / "corpus").rglob("*.yaml"))


def _data(text: str) -> Any:
    try:
        return load_text(text, "<test>").data
    except SpecError:
        return SpecError  # not YAML archspec reads: nothing to validate


def _agree(data: Any) -> bool:
    """Assert both validators give the same verdict; return it."""
    fast = schema._fast_validator()
    assert fast is not None, "the shipped schema must compile (else every spec pays for jsonschema)"
    full = schema._validator().is_valid(data)
    assert fast(data) == full, f"compiled check says {fast(data)}, jsonschema {full}, for {str(data)[:300]}"
    return full


@pytest.mark.parametrize("path", CORPUS, ids=lambda p: f"{p.parent.name}/{p.stem}")
def test_same_verdict_on_every_spec_and_corpus_file(path):
    data = _data(path.read_text(encoding="utf-8"))
    if data is not SpecError:
        _agree(data)


def test_same_verdict_on_fuzz_mutations_of_the_corpus():
    rng = random.Random(19)
    seeds = [t for t in FUZZ.seed_texts() if len(t) < 20_000]
    verdicts = set()
    for _ in range(600):
        data = _data(FUZZ.mutate(rng.choice(seeds), rng, seeds))
        if data is not SpecError and isinstance(data, dict):
            verdicts.add(_agree(data))
    assert verdicts == {True, False}  # both kinds were exercised


def test_the_corpus_has_both_verdicts():
    verdicts = {_agree(d) for d in map(_data, (p.read_text(encoding="utf-8") for p in CORPUS)) if isinstance(d, dict)}
    assert verdicts == {True, False}


FAST = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])


@settings(FAST, max_examples=150)
@given(text=mutated_specs())
def test_same_verdict_on_hypothesis_mutated_specs(text):
    data = _data(text)
    if isinstance(data, dict):
        _agree(data)


@settings(FAST, max_examples=60)
@given(spec=valid_specs())
def test_valid_drawn_specs_pass_both(spec):
    assert _agree(spec)


@settings(FAST, max_examples=150)
@given(spec=valid_specs(), junk=_JUNK, where=st.integers(0, 10**6), key=st.sampled_from(["name", "kernel", "x", "1"]))
def test_same_verdict_with_junk_in_a_layer(spec, junk, where, key):
    spec = copy.deepcopy(spec)
    layer = spec["layers"][where % len(spec["layers"])]
    if isinstance(layer, dict):
        layer[key] = junk
    else:
        spec["layers"][where % len(spec["layers"])] = junk
    _agree(spec)


# -- the compiler on hand-made schemas ----------------------------------------------------------


def _check(schema_: Any, value: Any) -> bool:
    return fastcheck.Compiler(schema_).build_root()(value)


@pytest.mark.parametrize(
    ("schema_", "value", "valid"),
    [
        ({"type": "integer"}, 3.0, True),  # jsonschema's draft 6+ integer
        ({"type": "integer"}, True, False),
        ({"type": "number"}, False, False),
        ({"enum": [1, "a"]}, True, False),  # True is not 1
        ({"enum": [[1, 2]]}, [1, 2], True),
        ({"const": 0}, False, False),
        ({"minimum": 1}, "zero", True),  # bounds judge numbers only
        ({"pattern": "^a"}, 5, True),
        ({"additionalProperties": False, "patternProperties": {"^x": {}}}, {"xy": 1}, True),
        ({"additionalProperties": False, "properties": {"a": {}}}, {"b": 1}, False),
        ({"items": False, "prefixItems": [{}]}, [1], True),
        ({"items": False, "prefixItems": [{}]}, [1, 2], False),
        ({"if": {"required": ["a"]}, "then": {"required": ["b"]}}, {"a": 1}, False),
        ({"oneOf": [{"type": "integer"}, {"minimum": 0}]}, 3, False),
        ({"$defs": {"p": {"type": "string"}}, "$ref": "#/$defs/p", "minLength": 2}, "a", False),
        ({"description": "annotations only", "x-editor": {"type": "string"}}, 3, True),
    ],
)
def test_keywords_match_jsonschema(schema_, value, valid):
    from jsonschema import Draft202012Validator

    assert Draft202012Validator(schema_).is_valid(value) == valid  # the expectation is jsonschema's
    assert _check(schema_, value) == valid


def test_an_unknown_assertion_keyword_falls_back_to_jsonschema():
    with pytest.raises(fastcheck.Unsupported):
        _check({"unevaluatedProperties": False}, {})
    lazy = fastcheck.Compiler({"$defs": {"u": {"multipleOf": 2}}, "$ref": "#/$defs/u"}).build_root()
    with pytest.raises(fastcheck.Unsupported):  # met on first use of the $ref, where schema.py catches it
        lazy(3)


def test_every_definition_of_the_shipped_schema_compiles():
    root = schema._fast_schema(schema.json_schema())
    compiler = fastcheck.Compiler(root, {schema._DISPATCH: schema._compile_dispatch})
    for name, definition in root["$defs"].items():
        assert callable(compiler.build(definition)), name


def test_the_lazily_parsed_shipped_file_equals_the_schema():
    lazy, full = schema._shipped_lazily(), schema.json_schema()
    assert lazy is not None, "the shipped file is laid out as `archspec schema` writes it"
    assert {k: v for k, v in lazy.items() if k != "$defs"} == {k: v for k, v in full.items() if k != "$defs"}
    assert sorted(lazy["$defs"].offsets) == sorted(full["$defs"])
    assert all(lazy["$defs"][name] == definition for name, definition in full["$defs"].items())


def test_the_check_follows_the_schema_it_is_given(monkeypatch, tmp_path):
    """Compiled from the shipped file at run time: a key the schema gains is checked without a code change."""
    grown = copy.deepcopy(schema.json_schema())
    grown["properties"]["new_key"] = {"type": "integer", "description": "added by another change"}
    grown["$defs"]["layer_dense"]["properties"]["units"]["markdownDescription"] = "an editor's annotation"
    path = tmp_path / "schema.json"
    path.write_text(json.dumps(grown, indent=2) + "\n", encoding="utf-8")
    monkeypatch.setattr(schema, "SHIPPED", path)
    caches = (schema.json_schema, schema._checking_schema, schema._fast_validator, schema._validator)
    for cached in caches:
        cached.cache_clear()
    try:
        assert isinstance(schema._checking_schema()["$defs"], schema._ShippedDefs)
        spec = {"archspec": 1, "input": [8, 8, 1], "layers": ["flatten", {"dense": 2}], "new_key": 3}
        assert _agree(spec)
        assert not _agree({**spec, "new_key": "three"})
        assert not _agree({**spec, "layers": ["flatten", {"dense": 0}]})
    finally:
        for cached in caches:
            cached.cache_clear()


def test_a_refused_spec_still_gets_jsonschemas_messages():
    doc = load_text("archspec: 1\ninput: [8, 8, 1]\nlayers: [{conv: 4, kernal: 3}]\n", "t.yaml")
    problems = schema.schema_problems(doc)
    assert [p.message for p in problems] == ["conv has no argument 'kernal'. Did you mean 'kernel'?"]


def _imported_after(*args: str) -> list[str]:
    code = (
        "import sys; from click.testing import CliRunner; from archspec.cli import main;"
        f"r = CliRunner().invoke(main, {list(args)!r});"
        "print(sorted(m for m in ('jsonschema', 'rich', 'tensorflow', 'keras') if m in sys.modules))"
    )
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, timeout=120)
    assert proc.returncode == 0, proc.stderr
    return json.loads(proc.stdout.strip().splitlines()[-1].replace("'", '"'))


def test_a_valid_spec_is_checked_and_summarised_without_jsonschema_or_rich():
    assert _imported_after("validate", str(ROOT / "specs" / "resnet50.yaml")) == []
    assert _imported_after("summary", str(ROOT / "specs" / "seed_cnn.yaml")) == []
    # a refused spec loads jsonschema, for the messages
    assert _imported_after("validate", str(ROOT / "tests" / "corpus" / "invalid" / "unknown_argument.yaml")) == [
        "jsonschema"
    ]
