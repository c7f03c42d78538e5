"""Completion: what may be written at the cursor, from the text around it.

While a spec is typed it is often not valid YAML, so the place is read from the text itself:
the line up to the cursor (open ``${``, flow brackets, ``key:``) and, for block style, the
lines above at smaller indentation (the item's other keys, the parent key). The names come
from the registry (layer types, blocks, arguments, their choices) and from the last version
of the file that loaded (its own ``blocks:``, ``vars`` and repeat counters).
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Iterator
from dataclasses import dataclass
from typing import Any

from ..registry import Configurable

_KEY = re.compile(r"^\s*(?:-\s+)*([A-Za-z_][A-Za-z0-9_]*)\s*:")
_LEAD = re.compile(r"^(\s*)((?:-\s+)*)")
_IDENT_TAIL = re.compile(r"[A-Za-z_][A-Za-z0-9_]*$")


@dataclass(frozen=True)
class Item:
    label: str
    kind: str  # "type", "block", "argument", "value", "variable", "keyword"
    detail: str = ""
    documentation: str = ""


@dataclass(frozen=True)
class Context:
    """What the cursor is at: ``kind`` is ``type``, ``argument``, ``value``, ``variable`` or ``none``."""

    kind: str
    type_key: str = ""
    arg: str = ""
    present: tuple[str, ...] = ()  # keys the mapping already has
    layer: bool = True  # an argument of a layer item (common keys allowed) rather than a defaults entry


def complete(lines: list[str], pos: tuple[int, int], data: Any) -> list[Item]:
    """Completion items at ``pos`` (0-based line, column in code points); ``data``: the last loaded spec."""
    if pos[0] >= len(lines):
        return []
    ctx = context(lines, pos, data)
    if ctx.kind == "variable":
        return list(_variables(data))
    if ctx.kind == "type":
        return list(_types(data))
    owner = _owner(ctx.type_key, data)
    if ctx.kind == "argument" and owner is not None:
        given = {_canonical(owner, key) for key in ctx.present}
        return [i for i in _arguments(owner, ctx.layer) if _canonical(owner, i.label) not in given]
    if ctx.kind == "value" and owner is not None:
        return list(_values(owner, ctx.arg))
    return []


# -- where the cursor is ----------------------------------------------------------------------
def context(lines: list[str], pos: tuple[int, int], data: Any) -> Context:
    before = lines[pos[0]][: pos[1]]
    opened = before.rfind("${")
    if opened >= 0 and "}" not in before[opened:]:
        return Context("variable")
    stack = _open_brackets(before)
    if stack:
        return _flow_context(before, stack, data)
    return _block_context(lines, pos[0], before, data)


def _open_brackets(text: str) -> list[int]:
    """Positions of the ``[`` and ``{`` still open at the end of ``text`` (quotes skipped)."""
    stack: list[int] = []
    quote = ""
    for i, char in enumerate(text):
        if quote:
            quote = "" if char == quote else quote
        elif char in "\"'":
            quote = char
        elif char in "[{":
            stack.append(i)
        elif char in "]}" and stack:
            stack.pop()
    return stack


def _flow_context(before: str, stack: list[int], data: Any) -> Context:
    start = stack[-1]
    head = before[:start].rstrip()
    if before[start] == "[":
        return Context("type") if head.endswith("layers:") else Context("none")
    segments = _split_top(before[start + 1 :])
    keys = [s.split(":", 1)[0].strip() for s in segments[:-1]]
    last = segments[-1]
    outer = _IDENT_TAIL.search(head[:-1].rstrip()) if head.endswith(":") else None
    if outer and _owner(outer.group(), data) is not None:  # conv: {filters: 8, |} or defaults: {conv: {|}}
        type_key, layer = outer.group(), False
    else:
        type_key, layer = next((k for k in keys if _owner(k, data) is not None), ""), True
    if ":" in last:
        return Context("value", type_key, last.split(":", 1)[0].strip())
    if head.endswith("defaults:"):
        return Context("type")
    return Context("argument", type_key, present=tuple(keys), layer=layer) if type_key else Context("type")


def _split_top(text: str) -> list[str]:
    """``text`` split at the commas of its own level (not inside nested brackets)."""
    parts, depth, current = [], 0, ""
    for char in text:
        if char in "[{":
            depth += 1
        elif char in "]}":
            depth -= 1
        if char == "," and depth == 0:
            parts.append(current)
            current = ""
        else:
            current += char
    return [*parts, current]


def _block_context(lines: list[str], row: int, before: str, data: Any) -> Context:
    lead = _LEAD.match(before)
    assert lead is not None
    col = lead.end()
    rest = before[col:]
    value = re.match(r"^([A-Za-z_][A-Za-z0-9_]*)\s*:\s*(\S*)$", rest)
    if not value and not re.fullmatch(r"[A-Za-z_]?[A-Za-z0-9_]*", rest):
        return Context("none")
    new_item = bool(lead.group(2))
    siblings, parent, grand = _mapping_around(lines, row, col, new_item)
    if value:
        key = value.group(1)
        owner_key = _type_in([*siblings, key], data) or (parent if _owner(parent, data) else "")
        return Context("value", owner_key, key)
    if new_item and not siblings:
        return Context("type") if parent == "layers" else Context("none")
    if parent == "defaults":
        return Context("type")
    if grand == "defaults" and _owner(parent, data) is not None:
        return Context("argument", parent, present=tuple(siblings), layer=False)
    type_key = _type_in(siblings, data)
    if type_key:
        return Context("argument", type_key, present=tuple(siblings))
    if _owner(parent, data) is not None:  # the nested form: conv:\n  filters: 8
        return Context("argument", parent, present=tuple(siblings), layer=False)
    return Context("none")


def _mapping_around(lines: list[str], row: int, col: int, new_item: bool) -> tuple[list[str], str, str]:
    """The keys of the mapping the cursor is in (above it), its parent key and grandparent key."""
    siblings: list[str] = []
    level = col
    if new_item:  # `  - |`: the item starts here; its parent is above the dash
        lead = _LEAD.match(lines[row])
        level = len(lead.group(1)) if lead else col
    parents: list[str] = []
    for j in range(row - 1, -1, -1):
        text = lines[j]
        if not text.strip() or text.lstrip().startswith("#"):
            continue
        lead = _LEAD.match(text)
        assert lead is not None
        content, indent = lead.end(), len(lead.group(1))
        key = _KEY.match(text)
        if content == level and not parents and not new_item:
            if key:
                siblings.append(key.group(1))
            if lead.group(2):  # the item's first line: the mapping starts here
                level = indent
            continue
        if content < level or (lead.group(2) and indent < level and content <= level):
            parents.append(key.group(1) if key else "")
            level = indent if lead.group(2) else content
            if len(parents) == 2:
                break
    parents += ["", ""]
    return siblings, parents[0], parents[1]


def _type_in(keys: Iterable[str], data: Any) -> str:
    return next((k for k in keys if _owner(k, data) is not None), "")


def _owner(key: str, data: Any) -> Configurable | dict[str, Any] | None:
    """The layer type, built-in block or user block (its ``blocks:`` entry) named ``key``."""
    from ..blocks import block_type
    from ..registry import registry

    if not key:
        return None
    reg = registry()
    if key in reg:
        return reg.get(key)  # type: ignore[no-any-return]
    found = block_type(key)
    if found is not None:
        return found
    blocks = data.get("blocks") if isinstance(data, dict) else None
    if isinstance(blocks, dict) and isinstance(blocks.get(key), dict):
        return blocks[key]  # type: ignore[no-any-return]
    return None


def _canonical(owner: Any, key: str) -> str:
    return key if isinstance(owner, dict) else owner.alias_map().get(key, key)


# -- what to offer ------------------------------------------------------------------------------
def _types(data: Any) -> Iterator[Item]:
    from ..blocks import block_type, canonical_block_keys
    from ..registry import registry
    from ..schema import type_doc

    for name, lt in sorted(registry().types.items()):
        yield Item(name, "type", f"layer ({lt.keras_class or 'archspec'})", type_doc(lt))
    for name in sorted(set(canonical_block_keys().values())):
        yield Item(name, "block", "built-in block", type_doc(block_type(name)))
    blocks = data.get("blocks") if isinstance(data, dict) else None
    for name, block in (blocks or {}).items() if isinstance(blocks, dict) else ():
        params = ", ".join((block or {}).get("params") or {}) if isinstance(block, dict) else ""
        yield Item(str(name), "block", "block of this file", f"`blocks: {name}`; parameters: {params or 'none'}")
    yield Item("repeat", "keyword", "repeat layers", "`{repeat: N, layers: [...]}` (`as: i` names the counter)")


def _arguments(owner: Any, layer: bool) -> Iterator[Item]:
    from ..registry import REQUIRED
    from ..schema import COMMON_KEYS

    if isinstance(owner, dict):  # a user block: its parameters
        for name, default in (owner.get("params") or {}).items():
            yield Item(
                str(name), "argument", f"parameter (default {default!r})" if default is not None else "parameter"
            )
    else:
        for arg in owner.args:
            default = "required" if arg.default is REQUIRED else f"default {arg.default!r}"
            for label in (arg.name, *arg.aliases):
                alias = f" (= {arg.name})" if label != arg.name else ""
                yield Item(label, "argument", f"{arg.kind}, {default}{alias}", arg.doc)
    if layer:
        for key in COMMON_KEYS:
            yield Item(key, "keyword", "any layer")


def _values(owner: Any, key: str) -> Iterator[Item]:
    if isinstance(owner, dict):
        return
    name = owner.alias_map().get(key)
    if name is None:
        return
    arg = owner.arg_map()[name]
    for choice in _choices(arg.schema()):
        yield Item(choice, "value", f"{name} of {owner.name}", arg.doc)


def _choices(schema: Any) -> Iterator[str]:
    """The allowed values a schema lists (enums and booleans), as YAML writes them."""
    if not isinstance(schema, dict):
        return
    for value in schema.get("enum", ()):
        yield "null" if value is None else str(value).lower() if isinstance(value, bool) else str(value)
    if schema.get("type") == "boolean":
        yield from ("true", "false")
    for branch in schema.get("anyOf", ()):
        yield from _choices(branch)


def _variables(data: Any) -> Iterator[Item]:
    if not isinstance(data, dict):
        return
    if "classes" in data:
        yield Item("classes", "variable", f"= {data['classes']!r}", "The spec's `classes`.")
    for name, value in (data.get("vars") or {}).items() if isinstance(data.get("vars"), dict) else ():
        yield Item(str(name), "variable", f"= {value!r}"[:80], "A variable of `vars:`.")
    seen: set[str] = set()
    for name, about in _local_names(data):
        if name not in seen:
            seen.add(name)
            yield Item(name, "variable", about)


def _local_names(data: Any) -> Iterator[tuple[str, str]]:
    """Repeat counters (``as:``) and block parameters anywhere in the spec."""
    stack = [data]
    while stack:
        value = stack.pop()
        if isinstance(value, dict):
            if "repeat" in value and isinstance(value.get("as"), str):
                yield value["as"], "repeat counter"
            stack.extend(value.values())
        elif isinstance(value, list):
            stack.extend(value)
    blocks = data.get("blocks")
    for name, block in blocks.items() if isinstance(blocks, dict) else ():
        for param in (block.get("params") or {}) if isinstance(block, dict) else ():
            yield str(param), f"parameter of block {name}"
