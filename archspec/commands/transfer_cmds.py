"""``archspec extract`` and ``archspec fit-features``: the feature-extraction strategy."""

from __future__ import annotations

from pathlib import Path

import click

from ..cli import load_graph, spec_argument, variant_option


@click.command()
@spec_argument
@variant_option
@click.option("--data", required=True, type=click.Path(file_okay=False), help="Image folder: one subfolder per class.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="The HDF5 file to write.")
@click.option("--layer", "layers", multiple=True, help="Tap this layer (repeatable; default: the base's output).")
@click.option("--batch-size", type=click.IntRange(min=1), default=32, show_default=True)
@click.option(
    "--buffer-size", type=click.IntRange(min=1), default=1000, show_default=True, help="Rows kept before each write."
)
@click.option(
    "--seed",
    default="42",
    show_default=True,
    help="Shuffle the rows with this seed before writing (recorded in the file); 'none' keeps folder order.",
)
@click.option("--no-progress", is_flag=True, help="No progress bar.")
def extract(
    spec: str,
    variant: str | None,
    sets: tuple[str, ...],
    outputs: str | None,
    data: str,
    output: str,
    layers: tuple[str, ...],
    batch_size: int,
    buffer_size: int,
    seed: str,
    no_progress: bool,
) -> None:
    """Run the (base) network as a fixed feature extractor over an image folder, into HDF5.

    Writes datasets features (N x D float32), labels and label_names, in an order shuffled
    with --seed. A subfolder without images (such as one holding earlier outputs) is not a
    class. An interrupted run resumes where it stopped; the file appears only when complete.
    """
    from ..errors import UsageError
    from ..transfer.extract import extract as run
    from ..transfer.keras_build import probing

    if seed != "none" and not seed.lstrip("-").isdigit():
        raise UsageError(f"--seed must be an integer or 'none'; got {seed!r}")
    with probing():  # a base without a reference spec is measured by Keras
        graph = load_graph(spec, variant, sets, outputs)
    result = run(
        graph,
        data,
        output,
        layers=list(layers) or None,
        batch_size=batch_size,
        buffer_size=buffer_size,
        progress=not no_progress,
        seed=None if seed == "none" else int(seed),
    )
    for name in result.skipped:
        click.echo(f"note: skipped {Path(data) / name}: it holds no images, so it is not a class", err=True)
    resumed = f", resumed at {result.resumed_at}" if result.resumed_at else ""
    order = "folder order" if seed == "none" else f"rows shuffled with seed {seed}"
    click.echo(
        f"wrote {output}: {result.count} x {result.dim} features from {', '.join(result.layers)} ({order}){resumed}"
    )


@click.command(name="fit-features")
@click.argument("features", type=click.Path(dir_okay=False, exists=True))
@click.option("--test-size", type=click.FloatRange(0.05, 0.95), default=0.25, show_default=True)
@click.option("--seed", type=int, default=42, show_default=True)
@click.option("--cv", type=click.IntRange(min=2), default=3, show_default=True, help="Cross-validation folds.")
@click.option("--jobs", type=int, default=1, show_default=True, help="Parallel jobs of the grid search.")
def fit_features(features: str, test_size: float, seed: int, cv: int, jobs: int) -> None:
    """Logistic regression on extracted features, grid search over C; per-class report."""
    from ..training.shallow import fit_features as fit

    click.echo("[INFO] tuning hyperparameters...")
    result = fit(features, test_size=test_size, seed=seed, cv=cv, jobs=jobs)
    click.echo(f"[INFO] best hyperparameters: {result.best_params}")
    click.echo(f"[INFO] evaluating ({result.train_size} train, {result.test_size} test)...")
    click.echo(result.report)
