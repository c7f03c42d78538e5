"""The benchmark scripts stay runnable (they are run by hand: `make bench`; no timings here)."""

from __future__ import annotations

import subprocess
import sys

import pytest
from conftest import ROOT, load_script

import archspec


@pytest.mark.parametrize("layers", [1, 30, 301])
def test_generated_chain_has_the_layers_it_says(layers):
    text = load_script("bench/bench_summary.py").generated_spec(layers)
    analysis = archspec.summary(text)
    assert len(analysis.layers) == layers


@pytest.mark.parametrize("script", ["bench_summary.py", "bench_build.py", "bench_startup.py", "bench_sweep.py"])
def test_scripts_parse_their_options(script):
    proc = subprocess.run(
        [sys.executable, str(ROOT / "bench" / script), "--help"], capture_output=True, text=True, timeout=120
    )
    assert proc.returncode == 0, proc.stderr
    assert "--repeat" in proc.stdout


def test_benchmarked_specs_exist_and_match_keras_counts_pinned_in_them():
    assert archspec.summary(ROOT / "specs" / "resnet152.yaml").total_params == 60_419_944
    assert archspec.summary(ROOT / "specs" / "resnet50.yaml").total_params == 25_636_712
    assert len(archspec.expand(ROOT / "specs" / "resnet_cifar.yaml", variant="resnet1202")) == 4211


def test_gpu_check_script_parses_and_resizes_only_the_input(monkeypatch):
    syntax = subprocess.run(["bash", "-n", str(ROOT / "bench" / "gpu_check.sh")], capture_output=True, text=True)
    assert syntax.returncode == 0, syntax.stderr
    check = load_script("bench/gpu_check.py")
    monkeypatch.setattr(check, "SIZE", 64)
    text = check.spec_text()
    assert "input: [64, 64, 3]" in text
    assert archspec.summary(text).total_params == 25_636_712  # the same network, at another size
