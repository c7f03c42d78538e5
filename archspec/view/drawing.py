"""A scene laid out (:mod:`.layout`) as drawing primitives, and those primitives as SVG text.

The same primitives are painted by matplotlib for PNG and PDF (:mod:`.raster`), so the three
formats show the same picture. Every piece of text comes from the spec (layer names can
hold anything); the SVG writer escapes it all, as text and as attribute values.
"""

from __future__ import annotations

from collections.abc import Iterable, Mapping
from dataclasses import dataclass, field
from typing import Any
from xml.sax.saxutils import escape, quoteattr

from .layout import Box, Layout, layout
from .scene import collapsed_at, visible

FONT = "Helvetica, Arial, sans-serif"
FONT_SIZE = 11.0
EDGE_FONT_SIZE = 9.0
CHAR_WIDTH = 0.62  # of the font size: a generous mean advance of Helvetica, so text fits its box
LINE_HEIGHT = 14.0
PAD = 8.0
TITLE_HEIGHT = 30.0
GROUP_PAD = 7.0
GROUP_HEADER = 14.0

FILL = "#ffffff"
FROZEN_FILL = "#e6e6e6"
GROUP_FILL = "#f5f7fb"
STROKE = "#333333"
TRAINS = "#3c8d40"
TENSOR_FILL = "#9ec5e8"


@dataclass(frozen=True)
class Rect:
    x: float
    y: float
    w: float
    h: float
    fill: str = FILL
    stroke: str = STROKE
    dashed: bool = False
    rounded: float = 4.0
    width: float = 1.0
    css: str = ""


@dataclass(frozen=True)
class Text:
    x: float
    y: float
    text: str
    size: float = FONT_SIZE
    bold: bool = False
    anchor: str = "middle"  # or "start"
    colour: str = "#111111"


@dataclass(frozen=True)
class Line:
    points: tuple[tuple[float, float], ...]
    arrow: bool = True
    colour: str = "#555555"


@dataclass
class Item:
    """One thing of the picture (a layer, a block, an edge): its primitives and what it is."""

    kind: str  # "node", "group" or "edge"
    name: str
    parts: list[Rect | Text | Line] = field(default_factory=list)


@dataclass
class Drawing:
    width: float
    height: float
    items: list[Item]
    title: str


def text_width(text: str, size: float = FONT_SIZE) -> float:
    return len(text) * size * CHAR_WIDTH


def _label_lines(box: Mapping[str, Any]) -> list[str]:
    shape = "x".join(str(d) for d in box["shape"])
    if box.get("group"):
        head = f"{box['kind']} block, {box['layers']} layers"
    else:
        head = box["desc"] if box["desc"] != box["name"] else ""
    figures = shape + (f" · {box['params']:,} params" if box["params"] else "")
    return [line for line in (box["name"], head, figures) if line]


def draw(scene: Mapping[str, Any], *, depth: int | None = None, rankdir: str = "TB", to_scale: bool = False) -> Drawing:
    """Lay a scene out and turn it into primitives; ``depth`` collapses blocks as ``--depth`` does."""
    boxes, edges = visible(scene, collapsed_at(scene, depth))
    horizontal = rankdir in ("LR", "RL")
    sizes = {b["id"]: _box_size(b, to_scale, horizontal) for b in boxes}
    lay = layout(
        [Box(b["id"], *_across_along(sizes[b["id"]], horizontal)) for b in boxes],
        [(s, t) for s, t, _ in edges],
        horizontal=horizontal,
        reverse=rankdir in ("BT", "RL"),
        rank_gap=52.0 if horizontal else 44.0,
    )
    top = TITLE_HEIGHT + (16.0 if scene["stages"] else 0.0)
    items = _group_items(scene, boxes, lay, sizes, top)
    # edges meet the tensor's own box when it is drawn to scale, not the label beside it
    ends = {b["id"]: _tensor_size(b, horizontal) if to_scale and not b.get("group") else sizes[b["id"]] for b in boxes}
    labelled: set[str] = set()  # a tensor read by several layers is labelled once, on its first edge
    for s, t, label in edges:
        items.append(_edge_item(lay, s, t, "" if s in labelled else label, ends, top))
        labelled.add(s)
    items += [_node_item(b, lay, sizes[b["id"]], scene, top, to_scale, horizontal) for b in boxes]
    width, height = lay.screen_size()
    width = max(width, text_width(scene["title"], 13) + 40, _legend_width(scene) + 40)
    items.insert(0, _header(scene))
    return Drawing(width, height + top, items, scene["title"])


def _box_size(box: Mapping[str, Any], to_scale: bool, horizontal: bool) -> tuple[float, float]:
    """Screen (width, height) of a box: its label, or the tensor drawn to scale with the label beside."""
    lines = _label_lines(box)
    text_w = max(text_width(line) for line in lines) + 2 * PAD
    text_h = len(lines) * LINE_HEIGHT + PAD
    marks = 0.0 if box.get("group") else 2 * 9.0 * len(box.get("stages") or ())  # room for the stage squares
    if not to_scale or box.get("group"):
        return max(text_w + marks, 60.0), text_h
    across, along = box["box"]
    if horizontal:  # the label under the tensor, so that it does not lengthen the flow
        return max(along, text_w), across + 2 * text_h
    return across + 2 * text_w, max(along, text_h)  # the label beside it, box centred on the flow


def _tensor_size(box: Mapping[str, Any], horizontal: bool) -> tuple[float, float]:
    across, along = box["box"]
    return (along, across) if horizontal else (across, along)


def _across_along(size: tuple[float, float], horizontal: bool) -> tuple[float, float]:
    return (size[1], size[0]) if horizontal else size


def _centre(lay: Layout, box_id: str, top: float) -> tuple[float, float]:
    x, y = lay.point(lay.centre[box_id])
    return x, y + top


def _node_item(
    box: Mapping[str, Any],
    lay: Layout,
    size: tuple[float, float],
    scene: Mapping[str, Any],
    top: float,
    to_scale: bool,
    horizontal: bool,
) -> Item:
    cx, cy = _centre(lay, box["id"], top)
    w, h = size
    lines = _label_lines(box)
    frozen = not box["trainable"]
    fill = FROZEN_FILL if frozen else (GROUP_FILL if box.get("group") else FILL)
    item = Item("group-box" if box.get("group") else "node", box["name"])
    if to_scale and not box.get("group"):
        across, along = box["box"]
        bw, bh = (along, across) if horizontal else (across, along)
        item.parts.append(Rect(cx - bw / 2, cy - bh / 2, bw, bh, TENSOR_FILL, STROKE, frozen, 0.0, css="tensor"))
        if horizontal:
            ty = cy + bh / 2 + LINE_HEIGHT
            item.parts += [Text(cx, ty + i * LINE_HEIGHT, line, bold=i == 0) for i, line in enumerate(lines)]
        else:
            tx, ty = cx + bw / 2 + PAD, cy - len(lines) * LINE_HEIGHT / 2 + LINE_HEIGHT - 3
            item.parts += [
                Text(tx, ty + i * LINE_HEIGHT, line, bold=i == 0, anchor="start") for i, line in enumerate(lines)
            ]
        return item
    if box.get("group"):  # a collapsed block: a stacked look, like Graphviz' box3d
        item.parts.append(Rect(cx - w / 2 + 3, cy - h / 2 + 3, w, h, "#dde3ee", STROKE, frozen))
    rounded = h / 2 if box.get("type") == "input" else 4.0
    width = 2.2 if box.get("output") else 1.0
    item.parts.append(Rect(cx - w / 2, cy - h / 2, w, h, fill, STROKE, frozen, rounded, width))
    y0 = cy - h / 2 + PAD / 2 + LINE_HEIGHT - 3
    item.parts += [Text(cx, y0 + i * LINE_HEIGHT, line, bold=i == 0) for i, line in enumerate(lines)]
    item.parts += _stage_marks(box, cx + w / 2, cy - h / 2, scene)
    return item


def _stage_marks(box: Mapping[str, Any], right: float, top: float, scene: Mapping[str, Any]) -> list[Rect | Text]:
    """One small square per fine-tuning stage at the top right: filled where the layer trains."""
    flags = box.get("stages") or []
    return [
        Rect(right - 9.0 * (len(flags) - i) - 2, top + 3, 7, 7, TRAINS if on else FILL, TRAINS, rounded=0.0)
        for i, on in enumerate(flags)
    ]


def _edge_item(
    lay: Layout, src: str, dst: str, label: str, sizes: Mapping[str, tuple[float, float]], top: float
) -> Item:
    pts = [lay.point(p) for p in lay.routes[src, dst]]
    pts = [(x, y + top) for x, y in pts]
    (sx, sy), (tx, ty) = pts[0], pts[-1]
    way = -1 if lay.reverse else 1  # the side of a box its edges leave from
    if lay.horizontal:
        pts[0] = (sx + way * sizes[src][0] / 2, sy)
        pts[-1] = (tx - way * sizes[dst][0] / 2, ty)
    else:
        pts[0] = (sx, sy + way * sizes[src][1] / 2)
        pts[-1] = (tx, ty - way * sizes[dst][1] / 2)
    (ax, ay), (bx, by) = pts[0], pts[1]
    mid = ((ax + bx) / 2, (ay + by) / 2)
    where = (mid[0] + 4, mid[1] + 3) if not lay.horizontal else (mid[0], mid[1] - 4)
    anchor = "start" if not lay.horizontal else "middle"
    text = Text(*where, label, EDGE_FONT_SIZE, anchor=anchor, colour="#555555")
    name = f"{src}->{dst}".replace("\0", "")  # a group's box id starts with NUL, which XML cannot hold
    return Item("edge", name, [Line(tuple(pts)), text] if label else [Line(tuple(pts))])


def _group_items(
    scene: Mapping[str, Any],
    boxes: list[dict[str, Any]],
    lay: Layout,
    sizes: Mapping[str, tuple[float, float]],
    top: float,
) -> list[Item]:
    """Each expanded block as a rounded, dashed frame around its layers (nested ones inside)."""
    bounds: dict[str, list[float]] = {}
    for b in boxes:
        cx, cy = _centre(lay, b["id"], top)
        w, h = sizes[b["id"]]
        rect = [cx - w / 2, cy - h / 2, cx + w / 2, cy + h / 2]
        for g in b["scope"]:  # a collapsed group's scope holds only the groups around it
            _grow(bounds, g, rect)
    groups = {g["id"]: g for g in scene["groups"]}
    ordered = sorted(bounds, key=lambda g: -groups[g]["depth"])  # inner first: an outer frame holds them
    for g in ordered:
        x0, y0, x1, y1 = bounds[g]
        bounds[g] = [x0 - GROUP_PAD, y0 - GROUP_PAD - GROUP_HEADER, x1 + GROUP_PAD, y1 + GROUP_PAD]
        parent = groups[g]["parent"]
        if parent in bounds:
            _grow(bounds, parent, bounds[g])
    items = []
    for g in sorted(bounds, key=lambda g: groups[g]["depth"]):
        x0, y0, x1, y1 = bounds[g]
        frame = Rect(x0, y0, x1 - x0, y1 - y0, "none", "#7a7a7a", True, 8.0, css="group")
        title = Text(x0 + 6, y0 + 11, f"{g} ({groups[g]['kind']})", 9.5, anchor="start", colour="#444444")
        items.append(Item("group", g, [frame, title]))
    return items


def _grow(bounds: dict[str, list[float]], key: str, rect: list[float]) -> None:
    if key not in bounds:
        bounds[key] = list(rect)
        return
    b = bounds[key]
    bounds[key] = [min(b[0], rect[0]), min(b[1], rect[1]), max(b[2], rect[2]), max(b[3], rect[3])]


def _header(scene: Mapping[str, Any]) -> Item:
    item = Item("title", scene["name"], [Text(12, 20, scene["title"], 13, True, "start")])
    if scene["stages"]:
        x = 12.0
        item.parts.append(Text(x, 38, "trains in stage:", 9.5, anchor="start"))
        x += text_width("trains in stage:", 9.5) + 6
        for i, stage in enumerate(scene["stages"]):
            item.parts.append(Rect(x, 30, 8, 8, TRAINS, TRAINS, rounded=0.0))
            label = f"{i + 1}. {stage['name']} ({stage['trainable_params']:,} trainable)"
            item.parts.append(Text(x + 11, 38, label, 9.5, anchor="start"))
            x += 11 + text_width(label, 9.5) + 14
    return item


def _legend_width(scene: Mapping[str, Any]) -> float:
    labels = [f"{i + 1}. {s['name']} ({s['trainable_params']:,} trainable)" for i, s in enumerate(scene["stages"])]
    return sum(25 + text_width(label, 9.5) for label in labels) + (100 if labels else 0)


# --- SVG -------------------------------------------------------------------------------------


def to_svg(drawing: Drawing) -> str:
    """The drawing as a standalone SVG document (every text escaped)."""
    w, h = round(drawing.width), round(drawing.height)
    out = [
        '<?xml version="1.0" encoding="UTF-8"?>',
        f'<svg xmlns="http://www.w3.org/2000/svg" width="{w}" height="{h}" viewBox="0 0 {w} {h}" '
        f'font-family="{FONT}" font-size="{FONT_SIZE:g}">',
        f"<title>{escape(drawing.title)}</title>",
        '<defs><marker id="arrow" viewBox="0 0 10 10" refX="10" refY="5" markerWidth="7" markerHeight="7" '
        'orient="auto-start-reverse"><path d="M0,0 L10,5 L0,10 z" fill="#555555"/></marker></defs>',
        f'<rect width="{w}" height="{h}" fill="#ffffff"/>',
    ]
    for item in drawing.items:
        out.append(f"<g class={quoteattr(item.kind)} data-name={quoteattr(item.name)}>")
        out += [_svg_part(p) for p in item.parts]
        out.append("</g>")
    out.append("</svg>")
    return "\n".join(out) + "\n"


def _svg_part(p: Rect | Text | Line) -> str:
    if isinstance(p, Rect):
        dash = ' stroke-dasharray="4 3"' if p.dashed else ""
        css = f" class={quoteattr(p.css)}" if p.css else ""
        return (
            f'<rect{css} x="{p.x:.1f}" y="{p.y:.1f}" width="{p.w:.1f}" height="{p.h:.1f}" rx="{p.rounded:g}" '
            f'fill="{p.fill}" stroke="{p.stroke}" stroke-width="{p.width:g}"{dash}/>'
        )
    if isinstance(p, Text):
        weight = ' font-weight="bold"' if p.bold else ""
        return (
            f'<text x="{p.x:.1f}" y="{p.y:.1f}" font-size="{p.size:g}" text-anchor="{p.anchor}" '
            f'fill="{p.colour}"{weight}>{escape(p.text)}</text>'
        )
    d = " ".join(f"{'M' if i == 0 else 'L'}{x:.1f},{y:.1f}" for i, (x, y) in enumerate(p.points))
    marker = ' marker-end="url(#arrow)"' if p.arrow else ""
    return f'<path d="{d}" fill="none" stroke="{p.colour}" stroke-width="1.2"{marker}/>'


def parts(drawing: Drawing) -> Iterable[tuple[Item, Rect | Text | Line]]:
    for item in drawing.items:
        for p in item.parts:
            yield item, p
