"""Stage 1: read YAML safely into plain data, remembering where every value came from.

The YAML is *composed* (parsed into nodes) by PyYAML's safe loader and then converted by
this module, never *constructed* by PyYAML: no tag can create a Python object, duplicate
keys are errors, aliases cannot blow up (the expanded size is capped), and scalars follow
YAML 1.2's rules rather than 1.1's surprises (``no`` stays the string "no", ``1e-3`` is a
number, ``010`` is refused as ambiguous).
"""

from __future__ import annotations

import gc
import os
import re
from collections.abc import Iterator, Mapping
from contextlib import contextmanager
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, BinaryIO

import yaml

from .errors import Location, PathItem, Problem, SpecError, SpecPath

MAX_FILE_BYTES = 1 << 20  # a zoo spec is a few kB; a 1 MiB spec is not a spec
MAX_NODES = 200_000  # after alias expansion; ResNet-1202 in full is ~20k
MAX_DEPTH = 64

_Loader = getattr(yaml, "CSafeLoader", yaml.SafeLoader)
_PureLoader = yaml.SafeLoader  # no nesting cap of its own: used to locate archspec's depth error

_TAG = "tag:yaml.org,2002:"
_INT = re.compile(r"^[-+]?(0|[1-9][0-9_]*)$")
_HEX = re.compile(r"^[-+]?0x[0-9a-fA-F_]+$")  # `0x_` matches too: _number refuses what int() cannot read
_LEADING_ZERO = re.compile(r"^[-+]?0[0-9_]+$")
_FLOAT = re.compile(r"^[-+]?([0-9][0-9_]*)?\.?[0-9_]*([eE][-+]?[0-9]+)?$")
_SCI_NO_DOT = re.compile(r"^[-+]?[0-9]+([.][0-9]*)?[eE][-+]?[0-9]+$")
_TRUE = {"true", "True", "TRUE"}
_FALSE = {"false", "False", "FALSE"}
_NULL = {"", "~", "null", "Null", "NULL"}
_SPECIAL_FLOATS = {".inf": float("inf"), "+.inf": float("inf"), "-.inf": float("-inf"), ".nan": float("nan")}


@dataclass(frozen=True)
class Document:
    """A loaded spec: plain data plus the source position of every value."""

    data: Any
    file: str = "<spec>"
    positions: Mapping[SpecPath, Location] = field(default_factory=dict)
    key_positions: Mapping[SpecPath, Location] = field(default_factory=dict)

    def locate(self, path: SpecPath, at_key: bool = False) -> Location:
        """The position of ``path`` (of its key, with ``at_key``), or of its nearest ancestor."""
        path = tuple(path)
        if at_key and path in self.key_positions:
            return self.key_positions[path]
        while path:
            if path in self.positions:
                return self.positions[path]
            path = path[:-1]
        return self.positions.get((), Location(self.file))

    def problem(self, message: str, path: SpecPath, at_key: bool = False) -> Problem:
        """A Problem at ``path``; ``at_key`` points at the mapping key rather than its value."""
        return Problem(message, self.locate(path, at_key), tuple(path))


def load(source: str | os.PathLike[str] | Mapping[str, Any] | Document) -> Document:
    """Load a spec from a path, a YAML string, a mapping or a Document.

    >>> load("archspec: 1\\nname: tiny\\ninput: [8, 8, 1]\\nlayers: [flatten]").data["name"]
    'tiny'
    """
    if isinstance(source, Document):
        return source
    if isinstance(source, Mapping):
        return Document(dict(source), "<dict>")
    if isinstance(source, os.PathLike) or (isinstance(source, str) and _looks_like_path(source)):
        return load_file(source)
    return load_text(source)


def _looks_like_path(text: str) -> bool:
    return "\n" not in text and text.endswith((".yaml", ".yml")) and ":" not in text.replace("\\", "")


def load_stream(stream: BinaryIO, name: str = "<stdin>") -> Document:
    """Parse a spec from a byte stream (standard input), reading at most one byte past the size limit.

    The text is always parsed as YAML, even when it looks like a file name: the user piped a
    spec, not a path. ``/dev/zero`` on standard input stops after 1 MiB + 1 bytes.
    """
    data = stream.read(MAX_FILE_BYTES + 1)
    if len(data) > MAX_FILE_BYTES:
        raise SpecError(Problem(f"spec text is larger than {MAX_FILE_BYTES} bytes", Location(name)))
    return load_text(_decode(data, name), name)


def _decode(data: bytes, name: str) -> str:
    try:
        return data.decode("utf-8")
    except UnicodeDecodeError as exc:
        line = data.count(b"\n", 0, exc.start) + 1
        column = exc.start - data.rfind(b"\n", 0, exc.start)  # in bytes: the line cannot be decoded
        where = Location(name, line, column)
        raise SpecError(Problem(f"the spec is not UTF-8 text ({exc.reason} at byte {exc.start})", where)) from None


def load_file(path: str | os.PathLike[str]) -> Document:
    p = Path(path)
    name = str(path)
    if p.is_dir():  # "no such file" would be wrong, and send the user looking for a typo
        raise SpecError(Problem(f"{name} is a folder, not a spec file", Location(name)))
    if not p.is_file():
        raise SpecError(Problem(f"no such spec file: {name}", Location(name)))
    size = p.stat().st_size
    if size > MAX_FILE_BYTES:
        raise SpecError(Problem(f"spec file is {size} bytes; the limit is {MAX_FILE_BYTES}", Location(name)))
    try:
        text = p.read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise SpecError(
            Problem(f"spec file is not UTF-8 text ({exc.reason} at byte {exc.start})", Location(name))
        ) from None
    except OSError as exc:  # a directory behind a symlink, no permission, a vanished file
        raise SpecError(Problem(f"cannot read spec file: {exc.strerror or exc}", Location(name))) from None
    return load_text(text, name)


def load_text(text: str, file: str = "<spec>") -> Document:
    """Parse YAML text into a Document; raises SpecError listing every problem."""
    if len(text.encode("utf-8", "surrogatepass")) > MAX_FILE_BYTES:
        raise SpecError(Problem(f"spec text is larger than {MAX_FILE_BYTES} bytes", Location(file)))
    with collector_paused():
        return _load_text(text, file)


@contextmanager
def collector_paused() -> Iterator[None]:
    """Python's cycle collector paused while a stage builds its (acyclic) data; also a decorator.

    Loading, expanding, analysing and reporting make hundreds of thousands of objects for a
    large spec, none in a reference cycle, and each allocation burst triggered collections
    that walked all of them again: the cost per layer grew with the spec (2.7x from 100 to
    100,000 layers). Paused, it is flat, and a 10,000-layer spec loads in half the time
    (bench/bench_summary.py). What cycles a stage does make (an exception's traceback) are
    collected once the collector runs again.
    """
    enabled = gc.isenabled()
    gc.disable()
    try:
        yield
    finally:
        if enabled:
            gc.enable()


def _load_text(text: str, file: str) -> Document:
    try:
        _check_depth(text, file)
        node = yaml.compose(text, Loader=_Loader)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        loc = Location(file, mark.line + 1, mark.column + 1) if mark else Location(file)
        raw = str(exc.problem or exc.context)
        hint = _syntax_hint(f"{exc.context or ''} {raw}", _line_at(text, mark.line) if mark else "")
        raise SpecError(Problem(f"YAML syntax error: {raw}{hint}", loc)) from None
    except yaml.reader.ReaderError as exc:  # a control character: say where it is
        line = text.count("\n", 0, exc.position) + 1
        column = exc.position - text.rfind("\n", 0, exc.position)
        message = f"YAML error: character {chr(exc.character)!r} is not allowed ({exc.reason})"
        raise SpecError(Problem(message, Location(file, line, column))) from None
    except yaml.YAMLError as exc:  # e.g. more than one document, bad unicode
        raise SpecError(Problem(f"YAML error: {exc}", Location(file))) from None
    except RecursionError:
        raise SpecError(Problem("YAML is nested too deeply", Location(file))) from None
    if node is None:
        raise SpecError(Problem("the spec is empty", Location(file, 1, 1)))
    if _expanded_size(node, MAX_NODES) > MAX_NODES:  # count first: walking 10^8 aliased values takes minutes
        where = Location(file, node.start_mark.line + 1, node.start_mark.column + 1)
        raise SpecError(
            Problem(
                f"the spec expands to more than {MAX_NODES:,} values once YAML aliases are expanded (an alias bomb?)",
                where,
            )
        )
    converter = _Converter(file)
    data = converter.convert(node, (), 0)
    if converter.problems:
        raise SpecError(converter.problems)
    return Document(data, file, converter.positions, converter.key_positions)


_MAX_INT_DIGITS = 18

# The parser's words for the common slips, and what to do about each (one line, after the raw text).
_TAB_HINT = ". YAML indents with spaces only: replace the tab with spaces"
_INDENT_HINT = (
    ". Check this line's indentation: entries of one list or mapping start in the same column, "
    "and a value containing ': ' must be quoted"
)
_FLOW_EXPR_HINT = (
    '. Quote an expression inside [...] or {...} (`{conv: "${n}"}`): there YAML reads the { of ${ as a mapping'
)
_QUOTE_HINT = ". A quoted string is not closed on this line or later"
_UNCLOSED_HINT = ". A [ or { opened before this point is not closed (or a comma is missing)"


def _syntax_hint(problem: str, line: str) -> str:
    """A one-line hint for the parser's message ``problem`` about source line ``line``."""
    if "tab" in problem or "\t" in line[: len(line) - len(line.lstrip())]:
        return _TAB_HINT
    if "${" in line and ("expected ','" in problem or "expected ':'" in problem or "flow" in problem):
        return _FLOW_EXPR_HINT
    if "quoted scalar" in problem:
        return _QUOTE_HINT
    if "expected ','" in problem:
        return _UNCLOSED_HINT
    if any(w in problem for w in ("mapping values", "expected '-'", "expected <block end>", "expected key")):
        return _INDENT_HINT
    return ""


def _line_at(text: str, index: int) -> str:
    lines = text.split("\n", index + 1)
    return lines[index] if index < len(lines) else ""


def _check_depth(text: str, file: str) -> None:
    """Refuse nesting past MAX_DEPTH before composing, at the place where level MAX_DEPTH + 1 starts.

    The composer recurses (100,000 '[' crashed the process), so depth is checked on the event
    stream first. libyaml keeps a nesting cap of its own (1,000 since PyYAML 6.0.4) and scans
    flow collections ahead of the events it yields, so it can fail before archspec's level
    is reached; the limit is archspec's promise whatever the parser does, so on any parser
    error the text before the error is read again by the pure-Python parser, which has no cap.
    """
    try:
        _scan_depth(yaml.parse(text, Loader=_Loader), file)
    except yaml.MarkedYAMLError as exc:
        mark = exc.problem_mark or exc.context_mark
        if _Loader is not _PureLoader and mark is not None:
            _rescan_depth_before(text[: mark.index + 1], file)
        raise


def _rescan_depth_before(text: str, file: str) -> None:
    """Raise archspec's depth error if ``text`` (which the fast parser refused) crosses the limit."""
    try:
        _scan_depth(yaml.parse(text, Loader=_PureLoader), file)
    except yaml.YAMLError:
        return  # no depth problem before the parser's own error: that error is the one to report


def _scan_depth(events: Iterator[yaml.Event], file: str) -> None:
    depth = 0
    for event in events:
        if isinstance(event, yaml.CollectionStartEvent):
            depth += 1
            if depth > MAX_DEPTH:
                where = Location(file, event.start_mark.line + 1, event.start_mark.column + 1)
                raise SpecError(Problem(f"the spec is nested more than {MAX_DEPTH} levels deep", where))
        elif isinstance(event, yaml.CollectionEndEvent):
            depth -= 1


def _expanded_size(root: yaml.Node, limit: int) -> int:
    """How many values ``root`` stands for once aliases are expanded, counting each node once.

    An alias is the same node object reached twice, so sizes are memoised by identity: the
    classic billion-laughs bomb has ~100 distinct nodes and is measured in microseconds.
    Counting stops past ``limit``; nesting past MAX_DEPTH is left to the converter to report.
    """
    memo: dict[int, int] = {}

    def size(node: yaml.Node, depth: int) -> int:
        key = id(node)
        if key in memo:
            return memo[key]
        memo[key] = 1  # a recursive anchor counts once here; the depth limit reports it
        total = 1
        if depth <= MAX_DEPTH and isinstance(node, yaml.SequenceNode | yaml.MappingNode):
            children = node.value if isinstance(node, yaml.SequenceNode) else [v for _, v in node.value]
            for child in children:
                total += size(child, depth + 1)
                if total > limit:
                    break
        memo[key] = min(total, limit + 1)
        return memo[key]

    return size(root, 0)


class _Converter:
    """Walks composed YAML nodes into plain Python values, checking as it goes."""

    def __init__(self, file: str):
        self.file = file
        self.positions: dict[SpecPath, Location] = {}
        self.key_positions: dict[SpecPath, Location] = {}
        self.problems: list[Problem] = []
        self.count = 0
        self.open: set[int] = set()  # mappings being converted: a merge key naming one of them is a cycle

    def loc(self, node: yaml.Node) -> Location:
        return Location(self.file, node.start_mark.line + 1, node.start_mark.column + 1)

    def fail(self, message: str, node: yaml.Node, path: SpecPath) -> None:
        self.problems.append(Problem(message, self.loc(node), path))

    def convert(self, node: yaml.Node, path: SpecPath, depth: int) -> Any:
        self.count += 1
        if self.count > MAX_NODES:
            if self.count == MAX_NODES + 1:
                self.fail(f"the spec expands to more than {MAX_NODES} values (an alias bomb?)", node, path)
            return None
        if depth > MAX_DEPTH:
            self.fail(f"the spec is nested more than {MAX_DEPTH} levels deep", node, path)
            return None
        self.positions.setdefault(path, self.loc(node))
        if isinstance(node, yaml.MappingNode):
            return self.mapping(node, path, depth)
        if isinstance(node, yaml.SequenceNode):
            if node.tag != _TAG + "seq":
                self.fail(f"YAML tag {node.tag!r} is not allowed in a spec", node, path)
            return [self.convert(item, (*path, i), depth + 1) for i, item in enumerate(node.value)]
        return self.scalar(node, path)

    def mapping(self, node: yaml.MappingNode, path: SpecPath, depth: int) -> dict[str, Any]:
        self.open.add(id(node))
        try:
            return self._mapping(node, path, depth)
        finally:
            self.open.discard(id(node))

    def _mapping(self, node: yaml.MappingNode, path: SpecPath, depth: int) -> dict[str, Any]:
        if node.tag != _TAG + "map":
            self.fail(f"YAML tag {node.tag!r} is not allowed in a spec", node, path)
        out: dict[str, Any] = {}
        merged: dict[str, Any] = {}
        for key_node, value_node in node.value:
            if key_node.tag == _TAG + "merge":
                merged.update(self.merge(value_node, path, depth))
                continue
            if not isinstance(key_node, yaml.ScalarNode):
                self.fail("mapping keys must be plain names, not lists or mappings", key_node, path)
                continue
            key = str(key_node.value)
            child: tuple[PathItem, ...] = (*path, key)
            if key in out:
                first = self.positions.get(child)
                where = f" (first defined at line {first.line})" if first else ""
                self.fail(f"duplicate key {key!r}{where}", key_node, child)
                continue
            self.key_positions.setdefault(child, self.loc(key_node))
            out[key] = self.convert(value_node, child, depth + 1)
        for key, value in merged.items():
            out.setdefault(key, value)
        return out

    def merge(self, node: yaml.Node, path: SpecPath, depth: int) -> dict[str, Any]:
        """YAML merge keys (``<<: *defaults``): explicit keys win over merged ones."""
        sources = node.value if isinstance(node, yaml.SequenceNode) else [node]
        out: dict[str, Any] = {}
        for src in sources:
            if not isinstance(src, yaml.MappingNode):
                self.fail("a merge key (<<) must refer to a mapping", src, path)
                continue
            if id(src) in self.open:  # `x: &a {k: 1, <<: *a}`: merging would never end
                self.fail("recursive merge key: this mapping merges itself (through an alias)", src, path)
                continue
            if depth + 1 > MAX_DEPTH:  # merges of merges nest like mappings do
                self.fail(f"the spec is nested more than {MAX_DEPTH} levels deep", src, path)
                continue
            for key, value in self.mapping(src, path, depth + 1).items():
                out.setdefault(key, value)
        return out

    def scalar(self, node: yaml.ScalarNode, path: SpecPath) -> Any:
        value: str = node.value
        tag = node.tag
        if node.style:  # quoted or block scalar: always a string
            if tag not in (_TAG + "str", "!"):
                self.fail(f"YAML tag {tag!r} is not allowed in a spec", node, path)
            return value
        if not tag.startswith(_TAG) or tag[len(_TAG) :] not in _PLAIN_TAGS:
            self.fail(f"YAML tag {tag!r} is not allowed in a spec", node, path)
            return None
        return self.plain(value, node, path)

    def plain(self, value: str, node: yaml.ScalarNode, path: SpecPath) -> Any:
        if value in _NULL:
            return None
        if value in _TRUE:
            return True
        if value in _FALSE:
            return False
        hexadecimal = _HEX.match(value)
        if hexadecimal or _INT.match(value):
            digits = value.replace("_", "").lstrip("+-")
            if len(digits) > _MAX_INT_DIGITS:  # int() of 4300+ digits raises; nothing in a spec needs 19
                self.fail(
                    f"the number {value[:12]}... has {len(digits)} digits; the limit is {_MAX_INT_DIGITS}", node, path
                )
                return None
            return self.integer(value, 16 if hexadecimal else 10, node, path)
        if _LEADING_ZERO.match(value):
            self.fail(
                f"ambiguous number {value!r}: YAML 1.1 reads a leading zero as octal "
                f"({_octal(value)}); write it without the zero, or quote it",
                node,
                path,
            )
            return None
        if value in _SPECIAL_FLOATS:
            return _SPECIAL_FLOATS[value]
        if any(c.isdigit() for c in value) and (_FLOAT.match(value) or _SCI_NO_DOT.match(value)):
            try:
                return float(value.replace("_", ""))
            except ValueError:
                return value
        return value

    def integer(self, value: str, base: int, node: yaml.ScalarNode, path: SpecPath) -> int | None:
        """``value`` as an int; a number-like text int() cannot read (``0x_``, ``0x``) is an error, not a crash."""
        try:
            return int(value.replace("_", ""), base)
        except ValueError:
            self.fail(f"malformed number {value!r}: no digits where digits must be; quote it if it is text", node, path)
            return None


_PLAIN_TAGS = {"str", "int", "float", "bool", "null", "timestamp", "value"}


def _octal(text: str) -> str:
    try:
        return str(int(text.replace("_", ""), 8))
    except ValueError:
        return "not even valid octal"
