"""``archspec build`` and ``archspec compile``."""

from __future__ import annotations

import click

from ..backends import backend_option
from ..cli import load_graph, spec_argument, variant_option
from ..errors import UsageError
from ..fileio import atomic_path, atomic_write_text


@click.command()
@spec_argument
@variant_option
@click.option(
    "-o", "--output", required=True, type=click.Path(dir_okay=False), help="model.keras, or weights .h5 with --weights."
)
@click.option("--weights", "weights_only", is_flag=True, help="Save only the (initial) weights, as .weights.h5.")
@backend_option
def build(
    spec: str,
    variant: str | None,
    sets: tuple[str, ...],
    outputs: str | None,
    output: str,
    weights_only: bool,
    backend: str | None,
) -> None:
    """Build the Keras model and save it untrained (.keras), or its weights (.h5)."""
    from ..backends import select_backend

    select_backend(backend)  # before anything imports Keras
    from ..keras_backend import build_graph, building

    with building():  # extensions' part: a transfer base without a reference spec is measured by Keras
        graph = load_graph(spec, variant, sets, outputs)
    if weights_only and not output.endswith(".weights.h5"):
        raise UsageError(f"--weights writes Keras weights files, whose names end in .weights.h5; got {output!r}")
    if not weights_only and not output.endswith(".keras"):
        raise UsageError(f"the model file must end in .keras (or use --weights for .weights.h5); got {output!r}")
    model = build_graph(graph)
    with atomic_path(output, suffix=".weights.h5" if weights_only else ".keras") as tmp:
        if weights_only:
            model.save_weights(tmp)
        else:
            model.save(tmp)
    click.echo(f"wrote {output} ({model.count_params():,} params)")


@click.command(name="compile")
@spec_argument
@variant_option
@click.option(
    "-o", "--output", type=click.Path(dir_okay=False), default=None, help="Write the module here (default: stdout)."
)
def compile_cmd(spec: str, variant: str | None, sets: tuple[str, ...], outputs: str | None, output: str | None) -> None:
    """Write standalone, readable Keras 3 Python for the spec."""
    from ..codegen import render

    source = render(load_graph(spec, variant, sets, outputs))
    if output is None:
        click.echo(source, nl=False)
        return
    atomic_write_text(output, source)
    click.echo(f"wrote {output}")
