"""The expanded graph written back as a spec (``archspec expand``).

The output is itself a valid spec in the explicit ``layers`` form: every layer with every
argument, patterns, repeats, blocks and defaults resolved. Expanding it again gives the
same graph, and validating it checks the figures of ``expect:`` that pin *this* expansion
(a variant's own figures, none under ``--set``), which the tests check for every zoo spec
and variant. Strings are quoted wherever archspec's YAML 1.2 loader would read them as
something else (``1e3`` is a number there, though PyYAML's 1.1 dumper leaves it plain).
"""

from __future__ import annotations

import functools
from collections.abc import Mapping
from typing import Any

import yaml

from .errors import ArchspecError
from .expect import pinned
from .ir import Graph, Node


def graph_to_spec(graph: Graph) -> dict[str, Any]:
    spec: dict[str, Any] = {"archspec": 1, "name": graph.name}
    if graph.description:
        spec["description"] = graph.description
    if graph.classes is not None:  # `${classes}` is resolved, but training reads it
        spec["classes"] = graph.classes
    spec["input"] = (
        list(graph.input_shape)
        if graph.input_name == "input"
        else {"shape": list(graph.input_shape), "name": graph.input_name}
    )
    prev = graph.body_input or graph.input_name
    layers = []
    seen: set[str] = set()
    skip = set(graph.prelude)
    for node in graph.nodes:
        if node.name in skip:
            continue  # a section's layers (a transfer base's) come from that section, written below
        # A block's notes (a projection shortcut inserted, a rounded width) go on its first layer.
        notes = [n for scope in node.scope if scope not in seen for n in _notes(graph, scope)]
        seen.update(node.scope)
        layers.append(_layer(node, prev, notes))
        prev = node.name
    spec["layers"] = layers
    if graph.outputs != (prev,):
        spec["outputs"] = list(graph.outputs)
    # variables are resolved here, so the variants of `scales:` (which set them) no longer apply
    spec.update({k: v for k, v in graph.sections.items() if k not in ("scales", "expect")})
    expect = _expect(graph)
    if expect:
        spec["expect"] = expect
    return spec


def _expect(graph: Graph) -> dict[str, Any]:
    """The figures that pin this expansion, as top-level figures of the expanded spec.

    The spec's ``expect.variants`` name variants of a ``scales:`` table the expanded spec no
    longer has; a variant's figures become the top-level ones, and a network changed by
    ``--set``, ``--outputs`` or several variants keeps no figures (none pinned it).
    """
    expect = graph.sections.get("expect") or {}
    prefix, figures = pinned(graph)
    out = {k: v for k, v in figures.items() if k != "variants"}
    if out and "authority" not in out and "authority" in expect and prefix:
        out = {"authority": expect["authority"], **out}
    return out if set(out) - {"authority"} else {}


def _notes(graph: Graph, scope: str) -> list[str]:
    found = graph.scopes.get(scope)
    return [f"{scope}: {note}" for note in found.notes] if found else []


def _layer(node: Node, prev: str, notes: list[str]) -> dict[str, Any]:
    item: dict[str, Any] = {node.type: {k: _plain(v) for k, v in node.args.items()} or None, "name": node.name}
    if node.inputs != (prev,):
        item["inputs"] = list(node.inputs) if len(node.inputs) > 1 else node.inputs[0]
    if not node.trainable:
        item["trainable"] = False
    if node.scope:
        item["comment"] = "from block " + " > ".join(node.scope) + "".join(f"; {n}" for n in notes)
    return item


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        return [_plain(v) for v in value]
    return value


class _Dumper(getattr(yaml, "CSafeDumper", yaml.SafeDumper)):  # type: ignore[misc]
    """Layers one per line (flow style inside), the rest in block style."""


@functools.lru_cache(maxsize=4096)
def _reads_back(text: str) -> bool:
    """Whether archspec's loader reads ``text`` written plain as this same string."""
    from .loader import load_text

    try:
        return load_text(text).data == text
    except ArchspecError:
        return False


def _represent_str(dumper: yaml.SafeDumper, data: str) -> Any:
    # PyYAML resolves plain scalars by YAML 1.1 and archspec's loader by 1.2: they disagree on
    # "1e3", "5e-1" (1.2 numbers), so a string either might misread is written quoted.
    style = None if _reads_back(data) else "'"
    return dumper.represent_scalar("tag:yaml.org,2002:str", data, style=style)


def _represent_list(dumper: yaml.SafeDumper, data: list[Any]) -> Any:
    flow = all(not isinstance(v, dict) for v in data)
    return dumper.represent_sequence("tag:yaml.org,2002:seq", data, flow_style=flow)


def _represent_dict(dumper: yaml.SafeDumper, data: dict[str, Any]) -> Any:
    flow = (
        all(not isinstance(v, list) or all(not isinstance(i, dict) for i in v) for v in data.values())
        and "archspec" not in data
    )
    return dumper.represent_mapping("tag:yaml.org,2002:map", data.items(), flow_style=flow)


_Dumper.add_representer(list, _represent_list)
_Dumper.add_representer(dict, _represent_dict)
_Dumper.add_representer(str, _represent_str)


def dump(graph: Graph) -> str:
    text = yaml.dump(graph_to_spec(graph), Dumper=_Dumper, sort_keys=False, width=200, allow_unicode=True)
    return _header(graph) + text


def _header(graph: Graph) -> str:
    """A comment saying which network this is, and what became of the spec's figures, when the
    command changed it (--variant, --set, --outputs): nothing dropped without a word."""
    variant = graph.variant
    options = [f"--variant {v}" for v in ([variant] if isinstance(variant, str) else variant or ())]
    options += [f"--set {k}={v}" for k, v in graph.overrides.items()]
    options += ["--outputs " + ",".join(graph.outputs)] if graph.pruned else []
    if not options:
        return ""
    expect = graph.sections.get("expect") or {}
    _, figures = pinned(graph)
    if figures:
        fate = f"`expect:` holds the figures pinned for {options[0]}"
    elif set(expect) - {"authority", "variants"} or expect.get("variants"):
        fate = "the spec's `expect:` figures do not pin this network and are left out"
    else:
        fate = "the spec pins no figures for it"
    return f"# expanded with {' '.join(options)}; variables resolved, `scales:` left out; {fate}\n"


def dump_data(spec: Mapping[str, Any]) -> str:
    """A spec given as plain data, written as :func:`dump` writes an expanded one."""
    return yaml.dump(dict(spec), Dumper=_Dumper, sort_keys=False, width=200, allow_unicode=True)
