"""Multi-host data-parallel training for real: 2 and 3 worker processes on 127.0.0.1 (one JAX CPU
device each) train the seed CNN on scikit-learn's digits through Keras' distribution API.

Checked: (a) every worker ends with the same weights (each prints their SHA-256; worker 0's
last.keras holds them), (b) the result equals a one-process run with the same global batch
within TOLERANCE, and bit for bit a one-process run over two CPU devices (--cpu-devices 2), (c) killing a worker mid-epoch makes the others fail at once with a message
(no hang), and starting every worker again with --resume completes the run. Every process
runs under a timeout (the harness's safety net), and is killed if the test fails."""

from __future__ import annotations

import json
import re
import signal
import subprocess
import sys
import time
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, SUBPROCESS_ENV, load_script

from archspec.errors import UsageError
from archspec.training.distributed import Topology, is_peer_lost, topology

SPEC = ROOT / "specs" / "seed_cnn.yaml"
#: Seconds any worker may take; far above a normal run here, so only a hang reaches it.
LIMIT = 420
#: (b): the same global batches, summed in another order (an all-reduce across processes instead
#: of one device's reduction), through SGD for 2 epochs: float32 round-off, nothing more. (The spec's
#: Adam divides by the root of tiny second moments, which turns round-off into 1e-2 differences:
#: the comparison trains the seed CNN with SGD instead.)
TOLERANCE = 1e-4
_DIGEST = re.compile(r"worker (\d+): final weights sha256 ([0-9a-f]{64})")


def test_topology_from_options_and_from_keras_environment_variables():
    assert topology(None, None, env={}) == Topology()
    assert topology("a:1,b:2", 1, env={}) == Topology(("a:1", "b:2"), 1)
    env = {"KERAS_DISTRIBUTION_JOB_ADDRESSES": "10.0.0.1:7777,10.0.0.2:7777", "KERAS_DISTRIBUTION_PROCESS_ID": "1"}
    top = topology(None, None, env=env)
    assert top.multi and not top.writer and top.describe()["coordinator"] == "10.0.0.1:7777"


@pytest.mark.parametrize(
    ("workers", "index", "message"),
    [
        ("a:1,b:2", None, "--workers needs --worker-index"),
        ("a:1,b:2", 2, "--worker-index must be in 0..1"),
        ("a:1,a:1", 0, "every worker needs its own address"),
        ("a,b:2", 0, "expected HOST:PORT"),
        ("a:1,b:70000", 0, "expected HOST:PORT"),
        (None, 1, "--worker-index needs --workers"),
    ],
)
def test_bad_topology_is_a_usage_error(workers, index, message):
    with pytest.raises(UsageError, match=message):
        topology(workers, index, env={})


def test_lost_peers_are_told_from_other_errors():
    assert is_peer_lost(
        ValueError("UNKNOWN: Gloo AllGather failed: Read error [127.0.0.1]:4777: Connection reset by peer")
    )
    assert not is_peer_lost(ValueError("shapes (3,) and (4,) do not match"))
    assert not is_peer_lost(UsageError("Connection reset in a user's file name"))


def test_data_parallel_with_the_tensorflow_backend_is_refused(tmp_path):
    from archspec.training import trainer

    options = trainer.Options(strategy="data-parallel", backend="tensorflow")
    with pytest.raises(UsageError, match="runs on Keras' JAX backend"):
        trainer.train(str(SPEC), options, run_dir=tmp_path / "run")
    with pytest.raises(UsageError, match="go with --strategy data-parallel"):
        trainer.train(str(SPEC), trainer.Options(workers=("a:1", "b:2"), worker_index=0), run_dir=tmp_path / "r")


@pytest.fixture(scope="module")
def digits(tmp_path_factory) -> Path:
    path = tmp_path_factory.mktemp("data") / "digits.npz"
    cmd = [sys.executable, "-m", "archspec.training.datasets", "npz", str(path)]
    subprocess.run(cmd, check=True, env=_env(), capture_output=True, timeout=120)
    return path


def _env() -> dict[str, str]:
    return {**SUBPROCESS_ENV, "PYTHONPATH": str(ROOT), "KERAS_BACKEND": "jax"}


# the benchmark's launcher picks free ports the same way: one helper for both
_free_ports = load_script("bench/bench_multihost.py").free_ports


def _start(n: int, args: list[str], ports: list[int] | None = None) -> list[subprocess.Popen]:
    workers = ",".join(f"127.0.0.1:{p}" for p in ports or _free_ports(n))
    base = [sys.executable, "-m", "archspec", "train", *args, "-q"]
    extra = ["--workers", workers] if n > 1 else []
    return [
        subprocess.Popen(
            [*base, *extra, *(["--worker-index", str(i)] if n > 1 else [])],
            env=_env(),
            stdout=subprocess.PIPE,
            stderr=subprocess.STDOUT,
            text=True,
        )
        for i in range(n)
    ]


def _finish(procs: list[subprocess.Popen], limit: float = LIMIT) -> list[tuple[int, str]]:
    """Wait for every worker (all killed if one outlives ``limit``: a hang fails the test, never blocks it)."""
    deadline = time.monotonic() + limit
    results = []
    try:
        for p in procs:
            out, _ = p.communicate(timeout=max(1.0, deadline - time.monotonic()))
            results.append((p.returncode, out))
    except subprocess.TimeoutExpired:
        pytest.fail(f"a worker was still running after {limit} s (a hang)")
    finally:
        for p in procs:
            if p.poll() is None:
                p.kill()
                p.wait()
    return results


def _digests(results: list[tuple[int, str]]) -> dict[int, str]:
    found = {}
    for code, out in results:
        assert code == 0, out[-3000:]
        found.update((int(i), d) for i, d in _DIGEST.findall(out))
    return found


def _weights(model_file: Path) -> list[np.ndarray]:
    import keras

    return keras.saving.load_model(model_file).get_weights()


@pytest.mark.slow
def test_two_workers_match_each_other_and_one_process(digits, tmp_path):
    spec = tmp_path / "seed_cnn_sgd.yaml"
    text = SPEC.read_text()
    spec.write_text(text.replace("optimizer: {name: adam, lr: 0.001}", "optimizer: {name: sgd, lr: 0.05}"))
    assert spec.read_text() != text
    common = [str(spec), "--data", str(digits), "--strategy", "data-parallel", "--epochs", "2"]
    two = _finish(_start(2, [*common, "--run-dir", str(tmp_path / "two")]))
    digests = _digests(two)
    assert sorted(digests) == [0, 1] and len(set(digests.values())) == 1, digests  # (a)
    one = _finish(_start(1, [*common, "--run-dir", str(tmp_path / "one")]))
    _digests(one)
    # One process with two CPU devices: the same two replicas, the same sum of two gradients: bit for bit.
    local = _finish(_start(1, [*common, "--cpu-devices", "2", "--run-dir", str(tmp_path / "local")]))
    assert _digests(local) == {0: digests[0]}
    run = json.loads((tmp_path / "two" / "run.json").read_text())
    assert run["topology"]["processes"] == 2 and run["replicas"] == 2 and run["global_batch"] == 32
    assert "data-parallel: whole global batches only" in two[0][1]
    for a, b in zip(_weights(tmp_path / "two" / "last.keras"), _weights(tmp_path / "one" / "last.keras")):  # (b)
        np.testing.assert_allclose(a, b, atol=TOLERANCE, rtol=TOLERANCE)
    history = [json.loads((tmp_path / r / "history.json").read_text()) for r in ("two", "one")]
    np.testing.assert_allclose(history[0]["val_loss"], history[1]["val_loss"], rtol=TOLERANCE)


@pytest.mark.slow
def test_killed_worker_stops_the_others_and_resume_completes(digits, tmp_path):
    run = tmp_path / "run"
    args = [str(SPEC), "--data", str(digits), "--strategy", "data-parallel", "--epochs", "3", "--batch-size", "48"]
    args += ["--run-dir", str(run)]  # 48: a global batch that divides over 3 workers
    procs = _start(3, args)
    try:
        _wait_for_epoch(run, 1, procs)
        procs[2].send_signal(signal.SIGKILL)  # mid-epoch 2: the others are inside a collective
        killed_at = time.monotonic()
        results = _finish(procs[:2], limit=120)
    finally:
        _finish(procs, limit=5) if any(p.poll() is None for p in procs) else None
    waited = time.monotonic() - killed_at
    for code, out in results:
        assert code == 75, out[-2000:]
        assert "lost contact with another worker" in out and f"--resume {run}" in out, out[-2000:]
    assert waited < 90, f"the surviving workers took {waited:.0f} s to stop"
    state = json.loads((run / "state.json").read_text())
    assert 1 <= state["epoch"] < 3
    resumed = _finish(_start(3, ["--resume", str(run)]))
    assert len(set(_digests(resumed).values())) == 1
    history = json.loads((run / "history.json").read_text())
    assert history["epoch"] == [1, 2, 3] and json.loads((run / "state.json").read_text())["finished"]


def _wait_for_epoch(run: Path, epoch: int, procs: list[subprocess.Popen]) -> None:
    deadline = time.monotonic() + LIMIT
    while time.monotonic() < deadline:
        try:
            if json.loads((run / "state.json").read_text())["epoch"] >= epoch:
                return
        except (FileNotFoundError, json.JSONDecodeError, KeyError):
            pass
        if any(p.poll() is not None for p in procs):
            pytest.fail("a worker ended before epoch 1 was committed: " + (procs[0].communicate()[0] or "")[-2000:])
        time.sleep(0.2)
    pytest.fail(f"epoch {epoch} was not committed within {LIMIT} s")
