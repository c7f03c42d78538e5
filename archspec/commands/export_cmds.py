"""``archspec export``: SavedModel, ONNX or LiteRT, verified against Keras before it is written."""

from __future__ import annotations

from pathlib import Path

import click

from ..cli import variant_names


@click.command()
@click.argument("target", type=click.Path())
@click.option(
    "--format", "fmt", type=click.Choice(["saved_model", "onnx", "litert"]), required=True, help="The export format."
)
@click.option(
    "-o",
    "--output",
    type=click.Path(),
    default=None,
    help="Where to write (default: RUN/export/model.onnx for a run; NAME.onnx beside a model or spec file).",
)
@click.option(
    "--bake-preprocessing",
    is_flag=True,
    help="Include the run's (or spec's) input preprocessing, so the export takes raw 0..255 images.",
)
@click.option("--atol", type=click.FloatRange(min=0), default=1e-5, show_default=True, help="Absolute tolerance.")
@click.option("--rtol", type=click.FloatRange(min=0), default=1e-3, show_default=True, help="Relative tolerance.")
@click.option(
    "--check-batch", type=click.IntRange(1, 256), default=8, show_default=True, help="Inputs in the parity check."
)
@click.option("--variant", multiple=True, callback=variant_names, help="A spec's variant (for a SPEC target).")
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Override a spec variable (SPEC target).")
def export(
    target: str,
    fmt: str,
    output: str | None,
    bake_preprocessing: bool,
    atol: float,
    rtol: float,
    check_batch: int,
    variant: str | tuple[str, ...] | None,
    sets: tuple[str, ...],
) -> None:
    """Export TARGET (a run directory, a .keras file or a spec) with Keras' own exporter, then load the
    export with its own runtime and check it computes what the Keras model computes (exit 1 otherwise,
    leaving nothing behind). The static figures and the spec's hash travel with the file."""
    from .. import export as exp
    from ..cli import parse_sets

    fmt_ = exp.FORMATS[fmt]
    exp.require(fmt_)
    names = (variant,) if isinstance(variant, str) else tuple(variant or ())
    loaded = exp.open_target(target, names, parse_sets(sets))
    path = Path(output) if output else exp.default_output(loaded, fmt_)
    check = exp.export(
        loaded, fmt_, path, atol=atol, rtol=rtol, batch=check_batch, bake_preprocessing=bake_preprocessing
    )
    params = loaded.model.count_params()
    click.echo(f"wrote {path} ({fmt}, {params:,} params; {check.describe(fmt_.runtime)})")
