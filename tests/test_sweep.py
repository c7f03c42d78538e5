"""``archspec sweep``: grid parsing, the --where condition, the Pareto front, refused combinations,
the output formats, Ctrl-C, and --top K --train (slow)."""

from __future__ import annotations

import csv
import io
import json
import random
import sys

import pytest
from click.testing import CliRunner
from conftest import ROOT, run_cli_without_framework
from hypothesis import given, settings
from hypothesis import strategies as st

from archspec import sweep as sw
from archspec.cli import main
from archspec.errors import UsageError

GENERAL = str(ROOT / "specs" / "seed_grammar_general.yaml")


def _cli(*args: str):
    return CliRunner().invoke(main, ["sweep", *args])


# -- grid ----------------------------------------------------------------------------------------


def test_grid_lists_ranges_and_scalars():
    grid = sw.parse_grid(["N=1,2,3", "M=2..5", "mix=0,4..6", "pool=true,false", "act=relu,gelu", "w=0.5,1.0"])
    assert grid == {
        "N": [1, 2, 3],
        "M": [2, 3, 4, 5],
        "mix": [0, 4, 5, 6],
        "pool": [True, False],
        "act": ["relu", "gelu"],
        "w": [0.5, 1.0],
    }
    assert list(sw.combinations({"a": [1, 2], "b": ["x"]})) == [{"a": 1, "b": "x"}, {"a": 2, "b": "x"}]


@pytest.mark.parametrize(
    ("item", "message"),
    [
        ("N", "--grid takes NAME=VALUES"),
        ("=1,2", "--grid takes NAME=VALUES"),
        ("1N=1", "not a variable name"),
        ("N=1,,2", "an empty value"),
        ("N=", "an empty value"),
        ("M=2..x", "a range is two integers a..b"),
        ("M=2.5..4", "a range is two integers a..b"),
        ("M=5..2", "the range 5..2 is empty"),
        ("N=1,2,1", "a value is given twice"),
        ("N=[1,2]", "lists and mappings cannot be swept"),
        ("N=a: b", "not a single value"),
        ("N='x", "cannot read"),
        ("M=0..100000000", "more than 200,000 values"),
    ],
)
def test_grid_errors_say_what_is_wrong(item, message):
    with pytest.raises(UsageError, match=message.replace("(", r"\(").replace(".", r"\.")):
        sw.parse_grid([item])


def test_grid_names_must_be_the_specs_variables_and_given_once():
    with pytest.raises(UsageError, match=r"no variable 'Nn'.*Did you mean 'N'"):
        sw.parse_grid(["Nn=1"], ["N", "M"])
    with pytest.raises(UsageError, match="given twice"):
        sw.parse_grid(["N=1", "N=2"])
    with pytest.raises(UsageError, match="combinations; the limit is"):
        sw.parse_grid(["a=0..999", "b=0..999"])


# -- --where -------------------------------------------------------------------------------------


def test_condition_units_and_names():
    cond = sw.parse_condition("params < 1e6 and macs < 5e7 and activation_bytes < 64MiB", ["N"])
    assert "67108864" in cond.text
    figures = {"params": 10, "macs": 10, "activation_bytes": 64 * 2**20 - 1}
    assert cond(figures)
    assert not cond({**figures, "activation_bytes": 64 * 2**20})
    assert sw.parse_condition("params <= 1.5k", []).text == "params <= 1500"
    assert sw.parse_condition("N >= 2 and layers < 3M", ["N"])({"N": 2, "layers": 5})


@pytest.mark.parametrize(
    ("text", "message"),
    [
        ("parms < 3", "unknown name 'parms'"),
        ("params +", "cannot parse"),
        ("params + 1", "must be a condition"),
        ("__import__('os').system('true')", "not allowed|unknown name"),
        ("params.bit_length() > 3", "only these functions may be called"),
    ],
)
def test_condition_errors(text, message):
    with pytest.raises(UsageError, match=message):
        cond = sw.parse_condition(text, [])
        cond(dict.fromkeys(sw.FIGURES, 1))


# -- the Pareto front ----------------------------------------------------------------------------


def test_pareto_front_hand_checked():
    points = [(1, 5), (2, 3), (2, 4), (3, 3), (4, 1), (4, 1), (5, 0.5), (6, 2), (0.5, 9), (0.5, 9.5)]
    # (2, 4) is beaten by (2, 3); (3, 3) by (2, 3) (no worse in both, better in one); (6, 2) by (4, 1);
    # (0.5, 9.5) by (0.5, 9); the two (4, 1) are equal, so neither beats the other
    assert sw.pareto_front(points) == {0, 1, 4, 5, 6, 8}


def _dominated(p, points):
    return any(q[0] <= p[0] and q[1] <= p[1] and q != p for q in points)


@settings(max_examples=200, deadline=None)
@given(st.lists(st.tuples(st.integers(0, 6), st.integers(0, 6)), max_size=30))
def test_pareto_front_matches_the_definition(points):
    expected = {i for i, p in enumerate(points) if not _dominated(p, points)}
    assert sw.pareto_front(points) == expected


# -- running ---------------------------------------------------------------------------------------


def test_refused_combinations_are_counted_by_reason():
    grid = sw.parse_grid(["N=1,2", "M=4..7", "K=1"])
    result = sw.run(GENERAL, grid)
    assert result.total == result.done == 8
    assert len(result.candidates) == 4 and result.invalid_count == 4  # M=6, 7 pool a 1x1 map
    (reason,) = result.invalid  # one reason (its numbers generalised), whichever block met it
    assert "does not fit the #x# input" in reason
    refused = result.invalid[reason]
    assert refused.count == 4 and refused.example.values == {"N": 1, "M": 6, "K": 1}  # the first refused
    assert "does not fit the 1x1 input" in refused.example.error  # the example keeps its own message


def test_where_filters_and_counts():
    grid = sw.parse_grid(["N=1,2", "M=1..3"])
    every = sw.run(GENERAL, grid)
    cond = sw.parse_condition("params < 1e6", grid)
    kept = sw.run(GENERAL, grid, where=cond)
    assert len(kept.candidates) + kept.filtered_out == len(every.candidates)
    assert {tuple(c.values.items()) for c in kept.candidates} == {
        tuple(c.values.items()) for c in every.candidates if c.figures["params"] < 1e6
    }


def test_figures_are_those_of_summary():
    import archspec

    grid = sw.parse_grid(["N=2", "M=3", "K=2"])
    (candidate,) = sw.run(GENERAL, grid).candidates
    analysis = archspec.summary(GENERAL)  # the spec's own N=2, M=3, K=2
    assert candidate.figures["params"] == analysis.total_params == 879914
    assert candidate.figures["macs"] == analysis.macs
    assert candidate.figures["activation_bytes"] == analysis.activation_bytes("float32")


def test_ctrl_c_keeps_what_is_done():
    def stop(done: int) -> None:
        if done == 3:
            raise KeyboardInterrupt

    result = sw.run(GENERAL, sw.parse_grid(["N=1,2", "M=1..3"]), progress=stop)
    assert result.interrupted and result.done == 3 and len(result.candidates) == 3


# -- the command -----------------------------------------------------------------------------------


def test_table_is_sorted_and_marks_the_front():
    result = _cli(GENERAL, "--grid", "N=1,2", "--grid", "M=4..7", "--grid", "K=1", "--sort", "macs")
    assert result.exit_code == 0, result.output
    lines = result.output.splitlines()
    assert lines[0].split() == ["#", "N", "M", "K", "params", "MACs", "activations", "layers", "front"]
    macs = [int(line.split()[5].replace(",", "")) for line in lines[1:5]]
    assert macs == sorted(macs)
    assert "8 combinations, 4 valid, 4 invalid; Pareto front of (params, macs)" in result.output
    assert "invalid combinations, by reason:" in result.output
    assert sum(1 for line in lines if "does not fit" in line) == 1  # summarised, not one line each


def test_json_and_csv_agree():
    args = (GENERAL, "--grid", "N=1,2", "--grid", "M=1..3", "--where", "params < 2M", "--pareto", "params,layers")
    data = json.loads(_cli(*args, "--format", "json").output)
    rows = list(csv.DictReader(io.StringIO(_cli(*args, "--format", "csv").stdout)))
    assert data["kept"] == len(data["candidates"]) == len(rows)
    assert data["pareto_figures"] == ["params", "layers"]
    for record, row in zip(data["candidates"], rows, strict=True):
        assert int(row["params"]) == record["params"] < 2_000_000
        assert row["pareto"] == str(record["pareto"])
    front = [(r["params"], r["layers"]) for r in data["candidates"] if r["pareto"]]
    others = [(r["params"], r["layers"]) for r in data["candidates"] if not r["pareto"]]
    assert front and all(_dominated(p, front) for p in others)


def test_usage_errors_exit_2_with_a_message():
    for args, message in [
        ((), "give at least one --grid"),
        (("--grid", "X=1"), "no variable 'X'"),
        (("--grid", "N=1", "--sort", "size"), "--sort: unknown figure 'size'"),
        (("--grid", "N=1", "--pareto", "params"), "--pareto takes two figures"),
        (("--grid", "N=1", "--set", "N=2"), "either fixed or swept"),
        (("--grid", "N=1", "--train"), "--train needs --top K"),
    ]:
        result = _cli(GENERAL, *args)
        assert result.exit_code == 2, (args, result.output)
        assert message in result.output
        assert "Traceback" not in result.output


def test_ctrl_c_prints_what_is_done(monkeypatch):
    real = sw._one
    calls = []

    def interrupted(*args, **kwargs):
        calls.append(1)
        if len(calls) == 4:
            raise KeyboardInterrupt
        return real(*args, **kwargs)

    monkeypatch.setattr(sw, "_one", interrupted)
    result = _cli(GENERAL, "--grid", "N=1,2", "--grid", "M=1..3")
    assert result.exit_code == 130
    assert "interrupted: 3 of 6 combinations done" in result.output
    assert "3 of 6 combinations, 3 valid" in result.output
    assert len([line for line in result.output.splitlines() if line.endswith("*") and " of " not in line]) == 3


def test_plot_writes_a_png(tmp_path):
    target = tmp_path / "front.png"
    result = _cli(GENERAL, "--grid", "N=1,2", "--grid", "M=1..3", "--plot", str(target))
    assert result.exit_code == 0, result.output
    assert target.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_progress_only_for_long_sweeps_on_a_terminal(monkeypatch):
    from archspec.commands import sweep_cmds

    assert sweep_cmds._progress_bar(10**6)[0] is None  # stderr is not a terminal here
    monkeypatch.setattr(sys.stderr, "isatty", lambda: True, raising=False)
    assert sweep_cmds._progress_bar(10)[0] is None  # too short to need one
    advance, close = sweep_cmds._progress_bar(5000)
    assert advance is not None
    for done in range(1, 5001):
        advance(done)
    close()


def test_sweep_does_not_import_tensorflow():
    proc = run_cli_without_framework("sweep", GENERAL, "--grid", "N=1,2", "--grid", "M=1..3", "--where", "params < 1M")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_random_grids_never_crash():
    rng = random.Random(7)
    for _ in range(5):
        n = rng.sample(range(0, 4), 2)
        result = _cli(GENERAL, "--grid", f"N={n[0]},{n[1]}", "--grid", f"M={rng.randint(0, 7)}", "--format", "json")
        assert result.exception is None or isinstance(result.exception, SystemExit), repr(result.exception)
        # exit 1 only when every combination was refused (M=7 pools an 8-pixel map to nothing)
        data = json.loads(result.stdout)
        assert result.exit_code == (0 if data["valid"] else 1), result.output


def test_a_sweep_with_no_valid_combination_fails(tmp_path):
    spec = tmp_path / "broken.yaml"
    spec.write_text("- just\n- a list\n")
    result = _cli(str(spec), "--grid", "classes=2,3")
    assert result.exit_code == 1, result.output
    assert "no combination is a valid spec" in result.output


@pytest.mark.slow
def test_top_1_is_trained_and_its_accuracy_added(tmp_path):
    from archspec.training import datasets

    data = datasets.write("npz", tmp_path / "digits.npz")
    runs = tmp_path / "runs"
    seed = str(ROOT / "specs" / "seed_cnn.yaml")
    args = ("--grid", "N=1", "--grid", "M=1,2", "--set", "K=1", "--sort", "-params", "--top", "1")
    result = CliRunner().invoke(
        main,
        [
            "sweep",
            seed,
            *args,
            "--train",
            "--runs-dir",
            str(runs),
            "--data",
            str(data),
            "--epochs",
            "1",
            "--format",
            "json",
        ],
    )
    assert result.exit_code == 0, result.output
    (row,) = json.loads(result.stdout)["candidates"]
    (static,) = json.loads(_cli(seed, *args, "--format", "json").stdout)["candidates"]
    assert {k: row[k] for k in static} == static  # the best candidate is the one trained
    assert row["accuracy_on"] == "test"
    assert 0.0 <= row["accuracy"] <= 1.0
    (run_dir,) = runs.iterdir()
    assert (run_dir / "run.json").exists()
