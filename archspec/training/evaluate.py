"""Evaluation and use of a trained model: metrics, the per-class report, confusion matrix,
top-k prediction and activation maps.

A model in a run directory brings its settings along (``run.json``: normalization, class
names, input shape); a bare ``.keras`` file is read with ``rescale`` to [0, 1] unless told
otherwise.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import keras
import numpy as np

from ..errors import UsageError, did_you_mean
from ..fileio import atomic_path


@dataclass(frozen=True)
class Loaded:
    """A model and what its run directory says about its inputs and classes."""

    model: keras.Model
    path: Path
    run_dir: Path | None
    normalize: Mapping[str, Any] | None
    class_names: tuple[str, ...]
    data: Mapping[str, Any] | None = None
    seed: int | None = None


def load_model(path: str | Path) -> keras.Model:
    """Load a ``.keras`` model safely (``safe_mode=True``), with archspec's own layers registered."""
    from ..safe_hdf5 import load_model_file

    path = Path(path)
    if not path.exists():
        raise UsageError(f"no such model file: {path}")
    if path.suffix != ".keras":
        raise UsageError(f"expected a .keras model file or a run directory; got {path}")
    return load_model_file(path)


SPEC_SUFFIXES = (".yaml", ".yml")


def open_model(target: str | Path, which: str = "best") -> Loaded:
    """A run directory (its best or last model), a ``.keras`` file, or a spec (built with its base's
    weights, read with the base's own preprocessing), with the run's settings when known."""
    import json

    target = Path(target)
    if target.suffix.lower() in SPEC_SUFFIXES:
        return _open_spec(target)
    run_dir = target if target.is_dir() else (target.parent if (target.parent / "run.json").exists() else None)
    model_path = target
    if target.is_dir():
        if not (target / "run.json").exists():
            raise UsageError(f"{target} is not a run directory (no run.json)")
        model_path = target / f"{which}.keras"
        if not model_path.exists():
            model_path = target / "last.keras"
    model = load_model(model_path)
    meta = json.loads((run_dir / "run.json").read_text(encoding="utf-8")) if run_dir else {}
    data = meta.get("data")
    names = tuple(meta.get("class_names") or ())  # unknown: predict numbers them and says so
    seed = _seed(run_dir)
    return Loaded(model, model_path, run_dir, (data or {}).get("normalize"), names, data, seed)


def _open_spec(path: Path) -> Loaded:
    """The model a spec builds (a pretrained base loads its weights file), with the preprocessing the
    base expects: ``predict base.yaml cat.jpg`` classifies as the application itself would."""
    from ..api import expand
    from ..keras_backend import build_graph
    from ..transfer.keras_build import probing
    from ..transfer.plan import plan

    if not path.is_file():
        raise UsageError(f"no such file: {path}")
    with probing():  # a base without a reference spec is measured by Keras
        graph = expand(path)
    model = build_graph(graph)
    preprocess = plan(graph).preprocess if graph.sections.get("base") else None
    normalize = {"preprocess_input": preprocess} if preprocess else None
    return Loaded(model, path, None, normalize, ())


def input_note(loaded: Loaded) -> str | None:
    """What a bare model file cannot tell: how its inputs were scaled (said, never guessed silently)."""
    if loaded.run_dir is not None or loaded.normalize is not None:
        return None
    return (
        f"{loaded.path} has no run directory: images are rescaled to [0, 1]; a pretrained base wants its own "
        "preprocessing (give --preprocess, e.g. resnet50, or predict with the spec itself)"
    )


def _seed(run_dir: Path | None) -> int | None:
    if run_dir is None:
        return None
    from ..loader import load_file

    doc = load_file(run_dir / "spec.yaml")
    return ((doc.data.get("train") or {}) if isinstance(doc.data, dict) else {}).get("seed")


def main_output(model: keras.Model) -> keras.Model:
    """The model reduced to its first output (auxiliary heads only help training)."""
    if len(model.outputs) == 1:
        return model
    return keras.Model(model.inputs, model.outputs[0], name=f"{model.name}_main")


def evaluate_dataset(model: keras.Model, dataset: Any, class_names: Sequence[str]) -> dict[str, Any]:
    """Loss, accuracy (and top-5), the per-class report and the confusion matrix over ``dataset`` (x, one-hot y);
    for a per-position output, over (x, masks): see :func:`archspec.training.dense.evaluate`."""
    from sklearn.metrics import classification_report, confusion_matrix

    from . import dense

    model = main_output(model)
    if dense.label_shape(model) is not None:  # one class per position (x, integer masks): IoU and pixel accuracy
        return dense.evaluate(model, dataset, class_names)
    classes = int(model.outputs[0].shape[-1])
    probs = np.asarray(model.predict(dataset.map(lambda x, y: x), verbose=0), dtype=np.float32)
    onehot = np.concatenate([np.asarray(y) for _, y in dataset])
    truth, pred = onehot.argmax(-1), probs.argmax(-1)
    loss = float(keras.ops.convert_to_numpy(keras.losses.categorical_crossentropy(onehot, probs)).mean())
    metrics = {"loss": loss, "accuracy": float(np.mean(truth == pred))}
    if classes > 5:
        top5 = np.argsort(-probs, axis=-1)[:, :5]
        metrics["top5"] = float(np.mean([t in row for t, row in zip(truth, top5)]))
    labels = list(range(classes))
    names = [str(n) for n in class_names] + [str(i) for i in range(len(class_names), classes)]
    report = classification_report(truth, pred, labels=labels, target_names=names, digits=4, zero_division=0)
    matrix = confusion_matrix(truth, pred, labels=labels)
    return {
        "count": len(truth),
        "metrics": metrics,
        "report": report,
        "confusion_matrix": matrix.tolist(),
        "class_names": names,
    }


def confusion_text(matrix: Sequence[Sequence[int]], names: Sequence[str]) -> str:
    """The confusion matrix as a table: rows are true classes, columns predicted."""
    width = max(5, *(len(str(n)) for n in names), *(len(str(v)) for row in matrix for v in row)) + 1
    first = max(len("true\\pred"), *(len(str(n)) for n in names)) + 1
    head = "true\\pred".ljust(first) + "".join(str(n).rjust(width) for n in names)
    rows = [str(n).ljust(first) + "".join(str(v).rjust(width) for v in row) for n, row in zip(names, matrix)]
    return "\n".join([head, *rows])


def plot_confusion(matrix: Sequence[Sequence[int]], names: Sequence[str], target: Path) -> None:
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    m = np.asarray(matrix)
    size = max(4.0, 0.5 * len(names) + 2)
    fig, ax = plt.subplots(figsize=(size, size))
    ax.imshow(m, cmap="Blues")
    ax.set_xticks(range(len(names)), labels=names, rotation=90)
    ax.set_yticks(range(len(names)), labels=names)
    ax.set_xlabel("predicted")
    ax.set_ylabel("true")
    for i in range(m.shape[0]):
        for j in range(m.shape[1]):
            ax.text(
                j,
                i,
                str(m[i, j]),
                ha="center",
                va="center",
                color="white" if m[i, j] > m.max() / 2 else "black",
                fontsize=8,
            )
    ax.set_title("confusion matrix")
    fig.tight_layout()
    with atomic_path(target, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)


def read_image(path: str | Path, input_shape: Sequence[int]) -> np.ndarray:
    """An image file as a float array of the model's input size and channels (raw 0..255 values)."""
    if not Path(path).exists():
        raise UsageError(f"no such image: {path}")
    mode = {1: "grayscale", 3: "rgb", 4: "rgba"}.get(int(input_shape[-1]))
    if len(input_shape) != 3 or mode is None:
        raise UsageError(f"images need a model input of (height, width, 1|3|4); this model takes {tuple(input_shape)}")
    try:
        image = keras.utils.load_img(path, color_mode=mode, target_size=tuple(input_shape[:2]))
    except Exception as exc:  # PIL raises many types for an unreadable file
        raise UsageError(f"cannot read image {path}: {exc}") from exc
    return keras.utils.img_to_array(image).astype(np.float32)


def read_for(loaded: Loaded, path: str | Path, shape: Sequence[int]) -> np.ndarray:
    """An image as the run read its evaluation images: at data.image_size and centre-cropped when it
    trained with augment.random_crop, else at the model's input size."""
    data = loaded.data or {}
    if not data.get("center_crop") or not data.get("image_size"):
        return read_image(path, shape)
    big = read_image(path, (*data["image_size"], shape[-1]))
    top, left = (big.shape[0] - shape[0]) // 2, (big.shape[1] - shape[1]) // 2  # as tf.image's centre crop
    return big[top : top + shape[0], left : left + shape[1]]


def prepare(images: np.ndarray, loaded: Loaded) -> np.ndarray:
    from .data import normalizer

    return np.asarray(normalizer(dict(loaded.normalize) if loaded.normalize else None, False)(images), dtype=np.float32)


def predict(loaded: Loaded, images: Sequence[str | Path], top_k: int = 5) -> list[list[tuple[str, float]]]:
    """For each image, its ``top_k`` classes with probabilities, most likely first (classes without a
    name are numbered)."""
    model = main_output(loaded.model)
    shape = tuple(model.inputs[0].shape[1:])
    batch = prepare(np.stack([read_for(loaded, p, shape) for p in images]), loaded)
    probs = np.asarray(model(batch, training=False), dtype=np.float64)
    names = list(loaded.class_names) + [str(i) for i in range(len(loaded.class_names), probs.shape[-1])]
    out = []
    for row in probs:
        order = np.argsort(-row)[:top_k]
        out.append([(names[i], float(row[i])) for i in order])
    return out


def check_layer(model: keras.Model, layer: str) -> keras.layers.Layer:
    names = [lyr.name for lyr in model.layers]
    if layer not in names:
        raise UsageError(
            f"the model has no layer {layer!r}.{did_you_mean(layer, names) or ' Layers: ' + ', '.join(names[:20])}"
        )
    return model.get_layer(layer)


def attention_maps(loaded: Loaded, layer: str, image: str | Path, target: Path) -> Any:
    """Draw an attention layer's maps for ``image`` (per head, over the image) into ``target``;
    return the :class:`archspec.training.attention.AttentionMaps`."""
    from . import attention

    check_layer(loaded.model, layer)
    raw = read_for(loaded, image, tuple(loaded.model.inputs[0].shape[1:]))
    result = attention.maps_for(loaded.model, layer, prepare(raw[None], loaded))
    attention.draw(result, raw, target)
    return result


def activations(loaded: Loaded, layer: str, image: str | Path, target: Path, count: int = 16) -> int:
    """Plot the first ``count`` feature maps of ``layer`` for ``image`` as a grid; return how many were drawn."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    model = loaded.model
    check_layer(model, layer)
    output = model.get_layer(layer).output
    if isinstance(output, list | tuple) or len(output.shape) != 4:
        raise UsageError(f"layer {layer!r} outputs shape {tuple(output.shape)}; activation maps need (H, W, channels)")
    probe = keras.Model(model.inputs[0], output)
    shape = tuple(model.inputs[0].shape[1:])
    maps = np.asarray(probe(prepare(read_for(loaded, image, shape)[None], loaded), training=False))[0]
    n = min(count, maps.shape[-1])
    cols = math.ceil(math.sqrt(n))
    rows = math.ceil(n / cols)
    fig, axes = plt.subplots(rows, cols, figsize=(1.6 * cols, 1.6 * rows + 0.4), squeeze=False)
    for i, ax in enumerate(axes.flat):
        ax.axis("off")
        if i < n:
            ax.imshow(maps[..., i], cmap="viridis")
            ax.set_title(str(i), fontsize=7)
    fig.suptitle(f"{layer}: first {n} of {maps.shape[-1]} filters", fontsize=9)
    fig.tight_layout()
    with atomic_path(target, suffix=Path(target).suffix or ".png") as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
    return n
