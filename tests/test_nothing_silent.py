"""Issue 14 (the spec-language half): nothing the user asks for is silently ignored or different.

Each test reproduces one report of the issue; most are parametrized so that the kin of the
reproducer (every zoo spec, every variant, every place a mistake can be written) is covered.
"""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from conftest import ROOT

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
    assert graph.sections["_classes"] == 3  # what codegen and training read


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
