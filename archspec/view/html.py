"""The diagram as an HTML page: the scene, the vendored dagre and archspec's page script, inlined.

One template serves both pages: the self-contained file of ``archspec diagram -o net.html``
(the scene embedded; opens from disk, makes no request) and the live page of ``archspec
view`` (the scene fetched from the local server, which pushes every save). A Content
Security Policy in the page itself forbids any outside request: scripts and styles are
inline, and the live page may connect to its own server only.
"""

from __future__ import annotations

import functools
import json
from collections.abc import Mapping
from importlib import resources
from typing import Any
from xml.sax.saxutils import escape

DAGRE = "vendor/dagre/dagre.min.js"
CSP_STATIC = "default-src 'none'; style-src 'unsafe-inline'; script-src 'unsafe-inline'"
CSP_LIVE = CSP_STATIC + "; connect-src 'self'"


@functools.cache
def asset(name: str) -> str:
    """A file of archspec/data, as text (the vendored library, the page's script and style)."""
    return resources.files("archspec").joinpath("data", *name.split("/")).read_text(encoding="utf-8")


def script_json(data: Any) -> str:
    """JSON that is safe inside a <script> element: no ``</script>``, ``<!--`` or line separators."""
    text = json.dumps(data, ensure_ascii=False, separators=(",", ":"))
    return (
        text.replace("<", "\\u003c")
        .replace(">", "\\u003e")
        .replace("&", "\\u0026")
        .replace("\u2028", "\\u2028")
        .replace("\u2029", "\\u2029")
    )


def page(
    scene: Mapping[str, Any] | None,
    *,
    depth: int | None = None,
    rankdir: str = "TB",
    to_scale: bool = False,
    live: bool = False,
    title: str | None = None,
    initial: Mapping[str, Any] | None = None,
) -> str:
    """The page's HTML text. ``depth`` starts with the blocks nested that deep collapsed."""
    collapsed = [] if scene is None or depth is None else [g["id"] for g in scene["groups"] if g["depth"] == depth]
    data = {
        "scene": scene,
        "options": {"rankdir": rankdir, "toScale": to_scale, "collapsed": collapsed},
        "initial": dict(initial or {}),  # the live page's first --variant and --set values
    }
    init = "ArchspecPage.initLive" if live else "ArchspecPage.initStatic"
    name = title or (scene["title"] if scene else "archspec")
    return _TEMPLATE.format(
        csp=CSP_LIVE if live else CSP_STATIC,
        title=escape(name),
        css=asset("view/page.css"),
        live_controls=_LIVE_CONTROLS if live else "",
        dagre=asset(DAGRE),
        script=asset("view/diagram.js"),
        data=script_json(data),
        init=init,
    )


_LIVE_CONTROLS = """
  <label hidden>variant <select id="variant"></select></label>
  <label>--set <textarea id="sets" rows="1" cols="18" placeholder="name=value, one a line"></textarea></label>
  <button id="apply" type="button">Apply</button>
  <span id="status">connecting...</span>"""

_TEMPLATE = """<!DOCTYPE html>
<html lang="en">
<head>
<meta charset="utf-8">
<meta http-equiv="Content-Security-Policy" content="{csp}">
<meta name="viewport" content="width=device-width, initial-scale=1">
<title>{title}</title>
<style>
{css}
</style>
</head>
<body>
<header>
  <h1 id="title">{title}</h1>
  <button id="collapse" type="button">Collapse blocks</button>
  <button id="expand" type="button">Expand all</button>
  <label><input id="to-scale" type="checkbox"> tensors to scale</label>
  <label hidden>fine-tuning stage <select id="stage"></select></label>{live_controls}
</header>
<div id="problems" hidden></div>
<main>
  <div id="diagram"></div>
  <aside id="details"><p class="hint">Click a layer for its figures and the spec line it came from;
  click a block's title to collapse it, and a collapsed block to open it.</p></aside>
</main>
<section id="summary"><h2>Summary</h2><p id="totals"></p><table id="table"></table></section>
<script>
{dagre}
</script>
<script>
{script}
</script>
<script>
{init}({data});
</script>
</body>
</html>
"""
