"""``archspec view SPEC``: a local page that shows a spec's diagram, summary and problems, live.

A :class:`ThreadingHTTPServer` from the standard library, bound to 127.0.0.1, serves exactly
three things, by exact path: the page (``/``), the spec's state as JSON (``/api/state``) and a
stream of server-sent events (``/events``) that says "the spec changed" after every save. A
watcher thread (the ``watchfiles`` library: inotify, FSEvents or ReadDirectoryChangesW, no
polling loop of ours) bumps a version number when the spec file is written or replaced.

No URL names a file: the only file read is the spec the server was started on, so there is
nothing to traverse to. Requests whose ``Host`` is not this server's loopback address are
refused (a page elsewhere cannot reach the server by DNS rebinding).

An invalid spec is a state like any other: its problems go to the page with their lines, and
the last picture that was good (for the same variant and ``--set`` values) stays on screen.
Nothing a spec contains can stop the server: every failure becomes a problem on the page.
"""

from __future__ import annotations

import json
import os
import sys
import threading
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer
from pathlib import Path
from typing import Any
from urllib.parse import parse_qs, urlsplit

from ..errors import ArchspecError, Problem

#: How long the watcher waits for more writes before it reports a save (editors write in bursts).
DEBOUNCE_MS = 50
KEEPALIVE_S = 10.0
READY_TICK_MS = 100
#: States kept (the last good picture of each variant and --set combination asked for).
MAX_OPTIONS = 32


@dataclass
class Options:
    """What the page asks for: a variant of the spec's ``scales:`` table and ``--set`` values."""

    variant: str | None = None
    sets: tuple[str, ...] = ()

    @property
    def key(self) -> tuple[str | None, tuple[str, ...]]:
        return self.variant, self.sets


@dataclass
class SpecState:
    """The spec being viewed: a version bumped on every save, and the last good picture of each option."""

    path: Path
    version: int = 0
    stopping: bool = False
    changed: threading.Condition = field(default_factory=threading.Condition)
    _last_good: dict[Any, dict[str, Any]] = field(default_factory=dict)
    _cache: dict[Any, dict[str, Any]] = field(default_factory=dict)
    _variants: list[str] = field(default_factory=list)

    def bump(self) -> None:
        with self.changed:
            self.version += 1
            self._cache.clear()
            self.changed.notify_all()

    def stop(self) -> None:
        with self.changed:
            self.stopping = True
            self.changed.notify_all()

    def wait(self, seen: int, timeout: float) -> int:
        """Block until the version differs from ``seen`` (or ``timeout``, or stop); the version now."""
        with self.changed:
            self.changed.wait_for(lambda: self.version != seen or self.stopping, timeout)
            return self.version

    def state(self, options: Options) -> dict[str, Any]:
        """The JSON the page shows, for ``options`` (computed once per version and options)."""
        with self.changed:
            version = self.version
            cached = self._cache.get((version, options.key))
        if cached is not None:
            return cached
        result = self._compute(options)
        result["version"] = version
        with self.changed:
            if result["scene"] is not None and not result["stale"]:
                self._last_good[options.key] = result["scene"]
                self._variants = result["variants"]
            else:
                result["scene"] = self._last_good.get(options.key)
                result["variants"] = self._variants
            self._cache[version, options.key] = result
            for kept in (self._cache, self._last_good):  # bounded, whatever queries the page sends
                while len(kept) > MAX_OPTIONS:
                    del kept[next(iter(kept))]
        return result

    def _compute(self, options: Options) -> dict[str, Any]:
        text = _read(self.path)
        out: dict[str, Any] = {"spec": str(self.path), "scene": None, "problems": [], "variants": [], "stale": False}
        try:
            out["variants"], picture, late = _evaluate(self.path, options)
            out["scene"] = picture
            out["problems"] = [_problem(p, text) for p in late]
        except ArchspecError as exc:
            out["problems"] = [_problem(p, text) for p in exc.problems]
            out["stale"] = True
        except Exception as exc:  # a bug of archspec's must not take the page down with it
            out["problems"] = [{"message": f"internal error: {type(exc).__name__}: {exc}", "line": 0, "column": 0}]
            out["stale"] = True
        return out


def _evaluate(path: Path, options: Options) -> tuple[list[str], dict[str, Any], list[Problem]]:
    """(variants, scene, problems that still let the picture be drawn: pinned figures not met)."""
    from ..analysis import analyse
    from ..api import expand
    from ..errors import SpecError
    from ..expect import check_expectations
    from ..loader import load_file
    from .scene import read_source, scene

    doc = load_file(path)
    scales = doc.data.get("scales") if isinstance(doc.data, dict) else None
    variants = [str(name) for name in scales] if isinstance(scales, dict) else []  # a bad table: the schema says why
    graph = expand(doc, variant=options.variant, overrides=_overrides(options.sets))
    analysis = analyse(graph)
    late: list[Problem] = []
    try:
        check_expectations(analysis)
    except SpecError as exc:
        late = list(exc.problems)
    return variants, scene(graph, analysis, source=read_source(path)), late


def _overrides(sets: Sequence[str]) -> dict[str, Any]:
    """The page's ``--set NAME=VALUE`` lines, read as ``archspec --set`` reads them (YAML scalars)."""
    from ..errors import SpecError, UsageError
    from ..loader import load_text

    out: dict[str, Any] = {}
    for item in sets:
        key, eq, raw = item.partition("=")
        if not eq:
            raise UsageError(f"--set takes NAME=VALUE; got {item!r}")
        try:
            out[key.strip()] = load_text(raw, f"--set {key.strip()}").data if raw.strip() else None
        except SpecError as exc:
            raise UsageError(exc.problems) from None
    return out


def _read(path: Path) -> str | None:
    try:
        return path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError):
        return None


def _problem(p: Problem, text: str | None) -> dict[str, Any]:
    from ..errors import format_path

    lines = text.splitlines() if text is not None else []
    line = p.location.line
    return {
        "message": f"{format_path(p.path)}: {p.message}" if p.path else p.message,
        "file": p.location.file,
        "line": line,
        "column": p.location.column,
        "line_text": lines[line - 1] if 0 < line <= len(lines) else None,
    }


def watch(state: SpecState, stop: threading.Event, ready: threading.Event) -> None:
    """Bump ``state`` on every change of its file (watching its folder: editors save by renaming).

    ``ready`` is set once the watch is in place (the generator's first, empty, yield comes
    after watchfiles has set up its watcher), so that no save after :func:`start` is missed.
    """
    import watchfiles

    target = os.path.realpath(state.path)

    def is_spec(_change: Any, path: str) -> bool:
        return os.path.realpath(path) == target

    try:
        _watch(watchfiles, state, stop, ready, is_spec)
    except Exception as exc:  # e.g. the folder was removed: the page keeps working, without updates
        print(f"archspec view: no longer watching {state.path}: {exc}", file=sys.stderr)
    finally:
        ready.set()


def _watch(watchfiles: Any, state: SpecState, stop: threading.Event, ready: threading.Event, is_spec: Any) -> None:
    for changes in watchfiles.watch(
        state.path.parent,
        watch_filter=is_spec,
        stop_event=stop,
        debounce=DEBOUNCE_MS,
        step=DEBOUNCE_MS,
        rust_timeout=READY_TICK_MS,
        yield_on_timeout=True,
        recursive=False,
        raise_interrupt=False,
    ):
        ready.set()
        if changes:
            state.bump()


class Handler(BaseHTTPRequestHandler):
    """The three routes; anything else is 404, whatever it looks like."""

    server: ViewServer
    server_version = "archspec-view"
    protocol_version = "HTTP/1.0"

    def do_GET(self) -> None:
        if not self._host_ok():
            self._send(403, "text/plain; charset=utf-8", b"archspec view answers http://127.0.0.1 only\n")
            return
        url = urlsplit(self.path)
        if url.path == "/":
            self._send(200, "text/html; charset=utf-8", self.server.page.encode("utf-8"))
        elif url.path == "/api/state":
            query = parse_qs(url.query, keep_blank_values=False)
            variant = (query.get("variant") or [None])[-1] or None
            options = Options(variant, tuple(query.get("set", ())))
            body = json.dumps(self.server.state.state(options)).encode("utf-8")
            self._send(200, "application/json", body)
        elif url.path == "/events":
            self._events()
        else:
            self._send(404, "text/plain; charset=utf-8", b"not found\n")

    def _host_ok(self) -> bool:
        port = self.server.server_address[1]
        return self.headers.get("Host", "") in (f"127.0.0.1:{port}", f"localhost:{port}")

    def _send(self, status: int, kind: str, body: bytes) -> None:
        self.send_response(status)
        self.send_header("Content-Type", kind)
        self.send_header("Content-Length", str(len(body)))
        self.send_header("Cache-Control", "no-store")
        self.send_header("X-Content-Type-Options", "nosniff")
        self.end_headers()
        self.wfile.write(body)

    def _events(self) -> None:
        """Server-sent events: one ``data:`` message per save, comments to keep the line open."""
        self.send_response(200)
        self.send_header("Content-Type", "text/event-stream")
        self.send_header("Cache-Control", "no-store")
        self.end_headers()
        state = self.server.state
        seen = state.version
        message = f"retry: 500\ndata: {seen}\n\n"
        try:
            while True:
                self.wfile.write(message.encode("ascii"))
                self.wfile.flush()
                now = state.wait(seen, KEEPALIVE_S)
                if state.stopping:
                    return
                message = f"data: {now}\n\n" if now != seen else ": still here\n\n"
                seen = now
        except (BrokenPipeError, ConnectionResetError):  # the page was closed or reloaded
            return

    def log_message(self, format: str, *args: Any) -> None:
        if self.server.verbose:
            super().log_message(format, *args)


class ViewServer(ThreadingHTTPServer):
    daemon_threads = True
    allow_reuse_address = True

    def __init__(self, port: int, state: SpecState, page: str, verbose: bool = False) -> None:
        super().__init__(("127.0.0.1", port), Handler)
        self.state = state
        self.page = page
        self.verbose = verbose


def start(
    spec: str | os.PathLike[str], *, port: int = 0, options: Options | None = None, verbose: bool = False
) -> tuple[ViewServer, threading.Event]:
    """Start serving ``spec`` (in threads); returns the server and the event that stops the watcher.

    ``port`` 0 picks a free port (``server.server_address[1]``). Call :func:`stop` to end it.
    """
    from .html import page

    path = Path(spec).resolve()
    options = options or Options()
    state = SpecState(path)
    html = page(None, live=True, title=f"archspec view: {path.name}", initial=_initial(options))
    server = ViewServer(port, state, html, verbose)
    stop_event, ready = threading.Event(), threading.Event()
    watcher = threading.Thread(target=watch, args=(state, stop_event, ready), name="archspec-view-watch", daemon=True)
    watcher.start()
    ready.wait(timeout=10)
    state.state(options)  # the first picture now: a later broken save has a last good one to keep
    serve = threading.Thread(target=server.serve_forever, args=(0.05,), name="archspec-view-http", daemon=True)
    serve.start()  # polls for shutdown every 50 ms: Ctrl-C ends at once
    return server, stop_event


def stop(server: ViewServer, stop_event: threading.Event) -> None:
    """End the watcher and every open event stream, then the server."""
    stop_event.set()
    server.state.stop()
    server.shutdown()
    server.server_close()


def _initial(options: Options) -> Mapping[str, Any]:
    return {"variant": options.variant or "", "sets": list(options.sets)}


def url(server: ViewServer) -> str:
    return f"http://127.0.0.1:{server.server_address[1]}/"


__all__: Sequence[str] = ["Options", "SpecState", "start", "stop", "url"]
