"""The protocol side of ``archspec lsp``: pygls, debouncing, and one worker thread.

Each change of a document (re)starts a short timer (:data:`DEBOUNCE_S`); when it runs out,
the text is checked on the worker thread and its diagnostics published, unless the text
changed again meanwhile (then the newer check publishes). Requests (hover, inlay hints,
completion, definition) also run on the worker, on the snapshot of the document's current
text (checked at once if the timer has not run yet), so that they agree with what is on
screen. One worker: the stages keep process-wide state (the work budget's counter), and one
check at a time is all a keystroke needs.
"""

from __future__ import annotations

import asyncio
import logging
import os
import sys
from collections.abc import Callable
from concurrent.futures import ThreadPoolExecutor
from typing import Any, TypeVar

import click
from lsprotocol import types
from pygls import uris
from pygls.lsp.server import LanguageServer

from .. import __version__
from . import complete, features
from .snapshot import Range, Snapshot, check, diagnostics

#: Seconds of quiet after a change before the text is checked (a check of the zoo's largest
#: spec takes ~20 ms; bench/bench_lsp.py measures change-to-diagnostics).
DEBOUNCE_S = float(os.environ.get("ARCHSPEC_LSP_DEBOUNCE_MS", "75")) / 1000

log = logging.getLogger("archspec.lsp")
T = TypeVar("T")

_KINDS = {
    "type": types.CompletionItemKind.Class,
    "block": types.CompletionItemKind.Module,
    "argument": types.CompletionItemKind.Property,
    "value": types.CompletionItemKind.EnumMember,
    "variable": types.CompletionItemKind.Variable,
    "keyword": types.CompletionItemKind.Keyword,
}


class ArchspecServer(LanguageServer):
    def __init__(self) -> None:
        super().__init__("archspec", __version__, text_document_sync_kind=types.TextDocumentSyncKind.Incremental)
        self.worker = ThreadPoolExecutor(max_workers=1, thread_name_prefix="archspec-check")
        self.snapshots: dict[str, Snapshot] = {}
        self.loaded: dict[str, Any] = {}  # the last data of each document that loaded (for completion)
        self.timers: dict[str, asyncio.Task[None]] = {}

    # -- checking ------------------------------------------------------------------------------
    def schedule(self, uri: str, delay: float) -> None:
        pending = self.timers.pop(uri, None)
        if pending is not None:
            pending.cancel()
        self.timers[uri] = asyncio.get_running_loop().create_task(self._check_later(uri, delay))

    async def _check_later(self, uri: str, delay: float) -> None:
        await asyncio.sleep(delay)
        snapshot = await self.current(uri)
        if snapshot is None or snapshot.text != self._text(uri):
            return  # closed, or changed again: the newer timer publishes
        self.timers.pop(uri, None)
        document = self.workspace.get_text_document(uri)
        self.text_document_publish_diagnostics(
            types.PublishDiagnosticsParams(uri, self._diagnostics(snapshot), document.version)
        )

    async def current(self, uri: str) -> Snapshot | None:
        """The snapshot of the document's current text, checked now if it is not yet."""
        text = self._text(uri)
        if text is None:
            return None
        snapshot = self.snapshots.get(uri)
        if snapshot is None or snapshot.text != text:
            snapshot = await self.run(check, text, _file_name(uri))
            if snapshot is None:
                return None
            self.snapshots[uri] = snapshot
            if snapshot.doc is not None:
                self.loaded[uri] = snapshot.data
        return snapshot

    def _text(self, uri: str) -> str | None:
        if uri not in self.snapshots and uri not in self.timers:
            return None
        return self.workspace.get_text_document(uri).source

    async def run(self, func: Callable[..., T], *args: Any) -> T | None:
        """``func(*args)`` on the worker thread; None (and a log line) if archspec has a bug."""
        try:
            return await asyncio.get_running_loop().run_in_executor(self.worker, func, *args)
        except Exception:  # a bug must cost one answer, not the editor's server
            log.exception("archspec lsp: %s failed", getattr(func, "__name__", func))
            return None

    def forget(self, uri: str) -> None:
        pending = self.timers.pop(uri, None)
        if pending is not None:
            pending.cancel()
        self.snapshots.pop(uri, None)
        self.loaded.pop(uri, None)
        self.text_document_publish_diagnostics(types.PublishDiagnosticsParams(uri, []))

    # -- positions -----------------------------------------------------------------------------
    def _diagnostics(self, snapshot: Snapshot) -> list[types.Diagnostic]:
        return [
            types.Diagnostic(
                self.client_range(snapshot, d.range), d.message, types.DiagnosticSeverity.Error, source="archspec"
            )
            for d in diagnostics(snapshot)
        ]

    def client_range(self, snapshot: Snapshot, r: Range) -> types.Range:
        codec = self.workspace.position_codec
        return types.Range(
            codec.position_to_client_units(snapshot.lines, types.Position(*r.start)),
            codec.position_to_client_units(snapshot.lines, types.Position(*r.end)),
        )

    def server_position(self, snapshot: Snapshot, position: types.Position) -> tuple[int, int]:
        if position.line >= len(snapshot.lines):
            return position.line, position.character
        at = self.workspace.position_codec.position_from_client_units(snapshot.lines, position)
        return at.line, at.character


def _file_name(uri: str) -> str:
    path = uris.to_fs_path(uri)
    if path is None:
        return uri
    try:
        return os.path.relpath(path)
    except ValueError:  # another drive (Windows)
        return path


server = ArchspecServer()


@server.feature(types.TEXT_DOCUMENT_DID_OPEN)
async def did_open(ls: ArchspecServer, params: types.DidOpenTextDocumentParams) -> None:
    ls.schedule(params.text_document.uri, 0)


@server.feature(types.TEXT_DOCUMENT_DID_CHANGE)
async def did_change(ls: ArchspecServer, params: types.DidChangeTextDocumentParams) -> None:
    ls.schedule(params.text_document.uri, DEBOUNCE_S)


@server.feature(types.TEXT_DOCUMENT_DID_CLOSE)
async def did_close(ls: ArchspecServer, params: types.DidCloseTextDocumentParams) -> None:
    ls.forget(params.text_document.uri)


@server.feature(types.TEXT_DOCUMENT_HOVER)
async def hover(ls: ArchspecServer, params: types.HoverParams) -> types.Hover | None:
    snapshot = await ls.current(params.text_document.uri)
    if snapshot is None:
        return None
    found = await ls.run(features.hover, snapshot, ls.server_position(snapshot, params.position))
    if not found:
        return None
    text, where = found
    content = types.MarkupContent(types.MarkupKind.Markdown, text)
    return types.Hover(content, ls.client_range(snapshot, where))


@server.feature(types.TEXT_DOCUMENT_INLAY_HINT)
async def inlay_hint(ls: ArchspecServer, params: types.InlayHintParams) -> list[types.InlayHint] | None:
    snapshot = await ls.current(params.text_document.uri)
    if snapshot is None:
        return None
    hints = await ls.run(features.inlay_hints, snapshot, params.range.start.line, params.range.end.line)
    codec = ls.workspace.position_codec
    return [
        types.InlayHint(
            codec.position_to_client_units(snapshot.lines, types.Position(*at)),
            label,
            kind=types.InlayHintKind.Type,
            padding_left=True,
        )
        for at, label in hints or ()
    ]


@server.feature(types.TEXT_DOCUMENT_COMPLETION, types.CompletionOptions(trigger_characters=["{", ",", "$", "-", " "]))
async def completion(ls: ArchspecServer, params: types.CompletionParams) -> types.CompletionList | None:
    uri = params.text_document.uri
    snapshot = await ls.current(uri)
    if snapshot is None:
        return None
    data = snapshot.data if snapshot.doc is not None else ls.loaded.get(uri)
    items = await ls.run(complete.complete, snapshot.lines, ls.server_position(snapshot, params.position), data)
    return types.CompletionList(
        is_incomplete=False,
        items=[
            types.CompletionItem(
                i.label,
                kind=_KINDS.get(i.kind),
                detail=i.detail or None,
                documentation=types.MarkupContent(types.MarkupKind.Markdown, i.documentation)
                if i.documentation
                else None,
            )
            for i in items or ()
        ],
    )


@server.feature(types.TEXT_DOCUMENT_DEFINITION)
async def definition(ls: ArchspecServer, params: types.DefinitionParams) -> types.Location | None:
    uri = params.text_document.uri
    snapshot = await ls.current(uri)
    if snapshot is None:
        return None
    where = await ls.run(features.definition, snapshot, ls.server_position(snapshot, params.position))
    return types.Location(uri, ls.client_range(snapshot, where)) if where else None


@click.command("lsp")
@click.option("--stdio", is_flag=True, help="Talk over standard input and output (the default and only transport).")
def command(stdio: bool) -> None:
    """Language server for spec files (LSP over stdio): diagnostics, hover figures, completion.

    Diagnostics are exactly those of `archspec validate`; hover shows each layer's output
    shape, parameters, MACs and receptive field. Set up in an editor: docs/editor.md.
    """
    logging.basicConfig(stream=sys.stderr, level=logging.WARNING, format="archspec lsp: %(message)s")
    server.start_io()
