"""A run directory holds its experiment logs: history.csv beside history.json, and TensorBoard events."""

from __future__ import annotations

import csv
import json

import pytest
from click.testing import CliRunner
from conftest import ROOT

pytestmark = pytest.mark.slow


def test_history_csv_is_the_history_table():
    from archspec.training.rundir import history_csv

    history = {"loss": [1.0, 0.5], "epoch": [1, 2], "val_loss": [None, 0.7], "stage": [0, 0]}
    rows = list(csv.reader(history_csv(history).splitlines()))
    assert rows == [["epoch", "stage", "loss", "val_loss"], ["1", "0", "1.0", ""], ["2", "0", "0.5", "0.7"]]


@pytest.fixture(scope="module")
def run(tmp_path_factory):
    from archspec.cli import main
    from archspec.training import datasets

    root = tmp_path_factory.mktemp("logs")
    data = datasets.write("npz", root / "digits.npz")
    args = ["train", str(ROOT / "specs" / "seed_cnn.yaml"), "--data", str(data), "--run-dir", str(root / "run")]
    result = CliRunner().invoke(main, [*args, "--epochs", "2", "-q"])
    assert result.exit_code == 0, result.output
    return root / "run"


def test_train_writes_history_csv_equal_to_history_json(run):
    history = json.loads((run / "history.json").read_text())
    with open(run / "history.csv", newline="") as fh:
        rows = list(csv.DictReader(fh))
    assert [int(r["epoch"]) for r in rows] == history["epoch"] == [1, 2]
    assert [float(r["val_loss"]) for r in rows] == pytest.approx(history["val_loss"])


def test_train_writes_tensorboard_events_for_every_epoch(run):
    from tensorboard.backend.event_processing.event_accumulator import EventAccumulator

    for split in ("train", "validation"):
        events = EventAccumulator(str(run / "tensorboard" / split))
        events.Reload()
        tags = events.Tags()["tensors"] + events.Tags()["scalars"]
        assert "epoch_loss" in tags, tags
        values = (
            events.Tensors("epoch_loss") if "epoch_loss" in events.Tags()["tensors"] else events.Scalars("epoch_loss")
        )
        assert [v.step for v in values] == [0, 1]
