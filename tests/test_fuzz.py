"""Property-based fuzzing of the static pipeline (bounded; `make fuzz` runs longer).

- Valid specs drawn from the layer registry (each layer's Arg metadata gives its values):
  they expand, analyse, compile to parseable source and round-trip through `archspec
  expand`; a few small ones build in Keras with the same parameter count and shapes (slow).
- The same specs mutated (a value replaced by junk, a key dropped, added or misspelt): every
  failure is archspec's own error, and every problem has a line and column.
- Raw bytes, YAML-ish text and character-level mutations of the bundled specs through
  load -> validate -> expand -> analyse -> compile (tools/fuzz.py's ``run_pipeline``): the
  only exception allowed is ArchspecError.
"""

from __future__ import annotations

import random
import re
import subprocess
import sys
from typing import Any

import pytest
import yaml
from conftest import ROOT, load_script, n_weights
from hypothesis import HealthCheck, assume, given, settings
from hypothesis import strategies as st

import archspec
from archspec import budget
from archspec.errors import ArchspecError
from archspec.registry import REQUIRED, Arg, registry

FUZZ = load_script("tools/fuzz.py", "archspec_fuzz_tool")
SEEDS = [t for t in FUZZ.seed_texts() if len(t) < 6000]
FAST = settings(deadline=None, suppress_health_check=[HealthCheck.too_slow, HealthCheck.data_too_large])

# -- valid specs from the registry ---------------------------------------------------------------

#: Arguments the generic strategy leaves at their defaults: they couple to the input shape
#: (groups must divide channels, noise_shape and target must match it) or to each other.
_FIXED = {"groups", "noise_shape", "target", "dilation", "seed", "mean", "variance", "axis", "keepdims"}
_TOKENS_ONLY = ("class_token", "select_token", "patches", "conv1d")  # they need or make sequences, not maps
_SINGLE = sorted(n for n, lt in registry().types.items() if not lt.multi_input and n not in ("reshape", *_TOKENS_ONLY))
_SAME = {"padding": "same"}
_SPATIAL_SAFE = {
    "maxpool": _SAME,
    "avgpool": _SAME,
    "conv": _SAME,
    "depthwise": _SAME,
    "separable": _SAME,
    "crop": {"cropping": 0},
    "groupnorm": {"groups": 1},  # a divisor of any channel count
    "conv_transpose": {"output_padding": None},  # it must be less than the drawn strides
    "position_embedding": {"kind": "learned"},  # sincos needs tokens
}


def _arg_value(arg: Arg) -> st.SearchStrategy[Any]:
    if arg.kind == "int":
        low = int(arg.low or 0)
        return st.integers(low, low + 6)
    if arg.kind == "float":
        low = arg.low if arg.low is not None else -2.0
        high = arg.high if arg.high is not None else low + 2.0
        high = min(high, 0.9) if arg.name == "rate" else high
        return st.floats(low, high, allow_nan=False).map(lambda v: round(v, 3))
    if arg.kind == "bool":
        return st.booleans()
    if arg.kind in ("enum", "activation", "initializer"):
        from archspec.registry import ACTIVATIONS, INITIALIZERS

        choices = arg.choices or (ACTIVATIONS if arg.kind == "activation" else INITIALIZERS)
        return st.sampled_from(list(choices))
    if arg.kind == "pair":
        return st.one_of(st.integers(1, 3), st.lists(st.integers(1, 3), min_size=2, max_size=2))
    if arg.kind == "padding2d":
        return st.integers(0, 2)
    return st.nothing()


@st.composite
def layer_items(draw: Any, name: str) -> dict[str, Any]:
    lt = registry().get(name)
    item: dict[str, Any] = {name: None}
    for arg in lt.args:
        required = arg.default is REQUIRED
        if arg.name in _FIXED or (not required and not draw(st.booleans())):
            continue
        value = draw(_arg_value(arg))
        if arg.name == "padding" and name in ("conv", "depthwise", "separable", "maxpool", "avgpool"):
            value = "same"  # keeps every map at least 1x1, so the spec is valid by construction
        if arg.name == "filters" or arg.name == "units":
            value = draw(st.integers(1, 8))
        if arg.name == "cropping":
            value = 0
        item[arg.name] = value
    item.update(_SPATIAL_SAFE.get(name, {}))
    return item


@st.composite
def valid_specs(draw: Any) -> dict[str, Any]:
    """A small sequential spec over the registry's single-input layers, ending in a dense head."""
    size = draw(st.integers(4, 12))
    body = [
        draw(layer_items(name))
        for name in draw(
            st.lists(st.sampled_from([n for n in _SINGLE if n not in ("flatten", "gap", "gmp", "dense")]), max_size=5)
        )
    ]
    head = draw(st.sampled_from(["flatten", "gap", "gmp"]))
    return {
        "archspec": 1,
        "name": "fuzzed",
        "input": [size, size, draw(st.integers(1, 3))],
        "layers": [*body, head, {"dense": draw(st.integers(1, 10)), "name": "out"}],
    }


def _yaml(spec: dict[str, Any]) -> str:
    return yaml.safe_dump(spec, sort_keys=False)  # dumping only: nothing here is loaded with PyYAML


@settings(FAST, max_examples=40)
@given(spec=valid_specs())
def test_valid_specs_expand_analyse_compile_and_round_trip(spec):
    text = _yaml(spec)
    assert FUZZ.run_pipeline(text) == "compiled"
    analysis = archspec.summary(text)
    assert analysis.output_shapes == [(spec["layers"][-1]["dense"],)]
    assert all(layer.params >= 0 and layer.macs >= 0 for layer in analysis.layers)


@pytest.mark.slow
@settings(max_examples=10, deadline=None, suppress_health_check=[HealthCheck.too_slow])
@given(spec=valid_specs())
def test_small_valid_specs_build_in_keras_with_identical_counts(spec):
    analysis = archspec.summary(_yaml(spec))
    model = archspec.build(_yaml(spec))
    assert model.count_params() == analysis.total_params
    for layer in analysis.layers:
        keras_shape = tuple(model.get_layer(layer.name).output.shape[1:])
        assert keras_shape == layer.shape, layer.name
    trainable = n_weights(model.trainable_weights)
    assert trainable == analysis.trainable_params


# -- mutated specs: archspec's own error, with a location ------------------------------------------

_JUNK = st.one_of(
    st.integers(-(10**13), 10**13),
    st.floats(allow_nan=True, allow_infinity=True),
    st.text(max_size=12),
    st.none(),
    st.booleans(),
    st.lists(st.integers(-3, 3), max_size=4),
    st.dictionaries(st.text(max_size=5), st.integers(-2, 2), max_size=2),
    st.sampled_from(["${", "${1/0}", "${x}", "same", "relu", "conv", "-1", "1e9", "input", "${i + 1}"]),
)


def _places(value: Any, path: tuple = ()) -> list[tuple]:
    out = [path]
    if isinstance(value, dict):
        for k, v in value.items():
            out += _places(v, (*path, k))
    elif isinstance(value, list):
        for i, v in enumerate(value):
            out += _places(v, (*path, i))
    return out


def _set(root: Any, path: tuple, value: Any) -> None:
    for key in path[:-1]:
        root = root[key]
    root[path[-1]] = value


@st.composite
def mutated_specs(draw: Any) -> str:
    spec = draw(valid_specs())
    for _ in range(draw(st.integers(1, 3))):
        places = [p for p in _places(spec) if p]
        path = draw(st.sampled_from(places))
        parent = spec
        for key in path[:-1]:
            parent = parent[key]
        op = draw(st.sampled_from(["replace", "delete", "add", "misspell"]))
        if op == "replace":
            _set(spec, path, draw(_JUNK))
        elif op == "delete":
            del parent[path[-1]]
        elif op == "add" and isinstance(parent, dict):
            parent[draw(st.text(min_size=1, max_size=8))] = draw(_JUNK)
        elif op == "misspell" and isinstance(parent, dict) and isinstance(path[-1], str) and len(path[-1]) > 1:
            key = path[-1]
            i = draw(st.integers(0, len(key) - 1))
            parent[key[:i] + key[i + 1 :]] = parent.pop(key)
    try:
        return _yaml(spec)
    except (yaml.YAMLError, ValueError):
        assume(False)
        raise


@settings(FAST, max_examples=150)
@given(text=mutated_specs())
def test_mutated_specs_fail_only_with_located_archspec_errors(text):
    try:
        FUZZ.run_pipeline(text)
    except ArchspecError as exc:
        for problem in exc.problems:
            assert problem.message
            assert problem.location.line >= 1 and problem.location.column >= 1, str(problem)


# -- raw input through the whole pipeline ---------------------------------------------------------


def _only_archspec_errors(sample: str | bytes) -> None:
    status, detail = FUZZ.check_one(sample, per_input_seconds=30)
    assert status != "crash", detail


@settings(FAST, max_examples=100)
@given(data=st.binary(max_size=400))
def test_raw_bytes(data):
    _only_archspec_errors(data)


@settings(FAST, max_examples=100)
@given(text=st.lists(st.sampled_from(FUZZ.ALPHABET), max_size=60).map("".join))
def test_yaml_punctuation_and_spec_words(text):
    _only_archspec_errors("archspec: 1\ninput: [8, 8, 1]\n" + text)
    _only_archspec_errors(text)


@settings(FAST, max_examples=150)
@given(seed=st.sampled_from(SEEDS), rng=st.randoms(use_true_random=False))
def test_mutated_bundled_specs(seed, rng: random.Random):
    _only_archspec_errors(FUZZ.mutate(seed, rng, SEEDS))


def test_the_harness_reports_a_crash(monkeypatch):
    monkeypatch.setattr(FUZZ, "run_pipeline", lambda text, execute=False: {}["boom"])
    assert FUZZ.check_one("x")[0] == "crash"
    monkeypatch.setattr(FUZZ, "run_pipeline", lambda text, execute=False: archspec.expand("archspec: 1"))
    assert FUZZ.check_one("x")[0] == "refused"


def test_bundled_specs_compile_through_the_harness():
    for path in sorted((ROOT / "specs").glob("*.yaml")):
        if path.stat().st_size > 2500:
            continue  # the big zoo specs are compiled by their own tests
        assert FUZZ.check_one(path.read_text()) == ("ok", "compiled"), path.name


@pytest.mark.parametrize(
    ("item", "type_", "args"),
    [  # found by the registry strategy: a type name that is also an argument of the item's type
        ({"crop": None, "cropping": 0}, "crop", {"cropping": ((0, 0), (0, 0))}),
        ({"fc_head": 8, "classes": 3, "dropout": 0.25}, "dropout", {"rate": 0.25}),
    ],
)
def test_a_type_name_next_to_a_type_that_takes_it_is_an_argument(item, type_, args):
    graph = archspec.expand({"archspec": 1, "input": [4, 4, 2], "layers": [item]})
    node = next(n for n in graph.nodes if n.type == type_)
    assert {k: node.args[k] for k in args} == args
    with pytest.raises(ArchspecError, match=r"exactly one type|unknown key"):
        archspec.expand({"archspec": 1, "input": [4, 4, 2], "layers": [{"conv": 8, "dropout": 0.5}]})


def test_values_keras_refuses_are_refused_statically():
    # found by the Keras-parity property: archspec accepted gaussian_noise stddev 2.0, Keras raised
    with pytest.raises(ArchspecError, match=r"`stddev` must be <= 1. Received: stddev=2.0"):
        archspec.expand({"archspec": 1, "input": [4, 4, 1], "layers": [{"gaussian_noise": 2.0}, "flatten"]})


# -- the fuzzer's own checks (issue 21): steps, same network, generated code ----------------------

_SMALL = "archspec: 1\ninput: [8, 8, 1]\nclasses: 3\nlayers: [{conv: 4}, flatten, {dense: '${classes}'}]\n"


def test_the_harness_checks_the_step_bound(monkeypatch):
    assert FUZZ.check_one(_SMALL) == ("ok", "compiled")
    monkeypatch.setattr(FUZZ, "step_bound", lambda: 3)
    status, detail = FUZZ.check_one(_SMALL)
    assert status == "crash" and "steps; the bound is 3" in detail


def test_the_harness_checks_that_expand_output_is_the_same_network(monkeypatch):
    from archspec import emit_yaml

    real = emit_yaml.dump
    monkeypatch.setattr(emit_yaml, "dump", lambda graph: real(graph).replace("filters: 4", "filters: 5"))
    status, detail = FUZZ.check_one(_SMALL)
    assert status == "crash" and "not a spec of the same network" in detail


def test_hostile_corpus_stays_within_the_step_bound(monkeypatch):
    """Every hostile sample through the fuzzer's checks: refused or compiled, never a crash (with
    the fuzzer's smaller budget, as `make fuzz` runs: the bound follows it)."""
    monkeypatch.setattr(budget, "MAX_STEPS", 100_000)
    for path in sorted((ROOT / "tests" / "corpus" / "hostile").glob("*.yaml")):
        status, detail = FUZZ.check_one(path.read_bytes(), per_input_seconds=120)
        assert status != "crash", f"{path.name}: {detail}"


@pytest.mark.parametrize("engine", ["random", "atheris"])
def test_a_fixed_seed_slice_of_each_engine_finds_no_crash(engine, tmp_path):
    """What CI runs of `make fuzz`: a few hundred inputs, seed 1, in a separate process."""
    if engine == "atheris":
        pytest.importorskip("atheris")
    args = ["--engine", engine, "--seed", "1", "--runs", "150", "--seconds", "120"]
    args += ["--out", str(tmp_path / "crashes"), "--corpus", str(tmp_path / "corpus")]
    proc = subprocess.run(
        [sys.executable, str(ROOT / "tools" / "fuzz.py"), *args],
        capture_output=True,
        text=True,
        timeout=300,
        cwd=tmp_path,
    )
    assert proc.returncode == 0, proc.stdout[-3000:] + proc.stderr[-3000:]
    assert re.search(r"^150 inputs in .* 0 crashes$", proc.stdout, re.M), proc.stdout
    assert not list((tmp_path / "crashes").glob("*")) if (tmp_path / "crashes").exists() else True


@pytest.mark.slow
def test_the_harness_runs_generated_code_and_compares_parameter_counts(monkeypatch):
    assert FUZZ.check_one(_SMALL, execute=True) == ("ok", "executed")
    from archspec import codegen

    real = codegen.render
    monkeypatch.setattr(codegen, "render", lambda graph: real(graph).replace("filters=4", "filters=5"))
    status, detail = FUZZ.check_one(_SMALL, execute=True)
    assert status == "crash" and "generated code builds" in detail


def test_a_timeout_under_instrumentation_is_confirmed_without_it(monkeypatch, tmp_path):
    """A 2 s spec took over a minute under atheris' instrumentation (the second 30-minute run's
    two "hangs"): a slow input is replayed in a plain process before it counts as a crash."""
    monkeypatch.setattr(FUZZ, "check_one", lambda *args, **kwargs: ("crash", "took more than 120 s (a hang?)"))
    tally = FUZZ._Tally(tmp_path / "crashes", 0, instrumented=True)
    tally.check(_SMALL)
    assert tally.outcomes == {"slow": 1} and not (tmp_path / "crashes").exists()
    tally = FUZZ._Tally(tmp_path / "crashes", 0, instrumented=False)
    tally.check(_SMALL)
    assert tally.outcomes == {"crash": 1} and list((tmp_path / "crashes").iterdir())


def test_generated_modules_of_pretrained_bases_are_not_run():
    """Found by the third 30-minute run: the generated module of specs/transfer/vgg16_features.yaml
    (mutated) loads ImageNet weights, as Keras does, and this machine has no network. The exec
    check keeps to specs without a base."""
    text = (ROOT / "specs" / "transfer" / "vgg16_features.yaml").read_text()
    assert FUZZ.check_one(text, execute=True) == ("ok", "compiled")
