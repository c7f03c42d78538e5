"""The README's shell examples work as written, in the environment `make` installs.

A fenced ``sh`` block right after ``<!-- shell: run -->`` is run line by line with bash, from a
scratch folder that holds the repository's ``specs/`` (so the examples' relative paths mean
what they mean in a clone), with this environment's ``bin/`` first on PATH, as
``. .venv/bin/activate`` puts it. A line that fails fails the test, naming the line.
"""

from __future__ import annotations

import os
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT
from test_docs import blocks

README = ROOT / "README.md"
RUN_MARK = "<!-- shell: run -->"


def runnable_blocks() -> list[tuple[int, str]]:
    """(line, text) of each README sh block marked to run."""
    lines = README.read_text(encoding="utf-8").splitlines()
    out = []
    for block in blocks(README):
        above = [line.strip() for line in lines[: block.line - 1] if line.strip()]
        if block.lang == "sh" and above and above[-1] == RUN_MARK:
            out.append((block.line, block.text))
    return out


def commands(text: str) -> list[str]:
    return [line for line in text.splitlines() if line.strip() and not line.lstrip().startswith("#")]


def test_the_readme_has_runnable_shell_examples():
    found = runnable_blocks()
    assert found, f"no sh block after {RUN_MARK} in README.md"
    assert any("archspec train" in text for _, text in found)


def test_the_activation_line_names_the_environment_make_creates():
    readme = README.read_text(encoding="utf-8")
    makefile = (ROOT / "Makefile").read_text(encoding="utf-8")
    assert ". .venv/bin/activate" in readme and "VENV ?= .venv" in makefile
    # the running environment is one that make set up the same way: it has the console script
    assert (Path(sys.executable).parent / "archspec").exists()


@pytest.mark.slow
@pytest.mark.parametrize(("line", "text"), runnable_blocks(), ids=lambda v: str(v) if isinstance(v, int) else "")
def test_readme_shell_block_runs(line, text, tmp_path):
    (tmp_path / "specs").symlink_to(ROOT / "specs")
    (tmp_path / "build").mkdir()
    env = {**os.environ, "PATH": f"{Path(sys.executable).parent}{os.pathsep}{os.environ.get('PATH', '')}"}
    env.pop("PYTHONPATH", None)
    for command in commands(text):
        proc = subprocess.run(
            ["bash", "-o", "pipefail", "-c", command],
            cwd=tmp_path,
            env=env,
            capture_output=True,
            text=True,
            timeout=600,
        )
        assert proc.returncode == 0, f"README.md:{line}: `{command}` exited {proc.returncode}:\n{proc.stderr[-2000:]}"
        assert "Traceback" not in proc.stderr, f"README.md:{line}: `{command}`:\n{proc.stderr[-2000:]}"
