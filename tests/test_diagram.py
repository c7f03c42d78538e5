"""`archspec diagram`: the DOT text (every layer, shapes on edges, blocks as clusters), safe
escaping of hostile names, and the Graphviz paths (tested with and without `dot`)."""

from __future__ import annotations

import dataclasses
import re
import shutil
import subprocess

import pytest
from click.testing import CliRunner
from conftest import ROOT, run_cli_without_framework, spec_files

import archspec
from archspec import diagram
from archspec.cli import main

RESNETISH = """
archspec: 1
name: resnetish
input: [32, 32, 3]
blocks:
  conv_bn:
    params: {filters: null, strides: 1}
    layers:
      - {conv: "${filters}", strides: "${strides}", padding: same, bias: false, name: conv}
      - {bn: null, name: bn}
      - {relu: null, name: relu}
  unit:
    params: {filters: null}
    layers:
      - {conv_bn: "${filters}", name: a}
      - {conv_bn: "${filters}", name: b}
      - {add: null, inputs: [b, input]}
layers:
  - {conv: 16, padding: same, name: stem}
  - {unit: 16, name: u1}
  - {unit: 16, name: u2}
  - {maxpool: 2, name: pool}
  - {gap: null, name: gap}
  - {dense: 10, activation: softmax, name: predictions}
"""

# DOT's lexical rules for what we emit: ids, quoted strings (with \" and \\ escapes), punctuation.
_DOT_TOKEN = re.compile(r'\s*(?:"(?:[^"\\]|\\.)*"|[A-Za-z_][A-Za-z0-9_]*|-?[0-9.]+|->|[{}\[\];=,])', re.S)


def _tokens(dot: str) -> list[str]:
    """Tokenise DOT text; fails the test on any character outside the grammar (a broken quote)."""
    out, pos = [], 0
    while pos < len(dot):
        if dot[pos:].strip() == "":
            break
        m = _DOT_TOKEN.match(dot, pos)
        assert m, f"DOT text is not lexically valid at {dot[pos : pos + 40]!r}"
        out.append(m.group(0).strip())
        pos = m.end()
    return out


_QUOTED = r'"(?:[^"\\]|\\.)*"'


def _decode(token: str) -> list[str]:
    """A quoted DOT label as Graphviz reads it: its lines, with \\ and \" resolved.

    Any other backslash escape (\\N, \\G, \\l ...) fails the test: a name must never make one.
    """
    assert token.startswith('"') and token.endswith('"'), token
    lines, cur, body, i = [], "", token[1:-1], 0
    while i < len(body):
        c = body[i]
        if c == "\\":
            nxt = body[i + 1]
            assert nxt in '\\"n', f"unexpected escape \\{nxt} in {token}"
            if nxt == "n":
                lines.append(cur)
                cur = ""
            else:
                cur += nxt
            i += 2
        else:
            cur += c
            i += 1
    return [*lines, cur]


def _labels(dot: str) -> dict[str, list[str]]:
    """node id -> label lines, for the node statements ``id [label="..."...];``."""
    pattern = re.compile(rf"^\s*(\w+) \[label=({_QUOTED})", re.M)
    return {node: _decode(label) for node, label in pattern.findall(dot) if node not in ("graph", "node", "edge")}


def _edges(dot: str) -> list[tuple[str, str, str]]:
    pattern = re.compile(rf"^\s*(\w+) -> (\w+) \[label=({_QUOTED})\];$", re.M)
    return [(s, d, "\n".join(_decode(label))) for s, d, label in pattern.findall(dot)]


def _by_name(dot: str) -> dict[str, str]:
    """Layer name (first label line) -> node id."""
    _tokens(dot)  # lexically valid as a whole
    return {lines[0]: node for node, lines in _labels(dot).items()}


def test_every_layer_is_a_node_and_every_input_an_edge_with_its_shape():
    graph = archspec.expand(RESNETISH)
    analysis = archspec.summary(graph)
    dot = diagram.to_dot(graph, analysis)
    ids = _by_name(dot)
    assert set(ids) == {n.name for n in graph.nodes} | {"input"}
    edges = {(src, dst): label for src, dst, label in _edges(dot)}
    shapes = {"input": (32, 32, 3), **{s.name: s.shape for s in analysis.layers}}
    expected = {(ids[src], ids[n.name]): "x".join(map(str, shapes[src])) for n in graph.nodes for src in n.inputs}
    assert edges == expected
    assert edges[(ids["u1_b_relu"], ids["u1_add"])] == "32x32x16"
    assert edges[(ids["stem"], ids["u1_add"])] == "32x32x16"  # the shortcut
    assert edges[(ids["gap"], ids["predictions"])] == "16"


def test_blocks_are_nested_clusters():
    dot = diagram.to_dot(archspec.expand(RESNETISH))
    ids = _by_name(dot)
    # Walk the braces: for each node id, the cluster labels enclosing it.
    toks = _tokens(dot)
    stack: list[str] = []
    enclosing: dict[str, list[str]] = {}
    pending = None
    for i, t in enumerate(toks):
        if t == "subgraph":
            pending = toks[i + 1]
        elif t == "{" and pending:
            stack.append(pending)
            pending = None
        elif t == "{":
            stack.append("graph")
        elif t == "}":
            stack.pop()
        elif t == "label" and stack and stack[-1].startswith("cluster_") and toks[i - 1] in (";", "{"):
            stack[-1] = _decode(toks[i + 2])[0]
        elif toks[i + 1] == "[" and toks[i - 1] != "->" and t in ids.values():
            enclosing[t] = list(stack[1:])
    assert enclosing[ids["u1_a_conv"]] == ["u1 (unit)", "u1_a (conv_bn)"]
    assert enclosing[ids["u2_add"]] == ["u2 (unit)"]
    assert enclosing[ids["stem"]] == []
    assert dot.count("subgraph cluster_") == 6  # u1, u1_a, u1_b, u2, u2_a, u2_b


def test_depth_collapses_blocks_into_one_box():
    dot = diagram.to_dot(archspec.expand(RESNETISH), depth=0)
    ids = _by_name(dot)
    assert set(ids) == {"input", "stem", "u1", "u2", "pool", "gap", "predictions"}
    assert _labels(dot)[ids["u1"]][1] == "unit block, 7 layers"
    edges = {(s, d) for s, d, _ in _edges(dot)}
    assert edges == {
        (ids["input"], ids["stem"]),
        (ids["stem"], ids["u1"]),
        (ids["u1"], ids["u2"]),
        (ids["u2"], ids["pool"]),
        (ids["pool"], ids["gap"]),
        (ids["gap"], ids["predictions"]),
    }
    assert "cluster" not in dot


HOSTILE = [
    'a"; evil -> x [label="pwn',
    "back\\slash\\",
    "new\\nline \\N \\G \\l",
    "}{ subgraph cluster_x { <b>html<b> -> n0",
    "ünï 🧠 名前",
]


@pytest.mark.parametrize("name", HOSTILE)
def test_hostile_names_are_escaped(name):
    spec = {
        "archspec": 1,
        "name": "m",
        "input": [8, 8, 1],
        "blocks": {"blk": {"layers": [{"conv": 4, "name": name}]}},
        "layers": [{"blk": None, "name": "b"}, {"flatten": None, "name": name}],
    }
    dot = diagram.to_dot(archspec.expand(spec))
    names = set(_by_name(dot))  # _decode fails on any escape a name could have smuggled in
    assert name in names and f"b_{name}" in names
    assert len(_edges(dot)) == 2  # nothing injected an edge
    assert len(re.findall(r"^\s*subgraph cluster_\d+ {$", dot, re.M)) == 1


def test_control_characters_cannot_break_lines():
    """The expander refuses such names today; the diagram must stay safe without relying on it."""
    graph = archspec.expand({"archspec": 1, "input": [4], "layers": [{"dense": 2, "name": "ok"}]})
    node = dataclasses.replace(graph.nodes[0], name="x\ny\r\tz")
    dot = diagram.to_dot(dataclasses.replace(graph, nodes=(node,), outputs=(node.name,)))
    assert all(not line.startswith("y") for line in dot.splitlines())
    assert _by_name(dot)["x y  z"]


def test_cli_writes_dot_and_refuses_unknown_suffix(tmp_path):
    spec = tmp_path / "net.yaml"
    spec.write_text(RESNETISH)
    out = tmp_path / "net.dot"
    result = CliRunner().invoke(main, ["diagram", str(spec), "-o", str(out), "--rankdir", "LR"])
    assert result.exit_code == 0, result.output
    text = out.read_text()
    assert text.startswith('digraph "resnetish" {') and "rankdir=LR" in text
    bad = CliRunner().invoke(main, ["diagram", str(spec), "-o", str(tmp_path / "net.jpeg")])
    assert bad.exit_code == 2
    assert "cannot tell the diagram format" in bad.output and "Traceback" not in bad.output


def test_cli_reports_spec_errors_with_location(tmp_path):
    spec = tmp_path / "bad.yaml"
    spec.write_text("archspec: 1\ninput: [8, 8, 1]\nlayers:\n  - {conv: 4}\n  - {dense: 3}\n")
    result = CliRunner().invoke(main, ["diagram", str(spec), "-o", str(tmp_path / "bad.dot")])
    assert result.exit_code == 1
    assert f"{spec}:5:5: layers[1]: dense: dense needs a flat input" in result.output
    assert not (tmp_path / "bad.dot").exists()


def test_svg_without_graphviz_says_so_and_exits_2(tmp_path, monkeypatch):
    monkeypatch.setattr(diagram.shutil, "which", lambda _name: None)
    out = tmp_path / "net.svg"
    result = CliRunner().invoke(main, ["diagram", str(ROOT / "specs" / "vgg16.yaml"), "-o", str(out)])
    assert result.exit_code == 2
    assert "needs the Graphviz `dot` program, which is not installed" in result.output
    assert "-o net.dot" in result.output
    assert not out.exists()


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
@pytest.mark.parametrize("suffix", [".svg", ".png"])
def test_images_through_graphviz(tmp_path, suffix):
    spec = tmp_path / "net.yaml"
    spec.write_text(RESNETISH)
    out = tmp_path / f"net{suffix}"
    result = CliRunner().invoke(main, ["diagram", str(spec), "-o", str(out)])
    assert result.exit_code == 0, result.output
    data = out.read_bytes()
    if suffix == ".svg":
        assert b"<svg" in data and b"u1_a_conv" in data and b"32x32x16" in data
    else:
        assert data.startswith(b"\x89PNG")


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
def test_graphviz_parses_hostile_dot(tmp_path):
    """Graphviz itself reads the escaped text back: the names come out literally in the SVG."""
    spec = {"archspec": 1, "input": [4], "layers": [{"dense": 2, "name": name} for name in HOSTILE]}
    spec["layers"] = [{"dense": 2, "name": n} for n in HOSTILE]
    dot = diagram.to_dot(archspec.expand(spec))
    proc = subprocess.run(["dot", "-Tsvg"], input=dot.encode(), capture_output=True, check=False)
    assert proc.returncode == 0, proc.stderr
    svg = proc.stdout.decode()
    assert "back\\slash\\" in svg and "new\\nline \\N \\G \\l" in svg
    assert svg.count('<g id="edge') == len(HOSTILE)


def test_diagram_does_not_import_tensorflow(tmp_path):
    proc = run_cli_without_framework("diagram", ROOT / "specs" / "vgg16.yaml", "-o", tmp_path / "v.dot")
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("path", spec_files(), ids=lambda p: str(p.relative_to(ROOT / "specs")))
def test_every_spec_draws(path):
    graph = archspec.expand(path)
    dot = diagram.to_dot(graph)
    assert len(_labels(dot)) == len(graph.nodes) + 1  # every layer and the input, names escaped
    assert len(_edges(dot)) == len({(src, n.name) for n in graph.nodes for src in n.inputs})
    assert len(re.findall(r"^\s*subgraph cluster_\d+ {$", dot, re.M)) == len({s for n in graph.nodes for s in n.scope})
