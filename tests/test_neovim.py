"""A real editor as the client: headless Neovim's built-in LSP client talking to ``archspec lsp``.

tests/nvim_lsp_session.lua opens a copy of specs/resnet18.yaml, attaches the server, reads
the diagnostics and a hover through Neovim's own API, types a mistake with normal-mode
commands and reads them again. Skipped, saying so, where Neovim is not installed
(``make editor-tools`` installs Debian's). One Neovim session for the module.
"""

from __future__ import annotations

import json
import os
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import SUBPROCESS_ENV

import archspec
from archspec.cli import main

ROOT = Path(__file__).resolve().parent.parent
SCRIPT = ROOT / "tests" / "nvim_lsp_session.lua"


@pytest.fixture(scope="module")
def session(tmp_path_factory):
    nvim = shutil.which("nvim")
    if nvim is None:
        pytest.skip("Neovim is not installed (make editor-tools installs Debian's neovim)")
    folder = tmp_path_factory.mktemp("nvim")
    spec = folder / "resnet18.yaml"
    shutil.copy(ROOT / "specs" / "resnet18.yaml", spec)
    out = folder / "session.json"
    env = {
        **SUBPROCESS_ENV,
        "PYTHONPATH": os.pathsep.join(filter(None, [str(ROOT), SUBPROCESS_ENV.get("PYTHONPATH")])),
        "ARCHSPEC_SPEC": str(spec),
        "ARCHSPEC_PYTHON": sys.executable,
        "ARCHSPEC_HOVER": "name: conv1_conv",
        "ARCHSPEC_WORD": "kernel",
        "ARCHSPEC_TYPED": "kernal",
        "ARCHSPEC_OUT": str(out),
    }
    command = [nvim, "--headless", "--clean", "-n", "-c", f"luafile {SCRIPT}"]
    proc = subprocess.run(command, cwd=folder, env=env, capture_output=True, text=True, timeout=120)
    assert out.exists(), f"Neovim wrote nothing (exit {proc.returncode}): {proc.stdout[-2000:]} {proc.stderr[-2000:]}"
    result = json.loads(out.read_text())
    assert result["ok"], result["error"]
    result["spec"] = spec
    return result


def test_neovim_attaches_the_server_and_gets_no_diagnostics_for_a_zoo_spec(session):
    assert session["ready"] and session["first_published"]
    assert session["diagnostics_before"] == []


def test_neovim_shows_the_figures_on_hover(session):
    conv = archspec.summary(ROOT / "specs" / "resnet18.yaml")["conv1_conv"]
    shown = session["hover_before"]
    assert "2-D convolution" in shown
    assert f"output **{'×'.join(map(str, conv.shape))}**" in shown and f"params {conv.params:,}" in shown


def test_a_typed_mistake_is_underlined_as_archspec_validate_reports_it(session, tmp_path):
    assert session["republished"]
    assert "kernal: 7" in session["line_after"]
    edited = tmp_path / "resnet18.yaml"
    text = session["spec"].read_text(encoding="utf-8").replace("kernel: 7", "kernal: 7", 1)
    edited.write_text(text, encoding="utf-8")
    lines = CliRunner().invoke(main, ["validate", str(edited)]).output.splitlines()
    wanted = [line.split(": ", 1)[1] for line in lines if line.startswith(str(edited))]
    row, col = (int(n) - 1 for n in lines[0][len(str(edited)) + 1 :].split(":")[:2])
    assert [(d["line"], d["col"], d["message"], d["source"]) for d in session["diagnostics_after"]] == [
        (row, col, wanted[0], "archspec")
    ]
    assert "no figures: the spec has problems" in session["hover_after"]
