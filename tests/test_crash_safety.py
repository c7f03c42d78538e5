"""Crashes mid-write: `archspec extract` and `archspec train` killed with SIGKILL at random
points leave files that are complete or absent, and resuming finishes the job.

Each command runs in a child process on a tiny network, is killed at moments drawn from a
seeded random generator (printed on failure: ``KILL_SEED``), and after every kill the output
directory is inspected: every file archspec names is complete (HDF5 opens and holds every
row, JSON parses, `.keras` and `.png` files pass their format's integrity check); only
hidden temporary files (``.NAME.XXXXXXXX.suffix``) may be partial. Then the command is run
again and must give what an uninterrupted run gives: for extraction the same features, bit
for bit; for training the same epochs, history and optimizer step count (not the same
weights: a resumed epoch shuffles its data differently, see docs/training.md).
"""

from __future__ import annotations

import json
import os
import random
import signal
import subprocess
import sys
import time
import zipfile
from pathlib import Path

import h5py
import numpy as np
import pytest
from conftest import SUBPROCESS_ENV, digit_folders, run_state

pytestmark = pytest.mark.slow

KILL_SEED = int(os.environ.get("KILL_SEED", "20261122"))

TINY_BASE = """archspec: 1
name: tiny
input: [16, 16, 3]
layers:
  - {conv: 4, kernel: 3, strides: 2, padding: same, name: c1}
  - {relu: null, name: r1}
  - {conv: 8, kernel: 3, padding: same, name: c2}
  - {gap: null, name: pool}
"""

FEATURES = """archspec: 1
name: feats
input: [16, 16, 3]
base: {spec: tiny.yaml, output: pool, weights: tiny.weights.h5}
layers: []
"""

TRAIN = """archspec: 1
name: tinytrain
input: [8, 8, 1]
classes: 10
layers:
  - {conv: 8, kernel: 3, padding: same, activation: relu}
  - {maxpool: 2}
  - flatten
  - {dense: 10, activation: softmax}
train:
  data: {validation: 0.1, test: 0.2, normalize: rescale}
  epochs: 8
  batch_size: 32
  optimizer: {name: adam, lr: 0.01}
  seed: 1
"""


def _cmd(*args: object) -> list[str]:
    return [sys.executable, "-m", "archspec", *map(str, args)]


def _run(*args: object, cwd: Path) -> subprocess.CompletedProcess:
    proc = subprocess.run(_cmd(*args), capture_output=True, text=True, env=SUBPROCESS_ENV, cwd=cwd, timeout=600)
    assert proc.returncode == 0, proc.stdout + proc.stderr
    return proc


def _kill_when(args: list[object], cwd: Path, ready, delay: float) -> tuple[int | None, str]:
    """Start archspec, wait until ``ready()`` (or the process ends), sleep ``delay``, SIGKILL it.
    Returns the exit code (None if killed) and the output."""
    proc = subprocess.Popen(_cmd(*args), cwd=cwd, env=SUBPROCESS_ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while proc.poll() is None and not ready() and time.monotonic() < deadline:
        time.sleep(0.01)
    time.sleep(delay)
    finished = proc.poll() is not None
    if not finished:
        proc.send_signal(signal.SIGKILL)
    out = proc.communicate()[0].decode(errors="replace")
    return (proc.returncode if finished else None), out


def _hidden_temporaries(folder: Path) -> list[Path]:
    return [p for p in folder.rglob(".*") if p.is_file()]


# -- extraction ---------------------------------------------------------------------------------


def _read_features(path: Path) -> dict[str, object]:
    with h5py.File(path, "r") as db:
        return {
            "features": db["features"][()],
            "labels": db["labels"][()],
            "label_names": list(db["label_names"][()]),
            "attrs": {k: db.attrs[k] for k in db.attrs if k not in ("data",)},
        }


def _assert_same_features(path: Path, clean: dict[str, object]) -> None:
    got = _read_features(path)
    np.testing.assert_array_equal(got["features"], clean["features"])
    np.testing.assert_array_equal(got["labels"], clean["labels"])
    assert got["label_names"] == clean["label_names"]


@pytest.fixture(scope="module")
def extraction(tmp_path_factory):
    root = tmp_path_factory.mktemp("extract")
    (root / "tiny.yaml").write_text(TINY_BASE)
    (root / "feats.yaml").write_text(FEATURES)
    digit_folders(root / "digits", per_class=20, size=16)
    _run("build", "tiny.yaml", "--weights", "-o", "tiny.weights.h5", cwd=root)
    args = ["extract", "feats.yaml", "--data", "digits", "--batch-size", "4", "--buffer-size", "8", "--no-progress"]
    started = time.monotonic()
    proc = subprocess.Popen(
        _cmd(*args, "-o", "clean.h5"), cwd=root, env=SUBPROCESS_ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT
    )
    marker = root / "clean.h5.progress.json"
    while proc.poll() is None and not marker.exists():
        time.sleep(0.005)
    writing = time.monotonic()
    out = proc.communicate()[0].decode(errors="replace")
    assert proc.returncode == 0, out
    done = time.monotonic()
    return root, args, _read_features(root / "clean.h5"), (writing - started, done - writing)


def test_extract_killed_at_random_points_resumes_to_the_clean_result(extraction):
    root, args, clean, (starting, writing) = extraction
    rng = random.Random(KILL_SEED)
    target, partial = root / "out.h5", root / "out.h5.partial"
    marker = root / "out.h5.progress.json"

    def rows_written(at_least: int):
        def ready() -> bool:
            try:
                return json.loads(marker.read_text())["rows"] >= at_least
            except (FileNotFoundError, ValueError, KeyError):
                return False

        return ready

    kills = []
    for trial in range(4):
        # trial 0 dies at a random moment of the whole run (most likely while starting); trials 1-2
        # at random moments of the writing; trial 3 just after some rows are written (so the
        # last run must resume from the middle of the file, not from the start)
        if trial == 0:
            ready, delay = (lambda: True), rng.uniform(0, starting + writing)
        elif trial < 3:
            ready, delay = rows_written(0), rng.uniform(0, writing)
        else:
            ready, delay = rows_written(8), rng.uniform(0, 0.05)
        code, out = _kill_when([*args, "-o", "out.h5"], root, ready, delay)
        kills.append((trial, round(delay, 3), code))
        assert code in (None, 0), out
        if target.exists():  # complete, or not there at all
            _assert_same_features(target, clean)
            assert not partial.exists() and not marker.exists()
            target.unlink()  # it finished before the kill: start over for the next trial
            continue
        if marker.exists():  # the marker is written atomically and never claims rows the partial lacks
            rows = json.loads(marker.read_text())["rows"]
            assert 0 <= rows <= len(clean["labels"])
            with h5py.File(partial, "r") as db:
                np.testing.assert_array_equal(db["features"][:rows], clean["features"][:rows])
    resumable = json.loads(marker.read_text())["rows"] if marker.exists() else 0
    final = _run(*args, "-o", "out.h5", cwd=root)
    _assert_same_features(target, clean)
    if resumable:
        assert f"resumed at {resumable}" in final.stdout, final.stdout
    assert not partial.exists() and not marker.exists()
    assert any(code is None for _, _, code in kills), f"no run was killed: {kills} (seed {KILL_SEED})"
    print(f"kills (trial, delay s, exit): {kills}; final: {final.stdout.strip()}")


# -- training ------------------------------------------------------------------------------------


def _check_run_dir(run: Path) -> dict[str, int]:
    """Every file archspec names in a run directory is complete; returns what was checked."""
    seen = {"json": 0, "keras": 0, "png": 0, "other": 0}
    temporaries = set(_hidden_temporaries(run))
    for path in sorted(p for p in run.rglob("*") if p.is_file() and p not in temporaries):
        if path.suffix == ".json":
            json.loads(path.read_text())
            seen["json"] += 1
        elif path.suffix == ".keras":
            with zipfile.ZipFile(path) as zf:
                assert zf.testzip() is None, path  # every member's CRC checks out
                assert "config.json" in zf.namelist(), path
            seen["keras"] += 1
        elif path.suffix == ".png":
            data = path.read_bytes()
            assert data.startswith(b"\x89PNG\r\n\x1a\n") and data.rstrip(b"\0").endswith(b"IEND\xaeB`\x82"), path
            seen["png"] += 1
        else:
            assert path.stat().st_size > 0 or path.suffix in (".log",), path
            seen["other"] += 1
    state = run_state(run)
    if state.get("checkpoint"):
        assert (run / state["checkpoint"]).is_file(), state  # the state never names a missing checkpoint
    return seen


def _optimizer_steps(path: Path) -> int:
    import keras

    from archspec import keras_layers  # noqa: F401

    model = keras.models.load_model(path, safe_mode=True)
    return int(model.optimizer.iterations.numpy())


@pytest.fixture(scope="module")
def training(tmp_path_factory):
    from archspec.training import datasets

    root = tmp_path_factory.mktemp("train")
    (root / "tiny.yaml").write_text(TRAIN)
    datasets.write("npz", root / "digits.npz", limit=600)
    _run("train", "tiny.yaml", "--data", "digits.npz", "--run-dir", "clean", "-q", cwd=root)
    return root


def _epochs(run: Path) -> list[int]:
    history = json.loads((run / "history.json").read_text())
    return [h["epoch"] for h in history] if isinstance(history, list) else list(history["epoch"])


def _epoch_seconds(run: Path) -> float:
    history = json.loads((run / "history.json").read_text())
    seconds = [h["seconds"] for h in history] if isinstance(history, list) else list(history["seconds"])
    return sum(seconds) / len(seconds)


def test_train_killed_at_random_points_resumes_to_the_clean_epochs(training):
    root = training
    clean, run = root / "clean", root / "run"
    total = run_state(clean)["epoch"]
    epoch_s = _epoch_seconds(clean)
    rng = random.Random(KILL_SEED + 1)
    kills: list[tuple[int, float, int | None]] = []
    # first kill: a random moment after the first epoch is saved; then random moments of resumed runs
    args = ["train", "tiny.yaml", "--data", "digits.npz", "--run-dir", "run", "-q"]
    while run_state(run).get("epoch", 0) < total and len(kills) < 4:
        before = run_state(run).get("epoch", 0)
        delay = rng.uniform(0, 2.5 * epoch_s)
        code, out = _kill_when(args, root, lambda before=before: run_state(run).get("epoch", 0) > before, delay)
        kills.append((before, round(delay, 3), code))
        assert code in (None, 0), out
        _check_run_dir(run)
        args = ["train", "--resume", "run", "-q"]
    if run_state(run).get("epoch", 0) < total:
        _run("train", "--resume", "run", "-q", cwd=root)
    checked = _check_run_dir(run)
    assert checked["keras"] >= 2 and checked["json"] >= 3, checked
    assert run_state(run)["epoch"] == total
    assert _epochs(run) == _epochs(clean) == list(range(1, total + 1))  # no epoch lost or repeated
    assert _optimizer_steps(run / run_state(run)["checkpoint"]) == _optimizer_steps(
        clean / run_state(clean)["checkpoint"]
    )
    assert any(code is None for _, _, code in kills), f"no run was killed: {kills} (seed {KILL_SEED})"
    print(f"kills (epoch before, delay s, exit): {kills}")


# -- concurrent writers: one owner per output ------------------------------------------------------------------


def _start_and_freeze(args: list[object], cwd: Path, ready) -> subprocess.Popen:
    """Start archspec, wait until ``ready()``, and stop it (SIGSTOP) while it owns its output."""
    proc = subprocess.Popen(_cmd(*args), cwd=cwd, env=SUBPROCESS_ENV, stdout=subprocess.PIPE, stderr=subprocess.STDOUT)
    deadline = time.monotonic() + 300
    while proc.poll() is None and not ready() and time.monotonic() < deadline:
        time.sleep(0.005)
    assert proc.poll() is None, proc.communicate()[0].decode(errors="replace")
    proc.send_signal(signal.SIGSTOP)
    return proc


def _refused(args: list[object], cwd: Path, holder: subprocess.Popen) -> None:
    proc = subprocess.run(_cmd(*args), cwd=cwd, env=SUBPROCESS_ENV, capture_output=True, text=True, timeout=300)
    assert proc.returncode == 2, proc.stdout + proc.stderr
    assert f"is being written by another archspec process (pid {holder.pid})" in proc.stderr, proc.stderr


def _resume_and_finish(proc: subprocess.Popen) -> str:
    proc.send_signal(signal.SIGCONT)
    out = proc.communicate(timeout=600)[0].decode(errors="replace")
    assert proc.returncode == 0, out
    return out


def test_a_second_extraction_to_the_same_output_is_refused_and_the_first_completes(extraction):
    root, args, clean, _ = extraction
    marker = root / "twin.h5.progress.json"
    first = _start_and_freeze([*args, "-o", "twin.h5"], root, marker.exists)
    try:
        partial = (root / "twin.h5.partial").read_bytes()
        _refused([*args, "-o", "twin.h5"], root, first)
        assert (root / "twin.h5.partial").read_bytes() == partial  # the refused run touched nothing
    finally:
        out = _resume_and_finish(first)
    assert out.startswith("wrote twin.h5")
    _assert_same_features(root / "twin.h5", clean)


def test_two_trainings_never_share_a_run_directory(training):
    root = training
    run = root / "shared"
    first = _start_and_freeze(
        ["train", "tiny.yaml", "--data", "digits.npz", "--run-dir", "shared", "-q"],
        root,
        lambda: run_state(run).get("epoch", 0) >= 1,
    )
    try:
        _refused(["train", "tiny.yaml", "--data", "digits.npz", "--run-dir", "shared", "-q"], root, first)
        _refused(["train", "--resume", "shared", "-q"], root, first)
    finally:
        _resume_and_finish(first)
    total = run_state(root / "clean")["epoch"]
    assert _epochs(run) == list(range(1, total + 1))
    log = (run / "train.log").read_text()
    assert [log.count(f"epoch {k} (") for k in range(1, total + 1)] == [1] * total  # no epoch twice
    assert "resuming" not in log


def test_two_resumes_of_one_run_never_both_run(training):
    root = training
    run = root / "resumed"
    code, out = _kill_when(
        ["train", "tiny.yaml", "--data", "digits.npz", "--run-dir", "resumed", "-q"],
        root,
        lambda: run_state(run).get("epoch", 0) >= 1,
        0.0,
    )
    assert code in (None, 0), out
    first = _start_and_freeze(["train", "--resume", "resumed", "-q"], root, lambda: "resuming" in _log(run))
    try:
        _refused(["train", "--resume", "resumed", "-q"], root, first)
    finally:
        _resume_and_finish(first)
    assert _log(run).count("resuming") == 1
    total = run_state(root / "clean")["epoch"]
    assert _epochs(run) == list(range(1, total + 1))


def _log(run: Path) -> str:
    try:
        return (run / "train.log").read_text()
    except FileNotFoundError:
        return ""
