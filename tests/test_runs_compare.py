"""`archspec compare RUN...`: runs side by side from their run directories, without TensorFlow."""

from __future__ import annotations

import json
import shutil

import pytest
from click.testing import CliRunner
from conftest import ROOT, run_cli_without_framework

from archspec import runs, summary
from archspec.cli import main


def make_run(folder, spec="seed_cnn.yaml", *, sets=None, epochs=3, accuracy=0.9, test=0.85, finished=True):
    """A run directory as `archspec train` leaves it (the files compare reads)."""
    folder.mkdir(parents=True)
    shutil.copy(ROOT / "specs" / spec, folder / "spec.yaml")
    options = {"variant": None, "sets": sets or {}}
    (folder / "run.json").write_text(json.dumps({"spec": spec, "options": options, "class_names": ["a", "b"]}))
    best = {"monitor": "val_loss", "value": 0.25, "epoch": epochs - 1}
    (folder / "state.json").write_text(json.dumps({"epoch": epochs, "best": best, "finished": finished}))
    history = {"epoch": list(range(1, epochs + 1)), "loss": [1.0] * epochs, "accuracy": [accuracy] * epochs}
    (folder / "history.json").write_text(json.dumps(history))
    (folder / "test.json").write_text(json.dumps({"count": 10, "metrics": {"loss": 0.5, "accuracy": test}}))
    return folder


def test_rows_carry_the_static_figures_of_each_runs_own_spec(tmp_path):
    a = make_run(tmp_path / "a")
    b = make_run(tmp_path / "b", sets={"M": 3}, finished=False, epochs=2)
    row_a, row_b = runs.compare([a, b])
    want_a = summary(ROOT / "specs" / "seed_cnn.yaml")
    want_b = summary(ROOT / "specs" / "seed_cnn.yaml", overrides={"M": 3})
    assert (row_a.params, row_a.macs) == (want_a.total_params, want_a.macs)
    assert (row_b.params, row_b.macs) == (want_b.total_params, want_b.macs) != (row_a.params, row_a.macs)
    assert row_a.test == {"loss": 0.5, "accuracy": 0.85} and row_a.last == {"loss": 1.0, "accuracy": 0.9}
    assert row_b.epochs == 2 and not row_b.finished


def test_table_json_csv_and_markdown(tmp_path):
    a, b = make_run(tmp_path / "a"), make_run(tmp_path / "b", accuracy=0.5, test=0.4, finished=False)
    runner = CliRunner()
    table = runner.invoke(main, ["compare", str(a), str(b)])
    assert table.exit_code == 0, table.output
    assert "test accuracy" in table.output and "0.8500" in table.output and "0.4000" in table.output
    assert "(unfinished)" in table.output and "val_loss 0.2500 @2" in table.output
    records = json.loads(runner.invoke(main, ["compare", str(a), str(b), "--format", "json"]).output)
    assert [r["test_accuracy"] for r in records] == [0.85, 0.4]
    csv_text = runner.invoke(main, ["compare", str(a), "--format", "csv"]).output
    assert csv_text.splitlines()[0].startswith("run,spec,epochs,finished,params,macs,best,")
    markdown = runner.invoke(main, ["compare", str(a), "--format", "markdown"]).output
    assert markdown.splitlines()[1].startswith("|---|")


def test_a_run_whose_spec_no_longer_expands_says_so(tmp_path):
    run = make_run(tmp_path / "a")
    (run / "spec.yaml").write_text("archspec: 1\ninput: [8, 8, 1]\nlayers: [{conv: -3}]\n")
    (row,) = runs.compare([run])
    assert row.params is None and row.macs is None and row.note.startswith("no static figures")
    assert "note: " in runs.to_table([row])


@pytest.mark.parametrize(
    ("damage", "message"),
    [
        (lambda d: (d / "run.json").unlink(), "is not a run directory"),
        (lambda d: (d / "history.json").write_text("{not json"), "history.json: not valid JSON"),
        (lambda d: (d / "test.json").write_bytes(b"\xff\xfe"), "test.json: not valid JSON"),
        (lambda d: ((d / "state.json").unlink(), (d / "state.json").mkdir()), "state.json: not a run file"),
    ],
)
def test_broken_run_directories_are_usage_errors(tmp_path, damage, message):
    run = make_run(tmp_path / "a")
    damage(run)
    result = CliRunner().invoke(main, ["compare", str(run)])
    assert result.exit_code == 2, result.output
    assert message in result.output


def test_compare_does_not_import_tensorflow(tmp_path):
    run = make_run(tmp_path / "a")
    proc = run_cli_without_framework("compare", run)
    assert proc.returncode == 0, proc.stdout + proc.stderr
