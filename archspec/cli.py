"""The ``archspec`` command line.

Static commands (validate, expand, summary, diagram, schema) never import TensorFlow or
Keras. Commands that need them live in their own modules and are imported only when run
(:class:`LazyGroup`), so ``archspec validate`` starts in a fraction of a second.
"""

from __future__ import annotations

import importlib
import os
import sys
from collections.abc import Callable, Iterable
from typing import Any

import click

from .errors import ArchspecError, UsageError, did_you_mean

#: Commands that import TensorFlow, as "module:attribute", loaded on first use.
LAZY_COMMANDS: dict[str, str] = {
    "build": "archspec.commands.keras_cmds:build",
    "compile": "archspec.commands.keras_cmds:compile_cmd",
    "extract": "archspec.commands.transfer_cmds:extract",
    "fit-features": "archspec.commands.transfer_cmds:fit_features",
    "train": "archspec.commands.train_cmds:train",
    "evaluate": "archspec.commands.train_cmds:evaluate",
    "predict": "archspec.commands.train_cmds:predict",
    "activations": "archspec.commands.train_cmds:activations",
    "export": "archspec.commands.export_cmds:export",
    "sweep": "archspec.commands.sweep_cmds:sweep",  # static, but --train runs `archspec train`
    "lsp": "archspec.lsp.server:command",  # pygls, not TensorFlow: loaded only to serve an editor
    "view": "archspec.commands.view_cmd:view",  # no TensorFlow: lazy for start-up time only
}


class LazyGroup(click.Group):
    """A click group whose heavy commands are imported only when invoked."""

    def list_commands(self, ctx: click.Context) -> list[str]:
        return sorted({*super().list_commands(ctx), *LAZY_COMMANDS})

    def get_command(self, ctx: click.Context, cmd_name: str) -> click.Command | None:
        if cmd_name in LAZY_COMMANDS:
            module, attr = LAZY_COMMANDS[cmd_name].split(":")
            return getattr(importlib.import_module(module), attr)  # type: ignore[no-any-return]
        return super().get_command(ctx, cmd_name)

    def resolve_command(
        self, ctx: click.Context, args: list[str]
    ) -> tuple[str | None, click.Command | None, list[str]]:
        name, command, rest = super().resolve_command(ctx, args)
        if name in LAZY_COMMANDS and not ctx.resilient_parsing and not {"-h", "--help"} & set(rest):
            from . import framework

            # here, not in get_command, which `archspec --help` calls for every command
            framework.quiet_when_imported(verbose=bool(ctx.params.get("verbose")))
        return name, command, rest

    def invoke(self, ctx: click.Context) -> Any:
        try:
            return super().invoke(ctx)
        except UsageError as exc:
            _print_problems(exc)
            sys.exit(2)
        except ArchspecError as exc:
            _print_problems(exc)
            sys.exit(1)
        except KeyboardInterrupt:
            click.echo("archspec: interrupted", err=True)
            sys.exit(130)
        except BrokenPipeError:  # `archspec summary spec.yaml | head -1`: the reader left; not an error of ours
            _silence_stdout()
            sys.exit(141)  # what a shell reports for a command ended by SIGPIPE (128 + 13)
        except (click.ClickException, click.exceptions.Exit, click.exceptions.Abort, SystemExit):
            raise
        except Exception as exc:  # a bug in archspec, not the user's fault: say so, briefly
            if os.environ.get("ARCHSPEC_DEBUG"):
                raise
            message = str(exc)
            if len(message) > 600:  # TensorFlow errors can print whole tensors
                message = message[:600] + " [...]"
            click.echo(f"archspec: internal error: {type(exc).__name__}: {message}", err=True)
            click.echo("(set ARCHSPEC_DEBUG=1 for the traceback, and please report it)", err=True)
            sys.exit(3)


def _silence_stdout() -> None:
    """Point standard output at /dev/null, so that Python's final flush does not fail again."""
    try:
        devnull = os.open(os.devnull, os.O_WRONLY)
        os.dup2(devnull, sys.stdout.fileno())
        os.close(devnull)
    except (OSError, ValueError):  # no real descriptor (an embedding program's stdout)
        pass


def _print_problems(exc: ArchspecError) -> None:
    for problem in exc.problems:
        click.echo(str(problem), err=True)
    if len(exc.problems) > 1:
        click.echo(f"{len(exc.problems)} problems found", err=True)


@click.group(cls=LazyGroup, context_settings={"help_option_names": ["-h", "--help"], "max_content_width": 100})
@click.version_option(package_name="archspec")
@click.option(
    "--max-params",
    default=None,
    envvar="ARCHSPEC_MAX_PARAMS",
    metavar="N",
    help="Refuse networks with more parameters (default 10e9). Env: ARCHSPEC_MAX_PARAMS.",
)
@click.option(
    "--max-memory",
    default=None,
    envvar="ARCHSPEC_MAX_MEMORY",
    metavar="SIZE",
    help="Training-memory budget, e.g. 64GiB (default 256GiB at batch 1). Env: ARCHSPEC_MAX_MEMORY.",
)
@click.option(
    "-v",
    "--verbose",
    is_flag=True,
    envvar="ARCHSPEC_VERBOSE",
    help="Show TensorFlow's own start-up log lines (hidden by default). Env: ARCHSPEC_VERBOSE.",
)
def main(max_params: str | None, max_memory: str | None, verbose: bool) -> None:
    """archspec: a declarative YAML architecture compiler for convolutional networks.

    Write a network as a spec; validate it, see its shapes, parameters and MACs without
    TensorFlow, then build the Keras model or write its Keras source.
    """
    from . import limits

    before = limits.current()
    try:
        limits.configure(
            max_params=None if max_params is None else limits.parse_count(max_params),
            max_memory=None if max_memory is None else limits.parse_size(max_memory),
        )
    except ValueError as exc:
        raise click.BadParameter(str(exc)) from None
    # the options hold for this command only (a test or a program may run many in one process)
    click.get_current_context().call_on_close(lambda: limits.configure(**before.__dict__))


def spec_argument(func: Callable[..., Any]) -> Callable[..., Any]:
    return click.argument("spec", type=click.Path(dir_okay=False, allow_dash=True))(func)


def variant_option(func: Callable[..., Any]) -> Callable[..., Any]:
    """``--variant``, ``--set NAME=VALUE`` and ``--outputs``: which network a spec means."""
    func = click.option(
        "--outputs",
        "outputs",
        default=None,
        metavar="NAME[,NAME]",
        help="Keep only these outputs (e.g. drop auxiliary heads for inference).",
    )(func)
    func = click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Override a spec variable.")(func)
    return click.option(
        "--variant",
        multiple=True,
        callback=variant_names,
        help="A named variant from the spec's `scales:` table; repeat to compose several.",
    )(func)


def variant_names(_ctx: click.Context, _param: click.Parameter, value: tuple[str, ...]) -> Any:
    """``--variant`` given 0, 1 or more times: None, the name, or all the names in order.

    click keeps only the last of a repeated single-valued option; every variant given is
    kept, and :func:`archspec.api.variant_values` composes them (or refuses a conflict).
    """
    if not value:
        return None
    return value[0] if len(value) == 1 else value


def load_graph(
    spec: str, variant: str | tuple[str, ...] | None = None, sets: tuple[str, ...] = (), outputs: str | None = None
) -> Any:
    """Load and expand a spec path (``-`` reads standard input)."""
    from .api import expand
    from .ir import prune

    source: Any = _stdin_spec() if spec == "-" else _existing(spec)
    graph = expand(source, variant=variant, overrides=parse_sets(sets))
    if outputs is not None:
        wanted = [o.strip() for o in outputs.split(",") if o.strip()]
        if not wanted:  # `--outputs ,,,` or `--outputs ""`: keeping no output is not a network
            raise UsageError(f"--outputs: give one or more layer names separated by commas; got {outputs!r}")
        try:
            graph = prune(graph, wanted)
        except KeyError as exc:
            names = [n.name for n in graph.nodes]
            raise UsageError(f"--outputs: no layer named {exc.args[0]!r}.{did_you_mean(exc.args[0], names)}") from None
    return graph


def _stdin_spec() -> Any:
    """The spec on standard input: read in bytes up to the size limit and always parsed as YAML."""
    from .loader import load_stream

    stream = getattr(sys.stdin, "buffer", None)
    if stream is None:  # a text-only stdin (some embedding programs): its text is already decoded
        from .loader import MAX_FILE_BYTES, load_text

        return load_text(sys.stdin.read(MAX_FILE_BYTES + 1), "<stdin>")  # load_text refuses the extra one
    return load_stream(stream, "<stdin>")


def _existing(path: str) -> Any:
    from pathlib import Path

    from .loader import load_file

    if not Path(path).exists():
        raise UsageError(f"no such file: {path}")
    if path.endswith(".keras"):  # a saved Keras model: its config read as a spec, without TensorFlow
        return _imported(path)
    return load_file(path)


def _imported(path: str) -> Any:
    from .importer import import_file

    imported = import_file(path)
    _print_notes(imported.notes)
    return imported.spec


def _print_notes(notes: Iterable[str]) -> None:
    for note in notes:
        click.echo(f"note: {note}", err=True)


def parse_sets(sets: tuple[str, ...]) -> dict[str, Any]:
    """``--set N=3 --set widths=[64,128]``: values read by the spec loader (YAML 1.2 scalars, no tags)."""
    from .errors import SpecError
    from .loader import load_text

    out: dict[str, Any] = {}
    for item in sets:
        if "=" not in item:
            raise UsageError(f"--set takes NAME=VALUE; got {item!r}")
        key, _, raw = item.partition("=")
        try:
            out[key.strip()] = load_text(raw, f"--set {key.strip()}").data if raw.strip() else None
        except SpecError as exc:
            raise UsageError(exc.problems) from None
    return out


@main.command()
@click.argument("specs", nargs=-1, required=True, type=click.Path(dir_okay=False, allow_dash=True))
@click.option("-q", "--quiet", is_flag=True, help="Print nothing for valid specs.")
def validate(specs: tuple[str, ...], quiet: bool) -> None:
    """Check specs against the schema and the semantic rules (shapes included)."""
    from .analysis import analyse
    from .expect import check_expectations

    failed = 0
    for spec in specs:
        try:
            graph = load_graph(spec)
            analysis = analyse(graph)
            check_expectations(analysis)
        except UsageError as exc:  # a missing file is the caller's mistake, not the spec's: exit 2
            _print_problems(exc)
            sys.exit(2)
        except ArchspecError as exc:
            _print_problems(exc)
            failed += 1
            continue
        if not quiet:
            click.echo(f"{spec}: ok ({len(graph.nodes)} layers, {analysis.total_params:,} params)")
    if failed:
        sys.exit(1)


@main.command()
@spec_argument
@variant_option
def expand(spec: str, variant: str | None, sets: tuple[str, ...], outputs: str | None) -> None:
    """Print the fully expanded spec: patterns, repeats, blocks and defaults resolved."""
    from .emit_yaml import dump

    click.echo(dump(load_graph(spec, variant, sets, outputs)), nl=False)


@main.command()
@spec_argument
@variant_option
@click.option(
    "--format", "fmt", type=click.Choice(["table", "markdown", "json", "csv"]), default="table", show_default=True
)
@click.option("--depth", type=click.IntRange(min=0), default=None, help="Collapse blocks nested deeper than this.")
@click.option(
    "--batch-size", type=click.IntRange(min=1), default=None, help="Also estimate training memory for this batch."
)
@click.option(
    "--optimizer", type=click.Choice(["sgd", "momentum", "rmsprop", "adam", "adamw"]), default="adam", show_default=True
)
@click.option("--dtype", type=click.Choice(["float32", "float16", "bfloat16"]), default="float32", show_default=True)
def summary(
    spec: str,
    variant: str | None,
    sets: tuple[str, ...],
    outputs: str | None,
    fmt: str,
    depth: int | None,
    batch_size: int | None,
    optimizer: str,
    dtype: str,
) -> None:
    """Shapes, parameters, MACs, memory and receptive field of every layer (no TensorFlow)."""
    from . import report
    from .analysis import analyse
    from .expect import check_expectations

    analysis = analyse(load_graph(spec, variant, sets, outputs))
    check_expectations(analysis)
    _note(report.depth_note(analysis.graph, depth))
    if fmt == "json":
        data = report.to_dict(analysis, depth, dtype)
        if batch_size:
            data["training_memory"] = {
                "batch_size": batch_size,
                "optimizer": optimizer,
                **analysis.training_memory(batch_size, optimizer, dtype),
            }
        click.echo(report.json_text(data), nl=False)
        return
    if fmt == "csv":
        click.echo(report.to_csv(analysis, depth), nl=False)
        return
    text = (
        report.to_markdown(analysis, depth, dtype) if fmt == "markdown" else report.render_table(analysis, depth, dtype)
    )
    click.echo(text, nl=False)
    if batch_size:
        mem = analysis.training_memory(batch_size, optimizer, dtype)
        parts = ", ".join(f"{k.replace('_', ' ')} {report.mib(v)}" for k, v in mem.items() if k != "total")
        click.echo(f"Training memory, batch {batch_size}, {optimizer}: {report.mib(mem['total'])} ({parts})")


@main.command()
@spec_argument
@variant_option
@click.option(
    "-o",
    "--output",
    required=True,
    type=click.Path(dir_okay=False),
    help="net.html (interactive page), net.svg, net.png, net.pdf, or net.dot (Graphviz DOT text).",
)
@click.option(
    "--depth", type=click.IntRange(min=0), default=None, help="Draw blocks nested deeper than this as one box."
)
@click.option(
    "--rankdir", type=click.Choice(["TB", "LR", "BT", "RL"]), default="TB", show_default=True, help="Layout direction."
)
@click.option(
    "--engine",
    type=click.Choice(["builtin", "graphviz"]),
    default="builtin",
    show_default=True,
    help="Who lays out SVG/PNG/PDF: archspec itself, or Graphviz' dot program (if installed).",
)
@click.option("--to-scale", is_flag=True, help="Draw each tensor as a box sized by its spatial size and channels.")
def diagram(
    spec: str,
    variant: str | None,
    sets: tuple[str, ...],
    outputs: str | None,
    output: str,
    depth: int | None,
    rankdir: str,
    engine: str,
    to_scale: bool,
) -> None:
    """Draw the architecture: layers, blocks as groups, shapes on the edges (no TensorFlow)."""
    from .report import depth_note
    from .view.output import write
    from .view.scene import read_source

    graph = load_graph(spec, variant, sets, outputs)
    _note(depth_note(graph, depth))
    source = read_source(spec) if spec != "-" and not spec.endswith(".keras") else None
    click.echo(write(graph, output, depth=depth, rankdir=rankdir, engine=engine, to_scale=to_scale, source=source))


def _note(text: str | None) -> None:
    """A change or a void option the user should know of, on stderr (results stay on stdout)."""
    if text:
        click.echo(f"note: {text}", err=True)


@main.command()
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), default=None, help="Write to a file instead of stdout."
)
def schema(output: str | None) -> None:
    """Print the JSON Schema of the spec language (for editors and validators)."""
    from .schema import schema_text

    text = schema_text()
    if output:
        from .fileio import atomic_write_text

        atomic_write_text(output, text)
    else:
        click.echo(text, nl=False)


@main.command("import")
@click.argument("model")
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), default=None, help="Write the spec here (default: stdout)."
)
@click.option(
    "--input-shape", default=None, metavar="H,W,C", help="For an application name: its input shape (default Keras')."
)
def import_cmd(model: str, output: str | None, input_shape: str | None) -> None:
    """A Keras model as a spec: a .keras file or config .json (read without TensorFlow), or a
    keras.applications name (e.g. Xception; built by Keras with weights=None)."""
    from . import importer

    if model.endswith((".keras", ".json")) or "/" in model:
        if input_shape:
            raise UsageError("--input-shape is for an application name; a model file has its own shape")
        imported = importer.import_file(model)
    else:
        imported = importer.import_application(model, _shape_option(input_shape))
    _print_notes(imported.notes)
    text = importer.to_yaml(imported)
    if output:
        from .fileio import atomic_write_text

        atomic_write_text(output, text)
        click.echo(f"wrote {output} ({len(imported.spec['layers'])} layers)")
    else:
        click.echo(text, nl=False)


def _shape_option(text: str | None) -> tuple[int, ...] | None:
    if not text:
        return None
    try:
        shape = tuple(int(p) for p in text.split(","))
    except ValueError:
        raise UsageError(f"--input-shape takes H,W,C integers; got {text!r}") from None
    if not shape or min(shape) < 1:
        raise UsageError(f"--input-shape takes positive integers; got {text!r}")
    return shape


@main.command()
@click.argument("runs", nargs=-1, required=True, type=click.Path(file_okay=False))
@click.option(
    "--format", "fmt", type=click.Choice(["table", "markdown", "json", "csv"]), default="table", show_default=True
)
def compare(runs: tuple[str, ...], fmt: str) -> None:
    """Training runs side by side: spec, params, MACs, epochs, best, last-epoch and test metrics (no TensorFlow)."""
    from . import runs as runs_mod

    rows = runs_mod.compare(runs)
    render = {"table": runs_mod.to_table, "markdown": runs_mod.to_markdown, "json": runs_mod.to_json}
    click.echo(render.get(fmt, runs_mod.to_csv)(rows), nl=False)


if __name__ == "__main__":  # pragma: no cover
    main()
