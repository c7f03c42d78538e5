"""How graphs and analyses show themselves: ``print()`` and Jupyter.

``print(archspec.summary(spec))`` (or of ``archspec.expand(spec)``) prints the table of
``archspec summary``; in Jupyter, the same objects display as an HTML table followed by the
diagram, an inline SVG drawn by :mod:`.drawing` (no script: it shows in JupyterLab, the
classic notebook, VS Code, nbviewer and GitHub alike). :func:`register` installs both in
:data:`archspec.ir.DISPLAY`; ``import archspec`` calls it.

>>> import archspec
>>> net = archspec.summary("archspec: 1\\nname: tiny\\ninput: [8, 8, 1]\\nlayers: [{conv: 4}, flatten]")
>>> print(net)  # doctest: +ELLIPSIS +NORMALIZE_WHITESPACE
Model: "tiny"
  Layer (type)        Output Shape      Param #    MACs   RF
 ────...
  conv (conv)         (None, 6, 6, 4)        40   1,296    3
  flatten (flatten)   (None, 144)             0       0
Total params: 40 (0.16 KiB float32, 0.08 KiB float16)
...
>>> "<table>" in net._repr_html_() and "<svg" in net._repr_html_()
True
"""

from __future__ import annotations

from html import escape
from typing import Any

from ..ir import DISPLAY

#: Blocks are collapsed one level in the notebook's drawing from this many layers on.
COLLAPSE_FROM = 60
MAX_HEIGHT_PX = 640


def register() -> None:
    DISPLAY["text"] = text
    DISPLAY["html"] = html


def _analysis(obj: Any) -> Any:
    from ..analysis import Analysis, analyse

    return obj if isinstance(obj, Analysis) else analyse(obj)


def text(obj: Any) -> str:
    """The terminal table of ``archspec summary`` (a Graph is analysed first)."""
    from ..report import render_table

    return render_table(_analysis(obj))


def html(obj: Any) -> str:
    """An HTML table of the layers and totals, then the diagram as inline SVG."""
    from ..report import rows, totals
    from .drawing import draw, to_svg
    from .scene import scene

    analysis = _analysis(obj)
    body = "".join(
        f"<tr><td style='text-align:left'>{escape(r.name)} ({escape(r.type)}){' [frozen]' if r.frozen else ''}</td>"
        f"<td style='text-align:left'>{escape(' x '.join(map(str, r.shape)))}</td>"
        f"<td>{r.params:,}</td><td>{r.macs:,}</td><td>{escape(r.rf)}</td></tr>"
        for r in rows(analysis)
    )
    foot = "".join(f"<li>{escape(k)}: {escape(v)}</li>" for k, v in totals(analysis))
    picture = scene(analysis.graph, analysis)
    depth = 0 if len(analysis.layers) >= COLLAPSE_FROM and picture["groups"] else None
    svg = to_svg(draw(picture, depth=depth)).split("\n", 1)[1]  # without the XML declaration
    note = "<p><i>blocks collapsed; <code>archspec diagram -o net.html</code> opens them</i></p>" if depth == 0 else ""
    return (
        f"<div class='archspec'><b>Model: &quot;{escape(analysis.graph.name)}&quot;</b>"
        "<table><thead><tr><th style='text-align:left'>Layer (type)</th><th style='text-align:left'>Output shape</th>"
        f"<th>Params</th><th>MACs</th><th>RF</th></tr></thead><tbody>{body}</tbody></table><ul>{foot}</ul>"
        f"<div style='max-height:{MAX_HEIGHT_PX}px;overflow:auto'>{svg}</div>{note}</div>"
    )
