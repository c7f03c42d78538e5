"""`archspec diagram`: the DOT text (every layer, shapes on edges, blocks as clusters), safe
escaping of hostile names, and the Graphviz paths (tested with and without `dot`)."""

from __future__ import annotations

import dataclasses
import itertools
import json
import re
import shutil
import subprocess
from xml.etree import ElementTree

import pytest
from click.testing import CliRunner
from conftest import ROOT, run_cli_without_framework, spec_files

import archspec
from archspec import diagram, report
from archspec.cli import main
from archspec.view import drawing, html, layout, scene

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


def test_graphviz_engine_without_graphviz_says_so_and_exits_2(tmp_path, monkeypatch):
    monkeypatch.setattr(diagram.shutil, "which", lambda _name: None)
    out = tmp_path / "net.svg"
    result = CliRunner().invoke(
        main, ["diagram", str(ROOT / "specs" / "vgg16.yaml"), "-o", str(out), "--engine", "graphviz"]
    )
    assert result.exit_code == 2
    assert "--engine graphviz needs the Graphviz `dot` program, which is not installed" in result.output
    assert "Leave out --engine" in result.output
    assert not out.exists()


@pytest.mark.parametrize(
    ("suffix", "magic"),
    [(".svg", b"<?xml"), (".png", b"\x89PNG\r\n"), (".pdf", b"%PDF-"), (".html", b"<!DOCTYPE html>")],
)
def test_images_without_graphviz(tmp_path, monkeypatch, suffix, magic):
    """The default engine needs no system program: `dot` hidden, every format is still written."""
    monkeypatch.setattr(diagram.shutil, "which", lambda _name: None)
    spec = tmp_path / "net.yaml"
    spec.write_text(RESNETISH)
    out = tmp_path / f"net{suffix}"
    result = CliRunner().invoke(main, ["diagram", str(spec), "-o", str(out)])
    assert result.exit_code == 0, result.output
    assert out.read_bytes().startswith(magic)
    assert f"wrote {out}" in result.output


def test_html_is_refused_by_the_graphviz_engine(tmp_path):
    spec = tmp_path / "net.yaml"
    spec.write_text(RESNETISH)
    result = CliRunner().invoke(main, ["diagram", str(spec), "-o", str(tmp_path / "n.html"), "--engine", "graphviz"])
    assert (
        result.exit_code == 2
        and "Graphviz writes .dot, .gv, .svg, .png, .pdf; for .html leave out --engine" in result.output
    )


@pytest.mark.skipif(shutil.which("dot") is None, reason="Graphviz is not installed")
@pytest.mark.parametrize("suffix", [".svg", ".png"])
def test_images_through_graphviz(tmp_path, suffix):
    spec = tmp_path / "net.yaml"
    spec.write_text(RESNETISH)
    out = tmp_path / f"net{suffix}"
    result = CliRunner().invoke(main, ["diagram", str(spec), "-o", str(out), "--engine", "graphviz"])
    assert result.exit_code == 0, result.output
    assert "drawn by Graphviz" in result.output
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


@pytest.mark.parametrize(
    ("spec", "suffix"),
    [("vgg16.yaml", ".dot"), ("vgg16.yaml", ".svg"), ("vgg16.yaml", ".png"), ("transfer/vgg16_finetune.yaml", ".html")],
)
def test_diagram_does_not_import_tensorflow(tmp_path, spec, suffix):
    proc = run_cli_without_framework("diagram", ROOT / "specs" / spec, "-o", tmp_path / f"v{suffix}")
    assert proc.returncode == 0, proc.stdout + proc.stderr


@pytest.mark.parametrize("path", spec_files(), ids=lambda p: str(p.relative_to(ROOT / "specs")))
def test_every_spec_draws(path):
    graph = archspec.expand(path)
    dot = diagram.to_dot(graph)
    assert len(_labels(dot)) == len(graph.nodes) + 1  # every layer and the input, names escaped
    assert len(_edges(dot)) == len({(src, n.name) for n in graph.nodes for src in n.inputs})
    assert len(re.findall(r"^\s*subgraph cluster_\d+ {$", dot, re.M)) == len({s for n in graph.nodes for s in n.scope})


# --- the builtin engine: scene, layered layout, SVG/PNG/PDF, self-contained HTML -----------------

_SVG = "{http://www.w3.org/2000/svg}"


def _svg_items(svg: str) -> dict[str, list[str]]:
    """class -> data-name of every item group of a builtin SVG (parsed as XML: escaping holds)."""
    root = ElementTree.fromstring(svg.encode())
    out: dict[str, list[str]] = {}
    for g in root.iter(f"{_SVG}g"):
        out.setdefault(g.get("class"), []).append(g.get("data-name"))
    return out


def test_scene_figures_are_the_summary_json_figures():
    graph = archspec.expand(ROOT / "specs" / "resnet50.yaml")
    layers = report.to_dict(archspec.summary(graph))["layers"]
    nodes = scene.scene(graph)["nodes"]
    assert [n["name"] for n in nodes] == ["input", *(layer["name"] for layer in layers)]
    for node, layer in zip(nodes[1:], layers, strict=True):
        assert (node["shape"], node["params"], node["macs"], node["trainable"]) == (
            layer["output_shape"],
            layer["params"],
            layer["macs"],
            layer["trainable"],
        )


def test_builtin_svg_has_every_layer_edge_and_block():
    graph = archspec.expand(RESNETISH)
    svg = drawing.to_svg(drawing.draw(scene.scene(graph)))
    items = _svg_items(svg)
    assert sorted(items["node"]) == sorted(["input", *(n.name for n in graph.nodes)])
    assert len(items["edge"]) == len({(src, n.name) for n in graph.nodes for src in n.inputs})
    assert sorted(items["group"]) == sorted(graph.scopes)
    assert "32x32x16" in svg


def test_builtin_svg_depth_collapses_blocks():
    svg = drawing.to_svg(drawing.draw(scene.scene(archspec.expand(RESNETISH)), depth=0))
    items = _svg_items(svg)
    assert items["node"] == ["input", "stem", "pool", "gap", "predictions"]
    assert items["group-box"] == ["u1", "u2"]
    assert "unit block, 7 layers" in svg and "group" not in items


def test_a_layer_may_share_a_collapsed_block_name():
    text = "archspec: 1\ninput: [8, 8, 1]\nblocks:\n  blk: {layers: [{conv: 4, name: c}]}\n"
    text += "layers: [{blk: null, name: b}, {conv: 2, name: b}, {flatten: null, name: x}]\n"
    items = _svg_items(drawing.to_svg(drawing.draw(scene.scene(archspec.expand(text)), depth=0)))
    assert items["node"] == ["input", "b", "x"] and items["group-box"] == ["b"]
    assert sorted(items["edge"]) == ["b->b", "b->x", "input->b"]


@pytest.mark.parametrize("name", [*HOSTILE, "<!--<script>alert(1)", "&amp; <b>"])
def test_hostile_names_in_svg_and_html(name):
    spec = {
        "archspec": 1,
        "input": [8, 8, 1],
        "blocks": {"blk": {"layers": [{"conv": 4, "name": name}]}},
        "layers": [{"blk": None, "name": "b"}, {"flatten": None, "name": name}],
    }
    picture = scene.scene(archspec.expand(spec))
    items = _svg_items(drawing.to_svg(drawing.draw(picture)))
    assert name in items["node"] and f"b_{name}" in items["node"]
    page = html.page(picture)
    body = page[page.index("ArchspecPage.initStatic(") :]
    assert "<" not in body[: body.index(");\n</script>")]  # the data cannot close its script element
    assert json.loads(body[len("ArchspecPage.initStatic(") : body.index(");\n</script>")])["scene"] == picture


def test_spec_text_cannot_close_the_script_element():
    """Layers carry their spec line into the page, comments included: it must stay data."""
    text = RESNETISH.replace(
        "{gap: null, name: gap}", "{gap: null, name: gap}  # </script><img src=x onerror=alert(1)>"
    )
    picture = scene.scene(archspec.expand(text), source=text)
    assert "</script><img" in next(n["line_text"] for n in picture["nodes"] if n["name"] == "gap")
    page = html.page(picture)
    assert page.count("</script>") == 3 and "<img" not in page


def test_html_makes_no_outside_request():
    page = html.page(scene.scene(archspec.expand(RESNETISH)))
    assert "default-src 'none'" in page and "connect-src" not in page
    assert not re.search(r"""\s(src|href)\s*=""", page, re.I)  # nothing loaded: scripts and styles are inline
    assert "@import" not in page and "url(http" not in page


def test_vendored_dagre_is_the_pinned_release():
    import hashlib

    data = (ROOT / "archspec" / "data" / "vendor" / "dagre" / "dagre.min.js").read_bytes()
    notes = (ROOT / "archspec" / "data" / "vendor" / "README.md").read_text()
    assert f"`dagre/dagre.min.js` here: sha256 `{hashlib.sha256(data).hexdigest()}`" in notes
    assert b"sourceMappingURL" not in data and "| 3.1.3 |" in notes
    assert (ROOT / "archspec" / "data" / "vendor" / "dagre" / "LICENSE").read_text().startswith("Copyright")


def test_builtin_output_is_deterministic(tmp_path):
    graph = archspec.expand(ROOT / "specs" / "googlenet.yaml")
    first = drawing.to_svg(drawing.draw(scene.scene(graph)))
    assert first == drawing.to_svg(drawing.draw(scene.scene(archspec.expand(ROOT / "specs" / "googlenet.yaml"))))


def test_to_scale_boxes_follow_the_tensors():
    picture = scene.scene(archspec.expand(RESNETISH))
    root = ElementTree.fromstring(drawing.to_svg(drawing.draw(picture, to_scale=True)).encode())
    widths = {}
    for g in root.iter(f"{_SVG}g"):
        for rect in g.iter(f"{_SVG}rect"):
            if rect.get("class") == "tensor":
                widths[g.get("data-name")] = (float(rect.get("width")), float(rect.get("height")))
    # across: spatial size (32 -> 16 after the pool), along: channels (3 -> 16)
    assert widths["stem"][0] == pytest.approx(2 * widths["pool"][0], abs=0.2)
    assert widths["stem"][1] == pytest.approx(16 / 3 * widths["input"][1], rel=0.05)
    assert widths["predictions"][0] == pytest.approx(widths["gap"][0] * 10 / 16, abs=0.2)


@pytest.mark.parametrize("rankdir", ["TB", "BT", "LR", "RL"])
def test_rankdir_sets_the_flow(rankdir):
    lay_scene = scene.scene(archspec.expand(RESNETISH))
    root = ElementTree.fromstring(drawing.to_svg(drawing.draw(lay_scene, rankdir=rankdir, depth=0)).encode())
    centre = {}
    for g in root.iter(f"{_SVG}g"):
        if g.get("class") in ("node", "group-box"):
            rect = next(r for r in g.iter(f"{_SVG}rect") if r.get("fill") != "#dde3ee")
            x, y, w, h = (float(rect.get(k)) for k in ("x", "y", "width", "height"))
            centre[g.get("data-name")] = (x + w / 2, y + h / 2)
    axis, sign = {"TB": (1, 1), "BT": (1, -1), "LR": (0, 1), "RL": (0, -1)}[rankdir]
    order = ["input", "stem", "u1", "u2", "pool", "gap", "predictions"]
    along = [sign * centre[n][axis] for n in order]
    assert along == sorted(along) and len(set(along)) == len(along)


@pytest.mark.parametrize("path", spec_files(), ids=lambda p: str(p.relative_to(ROOT / "specs")))
def test_layout_never_overlaps_boxes(path):
    """Every spec: ranks follow the edges, and no two boxes of a rank overlap."""
    picture = scene.scene(archspec.expand(path))
    boxes, edges = scene.visible(picture, set())
    sizes = [layout.Box(b["id"], 10 + 7 * len(b["name"]), 30) for b in boxes]
    lay = layout.layout(sizes, [(s, t) for s, t, _ in edges], gap=5)
    assert all(lay.rank[s] < lay.rank[t] for s, t, _ in edges)
    by_rank: dict[int, list[tuple[float, float]]] = {}
    for b in sizes:
        x = lay.centre[b.id][0]
        by_rank.setdefault(lay.rank[b.id], []).append((x - b.across / 2, x + b.across / 2))
    for spans in by_rank.values():
        spans.sort()
        assert all(a[1] + 5 - 1e-6 <= b[0] for a, b in itertools.pairwise(spans))
    assert min(lo for spans in by_rank.values() for lo, _ in spans) >= 20 - 1e-6  # the margin


# --- notebooks: print() and _repr_html_ of what archspec.summary / archspec.expand return ----------


def test_print_gives_the_summary_table(capsys):
    graph = archspec.expand(RESNETISH)
    analysis = archspec.summary(graph)
    print(analysis)
    print(graph)
    out = capsys.readouterr().out
    table = report.render_table(analysis)
    assert out == table + "\n" + table + "\n"
    assert 'Model: "resnetish"' in out and "u1_a_conv (conv)" in out


def test_repr_html_is_a_table_and_a_diagram():
    graph = archspec.expand(RESNETISH)
    page = archspec.summary(graph)._repr_html_()
    assert page == graph._repr_html_()
    rows = re.findall(r"<tr><td style='text-align:left'>(.*?) \(", page)
    assert rows == [n.name for n in graph.nodes]
    layer = archspec.summary(graph)["u1_a_conv"]
    assert f"<td>{layer.params:,}</td><td>{layer.macs:,}</td>" in page
    svg = page[page.index("<svg") : page.index("</svg>") + 6]
    assert sorted(_svg_items(svg)["node"]) == sorted(["input", *(n.name for n in graph.nodes)])


def test_repr_html_escapes_names_and_collapses_big_nets():
    spec = {"archspec": 1, "input": [4], "layers": [{"dense": 2, "name": name} for name in HOSTILE]}
    page = archspec.expand(spec)._repr_html_()
    assert "<b>html<b>" not in page and "&lt;b&gt;html&lt;b&gt;" in page
    big = archspec.summary(ROOT / "specs" / "resnet50.yaml")._repr_html_()
    assert big.count("<tr><td") == 176 and "blocks collapsed" in big
