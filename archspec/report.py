"""Summaries of an :class:`~archspec.analysis.Analysis`: table, markdown, JSON and CSV.

The JSON form is a documented, stable contract (docs/analysis.md). Counts of things (MACs,
FLOPs) use decimal prefixes (M = 10^6, G = 10^9); sizes in bytes use binary ones
(MiB = 2^20 bytes); every format labels which it uses.
"""

from __future__ import annotations

import io
import json
from collections.abc import Iterator
from dataclasses import dataclass
from typing import Any

from . import extensions
from .analysis import Analysis, LayerStats
from .ir import Graph
from .loader import collector_paused

FORMATS = ("table", "markdown", "json", "csv")


@dataclass(frozen=True)
class Row:
    """One line of a summary: a layer, or a whole block collapsed by ``--depth``."""

    name: str
    type: str
    shape: tuple[int, ...]
    params: int
    trainable_params: int
    macs: int
    rf: str
    layers: int = 1
    frozen: bool = False  # trainable=False: its weights do not train (batch norm in inference mode)


def rows(analysis: Analysis, depth: int | None = None) -> Iterator[Row]:
    """Layers in graph order; with ``depth``, blocks nested deeper are collapsed into one row."""
    group: list[LayerStats] = []
    key: str | None = None
    for s in analysis.layers:
        scope_key = s.node.scope[depth] if depth is not None and len(s.node.scope) > depth else None
        if group and scope_key != key:
            yield _collapse(analysis, key, group)
            group = []
        if scope_key is None:
            yield _row(s)
        else:
            group.append(s)
        key = scope_key
    if group:
        yield _collapse(analysis, key, group)


def depth_note(graph: Graph, depth: int | None) -> str | None:
    """Why ``--depth`` leaves every row as it is, when it does: an option is never silently void."""
    deepest = max((len(n.scope) for n in graph.nodes), default=0)
    if depth is None or depth < deepest:
        return None
    if deepest == 0:
        return (
            f"--depth {depth} changes nothing: {graph.name} has no blocks (only `blocks:` and built-in "
            "blocks such as `residual` group layers; patterns, stages and `repeat` do not)"
        )
    return (
        f"--depth {depth} changes nothing: the blocks of {graph.name} nest {deepest} deep, and --depth N "
        f"collapses blocks nested deeper than N; --depth {deepest - 1} shows each of the deepest as one row"
    )


def _row(s: LayerStats) -> Row:
    rf = str(s.rf) if s.rf else ""
    return Row(s.name, s.type, s.shape, s.params, s.trainable_params, s.macs, rf, frozen=not s.node.trainable)


def _collapse(analysis: Analysis, scope: str | None, group: list[LayerStats]) -> Row:
    kind = analysis.graph.scopes[scope].kind if scope in analysis.graph.scopes else "block"
    last = group[-1]
    return Row(
        scope or last.name,
        f"{kind} block",
        last.shape,
        sum(s.params for s in group),
        sum(s.trainable_params for s in group),
        sum(s.macs for s in group),
        str(last.rf) if last.rf else "",
        len(group),
        frozen=not any(s.node.trainable for s in group),
    )


@collector_paused()  # acyclic objects, one set per layer: see loader.collector_paused
def to_dict(analysis: Analysis, depth: int | None = None, dtype: str = "float32") -> dict[str, Any]:
    """The JSON contract of ``archspec summary --format json``."""
    g = analysis.graph
    shapes = [list(s) for s in analysis.output_shapes]
    layer_list = (
        [_layer_dict(s) for s in analysis.layers] if depth is None else [_row_dict(r) for r in rows(analysis, depth)]
    )
    return {
        "name": g.name,
        "input_shape": list(g.input_shape),
        "output_shape": shapes[0] if len(shapes) == 1 else shapes,
        "outputs": list(g.outputs),
        "total_params": analysis.total_params,
        "trainable_params": analysis.trainable_params,
        "non_trainable_params": analysis.non_trainable_params,
        "param_bytes": {"float32": analysis.param_bytes("float32"), "float16": analysis.param_bytes("float16")},
        "macs": analysis.macs,
        "flops": analysis.flops,
        "other_ops": analysis.other_ops,
        "activation_elements": analysis.activation_elements,
        "activation_bytes": analysis.activation_bytes(dtype),
        "dtype": dtype,
        "layer_count": len(analysis.layers),
        "layers": layer_list,
        "notes": block_notes(analysis),
        **({"stages": stages} if (stages := stage_rows(analysis)) else {}),
    }


def block_notes(analysis: Analysis) -> dict[str, list[str]]:
    """What blocks chose that the user may not expect (a projection shortcut, a rounded width)."""
    return {name: list(scope.notes) for name, scope in analysis.graph.scopes.items() if scope.notes}


def _layer_dict(s: LayerStats) -> dict[str, Any]:
    return {
        "name": s.name,
        "type": s.type,
        "output_shape": list(s.shape),
        "params": s.params,
        "trainable_params": s.trainable_params,
        "non_trainable_params": s.non_trainable_params,
        "macs": s.macs,
        "other_ops": s.other_ops,
        "receptive_field": list(s.rf.size) if s.rf else None,
        # a whole number of input pixels, or a fraction of one after up-sampling (0.5)
        "effective_stride": [int(j) if j.denominator == 1 else float(j) for j in s.rf.jump] if s.rf else None,
        "inputs": list(s.node.inputs),
        "scope": list(s.node.scope),
        "trainable": s.node.trainable,
    }


def _row_dict(r: Row) -> dict[str, Any]:
    return {
        "name": r.name,
        "type": r.type,
        "output_shape": list(r.shape),
        "params": r.params,
        "trainable_params": r.trainable_params,
        "non_trainable_params": r.params - r.trainable_params,
        "macs": r.macs,
        "layers": r.layers,
        "trainable": not r.frozen,
    }


def to_json(analysis: Analysis, depth: int | None = None, dtype: str = "float32") -> str:
    return json_text(to_dict(analysis, depth, dtype))


@collector_paused()  # acyclic objects, one set per layer: see loader.collector_paused
def json_text(data: dict[str, Any]) -> str:
    """JSON with a line per top-level key, per layer and per entry of a nested object.

    Easier to read and to grep than ``indent=2`` (which puts every number of a shape on a
    line of its own), and ~5x faster for a deep net: each line is written by the C encoder,
    where ``indent`` falls back to the pure-Python one.
    """
    entries = []
    for key, value in data.items():
        if isinstance(value, list) and value and all(isinstance(v, dict) for v in value):
            inner = ",\n".join(f"    {json.dumps(v)}" for v in value)
            entries.append(f"  {json.dumps(key)}: [\n{inner}\n  ]")
        elif isinstance(value, dict) and value:
            inner = ",\n".join(f"    {json.dumps(k)}: {json.dumps(v)}" for k, v in value.items())
            entries.append(f"  {json.dumps(key)}: {{\n{inner}\n  }}")
        else:
            entries.append(f"  {json.dumps(key)}: {json.dumps(value)}")
    return "{\n" + ",\n".join(entries) + "\n}\n"


@collector_paused()  # acyclic objects, one set per layer: see loader.collector_paused
def to_csv(analysis: Analysis, depth: int | None = None) -> str:
    buf = io.StringIO()
    import csv  # here: only --format csv needs it, and start-up counts

    writer = csv.writer(buf, lineterminator="\n")
    writer.writerow(["name", "type", "output_shape", "params", "trainable_params", "macs", "receptive_field"])
    for r in rows(analysis, depth):
        writer.writerow([r.name, r.type, "x".join(map(str, r.shape)), r.params, r.trainable_params, r.macs, r.rf])
    return buf.getvalue()


@collector_paused()  # acyclic objects, one set per layer: see loader.collector_paused
def to_markdown(analysis: Analysis, depth: int | None = None, dtype: str = "float32") -> str:
    lines = [
        f"### {analysis.graph.name}",
        "",
        "| Layer (type) | Output shape | Params | MACs | RF |",
        "|---|---|---:|---:|---:|",
    ]
    for r in rows(analysis, depth):
        lines.append(f"| {_label(r)} | {_shape(r.shape)} | {r.params:,} | {r.macs:,} | {r.rf} |")
    lines += ["", *(f"- {k}: {v}" for k, v in totals(analysis, dtype))]
    stages = stage_rows(analysis)
    if stages:
        lines += [
            "",
            "| Stage | Epochs | Optimizer | Trainable params | Non-trainable params |",
            "|---|---:|---|---:|---:|",
        ]
        lines += [
            f"| {s['stage']} | {s['epochs']} | {s['optimizer']} | {s['trainable_params']:,} | "
            f"{s['non_trainable_params']:,} |"
            for s in stages
        ]
    return "\n".join(lines) + "\n"


def _label(r: Row) -> str:
    return (
        f"{r.name} ({r.type})" + (f" [{r.layers} layers]" if r.layers > 1 else "") + (" [frozen]" if r.frozen else "")
    )


def stage_rows(analysis: Analysis) -> list[dict[str, Any]]:
    """The fine-tuning plan's stages with their trainable counts (empty without ``fine_tune:``)."""
    return [stage.row() for stage in extensions.training_stages(analysis.graph)]  # transfer's fine_tune:


def totals(analysis: Analysis, dtype: str = "float32") -> list[tuple[str, str]]:
    return [
        (
            "Total params",
            f"{analysis.total_params:,} ({mib(analysis.param_bytes('float32'))} float32, {mib(analysis.param_bytes('float16'))} float16)",
        ),
        ("Trainable params", f"{analysis.trainable_params:,}"),
        ("Non-trainable params", f"{analysis.non_trainable_params:,}"),
        ("MACs", f"{analysis.macs:,} ({giga(analysis.macs)}; FLOPs = 2 x MACs = {giga(analysis.flops)})"),
        ("Other element-wise ops", f"{analysis.other_ops:,}"),
        (
            "Forward activations per example",
            f"{analysis.activation_elements:,} values = {mib(analysis.activation_bytes(dtype))} {dtype}",
        ),
    ]


def _shape(shape: tuple[int, ...]) -> str:
    return "(None, " + ", ".join(map(str, shape)) + ")"


def mib(n: int) -> str:
    """Bytes in binary units (1 MiB = 2^20 bytes)."""
    if n >= 1 << 30:
        return f"{n / (1 << 30):.2f} GiB"
    if n >= 1 << 20:
        return f"{n / (1 << 20):.2f} MiB"
    return f"{n / 1024:.2f} KiB"


def giga(n: int) -> str:
    """Counts in decimal units (G = 10^9, M = 10^6)."""
    if n >= 10**9:
        return f"{n / 1e9:.3f} G (10^9)"
    return f"{n / 1e6:.3f} M (10^6)"


_TABLE_COLUMNS = (("Layer (type)", "<"), ("Output Shape", "<"), ("Param #", ">"), ("MACs", ">"), ("RF", ">"))


@collector_paused()  # acyclic objects, one set per layer: see loader.collector_paused
def render_table(analysis: Analysis, depth: int | None = None, dtype: str = "float32", width: int | None = None) -> str:
    """A terminal table like Keras' ``model.summary()`` plus MACs and receptive field.

    Written directly in the common case (the layout of rich's ``SIMPLE_HEAD`` table, byte for
    byte, tested); rich itself is used only when something needs its wrapping or cell widths
    (a table wider than the terminal, non-ASCII text, a fine-tuning plan). Rich takes ~0.5 ms a
    row, which made the table, not the analysis, the cost of summarising a 1000-layer net.
    """
    return _plain_table(analysis, depth, dtype, width or 110) or _rich_table(analysis, depth, dtype, width)


def _plain_table(analysis: Analysis, depth: int | None, dtype: str, width: int) -> str | None:
    if stage_rows(analysis):  # a fine-tuning plan: rich writes its second table
        return None
    body = [
        (_label(r), _shape(r.shape), f"{r.params:,}", f"{r.macs:,}" if r.macs else "0", r.rf)
        for r in rows(analysis, depth)
    ]
    title = f'Model: "{analysis.graph.name}"'
    tail = [f"{key}: {value}" for key, value in totals(analysis, dtype)]
    notes = block_notes(analysis)
    if notes:
        tail += ["Block notes:", *(f"  {name}: " + "; ".join(lines) for name, lines in notes.items())]
    widths = [max(len(h), *(len(row[i]) for row in body)) for i, (h, _) in enumerate(_TABLE_COLUMNS)]
    total = 2 + sum(w + 2 for w in widths) + len(widths) - 1
    plain = all(text.isascii() and text.isprintable() for text in (title, *tail, *(c for row in body for c in row)))
    if (
        not plain
        or total > width
        or len(title) > total
        or "[" in title + "".join(tail)
        or any(len(line) > width for line in tail if not line.startswith("  "))
    ):
        return None

    line = "  " + "   ".join(f"{{:{align}{w}}}" for (_, align), w in zip(_TABLE_COLUMNS, widths)) + "  "
    header = line.format(*(h for h, _ in _TABLE_COLUMNS))
    out = [title.ljust(total), " " * total, header, " " + "─" * (total - 2) + " "]
    out += [line.format(*row) for row in body]
    out += [" " * total, *tail]
    return "\n".join(out) + "\n"


def _rich_table(analysis: Analysis, depth: int | None = None, dtype: str = "float32", width: int | None = None) -> str:
    from rich import box
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    table = Table(title=f'Model: "{analysis.graph.name}"', box=box.SIMPLE_HEAD, title_justify="left")
    for header, justify in (
        ("Layer (type)", "left"),
        ("Output Shape", "left"),
        ("Param #", "right"),
        ("MACs", "right"),
        ("RF", "right"),
    ):
        table.add_column(header, justify=justify)  # type: ignore[arg-type]
    for r in rows(analysis, depth):
        table.add_row(escape(_label(r)), _shape(r.shape), f"{r.params:,}", f"{r.macs:,}" if r.macs else "0", r.rf)
    console = Console(file=io.StringIO(), width=width or 110, force_terminal=False, color_system=None)
    console.print(table)
    for key, value in totals(analysis, dtype):
        console.print(f"{key}: {value}", highlight=False)
    notes = block_notes(analysis)
    if notes:
        console.print("Block notes:", highlight=False)
        for name, lines in notes.items():
            console.print(f"  {name}: " + "; ".join(lines), highlight=False, soft_wrap=True)
    _print_stages(console, analysis)
    return console.file.getvalue()  # type: ignore[attr-defined]


def _print_stages(console: Any, analysis: Analysis) -> None:
    """The fine-tuning plan: what trains in every stage, before anything is trained."""
    from rich import box
    from rich.table import Table

    stages = stage_rows(analysis)
    if not stages:
        return
    table = Table(title="Fine-tuning plan", box=box.SIMPLE_HEAD, title_justify="left")
    for header in ("Stage", "Epochs", "Optimizer", "Trainable params", "Non-trainable params", "Frozen layers"):
        table.add_column(header, justify="left" if header in ("Stage", "Optimizer") else "right")
    for s in stages:
        table.add_row(
            s["stage"],
            str(s["epochs"]),
            s["optimizer"],
            f"{s['trainable_params']:,}",
            f"{s['non_trainable_params']:,}",
            f"{s['frozen_layers']} of {s['frozen_layers'] + s['trainable_layers']}",
        )
    console.print(table)
