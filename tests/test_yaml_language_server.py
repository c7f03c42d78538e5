"""The shipped JSON Schema in the real editor server: Red Hat's yaml-language-server over stdio.

The pinned version is installed by ``make test`` (``make editor-tools``) into build/node/;
without Node.js or that folder the tests are skipped, saying so. The documents are opened
with URIs in specs/, so the modeline ``$schema=../archspec/data/archspec-1.schema.json``
resolves to the file in this checkout (the server reads it from disk, as in an editor).
One server for the module.
"""

from __future__ import annotations

import shutil
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import spec_files
from lsp_client import LspClient, position_of

from archspec.cli import main

ROOT = Path(__file__).resolve().parent.parent
SERVER = ROOT / "build" / "node" / "node_modules" / ".bin" / "yaml-language-server"
MODELINE = "# yaml-language-server: $schema=../archspec/data/archspec-1.schema.json\n"
HEAD = MODELINE + "archspec: 1\ninput: [8, 8, 1]\n"
SETTINGS = {
    "yaml": {
        "validate": True,
        "hover": True,
        "completion": True,
        "format": {"enable": False},
        "schemaStore": {"enable": False},
    }
}


@pytest.fixture(scope="module")
def yls():
    if shutil.which("node") is None:
        pytest.skip("Node.js is not installed (make editor-tools installs it, with npm, from Debian)")
    if not SERVER.exists():
        pytest.skip(f"yaml-language-server is not installed in {SERVER.parent.parent} (make editor-tools)")
    client = LspClient([str(SERVER), "--stdio"], settings=SETTINGS, cwd=ROOT)
    client.initialize(ROOT)
    yield client
    client.shutdown()


_COUNTER = iter(range(10**6))


def _open(yls: LspClient, text: str) -> str:
    return yls.open(ROOT / "specs" / f"_yls_test_{next(_COUNTER)}.yaml", text)


def _diagnostics(yls: LspClient, text: str) -> list[tuple[int, int, str]]:
    uri = _open(yls, text)
    found = yls.wait_diagnostics(uri)
    yls.close(uri)
    return sorted((d["range"]["start"]["line"], d["range"]["start"]["character"], d["message"]) for d in found)


@pytest.mark.parametrize("path", spec_files(), ids=lambda p: p.name)
def test_no_shipped_spec_is_underlined(yls, path):
    uri = yls.open(path)  # its real name: its own modeline, relative to its own folder
    assert yls.wait_diagnostics(uri) == []
    yls.close(uri)


def _validate_position(tmp_path: Path, text: str) -> tuple[int, int]:
    """Where ``archspec validate`` puts its first problem (0-based), for the same text."""
    spec = tmp_path / "spec.yaml"
    spec.write_text(text, encoding="utf-8")
    output = CliRunner().invoke(main, ["validate", str(spec)]).output
    line, column = output.split(":", 3)[1:3]
    return int(line) - 1, int(column) - 1


#: (what the spec's layers say, the text underlined, a part of the message, same place as archspec validate)
MISTAKES = [
    ("layers: [{conv2: 8}, flatten]", "conv2", "did you mean 'conv'?", True),
    ("layers: [{conv: 8}, relux, flatten]", "relux", "did you mean 'relu'?", True),
    ("layers: [{convv: 8, kernel: 3}, flatten]", "convv", "did you mean 'conv'?", True),
    ("layers: [{Conv: 8}, flatten]", "Conv", "did you mean 'conv'?", True),
    ("layers: [{conv: 8, kernal: 3}, flatten]", "kernal", "Property kernal is not allowed", True),
    ("layers: [{conv: 8, padding: sam}, flatten]", "sam", "Value is not accepted", True),
    ("layers: [flatten, {dense: 0}]", "0}", "minimum of 1", True),
    ("layers: [{repeat: 2, layers: [{conv: 8}, rleu]}, flatten]", "rleu", "did you mean 'relu'?", True),
    ("defaults: {conv: {kernal: 3}}\nlayers: [{conv: 8}, flatten]", "kernal", "Property kernal is not allowed", True),
    ("defaults: {dense: {units: -2}}\nlayers: [flatten, {dense: 2}]", "-2", "minimum of 1", False),
    ("layer: [{conv: 8}]", "layer", "Property layer is not allowed", True),
]


@pytest.mark.parametrize(("layers", "underlined", "says", "as_archspec"), MISTAKES, ids=[m[1] for m in MISTAKES])
def test_a_mistake_is_underlined_where_archspec_reports_it(yls, tmp_path, layers, underlined, says, as_archspec):
    text = HEAD + layers + "\n"
    found = _diagnostics(yls, text)
    where = position_of(text, underlined)
    assert any((line, char) == where and says in message for line, char, message in found), found
    if as_archspec:  # the defaults' range is the expander's (it points at the entry); the rest coincide
        assert _validate_position(tmp_path, text) == where


def test_a_file_s_own_block_named_like_a_misspelling_is_not_underlined(yls):
    text = HEAD + "blocks:\n  conv3:\n    layers: [{conv: 8}, relu]\nlayers: [conv3, flatten, {dense: 2}]\n"
    assert _diagnostics(yls, text) == []


def test_a_name_far_from_every_built_in_is_left_to_archspec(yls):
    """The documented limit: an unknown name that is no near miss may be a block; archspec validate knows."""
    assert _diagnostics(yls, HEAD + "layers: [{conv: 8}, frobnicate, flatten]\n") == []


def _completion(yls: LspClient, text: str, back: int = 0) -> dict[str, dict]:
    """The items offered at the end of ``text`` (``back`` characters before it)."""
    uri = _open(yls, text)
    lines = text.split("\n")
    reply = yls.request("textDocument/completion", yls.at(uri, len(lines) - 1, len(lines[-1]) - back))
    yls.close(uri)
    items = reply["items"] if isinstance(reply, dict) else reply
    return {i["label"]: i for i in items}


def _doc(item: dict) -> str:
    doc = item.get("documentation") or ""
    return doc["value"] if isinstance(doc, dict) else doc


def test_a_new_layer_item_is_offered_the_types_with_their_documentation(yls):
    items = _completion(yls, HEAD + "layers:\n  - ")
    assert {"conv", "relu", "bn", "maxpool", "dense", "residual", "inception"} <= set(items)
    assert "2-D convolution" in _doc(items["conv"])
    assert not {"filters", "kernel", "padding"} & set(items)  # arguments are not types


@pytest.mark.parametrize("typed", ["layers:\n  - conv: 64\n    ", "layers: [{conv: 64, p"])
def test_inside_a_layer_only_its_arguments_are_offered(yls, typed):
    """In a flow mapping, yaml-language-server offers keys once a letter is typed (archspec lsp at once)."""
    items = _completion(yls, HEAD + typed + ("}]" if typed.endswith("p") else ""), back=2 if typed.endswith("p") else 0)
    assert {"kernel", "strides", "padding", "activation", "name", "inputs"} <= set(items)
    assert not {"relu", "dense", "maxpool", "units", "conv2d"} & set(items)  # no flood of type names


def test_allowed_values_and_defaults_entries_are_completed(yls):
    assert {"same", "valid"} <= set(_completion(yls, HEAD + "layers:\n  - conv: 64\n    padding: "))
    assert {"conv", "bn", "dense"} <= set(_completion(yls, HEAD + "defaults:\n  "))
    entry = _completion(yls, HEAD + "defaults:\n  conv:\n    ")
    assert {"kernel", "padding"} <= set(entry) and not {"name", "relu"} & set(entry)


def _hover(yls: LspClient, text: str, needle: str, offset: int = 1) -> str:
    uri = _open(yls, text)
    yls.wait_diagnostics(uri)
    reply = yls.request("textDocument/hover", yls.at(uri, *position_of(text, needle, offset)))
    yls.close(uri)
    return reply["contents"]["value"] if reply else ""


@pytest.mark.parametrize(
    ("needle", "shows"),
    [("{conv: 64", "2-D convolution"), ("bn,", "Batch normalization"), ("{dense: 3", "Fully connected")],
)
def test_hover_on_a_layer_type_shows_its_documentation(yls, needle, shows):
    text = HEAD + "layers: [{conv: 64}, bn, flatten, {dense: 3}]\n"
    shown = _hover(yls, text, needle)
    assert shows in shown
    assert "Number of output channels" not in shown and "language version 1" not in shown


def test_hover_on_an_argument_shows_its_documentation(yls):
    from archspec.registry import registry

    text = HEAD + "layers: [{conv: 64, kernel: 3}, flatten]\n"
    shown = _hover(yls, text, "kernel").replace("\\", "")  # markdown escapes, e.g. \[
    assert registry().get("conv").arg_map()["kernel"].doc in shown
