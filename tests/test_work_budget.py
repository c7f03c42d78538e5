"""The work budget (archspec/budget.py): every static command does a bounded number of steps.

Issue 21's reproducers are in tests/corpus/hostile/ (run through the CLI by test_hostile.py);
here each is checked at the stage that fixes it, in counted steps or values, never seconds:

- the bound docs/security.md states: any spec within the size limit expands (``validate``)
  within ``2 * MAX_STEPS + 2**20`` steps, and every bundled spec within a small part of it;
- nesting (pattern brackets, blocks using blocks, repeats in blocks) is refused at a depth
  Python's stack holds, with a location, instead of a RecursionError (exit 3);
- expression cache keys hold a bounded number of values (a key copied a 2,000-value list
  on every evaluation: 1.4 GB);
- "Did you mean" compares a bounded number of names per unknown word, and still reports
  every unknown name;
- ``compile`` writes the class count ``build`` uses (``classes: 10.0`` made ``NUM_CLASSES = 10.0``).
"""

from __future__ import annotations

import difflib
import sys
import tracemalloc
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import ROOT, load_script

import archspec
from archspec import budget, errors, expressions
from archspec.cli import main
from archspec.codegen import generate
from archspec.errors import SpecError
from archspec.expand import _instances_note

HOSTILE = ROOT / "tests" / "corpus" / "hostile"
FUZZ = load_script("tools/fuzz.py", "archspec_fuzz_tool_budget")
SPECS = sorted((ROOT / "specs").glob("*.yaml"))


def _steps(spec: object, **kwargs: object) -> int:
    """Steps one ``archspec.expand`` charged, whether it succeeded or refused."""
    before = budget.used()
    try:
        archspec.expand(spec, **kwargs)
    except SpecError:
        pass
    return budget.used() - before


# -- the bound -------------------------------------------------------------------------------


@pytest.mark.parametrize("name", ["work_empty_repeats", "work_when_false", "work_pattern_empty_groups"])
def test_work_without_layers_is_refused_within_the_bound_with_its_location(name):
    path = HOSTILE / f"{name}.yaml"
    before = budget.used()
    with pytest.raises(SpecError, match=r"more than 2,000,000 steps of work") as info:
        archspec.expand(path)
    assert budget.used() - before <= FUZZ.step_bound()
    assert info.value.problems[0].location.line > 1  # at the repeat or the pattern, not the file


def test_every_bundled_spec_uses_a_small_part_of_the_budget():
    """The budget refuses no spec that validates today: the largest (ResNet-1202) uses 52,948."""
    used = {path.name: _steps(path) for path in SPECS}
    used["resnet1202"] = _steps(ROOT / "specs" / "resnet_cifar.yaml", variant="resnet1202")
    assert max(used.values()) < budget.MAX_STEPS // 20, used


def test_a_spec_near_the_layer_limit_with_expressions_everywhere_fits_the_budget():
    spec = {
        "archspec": 1,
        "input": [8, 8, 3],
        "vars": {"w": 4, "widths": list(range(4, 84, 4))},
        "layers": [
            {
                "repeat": 4900,
                "as": "i",
                "layers": [
                    {"conv": "${widths[i % 20] // 4 + w}", "kernel": "${1 + 2 * (i % 2)}", "padding": "same"},
                    {"bn": None, "momentum": "${0.9 + 0.01 * (i % 5)}", "when": "${i >= 0}"},
                    {"relu": None, "name": "r${i}"},
                    {"dropout": "${0.1 * (i % 3)}", "name": "d${i}"},
                    {"add": None, "inputs": ["r${i}", "d${i}"], "name": "a${i}"},
                ],
            },
            "gap",
            {"dense": 10},
        ],
    }
    assert len(archspec.expand(spec).nodes) == 24502
    assert _steps(spec) < budget.MAX_STEPS // 4


def test_the_budget_stops_at_its_limit_and_names_the_place(monkeypatch):
    spec = "archspec: 1\ninput: [8, 8, 1]\nlayers:\n  - {repeat: 300, layers: [relu]}\n  - flatten\n"
    assert 1000 < _steps(spec) < 2000
    monkeypatch.setattr(budget, "MAX_STEPS", 1000)
    with pytest.raises(
        SpecError, match=r"layers\[0\](\.layers\[0\])?: expanding this spec takes more than 1,000 steps"
    ):
        archspec.expand(spec)
    result = CliRunner().invoke(main, ["validate", "-"], input=spec)
    assert result.exit_code == 1 and "4:" in result.output and "Traceback" not in result.output


def test_a_nested_budget_only_tightens_the_one_around_it():
    with budget.bounded(10), budget.bounded(1000):
        budget.spend(5)
        with pytest.raises(budget.WorkExceeded):
            budget.spend(6)
    budget.spend(10**9)  # outside any budget nothing is refused (direct calls of a stage)


def test_expressions_charge_the_list_elements_they_walk(monkeypatch):
    env = {"big": list(range(5000))}
    with budget.bounded(100_000):
        before = budget.used()
        expressions.evaluate("sum(big) + max(big)", env)
        assert budget.used() - before >= 10_000
    with budget.bounded(20_000), pytest.raises(budget.WorkExceeded):
        expressions.evaluate("sum(big) + sum(big) + sum(big) + sum(big) + sum(big)", env)


def test_vars_that_use_up_the_budget_are_refused_at_the_variable(monkeypatch):
    monkeypatch.setattr(budget, "MAX_STEPS", 50_000)
    text = "archspec: 1\ninput: [8, 8, 1]\nvars:\n  big: ${[1] * 3}\n" + "".join(
        f"  v{k}: ${{sum(b)}}\n" for k in range(40)
    )
    big = ", ".join("1" for _ in range(3000))
    text = text.replace("${[1] * 3}", f"[{big}]").replace("sum(b)", "sum(big)") + "layers: [flatten]\n"
    with pytest.raises(SpecError, match=r"vars\.v\d+: expanding this spec takes more than 50,000 steps"):
        archspec.expand(text)


# -- nesting ----------------------------------------------------------------------------------


@pytest.mark.parametrize("blocks", [200, 3000])
def test_a_chain_of_user_blocks_is_refused_not_a_recursion_error(blocks):
    path = HOSTILE / f"block_chain_{blocks}.yaml"
    with pytest.raises(SpecError, match=r"blocks\.b0: blocks use each other more than 100 levels deep: b0 -> b1"):
        archspec.expand(path)
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 1, result.output


def test_a_chain_at_the_nesting_limit_still_expands():
    n = budget.MAX_NESTING - 1  # b0..b98 use the next, b99 is a relu: 100 block levels below the top
    blocks = {f"b{i}": {"layers": [f"b{i + 1}"]} for i in range(n)} | {f"b{n}": {"layers": ["relu"]}}
    graph = archspec.expand({"archspec": 1, "input": [4, 4, 1], "blocks": blocks, "layers": ["b0", "flatten"]})
    assert [node.type for node in graph.nodes] == ["relu", "flatten"]


def test_repeats_nested_in_a_block_chain_are_refused_where_they_get_too_deep():
    """Ten blocks, each ten repeats deep around the next: 110 levels, though no chain is long."""
    blocks = {}
    for i in range(10):
        items: list = ["relu" if i == 9 else f"b{i + 1}"]
        for _ in range(10):
            items = [{"repeat": 1, "layers": items}]
        blocks[f"b{i}"] = {"layers": items}
    with pytest.raises(
        SpecError, match=r"blocks\.b\d\.layers.*: repeats and blocks nest more than 100 levels deep here"
    ):
        archspec.expand({"archspec": 1, "input": [4, 4, 1], "blocks": blocks, "layers": ["b0", "flatten"]})


def test_deeply_nested_pattern_brackets_are_a_pattern_error_with_the_column():
    path = HOSTILE / "pattern_deep_brackets.yaml"
    with pytest.raises(SpecError, match=r"'\[' at column 101 nests groups more than 100 deep"):
        archspec.expand(path)
    ok = "[" * 20 + "CONV" + "]" * 20
    archspec.expand({"archspec": 1, "input": [8, 8, 1], "classes": 2, "tokens": {"CONV": {"conv": 2}}, "pattern": ok})


def test_rewriting_a_deep_wide_pattern_is_charged_and_refused_at_the_pattern(monkeypatch):
    """99 levels around 120,000 tokens (960 kB) took 5 s to tokenize (the rest of the text was
    copied per token) and 21 s to rewrite (each level asked for every name below it)."""
    monkeypatch.setattr(budget, "MAX_STEPS", 50_000)
    pattern = "[" * 20 + " -> ".join(["RELU"] * 5000) + "]" * 20 + " -> FC"
    spec = {"archspec": 1, "input": [8, 8, 1], "classes": 2, "tokens": {"CONV": {"conv": 2}}, "pattern": pattern}
    with pytest.raises(SpecError, match=r"^<dict>: pattern: expanding this spec takes more than 50,000 steps"):
        archspec.expand(spec)


def test_a_problem_met_in_every_iteration_is_noted_in_bounded_work():
    """20,000 failing iterations of one item: one problem, its note rebuilt 20,000 times from
    at most nine labels (listing every label each time took 12 s)."""
    text = 'archspec: 1\ninput: [8, 8, 1]\nlayers:\n  - {repeat: 10000, as: i, layers: [{repeat: 2, as: j, layers: [{conv: "${i - i + j - j}"}]}]}\n  - flatten\n'
    with pytest.raises(SpecError) as info:
        archspec.expand(text)
    assert len(info.value.problems) == 1
    assert info.value.problems[0].message.endswith("i=3, j=1; and 19992 more)")

    class Counting(dict):
        read = 0

        def __iter__(self):
            for key in super().__iter__():
                Counting.read += 1
                yield key

    labels = Counting.fromkeys(f"i={i}" for i in range(20_000))
    assert _instances_note(labels).startswith(" (in 20000 instances: i=0; i=1;")
    assert Counting.read <= 9


def test_a_long_value_copied_into_a_key_for_every_layer_is_work(monkeypatch):
    """A 100,000-value `defaults:` entry was copied into the argument cache's key for each of
    10,000 layers: it hung (300 kB of spec)."""
    monkeypatch.setattr(budget, "MAX_STEPS", 20_000)
    spec = {
        "archspec": 1,
        "input": [8, 8, 1],
        "defaults": {"conv": {"kernel": [1] * 1000}},
        "layers": [{"repeat": 100, "layers": [{"conv": 8, "padding": "same"}]}, "flatten"],
    }
    with pytest.raises(SpecError, match=r"layers\[0\]\.layers\[0\]: expanding this spec takes more than 20,000"):
        archspec.expand(spec)


# -- memory -------------------------------------------------------------------------------------


def test_a_long_list_in_an_expression_is_not_copied_into_cache_keys():
    text = (HOSTILE / "expr_long_list_cache.yaml").read_text().replace("{dense: 0,", "{dense: 2,")
    expressions._RESULTS.clear()
    tracemalloc.start()
    try:
        archspec.expand(text)
        peak = tracemalloc.get_traced_memory()[1]
    finally:
        tracemalloc.stop()
    assert peak < 64 << 20, f"{peak:,} bytes"  # 1.4 GB before
    assert all(sum(expressions._size(v) for v in key[1]) <= 16 for key in expressions._RESULTS)


def test_a_long_name_made_in_every_iteration_is_work_too():
    """A 400 kB name with ${i} in a 10,000-iteration repeat: 4 GB and 31 s, 10,001 layers."""
    name = "x" * 400_000 + "${i}"
    text = f'archspec: 1\ninput: [8, 8, 1]\nlayers:\n  - repeat: 10000\n    as: i\n    layers: [{{relu: null, name: "{name}"}}]\n'
    before = budget.used()
    with pytest.raises(SpecError, match=r"layers\[0\]\.layers\[0\]: expanding this spec takes more than") as info:
        archspec.expand(text + "  - flatten\n")
    assert budget.used() - before <= FUZZ.step_bound()
    assert info.value.problems[0].location.line == 6


# -- "Did you mean" -----------------------------------------------------------------------------


def test_suggestions_compare_a_bounded_number_of_names_and_the_report_stays_complete(monkeypatch):
    compared: list[int] = []
    real = difflib.get_close_matches

    def counting(word, possibilities, *args, **kwargs):
        compared.append(len(possibilities))
        return real(word, possibilities, *args, **kwargs)

    monkeypatch.setattr(errors.difflib, "get_close_matches", counting)
    with pytest.raises(SpecError) as info:
        archspec.expand(HOSTILE / "did_you_mean_199.yaml")
    assert len(info.value.problems) == 199
    assert all("Did you mean" in p.message for p in info.value.problems)
    assert max(compared) <= 8 * errors.SUGGESTION_WINDOW  # of 20,001 names


@pytest.mark.parametrize("typo", ["relu_1234x", "relu_12345", "xrelu_1234", "relu_1243", "relu_234", "rleu_1234"])
def test_the_bounded_suggestion_is_as_close_as_comparing_every_name(typo):
    names = ["relu", *(f"relu_{i}" for i in range(1, 20000))]
    best = difflib.get_close_matches(typo, names, n=1, cutoff=0.6)[0]
    hint = errors.did_you_mean(typo, names).split("'")[1]
    score = difflib.SequenceMatcher(None, typo, hint).ratio()
    assert score == difflib.SequenceMatcher(None, typo, best).ratio(), (hint, best)


# -- generated code builds what build builds ------------------------------------------------------

_CLASSES = (
    "archspec: 1\ninput: [8, 8, 1]\nclasses: {classes}\nlayers: [flatten, {{dense: '${{classes}}', name: out}}]\n"
)


@pytest.mark.parametrize(("classes", "overrides"), [("10.0", None), ("10", {"classes": 10.0}), ("3.0", None)])
def test_compile_writes_the_integer_class_count_the_validator_accepted(classes, overrides):
    source = generate(_CLASSES.format(classes=classes), overrides=overrides)
    expected = int(float(overrides["classes"] if overrides else classes))
    assert f"NUM_CLASSES = {expected}\n" in source


@pytest.mark.slow
def test_the_generated_module_for_classes_10_0_builds_the_same_model(tmp_path: Path):
    spec = _CLASSES.format(classes="10.0")
    module = tmp_path / "gen_classes.py"
    module.write_text(generate(spec))
    sys.path.insert(0, str(tmp_path))
    try:
        import gen_classes

        model = gen_classes.build_model()
    finally:
        sys.path.remove(str(tmp_path))
    assert model.count_params() == archspec.summary(spec).total_params == 650
