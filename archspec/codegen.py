"""Emit stage: readable, standalone Keras 3 source for a spec.

The module has a ``build_model(input_shape, num_classes)`` function, comments naming the
spec sections, and a ``__main__`` that prints the summary. It is deterministic (same spec,
same bytes), formatted as ``ruff format`` formats it, and injection-proof: names become
identifiers only through :func:`identifier`, every value is written with :func:`literal`,
and the finished module is parsed with :mod:`ast` before it is returned.
"""

from __future__ import annotations

import ast
import builtins
import keyword
import re
from collections.abc import Mapping
from typing import Any

from . import extensions
from .errors import format_path
from .ir import Graph, Node
from .registry import Call, Code, layer_type

LINE = 88
_RESERVED = {"keras", "layers", "archspec_layers", "inputs", "x", "build_model", "input_shape", "num_classes", "model"}
_RESERVED |= {"base_weights", "load_base_weights", "preprocess_input", "fine_tune"}  # a transfer spec's module


def literal(value: Any) -> str:
    """A Python literal in ruff's style (double quotes, tuples as tuples)."""
    if isinstance(value, Code):
        return value.text
    if isinstance(value, str):
        text = repr(value)
        if text.startswith("'") and '"' not in value:
            text = '"' + text[1:-1].replace("\\'", "'") + '"'
        return text
    if isinstance(value, tuple):
        inner = ", ".join(literal(v) for v in value)
        return f"({inner},)" if len(value) == 1 else f"({inner})"
    if isinstance(value, list):
        return "[" + ", ".join(literal(v) for v in value) + "]"
    if value is None or isinstance(value, bool | int):
        return repr(value)
    if isinstance(value, float):
        return repr(value)
    raise TypeError(f"cannot write {type(value).__name__} as a literal")


def identifier(name: str, taken: set[str]) -> str:
    """A fresh, safe Python identifier for a layer name (ASCII, not a keyword or builtin)."""
    base = re.sub(r"[^0-9a-zA-Z_]", "_", name.encode("ascii", "replace").decode()) or "t"
    if base[0].isdigit():
        base = "t_" + base
    if (
        keyword.iskeyword(base)
        or keyword.issoftkeyword(base)
        or hasattr(builtins, base)
        or base in _RESERVED
        or base.startswith("__")
    ):
        base = "t_" + base
    candidate, n = base, 1
    while candidate in taken:
        n += 1
        candidate = f"{base}_{n}"
    taken.add(candidate)
    return candidate


def _call(call: Call, overrides: Mapping[str, str] | None = None) -> tuple[str, list[str]]:
    parts = [literal(a) for a in call.args]
    for key, value in call.kwargs.items():
        parts.append(f"{key}={(overrides or {}).get(key) or literal(value)}")
    return call.callee, parts


def _statement(indent: str, target: str, callee: str, parts: list[str], applied: str) -> list[str]:
    """``target = callee(parts)(applied)``, wrapped the way ruff format wraps it."""
    one = f"{indent}{target} = {callee}({', '.join(parts)})({applied})"
    if len(one) <= LINE:
        return [one]
    inner = indent + "    "
    joined = inner + ", ".join(parts)
    if len(joined) <= LINE:
        return [f"{indent}{target} = {callee}(", joined, f"{indent})({applied})"]
    return [f"{indent}{target} = {callee}(", *(f"{inner}{p}," for p in parts), f"{indent})({applied})"]


class _Writer:
    def __init__(self, graph: Graph):
        self.graph = graph
        self.taken: set[str] = set(_RESERVED)
        self.vars: dict[str, str] = {graph.input_name: "inputs"}
        self.consumers = graph.consumers()
        self.classes = _class_count(graph.classes)

    def var_for(self, index: int, node: Node) -> str:
        users = self.consumers.get(node.name, [])
        nxt = self.graph.nodes[index + 1].name if index + 1 < len(self.graph.nodes) else None
        if users == [nxt] and node.name not in self.graph.outputs:
            return "x"
        return identifier(node.name, self.taken)

    def body(self) -> list[str]:
        lines: list[str] = []
        section = None
        scope: tuple[str, ...] = ()
        for i, node in enumerate(self.graph.nodes):
            top = format_path(node.path[:2] if node.path[:1] == ("stages",) else node.path[:1])
            if top and top != section and not node.scope:
                lines.append(f"    # {top}")
                section = top
            if node.scope and node.scope != scope:
                kind = self.graph.scopes[node.scope[-1]].kind if node.scope[-1] in self.graph.scopes else "block"
                lines.append(f"    # block {node.scope[-1]} ({kind})")
            scope = node.scope
            lines.extend(self.layer(i, node))
        return lines

    def layer(self, index: int, node: Node) -> list[str]:
        lt = layer_type(node.type)
        overrides = {}
        if self.classes and node.name in self.graph.outputs and node.args.get("units") == self.classes:
            overrides["units"] = "num_classes"
        callee, parts = _call(lt.emit(node), overrides)
        if "units=num_classes" not in parts and overrides and parts and parts[0] == literal(self.classes):
            parts[0] = "num_classes"
        srcs = [self.vars[i] for i in node.inputs]
        applied = "[" + ", ".join(srcs) + "]" if lt.multi_input else srcs[0]
        target = self.var_for(index, node)
        self.vars[node.name] = target
        lines = _statement("    ", target, callee, parts, applied)
        if not node.trainable:
            lines.append(f"    # {node.name} is frozen (trainable=False)")
        return lines


def _class_count(value: Any) -> Any:
    """``classes`` as the model uses it: the schema accepts ``10.0`` as an integer (JSON does),
    and ``build`` makes 10 units of it, but ``NUM_CLASSES = 10.0`` made the generated module
    fail in ``Dense(units=num_classes)``."""
    if isinstance(value, float) and value.is_integer():
        return int(value)
    return value


def generate(spec: Any, *, variant: str | None = None, overrides: Mapping[str, Any] | None = None) -> str:
    """Keras 3 source for a spec; deterministic and parsed with ``ast`` before returning."""
    from .api import expand

    graph = spec if isinstance(spec, Graph) else expand(spec, variant=variant, overrides=overrides)
    return render(graph)


def render(graph: Graph) -> str:
    # what extensions add (transfer: the base's weights, its preprocessing, the fine-tuning stages)
    parts = [p for ext in extensions.registered() if ext.code and (p := ext.code(graph, literal)) is not None]
    parameters = [name for p in parts for name in p.parameters]
    writer = _Writer(graph)
    body = writer.body()
    frozen = [n.name for n in graph.nodes if not n.trainable]
    custom = any(layer_type(n.type).custom for n in graph.nodes)
    plugin_imports = sorted({line for n in graph.nodes for line in layer_type(n.type).imports})  # plugin types
    outputs = [writer.vars[o] for o in graph.outputs]
    out_expr = outputs[0] if len(outputs) == 1 else "[" + ", ".join(outputs) + "]"
    lines = [
        '"""' + _docstring_text(f"{graph.name}: Keras 3 model generated by archspec from {graph.file}."),
        "",
        *(_docstring_text(line) for line in graph.description.strip().splitlines()),
        *([""] if graph.description.strip() else []),
        *(f"Not carried: {note}." for p in parts for note in p.notes),
        "Regenerate with `archspec compile`; edits here are not read back.",
        '"""',
        "",
        "import keras",
        "from keras import layers",
        *(["", "from archspec import keras_layers as archspec_layers"] if custom else []),
        *(["", *plugin_imports] if plugin_imports else []),
        "",
        f"INPUT_SHAPE = {literal(tuple(graph.input_shape))}",
        f"NUM_CLASSES = {literal(writer.classes)}",
        *(line for p in parts for line in p.constants),
        "",
        "",
        "def build_model(" + ", ".join(["input_shape=INPUT_SHAPE", "num_classes=NUM_CLASSES", *parameters]) + "):",
        f'    """Build the {_docstring_text(graph.name)} model (Keras functional API)."""',
        f"    inputs = keras.Input(shape=input_shape, name={literal(graph.input_name)})",
        *body,
        f"    model = keras.Model(inputs, {out_expr}, name={literal(graph.name)})",
        *([f"    for name in {literal(frozen)}:", "        model.get_layer(name).trainable = False"] if frozen else []),
        *(line for p in parts for line in p.build_lines),
        "    return model",
        "",
        "",
        *(line for p in parts for line in p.functions),
        'if __name__ == "__main__":',
        "    build_model().summary()",
        "",
    ]
    source = "\n".join(lines)
    ast.parse(source)  # refuse to hand out anything that is not a well-formed module
    return source


def _docstring_text(text: str) -> str:
    """Text safe inside a triple-quoted docstring: no quotes or backslashes can end it, and
    characters that are not printable (NUL, lone surrogates) are written as escapes."""
    text = text.replace("\\", "\\\\").replace('"""', '\\"\\"\\"')
    return "".join(c if c.isprintable() or c == "\t" else c.encode("unicode_escape").decode("ascii") for c in text)
