"""``archspec lsp`` over the Language Server Protocol, as an editor drives it.

One server process for the module (tests/lsp_client.py speaks JSON-RPC over its stdio).
Diagnostics are held to ``archspec validate``'s own output for the same file (the invalid
corpus: every message and position), figures to :func:`archspec.summary`. The completion
and hover functions are also tested directly on text (archspec/lsp/*.py are plain functions).
"""

from __future__ import annotations

import subprocess
import sys
import time
from pathlib import Path

import pytest
from click.testing import CliRunner
from conftest import SUBPROCESS_ENV, spec_files
from lsp_client import LspClient, position_of

import archspec
from archspec.cli import main
from archspec.lsp import complete, features
from archspec.lsp.snapshot import check

ROOT = Path(__file__).resolve().parent.parent
INVALID = sorted((ROOT / "tests" / "corpus" / "invalid").glob("*.yaml"))
HOSTILE = ROOT / "tests" / "corpus" / "hostile"
HEAD = "archspec: 1\ninput: [32, 32, 3]\n"


@pytest.fixture(scope="module")
def lsp():
    client = LspClient([sys.executable, "-m", "archspec", "lsp"], env=SUBPROCESS_ENV, cwd=ROOT)
    client.server_info = client.initialize(ROOT)
    yield client
    client.shutdown()


_COUNTER = iter(range(10**6))


def _open(lsp: LspClient, text: str, name: str = "") -> str:
    """Open ``text`` as a new document (a fresh name each time: an open name is the editor's)."""
    path = ROOT / "build" / "lsp-test" / (name or f"doc{next(_COUNTER)}.yaml")
    return lsp.open(path, text)


def _at(diagnostic: dict) -> tuple[int, int]:
    start = diagnostic["range"]["start"]
    return start["line"], start["character"]


# -- diagnostics ----------------------------------------------------------------------------------
def test_the_server_announces_what_it_does(lsp):
    caps = lsp.server_info["capabilities"]
    assert {"hoverProvider", "inlayHintProvider", "completionProvider", "definitionProvider"} <= set(caps)
    assert lsp.server_info["serverInfo"] == {"name": "archspec", "version": archspec.__version__}


@pytest.mark.parametrize("path", spec_files(), ids=lambda p: p.name)
def test_every_zoo_spec_has_no_diagnostics(lsp, path):
    uri = lsp.open(path)
    assert lsp.wait_diagnostics(uri) == []
    lsp.close(uri)


def _validate_lines(path: Path) -> set[str]:
    """``archspec validate``'s problem lines for ``path``, less the file name in front."""
    result = CliRunner().invoke(main, ["validate", str(path)])
    prefix = f"{path}:"
    return {line[len(prefix) :] for line in result.output.splitlines() if line.startswith(prefix)}


@pytest.mark.parametrize("path", INVALID, ids=lambda p: p.stem)
def test_diagnostics_are_archspec_validate_s_problems(lsp, path):
    """Same messages, same places: LINE:COL (1-based) of each line validate prints."""
    text = path.read_text(encoding="utf-8")
    assert text.isascii()  # columns in code points are UTF-16 units here (a test below covers the other case)
    uri = lsp.open(path, text)
    found = {f"{line + 1}:{char + 1}: {d['message']}" for d in lsp.wait_diagnostics(uri) for line, char in [_at(d)]}
    lsp.close(uri)
    wanted = _validate_lines(path)
    assert wanted and found == wanted


def test_a_position_after_wide_characters_is_counted_in_utf16_units(lsp):
    text = HEAD + 'layers: [{conv: 8, name: "c\U0001f60b"}, {dense: 2, kernal: 1}]\n'
    uri = _open(lsp, text)
    (diagnostic,) = lsp.wait_diagnostics(uri)
    line, char = position_of(text, "kernal")  # in code points
    assert _at(diagnostic) == (line, char + 1)  # the emoji is two UTF-16 units
    assert diagnostic["range"]["end"]["character"] == char + 1 + len("kernal")


def test_a_change_is_checked_and_a_fix_clears_the_diagnostics(lsp):
    good = HEAD + "layers:\n  - {conv: 8}\n  - relu\n  - flatten\n  - {dense: 10}\n"
    uri = _open(lsp, good)
    assert lsp.wait_diagnostics(uri) == []
    lsp.change(uri, good.replace("relu\n", "relux\n"))
    (diagnostic,) = lsp.wait_diagnostics(uri)
    assert "unknown layer type 'relux'. Did you mean" in diagnostic["message"] and _at(diagnostic) == (4, 4)
    lsp.change(uri, good)
    assert lsp.wait_diagnostics(uri) == []


def test_keystrokes_in_quick_succession_publish_the_last_text_only(lsp):
    text = HEAD + "layers:\n  - {conv: 8}\n  - flatten\n  - {dense: 10}\n"
    uri = _open(lsp, text)
    lsp.wait_diagnostics(uri)
    published = len([n for n in lsp.notifications if n["params"].get("uri") == uri])
    typed = "{conv: 8, kernel: 3}"
    for k in range(10, len(typed)):  # typed a character at a time, faster than the debounce
        lsp.change(uri, text.replace("{conv: 8}", typed[:k] + "}"))
    last = lsp.wait_diagnostics(uri)
    time.sleep(0.3)
    after = [n for n in lsp.notifications if n["params"].get("uri") == uri][published:]
    changes = len(typed) - 10
    assert after[-1]["params"]["version"] == 1 + changes  # the last text's diagnostics come last
    assert len(after) < changes  # the debounce left intermediate texts unchecked (1 unless the machine stalls)
    assert last == []  # {conv: 8, kernel: 3}


def test_a_shape_error_is_reported_where_validate_reports_it(lsp):
    text = HEAD + "layers:\n  - {conv: 8, kernel: 3}\n  - {maxpool: 64}\n  - flatten\n"
    uri = _open(lsp, text)
    (diagnostic,) = lsp.wait_diagnostics(uri)
    assert _at(diagnostic) == (4, 4) and "maxpool" in diagnostic["message"]


# -- hover, inlay hints -----------------------------------------------------------------------
@pytest.fixture(scope="module")
def resnet18(lsp):
    path = ROOT / "specs" / "resnet18.yaml"
    uri = lsp.open(path)
    lsp.wait_diagnostics(uri)
    return uri, path.read_text(encoding="utf-8"), archspec.summary(path)


def _hover(lsp, uri, text, needle, offset=1, occurrence=0) -> str:
    reply = lsp.request("textDocument/hover", lsp.at(uri, *position_of(text, needle, offset, occurrence)))
    assert reply is not None, needle
    return reply["contents"]["value"]


def test_hover_on_a_layer_shows_its_doc_shape_params_macs_and_receptive_field(lsp, resnet18):
    uri, text, analysis = resnet18
    shown = _hover(lsp, uri, text, "{conv: 64, kernel: 7")
    conv = analysis["conv1_conv"]
    assert "2-D convolution" in shown and "Conv2D" in shown
    assert f"output **{'×'.join(map(str, conv.shape))}**" in shown
    assert f"params {conv.params:,}" in shown and f"MACs {conv.macs:,}" in shown
    assert f"receptive field {conv.rf}" in shown


def test_hover_on_a_block_instance_shows_each_instance_s_totals(lsp, resnet18):
    uri, text, analysis = resnet18
    shown = _hover(lsp, uri, text, "residual:")
    assert "Residual unit" in shown
    for name in ("conv2_block1", "conv5_block2"):
        layers = [s for s in analysis.layers if name in s.node.scope]
        assert f"`{name}` (residual, {len(layers)} layers)" in shown
        assert f"params {sum(s.params for s in layers):,}" in shown
    blocks = [s for s in analysis.layers if any(scope.startswith("conv") for scope in s.node.scope)]
    assert f"All 8 instances: params {sum(s.params for s in blocks):,}" in shown


def test_hover_on_an_expression_shows_its_value_in_each_iteration(lsp, resnet18):
    uri, text, _ = resnet18
    shown = _hover(lsp, uri, text, "${64 * 2**s}", offset=3)
    assert all(f"`{v}` (s={s}, b=0)" in shown for s, v in enumerate((64, 128, 256, 512)))
    assert "= `1000`" in _hover(lsp, uri, text, "${classes}", offset=3)


def test_inlay_hints_give_each_item_s_output_shape(lsp, resnet18):
    uri, text, analysis = resnet18
    span = {"start": {"line": 0, "character": 0}, "end": {"line": len(text.splitlines()), "character": 0}}
    hints = lsp.request("textDocument/inlayHint", {"textDocument": {"uri": uri}, "range": span})
    by_line = {h["position"]["line"]: h["label"] for h in hints}
    lines = text.splitlines()
    for name in ("conv1_conv", "pool1_pool", "predictions"):
        row = next(i for i, line in enumerate(lines) if f"name: {name}" in line)
        assert by_line[row] == "→ " + "×".join(map(str, analysis[name].shape))
        assert hints[list(by_line).index(row)]["position"]["character"] == len(lines[row].rstrip())
    row = lines.index('          - residual: "${64 * 2**s}"')
    assert by_line[row] == "→ 56×56×64 | 28×28×128 | 14×14×256 | ..."


# -- completion, definition -------------------------------------------------------------------
BLOCKS_SPEC = (
    HEAD
    + "vars: {width: 16}\nblocks:\n  unit:\n    params: {f: 8}\n    layers: [{conv: '${f}', name: c}, relu]\n"
    + "layers:\n  - {conv: 8, name: stem}\n  - unit: {f: 4}\n    name: u1\n  - {add: null, inputs: [stem, u1]}\n"
)


def _labels(lsp, uri, line, char) -> list[str]:
    reply = lsp.request("textDocument/completion", lsp.at(uri, line, char))
    return [i["label"] for i in reply["items"]]


@pytest.mark.parametrize(
    ("typed", "offered", "not_offered"),
    [
        ("layers:\n  - ", {"conv", "relu", "residual", "unit", "repeat"}, {"filters", "kernel"}),
        ("layers: [{conv: 8}, ", {"conv", "maxpool", "unit"}, {"kernel"}),
        ("layers: [{conv: 8, ", {"kernel", "padding", "strides", "name", "inputs"}, {"conv", "relu", "units"}),
        ("layers:\n  - conv: 8\n    kernel: 3\n    ", {"padding", "strides"}, {"kernel", "kernel_size", "relu"}),
        ("layers: [{conv: 8, padding: ", {"same", "valid"}, {"relu"}),
        ("layers: [{dense: 8, activation: ", {"relu", "softmax", "gelu"}, {"same"}),
        ("layers: [{unit: {", {"f"}, {"kernel"}),
        ('layers: [{conv: "${', {"width", "f"}, {"conv"}),
        ("defaults:\n  conv: {", {"kernel", "padding"}, {"name", "inputs"}),
        ("defaults:\n  ", {"conv", "bn"}, {"kernel"}),
    ],
)
def test_completion_offers_what_may_be_written_there(lsp, typed, offered, not_offered):
    spec = HEAD + "vars: {width: 16}\nblocks:\n  unit:\n    params: {f: 8}\n    layers: [{conv: '${f}'}]\n" + typed
    uri = _open(lsp, spec)
    lines = spec.split("\n")
    labels = set(_labels(lsp, uri, len(lines) - 1, len(lines[-1])))
    assert offered <= labels and not labels & not_offered, sorted(labels)


def test_completion_items_carry_their_documentation(lsp):
    spec = HEAD + "layers: [{conv: 8, "
    uri = _open(lsp, spec)
    reply = lsp.request("textDocument/completion", lsp.at(uri, 2, len("layers: [{conv: 8, ")))
    items = {i["label"]: i for i in reply["items"]}
    assert items["padding"]["documentation"]["kind"] == "markdown"
    assert "padding" in items["padding"]["documentation"]["value"].lower()
    assert "default" in items["padding"]["detail"]


def test_definition_of_a_block_use_and_of_an_input_name(lsp):
    uri = _open(lsp, BLOCKS_SPEC)
    lsp.wait_diagnostics(uri)
    block = lsp.request("textDocument/definition", lsp.at(uri, *position_of(BLOCKS_SPEC, "unit: {f: 4}", 1)))
    assert block["range"]["start"] == dict(zip(("line", "character"), position_of(BLOCKS_SPEC, "unit:\n"), strict=True))
    stem = lsp.request("textDocument/definition", lsp.at(uri, *position_of(BLOCKS_SPEC, "[stem, u1]", 2)))
    line, char = position_of(BLOCKS_SPEC, "name: stem")
    assert stem["range"]["start"] == {"line": line, "character": char}
    u1 = lsp.request("textDocument/definition", lsp.at(uri, *position_of(BLOCKS_SPEC, "u1]", 0)))
    assert u1["range"]["start"]["line"] == position_of(BLOCKS_SPEC, "name: u1")[0]


# -- never down -----------------------------------------------------------------------------------
def test_every_prefix_of_a_spec_being_typed_gets_an_answer(lsp):
    """A half-typed spec (cut anywhere) is checked, hovered and completed without the server failing."""
    text = (ROOT / "specs" / "resnet50.yaml").read_text(encoding="utf-8")
    uri = _open(lsp, text[:1])
    for cut in range(40, len(text), len(text) // 25):
        part = text[:cut]
        lsp.change(uri, part)
        lsp.wait_diagnostics(uri)
        last = part.split("\n")
        where = lsp.at(uri, len(last) - 1, len(last[-1]))
        lsp.request("textDocument/hover", where)
        lsp.request("textDocument/completion", where)
    assert lsp.proc.poll() is None


def test_hostile_specs_do_not_take_the_server_down(lsp):
    """The hostile corpus (alias bombs, deep nesting, expression escapes, huge numbers...):
    each gets diagnostics; the slow work-budget cases are left to tests/test_hostile.py."""
    slow = ("work_", "did_you_mean_199", "block_chain_3000")
    for path in sorted(HOSTILE.glob("*.yaml")):
        if path.name.startswith(slow):
            continue
        text = path.read_bytes().decode("utf-8", errors="replace")
        uri = lsp.open(path, text)
        lsp.wait_diagnostics(uri)
        lsp.request("textDocument/hover", lsp.at(uri, 3, 4))
        lsp.close(uri)
    assert lsp.proc.poll() is None


def test_the_server_imports_no_tensorflow():
    code = (
        "import sys, archspec.lsp.server\n"
        "from archspec.lsp.snapshot import check\n"
        "s = check(open('specs/resnet50.yaml').read(), 'specs/resnet50.yaml')\n"
        "assert s.analysis is not None and not s.problems\n"
        "print(sorted(m for m in sys.modules if m.split('.')[0] in ('tensorflow', 'keras', 'jax', 'torch')))\n"
    )
    out = subprocess.run([sys.executable, "-c", code], cwd=ROOT, env=SUBPROCESS_ENV, capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    assert out.stdout.strip() == "[]"


# -- the functions under the protocol ---------------------------------------------------------------
def test_completion_context_reads_block_style_nesting():
    text = HEAD + "layers:\n  - repeat: 2\n    as: i\n    layers:\n      - conv: 8\n        strides: 2\n        "
    lines = text.split("\n")
    ctx = complete.context(lines, (len(lines) - 1, len(lines[-1])), None)
    assert (ctx.kind, ctx.type_key, set(ctx.present)) == ("argument", "conv", {"conv", "strides"})


def test_hover_without_a_loaded_spec_is_nothing_and_no_error():
    snapshot = check("archspec: 1\ninput: [8, 8\n", "x.yaml")
    assert snapshot.problems and features.hover(snapshot, (1, 3)) is None
    assert features.inlay_hints(snapshot) == [] and features.definition(snapshot, (1, 3)) is None


def test_hover_on_a_use_of_the_file_s_block_shows_the_instance_and_its_defaults():
    text = BLOCKS_SPEC.replace("{conv: '${f}', name: c}", "{conv: '${f}', name: c, padding: same}").replace(
        "{conv: 8, name: stem}", "{conv: 4, name: stem, padding: same}"
    )
    snapshot = check(text, "blocks.yaml")
    assert not snapshot.problems, snapshot.problems
    shown, _ = features.hover(snapshot, position_of(text, "unit: {f: 4}", 1))
    layers = [s for s in archspec.summary(text).layers if "u1" in s.node.scope]
    assert "a block of this file" in shown
    assert f"`u1` (unit, {len(layers)} layers): output 32×32×4 · params {sum(s.params for s in layers):,}" in shown
    assert features.hover(snapshot, position_of(text, "${f}", 2))[0] == (
        "`${f}` = `8` (the defaults of block unit: f=8; a use may set others)"
    )


def _hints(path: Path) -> tuple[dict[str, str], object]:
    text = path.read_text(encoding="utf-8")
    snapshot = check(text, str(path))
    return {snapshot.lines[line].strip(): label for (line, _), label in features.inlay_hints(snapshot)}, snapshot


def test_stages_and_the_classifier_show_their_output_and_figures():
    hints, snapshot = _hints(ROOT / "specs" / "vgg16.yaml")
    analysis = archspec.summary(ROOT / "specs" / "vgg16.yaml")
    shape = "×".join(map(str, analysis["block5_pool"].shape))
    assert hints["- {conv: 512, n: 3}"].endswith(f"→ {shape}")  # the stage's pool, its last layer
    assert next(v for k, v in hints.items() if k.startswith("classifier:")) == "→ 1000"
    row = next(i for i, line in enumerate(snapshot.lines) if line.strip() == "- {conv: 64, n: 2}")
    shown, _ = features.hover(snapshot, (row, 6))
    assert shown.startswith("**stage**") and f"params {analysis['block1_conv2'].params:,}" in shown


def test_a_pattern_token_shows_the_layers_made_from_it():
    path = ROOT / "specs" / "seed_cnn.yaml"
    hints, snapshot = _hints(path)
    analysis = archspec.summary(path)
    shapes = ["×".join(map(str, analysis[name].shape)) for name in ("block1_conv1", "block2_conv1")]
    token = next(k for k in hints if k.startswith("CONV:"))
    assert hints[token] == "→ " + " | ".join(shapes)
    text = path.read_text(encoding="utf-8")
    shown, _ = features.hover(snapshot, position_of(text, "${32 * 2**m}", 3))
    assert "- `block1_conv1`: filters = `32`" in shown and "- `block2_conv2`: filters = `64`" in shown


def test_a_repeat_of_blocks_hovers_as_its_instances_and_hints_its_output():
    path = ROOT / "specs" / "resnet18.yaml"
    hints, snapshot = _hints(path)
    analysis = archspec.summary(path)
    assert hints["- repeat: 4"] == "→ " + "×".join(map(str, analysis["conv5_block2_out"].shape))
    row = next(i for i, line in enumerate(snapshot.lines) if line.strip() == "- repeat: 4")
    shown, _ = features.hover(snapshot, (row, 5))
    assert "- `conv2_block1` (residual, " in shown and "All 8 instances" in shown


def test_a_check_queued_before_a_newer_change_is_skipped():
    """A check can take seconds; changes typed meanwhile must not each queue one behind it."""
    from archspec.lsp.server import server

    uri = "file:///tmp/queued.yaml"
    server.generation[uri] = 2  # two changes seen
    try:
        assert server._check_unless_stale(uri, 1, HEAD + "layers: [flatten]\n") is None  # queued at the first
        snapshot = server._check_unless_stale(uri, 2, HEAD + "layers: [flatten]\n")
        assert snapshot is not None and snapshot.analysis is not None
    finally:
        server.generation.pop(uri)
