"""The layering of archspec's modules (docs/architecture.md), checked with import-linter and grimp.

The contracts live in pyproject.toml (``[tool.importlinter]``): the layers from the CLI down
to ``errors``, the core never importing ``archspec.transfer`` or ``archspec.training`` (they
plug in through :mod:`archspec.extensions`), and no import cycles. Function-level imports
count as much as top-level ones. The checks run on copies of the package too, with a
forbidden import or a cycle added, to show that they fail when they should.
"""

from __future__ import annotations

import os
import re
import shutil
import subprocess
import sys
from pathlib import Path

import grimp
import pytest
import tomllib
from conftest import ROOT

CHECK_CYCLES = """
import sys
import grimp

graph = grimp.build_graph("archspec", cache_dir=None)
imports = {m: graph.find_modules_directly_imported_by(m) for m in graph.modules}
# Tarjan's strongly connected components: every component of two or more modules is a cycle.
index, low, stack, on_stack, cycles = {}, {}, [], set(), []
sys.setrecursionlimit(10_000)

def visit(v):
    index[v] = low[v] = len(index)
    stack.append(v)
    on_stack.add(v)
    for w in imports[v]:
        if w not in index:
            visit(w)
            low[v] = min(low[v], low[w])
        elif w in on_stack:
            low[v] = min(low[v], index[w])
    if low[v] == index[v]:
        component = []
        while not component or component[-1] != v:
            component.append(stack.pop())
            on_stack.discard(component[-1])
        if len(component) > 1:
            cycles.append(sorted(component))

for module in sorted(imports):
    if module not in index:
        visit(module)
for cycle in cycles:
    print("cycle:", " <-> ".join(cycle))
sys.exit(1 if cycles else 0)
"""


def _run(root: Path, *args: str) -> subprocess.CompletedProcess[str]:
    """Run Python in a fresh interpreter that imports archspec from ``root``."""
    env = {**os.environ, "PYTHONPATH": str(root)}
    return subprocess.run(
        [sys.executable, *args], cwd=root, env=env, capture_output=True, text=True, timeout=120, check=False
    )


def lint_imports(root: Path) -> subprocess.CompletedProcess[str]:
    code = "import sys; from importlinter.cli import lint_imports; sys.exit(lint_imports(no_cache=True, no_logo=True))"
    return _run(root, "-c", code)


def find_cycles(root: Path) -> subprocess.CompletedProcess[str]:
    return _run(root, "-c", CHECK_CYCLES)


@pytest.fixture
def copy(tmp_path: Path) -> Path:
    """The package and its contracts in a folder of their own, to be broken."""
    shutil.copytree(ROOT / "archspec", tmp_path / "archspec", ignore=shutil.ignore_patterns("__pycache__", "data"))
    shutil.copy(ROOT / "pyproject.toml", tmp_path / "pyproject.toml")
    return tmp_path


def _append(path: Path, text: str) -> None:
    path.write_text(path.read_text(encoding="utf-8") + text, encoding="utf-8")


def test_the_import_contracts_hold():
    result = lint_imports(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr
    assert "3 kept, 0 broken" in result.stdout


def test_no_module_of_archspec_is_in_an_import_cycle():
    result = find_cycles(ROOT)
    assert result.returncode == 0, result.stdout + result.stderr


def test_a_lazy_import_of_transfer_in_the_expander_breaks_the_contracts(copy):
    # inside a function, where the expander used to reach transfer
    _append(copy / "archspec" / "expand.py", "\n\ndef _base():\n    from .transfer.expand import prepend_base\n")
    result = lint_imports(copy)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "core reaches transfer and training only through archspec.extensions BROKEN" in result.stdout
    assert "archspec.expand -> archspec.transfer.expand" in result.stdout


def test_an_upward_import_breaks_the_layers_contract(copy):
    _append(copy / "archspec" / "analysis.py", "\n\ndef _report():\n    from . import report\n")
    result = lint_imports(copy)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "each imports only from the layers below it BROKEN" in result.stdout
    assert "archspec.analysis -> archspec.report" in result.stdout


def test_a_cycle_is_found(copy):
    # keras_backend <-> transfer.keras_build, as it was: transfer.keras_build imports keras_backend
    _append(copy / "archspec" / "keras_backend.py", "\n\ndef _base():\n    from .transfer import keras_build\n")
    result = find_cycles(copy)
    assert result.returncode == 1, result.stdout + result.stderr
    assert "archspec.keras_backend" in result.stdout and "archspec.transfer.keras_build" in result.stdout
    # and within one package, which the layers contract cannot see: blocks' registry importing its entries
    _append(copy / "archspec" / "blocks" / "__init__.py", "\n\ndef _load():\n    from . import library\n")
    result = find_cycles(copy)
    assert "archspec.blocks <-> archspec.blocks." in result.stdout


def test_a_transfer_spec_expands_through_the_registered_extension_without_tensorflow():
    """The core does not import transfer: ``import archspec`` registers it, for every command and call."""
    code = (
        "import sys, archspec\n"
        "g = archspec.expand('specs/transfer/vgg16_finetune.yaml')\n"
        "from archspec.transfer import transfer_info\n"
        "assert transfer_info(g).base.kind == 'application', g.extensions\n"
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules\n"
    )
    result = _run(ROOT, "-c", code)
    assert result.returncode == 0, result.stdout + result.stderr


def test_the_extension_example_in_the_architecture_page_runs():
    text = (ROOT / "docs" / "architecture.md").read_text(encoding="utf-8")
    (example,) = re.findall(r"^```python\n(.*?)^```", text, re.S | re.M)
    result = _run(ROOT, "-c", example)
    assert result.returncode == 0, result.stdout + result.stderr


def test_every_module_of_archspec_has_its_place_in_the_layers():
    """A new module or package is placed in the layers consciously, not left unchecked."""
    config = tomllib.loads((ROOT / "pyproject.toml").read_text(encoding="utf-8"))["tool"]["importlinter"]
    (layers,) = [c["layers"] for c in config["contracts"] if c["type"] == "layers"]
    placed = {name.strip() for layer in layers for name in re.split(r"[|:]", layer)}
    graph = grimp.build_graph("archspec", cache_dir=None)
    assert graph.find_children("archspec") - placed == set(), "place these in pyproject.toml's layers"
