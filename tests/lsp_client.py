"""A small synchronous Language Server Protocol client over a subprocess's stdio, for tests.

It drives any server (``archspec lsp``, Red Hat's yaml-language-server) as an editor would:
JSON-RPC messages with ``Content-Length`` headers, requests answered by id, notifications
(``textDocument/publishDiagnostics``) kept per document, and the server's own requests
(``workspace/configuration``, ``client/registerCapability``) answered so that it goes on.
"""

from __future__ import annotations

import json
import queue
import subprocess
import threading
import time
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

DEFAULT_TIMEOUT = 30.0


class LspClient:
    def __init__(
        self,
        command: Sequence[str],
        *,
        settings: dict[str, Any] | None = None,
        env: dict[str, str] | None = None,
        cwd: str | Path | None = None,
    ):
        self.proc = subprocess.Popen(
            list(command), stdin=subprocess.PIPE, stdout=subprocess.PIPE, stderr=subprocess.PIPE, env=env, cwd=cwd
        )
        self.settings = settings or {}
        self._next_id = 0
        self._responses: dict[int, queue.Queue[dict[str, Any]]] = {}
        self._lock = threading.Lock()
        self.diagnostics: dict[str, list[dict[str, Any]]] = {}
        self.diagnostic_events: queue.Queue[tuple[str, float]] = queue.Queue()
        self.notifications: list[dict[str, Any]] = []
        self.stderr: list[bytes] = []
        self._versions: dict[str, int] = {}
        threading.Thread(target=self._read, daemon=True).start()
        threading.Thread(target=self._drain_stderr, daemon=True).start()

    # -- wire ---------------------------------------------------------------------------------
    def _send(self, message: dict[str, Any]) -> None:
        body = json.dumps({"jsonrpc": "2.0", **message}).encode()
        assert self.proc.stdin is not None
        with self._lock:
            self.proc.stdin.write(b"Content-Length: %d\r\n\r\n" % len(body) + body)
            self.proc.stdin.flush()

    def _read(self) -> None:
        out = self.proc.stdout
        assert out is not None
        while True:
            length = 0
            while True:
                line = out.readline()
                if not line:
                    return
                if line in (b"\r\n", b"\n"):
                    break
                name, _, value = line.decode().partition(":")
                if name.lower() == "content-length":
                    length = int(value)
            self._dispatch(json.loads(out.read(length)))

    def _drain_stderr(self) -> None:
        assert self.proc.stderr is not None
        for line in self.proc.stderr:
            self.stderr.append(line)

    def _dispatch(self, message: dict[str, Any]) -> None:
        if "id" in message and "method" not in message:
            self._responses.setdefault(message["id"], queue.Queue()).put(message)
        elif "id" in message:  # a request from the server
            self._send({"id": message["id"], "result": self._answer(message["method"], message.get("params"))})
        else:
            self.notifications.append(message)
            if message["method"] == "textDocument/publishDiagnostics":
                uri = message["params"]["uri"]
                self.diagnostics[uri] = message["params"]["diagnostics"]
                self.diagnostic_events.put((uri, time.perf_counter()))

    def _answer(self, method: str, params: Any) -> Any:
        if method == "workspace/configuration":
            return [self._setting(item.get("section", "")) for item in params["items"]]
        return None  # registerCapability, workDoneProgress/create: accepted

    def _setting(self, section: str) -> Any:
        value: Any = self.settings
        for part in filter(None, section.split(".")):
            value = value.get(part) if isinstance(value, dict) else None
        return value

    # -- requests -----------------------------------------------------------------------------
    def request(self, method: str, params: Any, timeout: float = DEFAULT_TIMEOUT) -> Any:
        self._next_id += 1
        ident = self._next_id
        box = self._responses.setdefault(ident, queue.Queue())
        self._send({"id": ident, "method": method, "params": params})
        try:
            reply = box.get(timeout=timeout)
        except queue.Empty:
            raise TimeoutError(
                f"{method}: no reply in {timeout} s; stderr: {b''.join(self.stderr)[-2000:]!r}"
            ) from None
        if "error" in reply:
            raise RuntimeError(f"{method}: {reply['error']}")
        return reply.get("result")

    def notify(self, method: str, params: Any) -> None:
        self._send({"method": method, "params": params})

    def initialize(self, root: Path, capabilities: dict[str, Any] | None = None) -> dict[str, Any]:
        result = self.request(
            "initialize",
            {
                "processId": None,
                "rootUri": root.as_uri(),
                "capabilities": capabilities
                or {
                    "textDocument": {
                        "hover": {"contentFormat": ["markdown", "plaintext"]},
                        "completion": {"completionItem": {"documentationFormat": ["markdown", "plaintext"]}},
                        "publishDiagnostics": {},
                        "inlayHint": {},
                    },
                    "workspace": {"configuration": True},
                },
            },
        )
        self.notify("initialized", {})
        if self.settings:
            self.notify("workspace/didChangeConfiguration", {"settings": self.settings})
        return result  # type: ignore[no-any-return]

    def open(self, path: Path, text: str | None = None, language: str = "yaml") -> str:
        uri = path.as_uri()
        self._versions[uri] = 1
        self.diagnostics.pop(uri, None)
        text = path.read_text(encoding="utf-8") if text is None else text
        item = {"uri": uri, "languageId": language, "version": 1, "text": text}
        self.notify("textDocument/didOpen", {"textDocument": item})
        return uri

    def change(self, uri: str, text: str) -> None:
        self._versions[uri] += 1
        self.diagnostics.pop(uri, None)
        document = {"uri": uri, "version": self._versions[uri]}
        self.notify("textDocument/didChange", {"textDocument": document, "contentChanges": [{"text": text}]})

    def close(self, uri: str) -> None:
        self.notify("textDocument/didClose", {"textDocument": {"uri": uri}})

    def wait_diagnostics(
        self, uri: str, timeout: float = DEFAULT_TIMEOUT, until: Callable[[list[Any]], bool] | None = None
    ) -> list[dict[str, Any]]:
        """The diagnostics published for ``uri`` since it was last opened or changed."""
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            found = self.diagnostics.get(uri)
            if found is not None and (until is None or until(found)):
                return found
            time.sleep(0.01)
        raise TimeoutError(f"no diagnostics for {uri} in {timeout} s; stderr: {b''.join(self.stderr)[-2000:]!r}")

    def at(self, uri: str, line: int, character: int) -> dict[str, Any]:
        return {"textDocument": {"uri": uri}, "position": {"line": line, "character": character}}

    def shutdown(self) -> None:
        try:
            self.request("shutdown", None, timeout=5)
            self.notify("exit", None)
            self.proc.wait(timeout=5)
        except (TimeoutError, OSError, subprocess.TimeoutExpired, RuntimeError):
            self.proc.kill()
            self.proc.wait()


def position_of(text: str, needle: str, offset: int = 0, occurrence: int = 0) -> tuple[int, int]:
    """The 0-based (line, character) of ``needle``'s ``occurrence``-th appearance in ``text``, plus ``offset``."""
    index = -1
    for _ in range(occurrence + 1):
        index = text.index(needle, index + 1)
    index += offset
    line = text.count("\n", 0, index)
    return line, index - (text.rfind("\n", 0, index) + 1)
