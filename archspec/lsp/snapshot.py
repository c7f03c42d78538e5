"""One check of one spec text, as ``archspec validate`` does it, kept for the editor's requests.

A :class:`Snapshot` holds what the stages made of the text (the loaded document, the
expanded graph, its analysis) and the problems they reported. The problems are exactly
those ``archspec validate FILE`` prints for the same text, one per line, as
``FILE:LINE:COL: path: message``: :func:`diagnostics` keeps the message part whole and
turns the position into a 0-based range over the token that starts there.

Positions here are 0-based lines and columns counted in code points (Python's own string
indices); the server converts them to the client's units (UTF-16 by default).
"""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Any

from ..analysis import Analysis, analyse
from ..errors import ArchspecError, Location, Problem, format_path
from ..expect import check_expectations
from ..ir import Graph
from ..loader import Document, load_text


@dataclass(frozen=True)
class Range:
    """A span of the text: 0-based (line, column) pairs, columns in code points, end exclusive."""

    start: tuple[int, int]
    end: tuple[int, int]


@dataclass(frozen=True)
class Diagnostic:
    range: Range
    message: str


@dataclass(frozen=True)
class Snapshot:
    """What the stages made of one version of a document."""

    text: str
    file: str
    doc: Document | None = None
    graph: Graph | None = None
    analysis: Analysis | None = None
    problems: tuple[Problem, ...] = ()
    lines: list[str] = field(default_factory=list, compare=False, repr=False)

    @property
    def data(self) -> Any:
        return self.doc.data if self.doc is not None else None


def check(text: str, file: str) -> Snapshot:
    """Run ``archspec validate``'s stages on ``text`` (named ``file`` in problems); never raises.

    The stages keep their own limits (size, nesting, layer count, the work budget of
    :mod:`archspec.budget`), so one check takes bounded time whatever the text. A bug in
    archspec (any other exception) becomes one diagnostic at the top of the file rather
    than a crashed server.
    """
    from ..api import expand

    lines = text.split("\n")
    try:
        doc = load_text(text, file)
    except ArchspecError as exc:
        return Snapshot(text, file, problems=exc.problems, lines=lines)
    except Exception as exc:  # a bug must not take the editor's server down
        return Snapshot(text, file, problems=(_internal(exc, file),), lines=lines)
    graph = analysis = None
    try:
        graph = expand(doc)
        analysis = analyse(graph)
        check_expectations(analysis)
    except ArchspecError as exc:
        return Snapshot(text, file, doc, graph, analysis, exc.problems, lines)
    except Exception as exc:
        return Snapshot(text, file, doc, graph, analysis, (_internal(exc, file),), lines)
    return Snapshot(text, file, doc, graph, analysis, (), lines)


def _internal(exc: Exception, file: str) -> Problem:
    message = f"archspec: internal error: {type(exc).__name__}: {str(exc)[:600]} (please report it)"
    return Problem(message, Location(file, 1, 1))


def message(problem: Problem) -> str:
    """The problem as ``archspec validate`` prints it, less the ``FILE:LINE:COL: `` in front."""
    dotted = format_path(problem.path)
    return f"{dotted}: {problem.message}" if dotted else problem.message


def diagnostics(snapshot: Snapshot) -> list[Diagnostic]:
    return [Diagnostic(token_range(snapshot.lines, p.location), message(p)) for p in snapshot.problems]


#: What a problem's position starts: a quoted string, a flow collection, or a plain token
#: (a key stops at its colon, a flow item at its comma or closing bracket).
_PLAIN = re.compile(r"[^\s,:\[\]{}#]+(?::[^\s,\[\]{}#]+)*")


def token_range(lines: list[str], location: Location) -> Range:
    """The span a problem points at: the token starting at its line and column.

    A location without a line (the file as a whole) is the first line; a column past the
    end of its line marks the end of that line.
    """
    if not location.line:
        return Range((0, 0), (0, len(lines[0]) if lines else 0))
    line = min(location.line - 1, max(len(lines) - 1, 0))
    text = lines[line] if lines else ""
    start = min(max(location.column - 1, 0), len(text))
    return Range((line, start), (line, start + _token_length(text, start)))


def _token_length(text: str, start: int) -> int:
    rest = text[start:]
    if not rest:
        return 0
    if rest[0] in "\"'":
        close = rest.find(rest[0], 1)
        return close + 1 if close > 0 else len(rest.rstrip())
    if rest[0] in "[{":
        return _bracket_length(rest)
    if rest.startswith("${"):
        close = rest.find("}")
        return close + 1 if close > 0 else len(rest.rstrip())
    match = _PLAIN.match(rest)
    return match.end() if match else 1


def _bracket_length(rest: str) -> int:
    """Up to the bracket that closes the first one, or the end of the line (it closes later)."""
    depth = 0
    for i, char in enumerate(rest):
        if char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
            if depth == 0:
                return i + 1
    return len(rest.rstrip())
