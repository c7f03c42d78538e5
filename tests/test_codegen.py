"""Emit stage: generated Keras source is deterministic, formatted and injection-proof."""

from __future__ import annotations

import ast
import shutil
import subprocess
import sys
from pathlib import Path

import pytest
from conftest import ROOT

import archspec
from archspec.codegen import identifier, literal

SPEC = ROOT / "specs" / "seed_cnn.yaml"


def test_same_spec_same_bytes():
    assert archspec.compile_source(SPEC) == archspec.compile_source(SPEC)


def test_module_shape():
    source = archspec.compile_source(SPEC)
    tree = ast.parse(source)
    funcs = [n.name for n in tree.body if isinstance(n, ast.FunctionDef)]
    assert funcs == ["build_model"]
    build = next(n for n in tree.body if isinstance(n, ast.FunctionDef))
    assert [a.arg for a in build.args.args] == ["input_shape", "num_classes"]
    assert "INPUT_SHAPE = (8, 8, 1)" in source and "NUM_CLASSES = 10" in source
    assert "units=num_classes" in source
    assert "import archspec" not in source  # plain Keras layers only
    assert 'if __name__ == "__main__":' in source


def test_custom_layers_import_archspec_only_when_used():
    source = archspec.compile_source("archspec: 1\ninput: [8, 8, 3]\nlayers: [{conv: 4}, lrn]\n")
    assert "from archspec import keras_layers as archspec_layers" in source


def _ruff() -> str | None:
    beside = Path(sys.executable).parent / "ruff"
    return str(beside) if beside.exists() else shutil.which("ruff")


@pytest.mark.skipif(_ruff() is None, reason="ruff not installed (it is a dev dependency)")
def test_generated_code_is_ruff_format_clean(tmp_path):
    ruff = _ruff()
    assert ruff is not None
    for spec in ("vgg16.yaml", "seed_cnn.yaml"):
        path = tmp_path / spec.replace(".yaml", ".py")
        path.write_text(archspec.compile_source(ROOT / "specs" / spec))
        proc = subprocess.run(
            [ruff, "format", "--isolated", "--check", "--diff", str(path)], capture_output=True, text=True
        )
        assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize(
    ("name", "expected"),
    [
        ("block1_conv1", "block1_conv1"),
        ("1x1", "t_1x1"),
        ("class", "t_class"),
        ("print", "t_print"),
        ("x", "t_x"),
        ("a-b c", "a_b_c"),
        ("naïve", "na_ve"),
        ("__import__", "t___import__"),
    ],
)
def test_identifiers_are_safe(name, expected):
    assert identifier(name, set()) == expected


def test_identifiers_are_deduplicated():
    taken: set[str] = set()
    assert [identifier(n, taken) for n in ("a-b", "a_b", "a b")] == ["a_b", "a_b_2", "a_b_3"]


def test_literals_cannot_break_out():
    for evil in ['"); import os; os.system("x") #', "\\", "'''", '"""', "\n"]:
        text = literal(evil)
        assert ast.literal_eval(text) == evil


def test_hostile_names_and_description_stay_inert():
    spec = (
        "archspec: 1\nname: evil\n"
        'description: \'""" ; import os; os.system("echo pwned") #\'\n'
        "input: [4, 4, 1]\n"
        "layers:\n"
        '  - {conv: 2, name: \'x"); import os; os.system("echo pwned"); ("\'}\n'
        "  - {flatten: null, name: 'class'}\n"
    )
    source = archspec.compile_source(spec)
    tree = ast.parse(source)
    imports = [n for n in ast.walk(tree) if isinstance(n, ast.Import | ast.ImportFrom)]
    assert sorted(m.name for n in imports for m in n.names) == ["keras", "layers"]
    calls = {n.func.attr for n in ast.walk(tree) if isinstance(n, ast.Call) and isinstance(n.func, ast.Attribute)}
    assert "system" not in calls
