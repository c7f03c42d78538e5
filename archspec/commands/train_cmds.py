"""``archspec train``, ``evaluate``, ``predict`` and ``activations`` (see docs/training.md)."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path
from typing import TYPE_CHECKING

import click

from ..backends import backend_option
from ..cli import variant_names
from ..errors import UsageError

if TYPE_CHECKING:
    from ..training.evaluate import Loaded


@click.command()
@click.argument("spec", required=False, type=click.Path(dir_okay=False))
@click.option("--data", default=None, help="Training data (folder, .h5, .npz, .csv); overrides train.data.path.")
@click.option(
    "--epochs", type=click.IntRange(min=1), default=None, help="Epochs (caps each stage of a fine_tune plan)."
)
@click.option("--batch-size", type=click.IntRange(min=1), default=None, help="Global batch size (overrides the spec).")
@click.option(
    "--run-dir", type=click.Path(file_okay=False), default=None, help="Where to write the run (default runs/NAME-TIME)."
)
@click.option(
    "--resume", "resume_dir", type=click.Path(file_okay=False), default=None, help="Continue this run directory."
)
@click.option(
    "--strategy",
    type=click.Choice(["default", "mirrored", "data-parallel", "multiworker"]),
    default="default",
    help="mirrored = all local GPUs (tf.distribute); data-parallel = every device of every --workers process "
    "(Keras' distribution API, JAX backend); multiworker = TF_CONFIG's cluster (refused with Keras 3, "
    "whose fit() fails under it: use data-parallel; docs/training.md).",
)
@click.option(
    "--workers",
    default=None,
    metavar="HOST:PORT,...",
    help="data-parallel: every worker's address, the coordinator (worker 0) first; the same list on every "
    "worker (default: KERAS_DISTRIBUTION_JOB_ADDRESSES).",
)
@click.option(
    "--worker-index",
    type=click.IntRange(min=0),
    default=None,
    help="data-parallel: this worker's place in --workers (default: KERAS_DISTRIBUTION_PROCESS_ID).",
)
@backend_option
@click.option("--mixed-precision", is_flag=True, help="Compute in float16 (mixed_float16 policy), outputs in float32.")
@click.option("--jit-compile", is_flag=True, help="Compile the training step with XLA.")
@click.option(
    "--cpu-devices",
    type=click.IntRange(min=1),
    default=None,
    help="Split the CPU into N logical devices (try --strategy mirrored without GPUs).",
)
@click.option(
    "--variant",
    multiple=True,
    callback=variant_names,
    help="A named variant from the spec's `scales:` table; repeat to compose several.",
)
@click.option("--set", "sets", multiple=True, metavar="NAME=VALUE", help="Override a spec variable.")
@click.option("-q", "--quiet", is_flag=True, help="One line per epoch instead of progress bars.")
def train(
    spec: str | None,
    data: str | None,
    epochs: int | None,
    batch_size: int | None,
    run_dir: str | None,
    resume_dir: str | None,
    strategy: str,
    workers: str | None,
    worker_index: int | None,
    backend: str | None,
    mixed_precision: bool,
    jit_compile: bool,
    cpu_devices: int | None,
    variant: str | None,
    sets: tuple[str, ...],
    quiet: bool,
) -> None:
    """Train SPEC as its `train:` section says, into a run directory (or continue one with --resume)."""
    from ..cli import parse_sets
    from ..training import trainer

    if resume_dir:
        if spec or data or run_dir or backend:
            raise UsageError(
                "--resume RUN_DIR continues a run with its own spec, data and backend; "
                "do not give SPEC, --data, --run-dir or --backend"
            )
        result = trainer.resume(
            resume_dir,
            epochs=epochs,
            echo=click.echo,
            verbose=2 if quiet else None,
            workers=workers.split(",") if workers else None,
            worker_index=worker_index,
        )
    else:
        if not spec:
            raise UsageError("give a SPEC to train, or --resume RUN_DIR")
        options = trainer.Options(
            data=data,
            epochs=epochs,
            batch_size=batch_size,
            strategy=strategy,
            mixed_precision=mixed_precision,
            jit_compile=jit_compile,
            cpu_devices=cpu_devices,
            variant=variant,
            sets=parse_sets(sets),
            verbose=2 if quiet else "auto",
            backend=backend,
            workers=tuple(workers.split(",")) if workers else None,
            worker_index=worker_index,
        )
        result = trainer.train(spec, options, run_dir=run_dir, echo=click.echo)
    click.echo(f"done: {result.epochs} epochs; run directory {result.run_dir}")


@click.command()
@click.argument("target", type=click.Path(exists=True))
@click.option("--data", default=None, help="Data to evaluate (any training format); default: the run's test split.")
@click.option(
    "--model", "which", type=click.Choice(["best", "last"]), default="best", help="Which model of a run directory."
)
@click.option("--batch-size", type=click.IntRange(min=1), default=256)
@click.option(
    "--confusion",
    "confusion_png",
    type=click.Path(dir_okay=False),
    default=None,
    help="Confusion-matrix PNG (default: RUN_DIR/confusion.png, or next to the model).",
)
@click.option(
    "--json", "json_out", type=click.Path(dir_okay=False), default=None, help="Also write the results as JSON."
)
def evaluate(
    target: str, data: str | None, which: str, batch_size: int, confusion_png: str | None, json_out: str | None
) -> None:
    """Loss, metrics, per-class precision/recall/F1/support and the confusion matrix of a model on data."""
    from ..fileio import atomic_write_text
    from ..training import data as data_mod
    from ..training import evaluate as ev
    from ..training.config import stored_data_config
    from ..training.dense import label_shape

    loaded = ev.open_model(target, which)
    shape = tuple(loaded.model.inputs[0].shape[1:])
    cfg = stored_data_config(loaded.data or {})
    classes = int(loaded.model.outputs[0].shape[-1])  # the main output is the first
    positions = label_shape(ev.main_output(loaded.model))  # (H, W) of a segmentation output: masks as labels
    if data:
        source = data_mod.load_source(
            data, replace(cfg, format=None, path=data), shape, loaded.class_names, classes, positions
        )
        ds, count, features, notes = data_mod.as_dataset(source), source.count, source.features, source.notes
        what = data
    else:
        if loaded.run_dir is None:
            raise UsageError("give --data to evaluate a bare model file (a run directory knows its test split)")
        splits = data_mod.load_splits(cfg, shape, loaded.seed, classes, positions)
        if splits.test is None:
            raise UsageError(f"the run in {loaded.run_dir} has no test split; give --data")
        ds, count, features, what = splits.test, splits.counts["test"], splits.features, "the run's test split"
        notes = splits.notes
    for note in notes:
        click.echo(f"note: {note}", err=True)
    normalize = data_mod.normalizer(dict(loaded.normalize) if loaded.normalize else None, features)
    crop = cfg.image_size if cfg.center_crop else None  # a run trained with random_crop sees centre crops
    batches = data_mod.pipeline(
        ds,
        batch_size=batch_size,
        classes=classes,
        input_shape=shape,
        normalize=normalize,
        crop_from=crop,
        sparse=positions is not None,
    )
    result = ev.evaluate_dataset(loaded.model, batches, loaded.class_names)
    per = f", {result['positions']:,} positions of {'x'.join(map(str, positions))}" if positions else ""
    click.echo(f"{loaded.path} on {what} ({count} examples{per})")
    click.echo("  ".join(f"{k}: {v:.4f}" for k, v in result["metrics"].items()))
    click.echo("")
    click.echo(result["report"])
    counted = "positions; " if positions else ""
    click.echo(f"confusion matrix ({counted}rows: true class, columns: predicted):")
    click.echo(ev.confusion_text(result["confusion_matrix"], result["class_names"]))
    png = (
        Path(confusion_png)
        if confusion_png
        else (
            loaded.run_dir / "confusion.png"
            if loaded.run_dir
            else loaded.path.with_name(f"{loaded.path.stem}-confusion.png")
        )
    )
    ev.plot_confusion(result["confusion_matrix"], result["class_names"], png)
    click.echo(f"wrote {png}")
    if json_out:
        atomic_write_text(json_out, json.dumps({**result, "model": str(loaded.path), "data": what}, indent=2) + "\n")
        click.echo(f"wrote {json_out}")


@click.command()
@click.argument("model", type=click.Path(exists=True))
@click.argument("images", nargs=-1, required=True, type=click.Path(dir_okay=False))
@click.option("-k", "--top-k", type=click.IntRange(min=1), default=5, help="How many classes to show.")
@click.option(
    "--labels",
    type=click.Path(dir_okay=False, exists=True),
    default=None,
    help="A text file of class names, one per line (default: the run's, or 0, 1, ...).",
)
@click.option(
    "--preprocess",
    default=None,
    help="How images are scaled: rescale, none, caffe, tf, torch or a keras.applications module "
    "(default: the run's, a spec's base's own, or rescale).",
)
def predict(model: str, images: tuple[str, ...], top_k: int, labels: str | None, preprocess: str | None) -> None:
    """Top-k classes, with names and probabilities, for each image (MODEL: a run directory, a .keras
    file, or a spec, built with its base's weights and read with the base's own preprocessing)."""
    from ..training import evaluate as ev

    loaded = with_preprocess(ev.open_model(model), preprocess)
    _refuse_dense(loaded)
    if labels:
        loaded = replace(loaded, class_names=read_labels(labels))
    for note in (ev.input_note(loaded), _names_note(loaded, labels)):
        if note:
            click.echo(f"note: {note}", err=True)
    for image, top in zip(images, ev.predict(loaded, images, top_k)):
        click.echo(image)
        for rank, (name, prob) in enumerate(top, 1):
            click.echo(f"  {rank}. {name:<20} {prob:.4f}")


def _refuse_dense(loaded: Loaded) -> None:
    from ..training import evaluate as ev
    from ..training.dense import label_shape

    positions = label_shape(ev.main_output(loaded.model))
    if positions is not None:
        raise UsageError(
            f"{loaded.path} outputs a class per position ({'x'.join(map(str, positions))}), not per image: "
            "predict ranks the classes of a classifier; use `archspec evaluate` (pixel accuracy, IoU)"
        )


def with_preprocess(loaded: Loaded, preprocess: str | None) -> Loaded:
    """The model's input scaling, replaced by --preprocess (an override always wins)."""
    if preprocess is None:
        return loaded
    if preprocess in ("rescale", "none"):
        from ..training.config import data_config

        return replace(loaded, normalize=data_config({"normalize": preprocess}).normalize)
    from ..training.data import preprocess_input

    preprocess_input(preprocess)  # an unknown name is refused here, with the names it takes
    return replace(loaded, normalize={"preprocess_input": preprocess})


def read_labels(path: str) -> tuple[str, ...]:
    try:
        text = Path(path).read_text(encoding="utf-8")
    except UnicodeDecodeError as exc:
        raise UsageError(f"{path}: not UTF-8 text ({exc.reason} at byte {exc.start})") from None
    return tuple(line.strip() for line in text.splitlines() if line.strip())


def _names_note(loaded: Loaded, labels: str | None) -> str | None:
    classes = int(loaded.model.outputs[0].shape[-1])
    names = loaded.class_names
    if len(names) >= classes:
        return None
    where = f"{labels} names {len(names)}" if labels else "no run directory names them"
    return f"the model has {classes} classes and {where}: the others are shown by index (give --labels FILE)"


@click.command()
@click.argument("model", type=click.Path(exists=True))
@click.option(
    "--layer", required=True, help="The layer whose feature maps to draw (an attention layer: its attention maps)."
)
@click.option("--image", required=True, type=click.Path(dir_okay=False), help="The input image.")
@click.option("-o", "--output", required=True, type=click.Path(dir_okay=False), help="The PNG to write.")
@click.option("-n", "--filters", type=click.IntRange(min=1), default=16, help="How many of the first filters to draw.")
def activations(model: str, layer: str, image: str, output: str, filters: int) -> None:
    """Draw a layer's activation maps (its first N filters) for one image, as a grid; for an attention
    layer (a ViT's), its attention maps: per head, over the image."""
    from ..training import evaluate as ev
    from ..training.attention import is_attention, summary_lines

    loaded = ev.open_model(model)
    if is_attention(ev.check_layer(loaded.model, layer)):
        maps = ev.attention_maps(loaded, layer, image, Path(output))
        click.echo(f"wrote {output} ({len(maps.maps)} heads of layer {layer}: {maps.description})")
        for line in summary_lines(maps):
            click.echo(line)
        return
    drawn = ev.activations(loaded, layer, image, Path(output), filters)
    click.echo(f"wrote {output} ({drawn} maps of layer {layer})")
