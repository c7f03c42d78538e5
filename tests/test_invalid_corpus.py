"""The invalid-spec corpus: every file in tests/corpus/invalid/ states, in its header, the exact
``LINE:COL: message`` lines ``archspec validate`` must print for it (see corpus_check.py).

The run goes through the real CLI (click's runner): exit status 1, no traceback, every
expected line present and no other problem. Usage errors (exit 2) are tested at the end.
"""

from __future__ import annotations

from pathlib import Path

import pytest
from click.testing import CliRunner
from corpus_check import check_output, expectations

from archspec.cli import main

CORPUS = Path(__file__).parent / "corpus" / "invalid"
FILES = sorted(CORPUS.glob("*.yaml"))


def _run(*args: str):
    return CliRunner().invoke(main, list(args))


def test_the_corpus_covers_the_promised_cases():
    names = {p.stem for p in FILES}
    for needed in (
        "unknown_top_level_key", "wrong_types", "missing_archspec", "missing_input", "unknown_layer_type",
        "unknown_argument", "misspelled_block", "undefined_input", "duplicate_layer_names", "block_cycle",
        "repeat_negative", "repeat_not_integer", "repeat_expression_error", "filters_negative", "pool_below_one",
        "add_mismatched_shapes", "concat_mismatched_spatial", "dense_without_flatten", "pattern_unclosed",
        "expect_drift", "several_errors", "yaml_syntax", "duplicate_keys", "yaml11_octal", "yaml11_booleans",
    ):  # fmt: skip
        assert needed in names


@pytest.mark.parametrize("path", FILES, ids=[p.stem for p in FILES])
def test_invalid_spec_gives_its_messages(path: Path):
    arg = str(path)
    result = _run("validate", arg)
    assert result.exit_code == 1, result.output
    assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
    failures = check_output(path, arg, result.output)
    assert not failures, "\n".join(failures) + "\n--- output:\n" + result.output


def test_several_files_are_all_checked_and_reported():
    picked = [str(CORPUS / "unknown_argument.yaml"), str(CORPUS / "block_cycle.yaml")]
    result = _run("validate", *picked)
    assert result.exit_code == 1
    for arg in picked:
        assert not check_output(Path(arg), arg, result.output)


def test_every_expectation_has_a_position_where_the_problem_has_one():
    # A corpus line without LINE:COL would weaken the test: only messages about the file as a whole lack one.
    for path in FILES:
        wanted, _ = expectations(path)
        assert all(e.line for e in wanted), path.name


def test_the_checker_can_fail():
    path = CORPUS / "filters_negative.yaml"
    assert check_output(path, "x.yaml", "x.yaml:6:12: layers[0].conv: something else")
    assert check_output(path, "x.yaml", "")
    assert not check_output(
        path, "x.yaml", "x.yaml:6:12: layers[0].conv: " + expectations(path)[0][0].text.split(": ", 1)[1]
    )


# -- usage errors: exit status 2, a message, no traceback -------------------------------------


@pytest.mark.parametrize(
    ("args", "fragment"),
    [
        (["validate", "no/such/spec.yaml"], "no such file: no/such/spec.yaml"),
        (["summary", "no/such/spec.yaml"], "no such file"),
        (["validate", "--bogus", "x.yaml"], "No such option '--bogus'"),
        (["validate"], "Missing argument"),
        (["summary", str(CORPUS.parent.parent.parent / "specs" / "vgg16.yaml"), "--variant", "b9"], "unknown variant"),
        (["expand", str(CORPUS.parent.parent.parent / "specs" / "vgg16.yaml"), "--set", "novalue"], "NAME=VALUE"),
        (
            ["summary", str(CORPUS.parent.parent.parent / "specs" / "vgg16.yaml"), "--format", "xml"],
            "'xml' is not one of",
        ),
        (["--max-params", "lots", "validate", "x.yaml"], "cannot read 'lots' as a number"),
        (["--max-memory", "3XB", "validate", "x.yaml"], "cannot read '3XB' as a size"),
    ],
)
def test_usage_errors_exit_2(args: list[str], fragment: str):
    result = _run(*args)
    assert result.exit_code == 2, result.output
    assert fragment in result.output
    assert "Traceback" not in result.output
