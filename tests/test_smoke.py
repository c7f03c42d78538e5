"""End-to-end smoke checks of the static pipeline on the bundled specs."""

from __future__ import annotations

import json

import pytest
from click.testing import CliRunner
from conftest import ROOT, run_cli_without_framework, spec_files

import archspec
from archspec.cli import main
from archspec.schema import schema_text


@pytest.mark.parametrize("path", spec_files(), ids=lambda p: str(p.relative_to(ROOT / "specs")))
def test_every_spec_validates(path):
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 0, result.output


def test_shipped_schema_is_current():
    shipped = (ROOT / "archspec" / "data" / "archspec-1.schema.json").read_text()
    assert shipped == schema_text(), "run: archspec schema -o archspec/data/archspec-1.schema.json"


def test_summary_json_contract():
    result = CliRunner().invoke(main, ["summary", str(ROOT / "specs" / "vgg16.yaml"), "--format", "json"])
    data = json.loads(result.output)
    for key in (
        "name",
        "input_shape",
        "output_shape",
        "total_params",
        "trainable_params",
        "non_trainable_params",
        "macs",
        "flops",
        "activation_bytes",
        "layers",
    ):
        assert key in data
    assert data["total_params"] == 138_357_544
    assert data["layers"][0] == {
        **data["layers"][0],
        "name": "block1_conv1",
        "type": "conv",
        "output_shape": [224, 224, 64],
        "params": 1792,
    }


def test_static_commands_do_not_import_tensorflow():
    proc = run_cli_without_framework("summary", ROOT / "specs" / "vgg16.yaml")
    assert proc.returncode == 0, proc.stdout + proc.stderr


def test_library_summary_matches_doc():
    assert archspec.summary(ROOT / "specs" / "vgg16.yaml").total_params == 138_357_544
