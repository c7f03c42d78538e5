"""The seed notes' grammar: ``INPUT -> [[CONV -> RELU]*N -> POOL?]*M -> [FC -> RELU]*K -> FC``.

A pattern string is parsed into a small tree and rewritten into ordinary layer items with
``repeat`` (so ``archspec expand`` shows exactly what it means). ``[...]*N`` repeats a group
N times and binds the 0-based index ``n`` (the count's name in lower case) for expressions
such as ``${32 * 2**m}``; ``X?`` is optional (dropped when ``tokens: {X: false}``); ``->``,
``=>`` and ``→`` are all arrows.
"""

from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass
from typing import Any

from . import budget
from .budget import MAX_NESTING
from .errors import did_you_mean

_TOKEN = re.compile(r"\s*(->|=>|→|\[|\]|\*|\?|[A-Za-z_][A-Za-z0-9_]*|\d+)")

#: What each token means when the spec's ``tokens:`` does not say.
BUILTIN_TOKENS: dict[str, Any] = {
    "RELU": "relu",
    "POOL": {"maxpool": 2},
    "BN": "bn",
    "DROPOUT": {"dropout": 0.5},
    "FLATTEN": "flatten",
    "GAP": "gap",
    "SOFTMAX": "softmax",
}
NEEDS_DEFINITION = {"CONV": "{conv: 32}", "FC": "{dense: 128}"}


class PatternError(ValueError):
    """The pattern string cannot be parsed."""


@dataclass(frozen=True)
class Token:
    name: str
    optional: bool = False


@dataclass(frozen=True)
class Group:
    items: tuple[Token | Group, ...]
    count: int | str = 1
    optional: bool = False


def parse(text: str) -> Group:
    """Parse a pattern into a :class:`Group` tree; raise PatternError with the column."""
    tokens = _tokenize(text)
    group, pos = _parse_seq(tokens, 0, text)
    if pos != len(tokens):
        raise PatternError(f"unexpected {tokens[pos][0]!r} at column {tokens[pos][1] + 1}")
    return group


def _tokenize(text: str) -> list[tuple[str, int]]:
    out: list[tuple[str, int]] = []
    pos = 0
    while pos < len(text):
        m = _TOKEN.match(text, pos)
        if not m:  # only here is the rest copied: once per token it made tokenizing quadratic
            rest = text[pos:].lstrip()
            if not rest:
                break
            raise PatternError(f"unexpected character {rest[0]!r} at column {pos + 1}")
        out.append((m.group(1), m.start(1)))
        pos = m.end()
    return out


def _parse_seq(tokens: list[tuple[str, int]], pos: int, text: str, depth: int = 0) -> tuple[Group, int]:
    items: list[Token | Group] = []
    while True:
        item, pos = _parse_elem(tokens, pos, text, depth)
        items.append(item)
        if pos < len(tokens) and tokens[pos][0] in ("->", "=>", "→"):
            pos += 1
            continue
        return Group(tuple(items)), pos


def _parse_elem(tokens: list[tuple[str, int]], pos: int, text: str, depth: int) -> tuple[Token | Group, int]:
    if pos >= len(tokens):
        raise PatternError(f"pattern ends where a layer or [group] was expected (column {len(text) + 1})")
    tok, col = tokens[pos]
    if tok == "[":
        if depth >= MAX_NESTING:  # each level is a few Python frames here and in the expander
            raise PatternError(f"'[' at column {col + 1} nests groups more than {MAX_NESTING} deep")
        inner, pos = _parse_seq(tokens, pos + 1, text, depth + 1)
        if pos >= len(tokens) or tokens[pos][0] != "]":
            raise PatternError(f"'[' at column {col + 1} is never closed")
        pos += 1
        count: int | str = 1
        if pos < len(tokens) and tokens[pos][0] == "*":
            if pos + 1 >= len(tokens) or not re.match(r"^(\d+|[A-Za-z_]\w*)$", tokens[pos + 1][0]):
                raise PatternError(f"'*' at column {tokens[pos][1] + 1} must be followed by a count or a name")
            raw = tokens[pos + 1][0]
            count = int(raw) if raw.isdigit() else raw
            pos += 2
        optional = pos < len(tokens) and tokens[pos][0] == "?"
        return Group(inner.items, count, optional), pos + optional
    if not re.match(r"^[A-Za-z_]\w*$", tok):
        raise PatternError(f"expected a layer name or '[' at column {col + 1}, got {tok!r}")
    optional = pos + 1 < len(tokens) and tokens[pos + 1][0] == "?"
    return Token(tok, optional), pos + 1 + optional


def to_items(
    group: Group, tokens: dict[str, Any], flat_input: bool = False, origins: dict[int, str] | None = None
) -> list[Any]:
    """Rewrite a parsed pattern into layer items (``repeat`` for groups, named Keras-style).

    ``flat_input``: the input is already a vector, so an ``FC`` right after ``INPUT`` needs
    no flatten (``INPUT -> FC`` on an image gets one, as on any other path to the first FC).
    ``origins`` receives, for each item made from a token of ``tokens``, ``id(item)`` -> the
    token's name: a mistake in a token's definition is reported where it is written.
    """
    origins = {} if origins is None else origins
    items = list(group.items)
    if items and isinstance(items[0], Token) and items[0].name == "INPUT":
        items = items[1:]
    if any(isinstance(i, Token) and i.name == "INPUT" for i in items):
        raise PatternError("INPUT may only stand at the start of a pattern")
    items = _with_flatten(items, flat_input)
    last_fc = max((k for k, i in enumerate(items) if isinstance(i, Token) and i.name == "FC"), default=None)
    out: list[Any] = []
    for k, item in enumerate(items):
        if k == last_fc:
            out.append(_output_item(tokens, items[k + 1 :]))
            if "OUT" in tokens:
                origins[id(out[-1])] = "OUT"
        else:
            out.extend(_convert(item, tokens, [], False, origins=origins))
    return out


def _with_flatten(items: list[Token | Group], flat_input: bool) -> list[Token | Group]:
    """The notes leave the flatten between the conv stack and the FC layers implicit."""
    for k, item in enumerate(items):
        names = _names(item)
        if names & {"FLATTEN", "GAP"}:
            return items
        if "FC" in names:
            return items if k == 0 and flat_input else [*items[:k], Token("FLATTEN"), *items[k:]]
    return items


def _names(item: Token | Group) -> set[str]:
    if isinstance(item, Token):
        return {item.name}
    budget.spend(len(item.items))  # asked at each level of nesting: 100 levels of 120,000 tokens took 21 s
    return set().union(*(_names(i) for i in item.items))


def _output_item(tokens: dict[str, Any], rest: list[Token | Group]) -> Any:
    if "OUT" in tokens:
        return _named(tokens["OUT"], "predictions")
    softmax_follows = any("SOFTMAX" in _names(i) for i in rest)
    item: dict[str, Any] = {"dense": "${classes}", "name": "predictions"}
    if not softmax_follows:
        item["activation"] = "softmax"
    return item


def _convert(
    item: Token | Group,
    tokens: dict[str, Any],
    idx: list[str],
    dense_group: bool,
    ordinal: int = 0,
    origins: dict[int, str] | None = None,
) -> list[Any]:
    if isinstance(item, Token):
        layer = _lookup(item, tokens)
        name = _auto_name(item.name, idx, dense_group)
        if name is not None and ordinal:
            name += str(ordinal)
        if layer is None:
            return []
        made = _named(layer, name)
        if origins is not None and item.name in tokens:
            origins[id(made)] = item.name
        return [made]
    var = item.count.lower() if isinstance(item.count, str) else f"_r{len(idx)}"
    dense = dense_group or "FC" in _names(item)
    # A token written twice in one group ([CONV -> RELU -> CONV -> RELU -> POOL]*3) is numbered
    # (block1_conv1, block1_conv2), as Keras' VGG names them, so the names stay unique.
    repeated = Counter(t.name for t in item.items if isinstance(t, Token))
    seen: Counter[str] = Counter()
    body: list[Any] = []
    for sub in item.items:
        number = 0
        if isinstance(sub, Token) and repeated[sub.name] > 1:
            seen[sub.name] += 1
            number = seen[sub.name]
        body.extend(_convert(sub, tokens, [*idx, var], dense, number, origins))
    count: Any = f"${{{item.count}}}" if isinstance(item.count, str) else item.count
    return [{"repeat": count, "as": var, "layers": body}]


def _lookup(token: Token, tokens: dict[str, Any]) -> Any:
    if token.name in tokens:
        layer = tokens[token.name]
        if layer in (False, None):
            if not token.optional:
                raise PatternError(f"{token.name} is not optional in the pattern (no '?') but tokens set it to {layer}")
            return None
        return layer
    if token.name in BUILTIN_TOKENS:
        return BUILTIN_TOKENS[token.name]
    if token.name in NEEDS_DEFINITION:
        raise PatternError(
            f"the pattern uses {token.name}; define it under `tokens:`, e.g. {token.name}: {NEEDS_DEFINITION[token.name]}"
        )
    known = [*BUILTIN_TOKENS, *NEEDS_DEFINITION, *tokens]
    raise PatternError(
        f"unknown pattern token {token.name!r}; define it under `tokens:`.{did_you_mean(token.name, known)}"
    )


def _auto_name(token: str, idx: list[str], dense_group: bool) -> str | None:
    """Keras-style names: block2_conv1, block2_pool, fc1, fc1_relu."""
    tok = token.lower()
    if not idx:
        return None
    if dense_group:
        return f"fc${{{idx[0]}+1}}" if token == "FC" else f"fc${{{idx[0]}+1}}_{tok}"
    if len(idx) == 1:
        return f"block${{{idx[0]}+1}}_{tok}"
    return f"block${{{idx[0]}+1}}_{tok}" + "".join(f"${{{v}+1}}" for v in idx[1:])


def _named(layer: Any, name: str | None) -> Any:
    if name is None:
        return layer
    if isinstance(layer, str):
        return {layer: None, "name": name}
    if isinstance(layer, dict) and "name" not in layer:
        return {**layer, "name": name}
    return layer
