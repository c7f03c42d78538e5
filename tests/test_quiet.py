"""archspec's commands show archspec's output only: TensorFlow's start-up log lines are dropped."""

from __future__ import annotations

import os
import subprocess
import sys

import pytest
from conftest import ROOT

from archspec import framework

# Lines TensorFlow 2.21 printed on this machine for `archspec build` (9 of them before the fix).
SAMPLE = """\
WARNING: All log messages before absl::InitializeLog() is called are written to STDERR
I0000 00:00:1795640716.445094    7860 port.cc:153] oneDNN custom operations are on. You may see slightly different numerical results.
I0000 00:00:1795640716.445411    7860 cudart_stub.cc:31] Could not find cuda drivers on your machine, GPU will not be used.
I0000 00:00:1795640716.536804    7860 cpu_feature_guard.cc:227] This TensorFlow binary is optimized to use available CPU instructions.
To enable the following instructions: AVX2 AVX512F FMA, in other operations, rebuild TensorFlow with the appropriate compiler flags.
E0000 00:00:1795640719.725371    7860 cuda_platform.cc:52] failed call to cuInit: INTERNAL: CUDA error: UNKNOWN ERROR (303)
INFO: Created TensorFlow Lite XNNPACK delegate for CPU.
"""


def test_every_sample_line_is_a_framework_line():
    assert all(framework.is_framework_log_line(line) for line in SAMPLE.splitlines())


@pytest.mark.parametrize(
    "line",
    ["archspec: internal error: ValueError", "Traceback (most recent call last):", "I0000 is a fine name for a layer"],
)
def test_other_lines_are_not(line):
    assert not framework.is_framework_log_line(line)


def test_lines_written_to_fd_2_meanwhile_are_filtered_not_lost(capfd):
    with framework.framework_lines_dropped():
        os.write(2, SAMPLE.encode())
        os.write(2, b"a real problem the user must see\n")
        print("python-level warning", file=sys.stderr)
    err = capfd.readouterr().err
    assert sorted(err.splitlines()) == ["a real problem the user must see", "python-level warning"]


def _build(tmp_path, *flags: str) -> subprocess.CompletedProcess[str]:
    env = {k: v for k, v in os.environ.items() if k not in ("TF_CPP_MIN_LOG_LEVEL", "ARCHSPEC_VERBOSE")}
    command = [sys.executable, "-m", "archspec", *flags, "build", str(ROOT / "specs" / "lenet5.yaml")]
    return subprocess.run(
        [*command, "-o", str(tmp_path / "m.keras")], capture_output=True, text=True, env=env, timeout=300
    )


@pytest.mark.slow
def test_build_prints_archspecs_line_only(tmp_path):
    proc = _build(tmp_path)
    assert proc.returncode == 0, proc.stderr
    assert proc.stderr == ""
    assert proc.stdout.startswith("wrote ")


@pytest.mark.slow
def test_verbose_shows_the_framework_lines(tmp_path):
    proc = _build(tmp_path, "--verbose")
    assert proc.returncode == 0, proc.stderr
    assert any(framework.is_framework_log_line(line) for line in proc.stderr.splitlines()), proc.stderr
