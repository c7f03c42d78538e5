"""One exception family for everything a user can get wrong.

Every error carries where it happened (file, line, column and the path inside the
spec), so the CLI can print ``FILE:LINE:COL: spec.path: message`` for each one
and never a traceback.
"""

from __future__ import annotations

from collections.abc import Iterable, Sequence
from dataclasses import dataclass

PathItem = str | int
SpecPath = tuple[PathItem, ...]


@dataclass(frozen=True)
class Location:
    """A place in a spec file. ``line`` and ``column`` are 1-based; 0 means unknown."""

    file: str = "<spec>"
    line: int = 0
    column: int = 0

    def __str__(self) -> str:
        if self.line:
            return f"{self.file}:{self.line}:{self.column}"
        return self.file


@dataclass(frozen=True)
class Problem:
    """A single user error: what is wrong and where."""

    message: str
    location: Location = Location()
    path: SpecPath = ()

    def __str__(self) -> str:
        where = str(self.location)
        dotted = format_path(self.path)
        return f"{where}: {dotted}: {self.message}" if dotted else f"{where}: {self.message}"


class ArchspecError(Exception):
    """Raised for any problem in user input: a bad spec, a bad file, a bad option.

    ``problems`` lists every problem found, not only the first.
    """

    def __init__(self, problems: Problem | Sequence[Problem] | str):
        if isinstance(problems, str):  # not about a place in a spec (a bad option, a missing file)
            problems = [Problem(problems, Location("archspec"))]
        elif isinstance(problems, Problem):
            problems = [problems]
        self.problems: tuple[Problem, ...] = tuple(problems)
        super().__init__("\n".join(str(p) for p in self.problems))


class SpecError(ArchspecError):
    """The spec itself is invalid (exit status 1)."""


class UsageError(ArchspecError):
    """The command was called wrongly (exit status 2)."""


def _same_but_case(word: str, choices: list[str]) -> str | None:
    """The one choice that is ``word`` in other letter case (``SAME`` -> ``same``, ``m`` -> ``M``)."""
    folded = word.casefold()
    found = {c for c in choices if len(c) == len(word) and c != word and c.casefold() == folded}
    return found.pop() if len(found) == 1 else None


def format_path(path: SpecPath) -> str:
    """``("layers", 3, "conv")`` -> ``layers[3].conv``."""
    out = ""
    for item in path:
        if isinstance(item, int):
            out += f"[{item}]"
        else:
            out += f".{item}" if out else str(item)
    return out


def did_you_mean(word: str, choices: Iterable[str]) -> str:
    """A click-style hint, or an empty string when nothing is close."""
    choices = [str(c) for c in choices]
    cased = _same_but_case(str(word), choices)  # difflib scores 'SAME' and 'same' 0: no hint
    if cased:
        return f" Did you mean {cased!r}?"
    word = str(word)
    import difflib  # here: most runs suggest nothing, and start-up counts (bench/bench_startup.py)

    matches = difflib.get_close_matches(word, _near(word, sorted(set(choices))), n=3, cutoff=0.6)
    if not matches:
        return ""
    if len(matches) == 1:
        return f" Did you mean {matches[0]!r}?"
    return " Did you mean one of " + ", ".join(repr(m) for m in matches) + "?"


#: Names compared in full with an unknown word, on each side of it in each sorted order.
#: difflib compares the word with every name; 199 unknown inputs among 20,000 layer names
#: took minutes (issue 21).
SUGGESTION_WINDOW = 32


def _near(word: str, names: list[str]) -> list[str]:
    """At most ``8 * SUGGESTION_WINDOW`` of the sorted ``names`` worth comparing with ``word``.

    A misspelling keeps the beginning or the end of the name it misspells (most keep both),
    so the names next to it in sorted order, and in the order of the reversed names, are
    the candidates; so are those next to the word less its last (or first) character, for a
    character typed too many. Two sorts, then a bounded number of comparisons per word.
    """
    if len(names) <= 8 * SUGGESTION_WINDOW:
        return names
    near = set(_window(names, word)) | set(_window(names, word[:-1]))
    backwards = sorted(name[::-1] for name in names)
    drow = word[::-1]
    near.update(name[::-1] for name in [*_window(backwards, drow), *_window(backwards, drow[:-1])])
    return sorted(near)


def _window(ordered: list[str], word: str) -> list[str]:
    import bisect

    at = bisect.bisect_left(ordered, word)
    return ordered[max(at - SUGGESTION_WINDOW, 0) : at + SUGGESTION_WINDOW]


def __getattr__(name: str) -> object:
    """``errors.difflib``: the module :func:`did_you_mean` uses, imported when first asked for."""
    if name == "difflib":
        import difflib

        return difflib
    raise AttributeError(f"module {__name__!r} has no attribute {name!r}")
