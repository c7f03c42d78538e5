"""Comparing training runs side by side, from their run directories alone (no TensorFlow).

Each row is one run directory: the spec it trained (name, parameters and MACs, computed
statically from the run's own copy of the spec with the run's --variant and --set), how far it
got, its best monitored value, its last epoch's metrics and its test-split metrics.
"""

from __future__ import annotations

import csv
import io
import json
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

from .errors import ArchspecError, UsageError

_MAX_JSON_BYTES = 64 << 20  # a run's history of 10,000 epochs is a few MB


@dataclass(frozen=True)
class RunRow:
    """What one run directory says about its run."""

    path: str
    name: str
    epochs: int
    finished: bool
    params: int | None
    macs: int | None
    best: Mapping[str, Any] | None
    last: Mapping[str, float]
    test: Mapping[str, float]
    note: str = ""
    extra: Mapping[str, Any] = field(default_factory=dict)


def read_json(path: Path, default: Any = None) -> Any:
    """A JSON file archspec wrote in a run directory; a missing one is ``default``, a broken one an error."""
    if not path.exists():
        return default
    if not path.is_file() or path.stat().st_size > _MAX_JSON_BYTES:
        raise UsageError(f"{path}: not a run file archspec wrote (not a regular file, or over 64 MiB)")
    try:
        return json.loads(path.read_text(encoding="utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise UsageError(f"{path}: not valid JSON ({exc})") from None


def read_run(run_dir: str | Path) -> RunRow:
    """One row of the comparison for ``run_dir``."""
    path = Path(run_dir)
    meta = read_json(path / "run.json")
    if not isinstance(meta, dict):
        raise UsageError(f"{path} is not a run directory (no run.json)")
    state = _mapping(read_json(path / "state.json", {}))
    history = _mapping(read_json(path / "history.json", {}))
    test = _mapping(_mapping(read_json(path / "test.json", {})).get("metrics"))
    params, macs, note = _static_figures(path, _mapping(meta.get("options")))
    return RunRow(
        str(path),
        _spec_name(path) or path.name,
        int(state.get("epoch") or 0),
        bool(state.get("finished")),
        params,
        macs,
        _mapping(state.get("best")) or None,
        _last_epoch(history),
        {k: float(v) for k, v in test.items() if isinstance(v, int | float)},
        note,
    )


def _mapping(value: Any) -> Mapping[str, Any]:
    return value if isinstance(value, Mapping) else {}


def _last_epoch(history: Mapping[str, Any]) -> dict[str, float]:
    skip = {"epoch", "stage", "seconds", "lr"}
    return {
        k: float(v[-1])
        for k, v in history.items()
        if k not in skip and isinstance(v, list) and v and isinstance(v[-1], int | float)
    }


def _spec_name(path: Path) -> str | None:
    from .loader import load_file

    try:
        data = load_file(path / "spec.yaml").data
    except ArchspecError:
        return None
    return str(data.get("name")) if isinstance(data, dict) and data.get("name") else None


def _static_figures(path: Path, options: Mapping[str, Any]) -> tuple[int | None, int | None, str]:
    """Parameters and MACs of the run's own spec, or why they are unknown (never a guess)."""
    from .analysis import analyse
    from .api import expand

    try:
        graph = expand(path / "spec.yaml", variant=options.get("variant") or None, overrides=options.get("sets") or {})
        analysis = analyse(graph)
    except ArchspecError as exc:
        first = str(exc.problems[0].message) if exc.problems else str(exc)
        return None, None, f"no static figures: {first[:120]}"
    return analysis.total_params, analysis.macs, ""


def compare(run_dirs: Sequence[str | Path]) -> list[RunRow]:
    """Rows for every run directory, in the order given."""
    if not run_dirs:
        raise UsageError("give one or more run directories")
    return [read_run(r) for r in run_dirs]


def metric_columns(rows: Sequence[RunRow]) -> tuple[list[str], list[str]]:
    """The last-epoch and test metric names that appear in any row, in a stable order."""
    last = sorted({k for r in rows for k in r.last})
    test = sorted({k for r in rows for k in r.test})
    return last, test


def to_records(rows: Sequence[RunRow]) -> list[dict[str, Any]]:
    """Plain dictionaries (the JSON and CSV forms)."""
    last, test = metric_columns(rows)
    out = []
    for r in rows:
        record: dict[str, Any] = {"run": r.path, "spec": r.name, "epochs": r.epochs, "finished": r.finished}
        record |= {"params": r.params, "macs": r.macs}
        record["best"] = dict(r.best) if r.best else None
        record |= {f"last_{k}": r.last.get(k) for k in last}
        record |= {f"test_{k}": r.test.get(k) for k in test}
        if r.note:
            record["note"] = r.note
        out.append(record)
    return out


def to_json(rows: Sequence[RunRow]) -> str:
    return json.dumps(to_records(rows), indent=2) + "\n"


def to_csv(rows: Sequence[RunRow]) -> str:
    records = to_records(rows)
    columns = list(dict.fromkeys(k for rec in records for k in rec))
    buffer = io.StringIO()
    writer = csv.DictWriter(buffer, columns, lineterminator="\n")
    writer.writeheader()
    for rec in records:
        writer.writerow({k: json.dumps(v) if isinstance(v, dict) else v for k, v in rec.items()})
    return buffer.getvalue()


def _cell(value: float | int | None, digits: int = 4) -> str:
    if value is None:
        return "-"
    return f"{value:,}" if isinstance(value, int) else f"{value:.{digits}f}"


def _best(best: Mapping[str, Any] | None) -> str:
    if not best or not isinstance(best.get("value"), int | float):
        return "-"
    return f"{best.get('monitor')} {best['value']:.4f} @{best.get('epoch')}"


def table_rows(rows: Sequence[RunRow]) -> tuple[list[str], list[list[str]]]:
    """Header and cells of the terminal and Markdown tables."""
    last, test = metric_columns(rows)
    header = ["run", "spec", "epochs", "params", "MACs", "best", *(f"last {k}" for k in last)]
    header += [f"test {k}" for k in test]
    cells = []
    for r in rows:
        epochs = f"{r.epochs}" + ("" if r.finished else " (unfinished)")
        line = [r.path, r.name, epochs, _cell(r.params), _cell(r.macs), _best(r.best)]
        line += [_cell(r.last.get(k)) for k in last] + [_cell(r.test.get(k)) for k in test]
        cells.append(line)
    return header, cells


def to_markdown(rows: Sequence[RunRow]) -> str:
    header, cells = table_rows(rows)
    lines = ["| " + " | ".join(header) + " |", "|" + "---|" * len(header)]
    lines += ["| " + " | ".join(c.replace("|", "\\|") for c in line) + " |" for line in cells]
    return "\n".join(lines) + "\n" + _notes(rows)


def to_table(rows: Sequence[RunRow], width: int = 1000) -> str:
    from rich import box
    from rich.console import Console
    from rich.markup import escape
    from rich.table import Table

    header, cells = table_rows(rows)
    table = Table(box=box.SIMPLE_HEAD)
    for i, name in enumerate(header):
        table.add_column(name, justify="left" if i < 2 or name == "best" else "right")
    for line in cells:
        table.add_row(*(escape(c) for c in line))
    # as wide as the cells need: a run path is never cut (the terminal wraps a long line instead)
    console = Console(width=width, file=io.StringIO(), color_system=None, highlight=False)
    console.print(table)
    text = "\n".join(line.rstrip() for line in console.file.getvalue().splitlines())  # type: ignore[attr-defined]
    return text.lstrip("\n") + "\n" + _notes(rows)


def _notes(rows: Sequence[RunRow]) -> str:
    return "".join(f"note: {r.path}: {r.note}\n" for r in rows if r.note)
