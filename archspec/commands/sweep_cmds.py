"""``archspec sweep``: a grid of variable values, filtered, ranked, with the Pareto front (docs/cli.md).

Static (no TensorFlow) unless ``--train`` hands the best candidates to ``archspec train``.
"""

from __future__ import annotations

import json
import os
import subprocess
import sys
from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any

import click

from .. import sweep as sw
from ..cli import parse_sets, spec_argument, variant_names
from ..errors import UsageError, did_you_mean

_FORMATS = ("table", "json", "csv")
#: Sweeps longer than this show a progress bar (on a terminal's stderr).
_PROGRESS_FROM = 2000


@click.command()
@spec_argument
@click.option("--grid", "grids", multiple=True, metavar="NAME=VALUES", help="Values of a variable: 1,2,3 or 2..5.")
@click.option(
    "--variant", multiple=True, callback=variant_names, help="A named variant of the spec, under every candidate."
)
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Fix a variable for every candidate.")
@click.option("--where", default=None, metavar="CONDITION", help='Keep candidates where it holds: "params < 1e6".')
@click.option("--sort", "sort_by", default="params", show_default=True, help="Figure to sort by; -NAME: largest first.")
@click.option(
    "--pareto", default="params,macs", show_default=True, metavar="A,B", help="Two figures whose front is marked."
)
@click.option("--format", "fmt", type=click.Choice(_FORMATS), default="table", show_default=True)
@click.option("--top", type=click.IntRange(min=1), default=None, help="Show (and with --train, train) the K best.")
@click.option("--plot", type=click.Path(dir_okay=False), default=None, help="Write a PNG of the Pareto front.")
@click.option("--train", "train", is_flag=True, help="Train the --top K candidates one after another.")
@click.option("--runs-dir", default="runs/sweep", show_default=True, help="Where --train puts one run per candidate.")
@click.option("--data", default=None, help="--train: the training data (as archspec train --data).")
@click.option("--epochs", type=click.IntRange(min=1), default=None, help="--train: epochs of each run.")
@click.option("--train-arg", "train_args", multiple=True, metavar="ARG", help="--train: more for archspec train.")
def sweep(
    spec: str,
    grids: tuple[str, ...],
    variant: Any,
    sets: tuple[str, ...],
    where: str | None,
    sort_by: str,
    pareto: str,
    fmt: str,
    top: int | None,
    plot: str | None,
    train: bool,
    runs_dir: str,
    data: str | None,
    epochs: int | None,
    train_args: tuple[str, ...],
) -> None:
    """Expand every combination of the --grid values and rank their static figures (no TensorFlow).

    Figures: params, trainable_params, macs, flops, activation_bytes, param_bytes, layers.
    """
    if not grids:
        raise UsageError("give at least one --grid NAME=VALUES (e.g. --grid N=1,2,3 --grid M=2..5)")
    if train and top is None:
        raise UsageError("--train needs --top K: how many of the best candidates to train")
    doc = _document(spec)
    declared = [*(doc.data.get("vars") or {}), "classes"] if isinstance(doc.data, dict) else []
    fixed = parse_sets(sets)
    grid = sw.parse_grid(grids, declared)
    _check_overlap(grid, fixed)
    names = [*grid, *fixed]
    condition = sw.parse_condition(where, names) if where else None
    figures = _pareto_figures(pareto, names)
    _check_sort(sort_by, names)
    result = _run(doc, grid, variant, fixed, condition)
    ranked = sw.ranked(result.candidates, sort_by)
    front = sw.front_of(ranked, figures)
    shown = ranked[:top] if top else ranked
    accuracy: dict[int, tuple[float | None, str]] = {}
    if train and not result.interrupted:
        accuracy = _train(spec, shown, variant, fixed, runs_dir, data, epochs, train_args)
    _print(fmt, result, shown, front, figures, accuracy, sort_by, where)
    if plot:
        _plot(plot, ranked, front, figures)
    if result.interrupted:
        click.echo(f"interrupted: {result.done:,} of {result.total:,} combinations done", err=True)
        sys.exit(130)
    if result.invalid_count and not result.candidates and not result.filtered_out:
        # every combination was refused (often the spec itself is broken): a failure, like `validate`'s
        click.echo("archspec: no combination is a valid spec (reasons above)", err=True)
        sys.exit(1)


def _document(spec: str) -> Any:
    """The spec, read once (``-``: standard input); every candidate is expanded from it."""
    from ..cli import _existing, _stdin_spec
    from ..loader import load

    return load(_stdin_spec() if spec == "-" else _existing(spec))


def _check_overlap(grid: dict[str, list[Any]], fixed: dict[str, Any]) -> None:
    both = sorted(set(grid) & set(fixed))
    if both:
        raise UsageError(f"--set {both[0]} and --grid {both[0]}: a variable is either fixed or swept, not both")


def _pareto_figures(text: str, names: Sequence[str]) -> tuple[str, str]:
    parts = [p.strip() for p in text.split(",")]
    if len(parts) != 2 or not all(parts):
        raise UsageError(f"--pareto takes two figures separated by a comma (e.g. params,macs); got {text!r}")
    for part in parts:
        _known(part, names, "--pareto")
    return parts[0], parts[1]


def _check_sort(text: str, names: Sequence[str]) -> None:
    _known(sw.sort_key(text)[0], names, "--sort")


def _known(name: str, names: Sequence[str], option: str) -> None:
    allowed = [*sw.FIGURES, *names]
    if name not in allowed:
        raise UsageError(
            f"{option}: unknown figure {name!r} (figures: {', '.join(allowed)}).{did_you_mean(name, allowed)}"
        )


def _run(doc: Any, grid: dict[str, list[Any]], variant: Any, fixed: dict[str, Any], condition: Any) -> sw.Sweep:
    progress, close = _progress_bar(sw.Sweep(grid).total)
    try:
        return sw.run(doc, grid, variant=variant, sets=fixed, where=condition, progress=progress)
    finally:
        close()


def _progress_bar(total: int) -> tuple[Callable[[int], None] | None, Callable[[], None]]:
    """A rich progress bar on stderr for a long sweep on a terminal; nothing otherwise."""
    if total < _PROGRESS_FROM or not sys.stderr.isatty():
        return None, lambda: None
    from rich.console import Console
    from rich.progress import Progress

    bar = Progress(console=Console(stderr=True), transient=True)
    task = bar.add_task("sweep", total=total)
    bar.start()

    def advance(done: int) -> None:
        if done % 100 == 0 or done == total:
            bar.update(task, completed=done)

    return advance, bar.stop


# -- output --------------------------------------------------------------------------------------


def _print(
    fmt: str,
    result: sw.Sweep,
    rows: list[sw.Candidate],
    front: set[int],
    figures: tuple[str, str],
    accuracy: dict[int, tuple[float | None, str]],
    sort_by: str,
    where: str | None,
) -> None:
    if fmt == "json":
        click.echo(_json(result, rows, front, figures, accuracy, sort_by, where), nl=False)
        return
    if fmt == "csv":
        click.echo(_csv(result, rows, front, accuracy), nl=False)
        _summary(result, front, figures, err=True)
        return
    click.echo(_table(result, rows, front, accuracy), nl=False)
    _summary(result, front, figures, err=False)


def _record(result: sw.Sweep, c: sw.Candidate, on_front: bool, acc: tuple[float | None, str] | None) -> dict[str, Any]:
    record: dict[str, Any] = {**c.values, **c.figures, "pareto": on_front}
    if acc is not None:
        record["accuracy"], record["accuracy_on"] = acc
    return record


def _json(
    result: sw.Sweep,
    rows: list[sw.Candidate],
    front: set[int],
    figures: tuple[str, str],
    accuracy: dict[int, tuple[float | None, str]],
    sort_by: str,
    where: str | None,
) -> str:
    data = {
        "grid": result.grid,
        "combinations": result.total,
        "done": result.done,
        "interrupted": result.interrupted,
        "valid": len(result.candidates) + result.filtered_out,
        "kept": len(result.candidates),
        "where": where,
        "sort": sort_by,
        "pareto_figures": list(figures),
        "pareto_size": len(front),
        "invalid": _invalid_records(result),
        "candidates": [_record(result, c, i in front, accuracy.get(i)) for i, c in enumerate(rows)],
    }
    return json.dumps(data, indent=1) + "\n"


def _invalid_records(result: sw.Sweep) -> list[dict[str, Any]]:
    groups = sorted(result.invalid.values(), key=lambda r: -r.count)
    return [{"count": r.count, "reason": r.example.error, "example": dict(r.example.values)} for r in groups]


def _columns(result: sw.Sweep, accuracy: dict[int, Any]) -> list[str]:
    cols = [*result.grid, *sw.FIGURES, "pareto"]
    return [*cols, "accuracy", "accuracy_on"] if accuracy else cols


def _csv(result: sw.Sweep, rows: list[sw.Candidate], front: set[int], accuracy: dict[int, Any]) -> str:
    import csv
    import io

    buf = io.StringIO()
    writer = csv.DictWriter(buf, fieldnames=_columns(result, accuracy), lineterminator="\n", extrasaction="ignore")
    writer.writeheader()
    for i, c in enumerate(rows):
        writer.writerow(_record(result, c, i in front, accuracy.get(i)))
    return buf.getvalue()


_TABLE_FIGURES = {"params": "params", "macs": "MACs", "activation_bytes": "activations", "layers": "layers"}


def _table(result: sw.Sweep, rows: list[sw.Candidate], front: set[int], accuracy: dict[int, Any]) -> str:
    head = ["#", *result.grid, *_TABLE_FIGURES.values(), "front"] + (["accuracy"] if accuracy else [])
    body = []
    for i, c in enumerate(rows):
        cells = [str(i + 1), *(_value(c.values[n]) for n in result.grid)]
        cells += [_human(name, c.figures[name]) for name in _TABLE_FIGURES]
        cells.append("*" if i in front else "")
        if accuracy:
            acc, on = accuracy.get(i, (None, ""))
            cells.append("-" if acc is None else f"{acc:.4f} ({on})")
        body.append(cells)
    widths = [max(len(r[k]) for r in [head, *body]) for k in range(len(head))]
    left = {0} | set(range(1, 1 + len(result.grid)))
    lines = [
        "  ".join(_pad(cell, widths[k], k in left and k) for k, cell in enumerate(r)).rstrip() for r in [head, *body]
    ]
    return "\n".join(lines) + "\n"


def _pad(cell: str, width: int, left: Any) -> str:
    return cell.ljust(width) if left else cell.rjust(width)


def _value(value: Any) -> str:
    return str(value).lower() if isinstance(value, bool) else str(value)


def _human(name: str, value: int) -> str:
    if name == "activation_bytes":
        from ..report import mib

        return mib(value)
    return f"{value:,}"


def _summary(result: sw.Sweep, front: set[int], figures: tuple[str, str], err: bool) -> None:
    echo: Callable[[str], None] = lambda text: click.echo(text, err=err)  # noqa: E731
    valid = len(result.candidates) + result.filtered_out
    parts = [
        f"{result.done:,} of {result.total:,} combinations" if result.interrupted else f"{result.total:,} combinations"
    ]
    parts.append(f"{valid:,} valid")
    if result.filtered_out:
        parts.append(f"{len(result.candidates):,} kept by --where")
    parts.append(f"{result.invalid_count:,} invalid")
    echo(", ".join(parts) + f"; Pareto front of ({figures[0]}, {figures[1]}): {len(front):,} marked *")
    if result.invalid:
        echo("invalid combinations, by reason:")
        for refusal in sorted(result.invalid.values(), key=lambda r: -r.count):
            example = ", ".join(f"{k}={_value(v)}" for k, v in refusal.example.values.items())
            echo(f"  {refusal.count:>6,}  {refusal.example.error}  (e.g. {example})")


def _plot(target: str, rows: list[sw.Candidate], front: set[int], figures: tuple[str, str]) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    from ..fileio import atomic_path

    x_name, y_name = figures
    xs = [sw._number(c, x_name) for c in rows]
    ys = [sw._number(c, y_name) for c in rows]
    on = sorted(front, key=lambda i: (xs[i], ys[i]))
    fig, ax = plt.subplots(figsize=(7, 5))
    ax.scatter(xs, ys, s=10, color="0.7", label=f"candidates ({len(rows)})")
    ax.plot([xs[i] for i in on], [ys[i] for i in on], "o-", color="tab:red", label=f"Pareto front ({len(on)})")
    for i in on[:20]:  # label the front (the first 20 along it): which combination each point is
        ax.annotate(", ".join(f"{k}={_value(v)}" for k, v in rows[i].values.items()), (xs[i], ys[i]), fontsize=7)
    for axis, values in (("x", xs), ("y", ys)):
        positive = [v for v in values if v > 0]
        if positive and max(positive) / min(positive) > 100:
            getattr(ax, f"set_{axis}scale")("log")
    ax.set_xlabel(x_name)
    ax.set_ylabel(y_name)
    ax.legend()
    ax.grid(alpha=0.3)
    with atomic_path(target, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
    click.echo(f"wrote {target}", err=True)


# -- --train -------------------------------------------------------------------------------------


def _train(
    spec: str,
    rows: list[sw.Candidate],
    variant: Any,
    fixed: dict[str, Any],
    runs_dir: str,
    data: str | None,
    epochs: int | None,
    extra: tuple[str, ...],
) -> dict[int, tuple[float | None, str]]:
    """Run ``archspec train`` on each candidate, one after another; their measured accuracy."""
    if spec == "-":
        raise UsageError("--train needs the spec as a file (each run reads it again)")
    out: dict[int, tuple[float | None, str]] = {}
    for i, c in enumerate(rows):
        run_dir = Path(runs_dir) / _run_name(i, c.values)
        cmd = [sys.executable, "-m", "archspec", "train", spec, "--run-dir", str(run_dir), "--quiet"]
        for name in (variant,) if isinstance(variant, str) else variant or ():
            cmd += ["--variant", name]
        for name, value in {**fixed, **c.values}.items():
            cmd += ["--set", f"{name}={json.dumps(value)}"]
        cmd += (["--data", data] if data else []) + (["--epochs", str(epochs)] if epochs else []) + list(extra)
        click.echo(f"training {i + 1}/{len(rows)}: {' '.join(cmd[3:])}", err=True)
        returncode = _stream(cmd)
        out[i] = _accuracy(run_dir) if returncode == 0 else (None, f"train exited {returncode}")
    return out


def _stream(cmd: list[str]) -> int:
    """Run ``cmd``, its output passed on to our stderr line by line (stdout stays the table)."""
    with subprocess.Popen(
        cmd, env=os.environ.copy(), stdout=subprocess.PIPE, stderr=subprocess.STDOUT, text=True, errors="replace"
    ) as proc:
        for line in proc.stdout or ():
            click.echo(line.rstrip("\n"), err=True)
        return proc.wait()


def _run_name(index: int, values: Any) -> str:
    parts = "-".join(f"{k}{_value(v)}" for k, v in values.items())
    safe = "".join(ch if ch.isalnum() or ch in "-_." else "_" for ch in parts)
    return f"{index + 1:02d}-{safe}"[:120]


def _accuracy(run_dir: Path) -> tuple[float | None, str]:
    """The run's accuracy as measured: on its test split if it has one, else validation, else training."""
    from ..runs import read_run

    row = read_run(run_dir)
    for source, table, key in (("test", row.test, "accuracy"), ("val", row.last, "val_accuracy")):
        if key in table:
            return table[key], source
    if "accuracy" in row.last:
        return row.last["accuracy"], "train"
    return None, "no accuracy metric"
