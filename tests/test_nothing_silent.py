"""Issue 14 (the spec-language half): nothing the user asks for is silently ignored or different.

Each test reproduces one report of the issue; most are parametrized so that the kin of the
reproducer (every zoo spec, every variant, every place a mistake can be written) is covered.
"""

from __future__ import annotations

import json
import re

import pytest
from click.testing import CliRunner
from conftest import ROOT, spec_files

import archspec
from archspec.cli import main

SEVENTEEN = """\
archspec: 1
input: [8, 8, 1]
classes: 17
layers: [flatten, {dense: "${classes}", name: predictions}]
"""

SEVENTEEN_PATTERN = """\
archspec: 1
input: [8, 8, 1]
classes: 17
vars: {N: 1}
pattern: "INPUT -> [CONV -> RELU]*N -> FC"
tokens: {CONV: {conv: 4}}
"""


def cli(*args: object, stdin: str | None = None):
    return CliRunner().invoke(main, [str(a) for a in args], input=stdin)


# -- 1. --set classes=N wins ------------------------------------------------------------------


@pytest.mark.parametrize("text", [SEVENTEEN, SEVENTEEN_PATTERN], ids=["layers", "pattern"])
def test_classes_override_wins_in_the_graph(text: str) -> None:
    graph = archspec.expand(text, overrides={"classes": 3})
    assert list(archspec.summary(graph).output_shapes) == [(3,)]
    assert graph.classes == 3  # what codegen and training read


def test_classes_override_wins_in_summary_cli() -> None:
    result = cli("summary", "-", "--set", "classes=3", "--format", "json", stdin=SEVENTEEN)
    assert result.exit_code == 0, result.output
    assert json.loads(result.output)["output_shape"] == [3]


def test_classes_override_wins_in_compiled_source() -> None:
    from archspec.codegen import generate

    assert "NUM_CLASSES = 3" in generate(SEVENTEEN, overrides={"classes": 3})


@pytest.mark.slow
def test_classes_override_wins_in_keras_model() -> None:
    model = archspec.build(SEVENTEEN, overrides={"classes": 3})
    assert tuple(model.output.shape) == (None, 3)


# -- 2. --variant a --variant b composes (or refuses), never keeps only b ---------------------

EFFNET = str(ROOT / "specs/efficientnet_b0.yaml")


def _total_params(*args: str) -> int:
    result = cli("summary", *args, "--format", "json")
    assert result.exit_code == 0, result.output
    return json.loads(result.output)["total_params"]


def test_two_variants_compose() -> None:
    both = _total_params(EFFNET, "--variant", "b1", "--variant", "notop")
    assert both == archspec.summary(EFFNET, variant=("b1", "notop")).total_params
    assert both not in (_total_params(EFFNET, "--variant", "b1"), _total_params(EFFNET, "--variant", "notop"))
    # b1 without the top: the notop layers of b1's widths and depths
    assert both == archspec.summary(EFFNET, variant="b1", overrides={"top": False}).total_params


def test_conflicting_variants_are_refused_naming_both() -> None:
    result = cli("summary", EFFNET, "--variant", "b1", "--variant", "b2")
    assert result.exit_code == 2
    assert "--variant b1" in result.output and "--variant b2" in result.output and "--set" in result.output
    assert "Traceback" not in result.output


def test_conflicting_variants_settled_by_set() -> None:
    settled = archspec.summary(
        EFFNET, variant=("b1", "b2"), overrides={"width": 1.0, "depth": 1.2, "res": 260, "dropout": 0.3}
    )
    assert settled.total_params == archspec.summary(EFFNET, variant="b2", overrides={"width": 1.0}).total_params


def test_train_takes_every_variant_too() -> None:
    from archspec.commands.train_cmds import train

    option = next(p for p in train.params if p.name == "variant")
    assert option.multiple


# -- 9. `archspec expand` writes a spec that means the same ------------------------------------


def _spec_variants() -> list[tuple[str, str | None]]:
    from archspec.loader import load

    out: list[tuple[str, str | None]] = []
    for path in spec_files():
        scales = load(path).data.get("scales") or {}
        out += [(str(path.relative_to(ROOT)), v) for v in [None, *scales]]
    return out


def _figures(graph) -> dict:
    """Everything `summary --format json` says, less the block grouping (written as comments)."""
    from archspec.analysis import analyse
    from archspec.report import to_dict

    data = to_dict(analyse(graph), None, "float32")
    data.pop("notes")
    for layer in data["layers"]:
        layer.pop("scope")
    return data


@pytest.mark.parametrize(("path", "variant"), _spec_variants())
def test_expanded_spec_validates_with_the_same_summary(path: str, variant: str | None) -> None:
    from archspec.analysis import analyse
    from archspec.emit_yaml import dump
    from archspec.expect import check_expectations

    graph = archspec.expand(ROOT / path, variant=variant)
    again = archspec.expand(dump(graph))
    check_expectations(analyse(again))  # the figures that pinned this variant still hold
    assert _figures(again) == _figures(graph)


def test_expanded_spec_under_set_drops_figures_it_no_longer_meets() -> None:
    spec = ROOT / "specs/seed_cnn.yaml"
    expanded = cli("expand", spec, "--set", "M=1")
    assert expanded.exit_code == 0, expanded.output
    assert "expect" not in archspec.load(expanded.output).data
    checked = cli("validate", "-", stdin=expanded.output)
    assert checked.exit_code == 0, checked.output
    again = archspec.expand(expanded.output)
    assert _figures(again) == _figures(archspec.expand(spec, overrides={"M": 1}))


def test_expanded_variant_keeps_its_own_figures() -> None:
    expanded = cli("expand", ROOT / "specs/vgg16.yaml", "--variant", "notop")
    expect = archspec.load(expanded.output).data["expect"]
    assert "variants" not in expect and expect["output_shape"] == [7, 7, 512]


NUMBERLIKE = """\
archspec: 1
name: "1e3"
description: "5e-1"
input: [8, 8, 1]
classes: 3
layers:
  - {conv: 4, name: "1e3"}
  - {conv: 4, name: "5e-1", padding: same}
  - {add: null, name: "0x10", inputs: ["1e3", "5e-1"]}
  - {flatten: null, name: ".inf"}
  - {dense: "${classes}", name: "no"}
"""


def test_expanded_numberlike_strings_read_back_as_strings() -> None:
    from archspec.emit_yaml import dump

    graph = archspec.expand(NUMBERLIKE)
    text = dump(graph)
    again = archspec.expand(text)
    assert (again.name, again.description) == ("1e3", "5e-1")
    assert [(n.name, n.inputs) for n in again.nodes] == [(n.name, n.inputs) for n in graph.nodes]
    assert archspec.load(text).data["classes"] == 3


# -- 10. --depth, INPUT -> FC, descriptions, name messages -----------------------------------


@pytest.mark.parametrize(("spec", "reason"), [("resnet50", "nest 1 deep"), ("vgg16", "has no blocks")])
@pytest.mark.parametrize("command", ["summary", "diagram"])
def test_a_depth_that_changes_nothing_says_so(tmp_path, spec: str, reason: str, command: str) -> None:
    out = ["-o", tmp_path / "net.dot"] if command == "diagram" else ["--format", "csv"]
    result = CliRunner().invoke(main, [command, str(ROOT / f"specs/{spec}.yaml"), "--depth", "1", *map(str, out)])
    assert result.exit_code == 0, result.output
    assert "note: --depth 1 changes nothing" in result.stderr and reason in result.stderr
    assert "note:" not in result.stdout  # results stay clean on stdout


def test_a_depth_that_collapses_is_quiet() -> None:
    result = CliRunner().invoke(main, ["summary", str(ROOT / "specs/resnet50.yaml"), "--depth", "0"])
    assert result.exit_code == 0 and not result.stderr
    assert len(result.stdout.splitlines()) < 60  # one row per block


@pytest.mark.parametrize(
    ("pattern", "rows"),
    [("INPUT -> FC", 2), ("INPUT -> [FC -> RELU]*1 -> FC", 4), ("INPUT -> RELU -> FC", 3)],
)
def test_fc_on_an_image_input_gets_its_flatten(pattern: str, rows: int) -> None:
    text = f"archspec: 1\ninput: [8, 8, 1]\nclasses: 3\npattern: '{pattern}'\ntokens: {{FC: {{dense: 5}}}}\n"
    graph = archspec.expand(text)
    assert graph.nodes[0].type == "flatten" or graph.nodes[1].type == "flatten"
    assert len(graph.nodes) == rows
    assert list(archspec.summary(graph).output_shapes) == [(3,)]


def test_fc_on_a_vector_input_needs_no_flatten() -> None:
    graph = archspec.expand(ROOT / "specs/seed_grammar_linear.yaml")
    assert [n.type for n in graph.nodes] == ["dense"]


_ASSIGNMENTS = re.compile(r"\b[A-Z]=\d+(?:(?:,\s*|,?\s+and\s+)\b[A-Z]=\d+)+")


@pytest.mark.parametrize("path", [str(p.relative_to(ROOT)) for p in spec_files()])
def test_description_states_the_vars_it_has(path: str) -> None:
    """'with N=2, M=2, K=1' in a description is the spec as written: it must be its vars."""
    data = archspec.load(ROOT / path).data
    variables = data.get("vars") or {}
    for run in _ASSIGNMENTS.findall(data.get("description") or ""):
        for name, value in re.findall(r"\b([A-Z])=(\d+)", run):
            assert variables.get(name) == int(value), f"{path}: description says {name}={value}"


@pytest.mark.parametrize(
    ("where", "name", "rule"),
    [
        ("name: '{}'", "a b", "letters, digits, _, . and - only"),
        ("input: {{shape: [4], name: '{}'}}", "1a", "letters, digits and _ only, not starting with a digit"),
    ],
)
def test_name_messages_say_what_is_accepted(where: str, name: str, rule: str) -> None:
    base = "archspec: 1\ninput: [4]\nlayers: [{dense: 2}]\n"
    text = base.replace("input: [4]\n", where.format(name) + "\n" + ("" if "input" in where else "input: [4]\n"))
    with pytest.raises(archspec.SpecError, match=re.escape(rule)):
        archspec.expand(text)
    for ok in ("resnet50.v1-b", "my_net"):  # the top-level rule accepts what it says
        archspec.expand(base.replace("archspec: 1\n", f"archspec: 1\nname: {ok}\n"))


# -- 3. a layer removed by `when` takes its `inputs:` rewiring with it: said, not silent ----------

SIDE = """\
archspec: 1
input: [8, 8, 4]
vars: {side: false}
blocks:
  pair: {layers: [{conv: 4, padding: same}, {conv: 4, padding: same}]}
layers:
  - {conv: 4, padding: same, name: a}
  - {REMOVED, when: "${side}"}
  - {NEXT}
  - flatten
  - {dense: 2}
"""


@pytest.mark.parametrize(
    "removed",
    [
        "conv: 4, padding: same, name: b, inputs: input",
        "pair: null, name: b, inputs: input",  # a block use is removed the same way
        "conv: 4, padding: same, name: b, inputs: [input]",
    ],
)
@pytest.mark.parametrize("following", ["conv: 4, padding: same, name: c", "pair: null, name: c"])
def test_removed_rewiring_is_an_error_naming_both(removed: str, following: str) -> None:
    text = SIDE.replace("REMOVED", removed).replace("NEXT", following)
    with pytest.raises(archspec.SpecError) as info:
        archspec.expand(text)
    (problem,) = info.value.problems
    assert problem.location.line == 9  # at the layer whose input changed
    assert "'c' would read 'a'" in problem.message and "'b'" in problem.message and "inputs:" in problem.message
    assert archspec.expand(text, overrides={"side": True})  # with the layer there, the wiring is as written


def test_removed_rewiring_inside_a_repeat_is_an_error() -> None:
    text = """\
archspec: 1
input: [8, 8, 4]
vars: {side: false}
layers:
  - {conv: 4, padding: same, name: a}
  - repeat: 2
    as: i
    layers:
      - {conv: 4, padding: same, name: "b${i}"}
      - {conv: 4, padding: same, inputs: a, when: "${side}", name: "side${i}"}
  - {conv: 4, padding: same, name: c}
  - flatten
"""
    with pytest.raises(archspec.SpecError) as info:
        archspec.expand(text)
    messages = [p.message for p in info.value.problems]
    assert any("'b1' would read 'b0'" in m and "'side0'" in m for m in messages)  # inside the repeat
    assert any("'c' would read 'b1'" in m and "'side1'" in m for m in messages)  # after it


@pytest.mark.parametrize(
    "following", ["conv: 4, padding: same, name: c, inputs: a", "conv: 4, padding: same, name: c, inputs: input"]
)
def test_removed_rewiring_with_explicit_inputs_after_is_fine(following: str) -> None:
    text = SIDE.replace("REMOVED", "conv: 4, padding: same, name: b, inputs: input").replace("NEXT", following)
    graph = archspec.expand(text)
    assert graph.node("c").inputs == (following.rsplit(" ", 1)[1],)


def test_removed_layer_that_read_the_previous_one_changes_nothing() -> None:
    text = SIDE.replace("REMOVED", "conv: 4, padding: same, name: b, inputs: a").replace("NEXT", "conv: 4, name: c")
    assert archspec.expand(text).node("c").inputs == ("a",)


# -- messages: each mistake once, where it is written; no follow-on errors ---------------------


def _problems(text: str, **kwargs) -> list:
    with pytest.raises(archspec.SpecError) as info:
        archspec.expand(text, **kwargs)
    return list(info.value.problems)


PATTERN_TYPO = """\
archspec: 1
input: [32, 32, 3]
classes: 10
vars: {N: 2, M: 2, K: 1}
pattern: "INPUT -> [[CONV -> RELU]*N -> POOL?]*M -> [FC -> RELU]*K -> FC"
tokens:
  CONV: {conv: 8, kernel: 3, padding: sme}
  FC: {dense: 16}
"""


def test_a_token_typo_is_reported_once_at_the_token() -> None:
    (problem,) = _problems(PATTERN_TYPO)
    assert (problem.location.line, problem.path) == (7, ("tokens", "CONV", "padding"))
    assert "Did you mean 'same'?" in problem.message
    assert "in 4 instances: m=0, n=0; m=0, n=1; m=1, n=0; m=1, n=1" in problem.message


def test_a_typo_in_the_output_token_is_reported_at_it() -> None:
    text = PATTERN_TYPO.replace("padding: sme", "padding: same") + "  OUT: {dense: 10, activation: softmx}\n"
    (problem,) = _problems(text)
    assert problem.path[:2] == ("tokens", "OUT") and problem.location.line == 9


BLOCK_TYPO = """\
archspec: 1
input: [32, 32, 3]
blocks:
  unit:
    params: {f: 8}
    layers:
      - {conv: "${f}", strides: 0}
      - relu
layers:
  - {unit: 8, name: u1}
  - {unit: 16, name: u2}
  - {unit: 32, name: u3}
  - {conv: 8, inputs: u2}
  - flatten
  - {dense: 2}
"""


def test_a_mistake_in_a_block_is_reported_once_naming_its_instances() -> None:
    (problem,) = _problems(BLOCK_TYPO)  # nor is the conv that reads u2 told that u2 does not exist
    assert problem.location.line == 7 and "(in 3 instances: u1; u2; u3)" in problem.message


def test_a_mistake_in_a_repeat_is_reported_once() -> None:
    text = "archspec: 1\ninput: [8, 8, 1]\nlayers:\n  - repeat: 5\n    as: i\n    layers: [{conv: 4, strides: '${i - 9}'}]\n"
    problems = _problems(text)  # each iteration's strides differ (-9 .. -5): each value is its own message
    assert len({p.message for p in problems}) == 5 and {p.location.line for p in problems} == {6}
    text = text.replace("strides: '${i - 9}'", "strides: 0")
    (problem,) = _problems(text)
    assert "(in 5 instances: i=0; i=1; i=2; i=3; i=4)" in problem.message


def test_one_bad_var_is_one_problem_in_a_deep_net() -> None:
    text = (ROOT / "specs/resnet50.yaml").read_text()
    text = text.replace("top: true}", "top: true, w: '${64 *}'}").replace('"${64 * 2**s}"', '"${w * 2**s}"')
    assert "${w * 2**s}" in text  # used by every one of the 16 units
    (problem,) = _problems(text)
    assert problem.path == ("vars", "w")


def test_readers_of_a_failed_layer_are_not_told_it_is_missing() -> None:
    text = """\
archspec: 1
input: [8, 8, 1]
layers:
  - {conv: 8, strides: 0, name: c1}
  - {conv: 8, inputs: c1, name: c2}
  - {add: null, inputs: [c1, c2]}
  - {dense: 3, inputs: c1}
"""
    (problem,) = _problems(text)  # no "unknown input 'c1'", no shape error for dense on c1's 4-D output
    assert problem.path == ("layers", 0, "strides")


def test_a_pattern_without_classes_gets_advice() -> None:
    (problem,) = _problems(PATTERN_TYPO.replace("classes: 10\n", "").replace("sme", "same"))
    assert "unknown name 'classes'" in problem.message
    assert "`classes: N` at the top level" in problem.message and "--set classes=N" in problem.message
    assert archspec.expand(PATTERN_TYPO.replace("classes: 10\n", "").replace("sme", "same"), overrides={"classes": 4})


# -- messages: suggestions that lead somewhere -----------------------------------------------


@pytest.mark.parametrize(
    ("item", "hint"),
    [
        ("{conv: 4, padding: SAME}", "Did you mean 'same'?"),
        ("{maxpool: 2, padding: Valid}", "Did you mean 'valid'?"),
        ("{conv: 4, activation: RELU}", "Did you mean 'relu'?"),
    ],
)
def test_a_value_in_other_letter_case_is_suggested(item: str, hint: str) -> None:
    problems = _problems(f"archspec: 1\ninput: [8, 8, 1]\nlayers: [{item}, flatten]\n")
    assert any(hint in p.message for p in problems), problems


def test_a_lower_case_pattern_token_is_suggested_in_upper_case() -> None:
    text = (
        "archspec: 1\ninput: [8, 8, 1]\nclasses: 2\npattern: 'INPUT -> CONV -> relu -> FC'\ntokens: {CONV: {conv: 4}}\n"
    )
    (problem,) = _problems(text)
    assert "'relu'" in problem.message and "Did you mean 'RELU'?" in problem.message


def test_set_in_other_letter_case_is_suggested() -> None:
    result = cli("summary", ROOT / "specs/seed_cnn.yaml", "--set", "m=3")
    assert result.exit_code == 2 and "Did you mean 'M'?" in result.output


@pytest.mark.parametrize(
    ("above", "owner"), [("conv: 16", "conv"), ("{maxpool: 2}", "maxpool"), ("{residual: 16}", "residual")]
)
def test_a_stray_argument_is_said_to_belong_to_the_layer_above(above: str, owner: str) -> None:
    stray = "strides: 2"
    text = f"archspec: 1\ninput: [32, 32, 3]\nlayers:\n  - {above}\n  - {stray}\n  - flatten\n"
    (problem,) = _problems(text)
    assert f"looks like an argument of the layer above ({owner})" in problem.message
    assert "Did you mean" not in problem.message


def test_a_stray_argument_without_an_owner_above_is_still_called_an_argument() -> None:
    (problem,) = _problems("archspec: 1\ninput: [8, 8, 1]\nlayers:\n  - flatten\n  - kernel: 3\n")
    assert "'kernel' is an argument of some layer types, not a type" in problem.message
    assert "relu" not in problem.message


@pytest.mark.parametrize(
    ("text", "wanted"),
    [
        (
            "archspec: 1\ninput: [8, 8, 1]\nlayers: [flatten, {dense: 2}]\ntrain:\n  optimizer: {name: adamw, wd: 0.1}\n",
            "weight_decay",
        ),
        ("archspec: 1\ninput: [8, 8, 1]\nlayers:\n  - {conv: 4}\n  - {residual: 16, se: 16}\n", "se_ratio"),
    ],
)
def test_allowed_lists_are_never_cut(text: str, wanted: str) -> None:
    messages = [p.message for p in _problems(text)]
    assert any("Allowed:" in m and wanted in m.split("Allowed:")[1] for m in messages), messages


def test_a_suggested_alias_says_what_it_means() -> None:
    """'layernorm' once got "Did you mean 'norm'?": local response normalisation, not layer norm."""
    (problem,) = _problems("archspec: 1\ninput: [8, 8, 1]\nlayers: [nrom, flatten]\n")
    assert "Did you mean 'norm' (an alias of lrn: Local response normalization across channels)?" in problem.message


TRICKY = ["1e3", "5e-1", "1E3", "0x10", "0o7", "010", ".inf", "-.inf", ".nan", "no", "yes", "off", "null", "~",
          "true", "False", "1_000", "+1", "-.5", "1.", "12:30", "", " lead", "trail ", "a: b", "#x", "@x", "x #y",
          "[1]", "{a: 1}", "*x", "&x", "!x", "%x", "'q'", '"q"', "-", "- x", "?", "é", "${x}"]  # fmt: skip


@pytest.mark.parametrize("text", TRICKY)
def test_expanded_strings_read_back_the_same(text: str) -> None:
    """Whatever a string holds, archspec expand writes it so that archspec's loader reads it back."""
    from archspec.emit_yaml import dump

    name = text if text.strip() and "${" not in text else "n" + text.replace("$", "")  # names are not expressions
    spec = {"archspec": 1, "name": "n", "description": text, "input": [4], "layers": [{"dense": 2, "name": name}]}
    graph = archspec.expand(spec)
    data = archspec.load(dump(graph)).data
    assert data.get("description", "") == text and data["layers"][0]["name"] == name


@pytest.mark.parametrize("path", [str(p.relative_to(ROOT)) for p in spec_files()])
def test_expanded_spec_under_set_is_the_same_network(path: str) -> None:
    from archspec.analysis import analyse
    from archspec.emit_yaml import dump
    from archspec.expect import check_expectations

    variables = archspec.load(ROOT / path).data.get("vars") or {}
    if not variables:
        pytest.skip("no vars to --set")
    name, value = next(iter(variables.items()))
    graph = archspec.expand(ROOT / path, overrides={name: value})
    again = archspec.expand(dump(graph))
    check_expectations(analyse(again))  # validates: no figures pinned the overridden network
    assert _figures(again) == _figures(graph)


@pytest.mark.parametrize(
    ("pattern", "tokens"),
    [
        ("INPUT -> [CONV -> RELU]*X -> FC", "{CONV: {conv: 4}}"),  # an unknown count
        ("INPUT -> [CONV -> POOL]*3 -> FC", "{CONV: {conv: 4}}"),  # a pool too many for 8x8
        ("INPUT -> [CONV -> RELU]*2 -> FC", "{CONV: {conv: '${nope}'}}"),  # in a token: at the token
    ],
)
def test_pattern_problems_carry_no_internal_paths(pattern: str, tokens: str) -> None:
    text = f"archspec: 1\ninput: [8, 8, 1]\nclasses: 3\npattern: '{pattern}'\ntokens: {tokens}\n"
    for problem in _problems(text):
        assert problem.path == ("pattern",) or problem.path[:1] == ("tokens",), problem
        assert "layers[" not in str(problem) and "pattern[" not in str(problem)


@pytest.mark.parametrize(
    ("args", "says"),
    [
        (["specs/vgg16.yaml", "--variant", "notop"], "`expect:` holds the figures pinned for --variant notop"),
        (["specs/seed_cnn.yaml", "--set", "M=1"], "--set M=1; variables resolved"),
        (["specs/efficientnet_b0.yaml", "--variant", "b1", "--variant", "notop"], "do not pin this network"),
        (["specs/googlenet.yaml", "--outputs", "predictions"], "--outputs predictions"),
    ],
)
def test_expand_says_which_network_it_wrote(args: list[str], says: str) -> None:
    result = cli("expand", ROOT / args[0], *args[1:])
    first = result.output.splitlines()[0]
    assert first.startswith("# expanded with ") and says in first
    plain = cli("expand", ROOT / args[0])
    assert plain.output.startswith("archspec: 1")  # the spec as written needs no such line
