"""``archspec diagram -o FILE``: the format from the file name, drawn by archspec or by Graphviz.

``.svg``, ``.png``, ``.pdf``: laid out by :mod:`.layout` (no system program; PNG and PDF
painted by matplotlib). ``.html``: a self-contained page laid out in the browser by the
vendored dagre. ``.dot``/``.gv`` and ``engine="graphviz"``: :mod:`archspec.diagram`'s DOT
text, drawn by Graphviz' ``dot`` when it is asked for.
"""

from __future__ import annotations

from pathlib import Path

from .. import diagram
from ..errors import Location, Problem, UsageError
from ..fileio import atomic_write_bytes, atomic_write_text
from ..ir import Graph

ENGINES = ("builtin", "graphviz")
BUILTIN = {".svg": "svg", ".png": "png", ".pdf": "pdf", ".html": "html", ".htm": "html"}


def write(
    graph: Graph,
    output: str | Path,
    *,
    depth: int | None = None,
    rankdir: str = "TB",
    engine: str = "builtin",
    to_scale: bool = False,
    source: str | None = None,
) -> str:
    """Write the diagram to ``output``, in the format its suffix names; returns a one-line report.

    ``to_scale`` draws each tensor as a box sized by its spatial size and channels;
    ``source`` (the spec's text) lets the HTML page show the line each layer came from.
    Raises :class:`UsageError` (exit status 2) for an unknown suffix or engine, a format the
    engine does not write, or Graphviz asked for and not installed.
    """
    path = Path(output)
    suffix = path.suffix.lower()
    if engine not in ENGINES:
        raise UsageError(_problem(path, f"unknown diagram engine {engine!r}; use one of {', '.join(ENGINES)}"))
    if to_scale and (engine == "graphviz" or suffix in diagram.DOT_SUFFIXES):
        raise UsageError(_problem(path, "--to-scale is drawn by archspec itself: write .svg, .png, .pdf or .html"))
    if suffix in diagram.DOT_SUFFIXES or engine == "graphviz":
        return diagram.write(graph, path, depth=depth, rankdir=rankdir)
    if suffix not in BUILTIN:
        known = ", ".join((*BUILTIN, *diagram.DOT_SUFFIXES))
        raise UsageError(
            _problem(path, f"cannot tell the diagram format from the file name; use one ending in {known}")
        )
    return _builtin(graph, path, BUILTIN[suffix], depth, rankdir, to_scale, source)


def _builtin(
    graph: Graph, path: Path, fmt: str, depth: int | None, rankdir: str, to_scale: bool, source: str | None
) -> str:
    from . import drawing, html, raster
    from .scene import scene

    picture = scene(graph, source=source)
    layers = f"{len(graph.nodes)} layers"
    if fmt == "html":
        atomic_write_text(path, html.page(picture, depth=depth, rankdir=rankdir, to_scale=to_scale))
        return f"wrote {path} (HTML page, self-contained, laid out by dagre in the browser; {layers})"
    drawn = drawing.draw(picture, depth=depth, rankdir=rankdir, to_scale=to_scale)
    if fmt == "svg":
        atomic_write_text(path, drawing.to_svg(drawn))
    else:
        atomic_write_bytes(path, raster.render(drawn, fmt))
    return f"wrote {path} ({fmt.upper()}, {layers})"


def _problem(path: Path, message: str) -> Problem:
    return Problem(message, Location(str(path)))
