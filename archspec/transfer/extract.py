"""Feature extraction: a (base) network as a fixed feature extractor, written to HDF5.

The file has the notes' layout: ``features`` (N x D float32), ``labels`` (N int64),
``label_names`` (strings), and attributes recording the spec, its SHA-256, the tapped
layer(s), the preprocessing, the input shape and the image count. Images are read in
batches and features written through a buffer of ``buffer_size`` rows, so memory stays
flat for any N. The run writes ``OUTPUT.partial`` and a progress marker
``OUTPUT.progress.json`` next to the target; the target appears (by an atomic rename) only
when complete. A run that was interrupted resumes after the last buffer it wrote, provided
the spec, model weights, layers, preprocessing and image list are the same.
"""

from __future__ import annotations

import hashlib
import json
import os
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import numpy as np

from ..errors import UsageError
from ..fileio import OutputLock, atomic_path, atomic_write_text, check_regular_output
from ..ir import Graph
from .info import transfer_info

ATTR_LIMIT = 32_000  # bytes of text kept as an HDF5 attribute
DEFAULT_SEED = 42  # rows are shuffled before writing, as the notes do; the seed is recorded
IMAGE_SUFFIXES = (".png", ".jpg", ".jpeg", ".bmp", ".gif", ".webp")


def image_files(folder: Path, suffixes: Sequence[str] = IMAGE_SUFFIXES) -> list[Path]:
    """The image files of one class folder, sorted; a dangling link or a folder named like an image is refused."""
    files = sorted(p for p in folder.iterdir() if p.suffix.lower() in suffixes)
    for path in files:
        if path.is_symlink() and not path.exists():
            raise UsageError(f"{path}: a dangling symbolic link (its target {os.readlink(path)!r} does not exist)")
        if not path.is_file():
            raise UsageError(f"{path}: not a regular file, though its name says it is an image")
    return files


def class_folders(root: Path, suffixes: Sequence[str] = IMAGE_SUFFIXES) -> tuple[list[str], list[str]]:
    """The class subfolders of ``root`` (sorted) and the skipped ones: a subfolder that holds no image
    is not a class (the notes write their feature files into ``animals/hdf5/``: it must not become one)."""
    names, skipped = [], []
    for sub in sorted(p for p in root.iterdir() if p.is_dir() and not p.name.startswith(".")):
        try:
            sub.name.encode("utf-8")  # a class name is written as text (label_names, run.json)
        except UnicodeEncodeError:
            raise UsageError(f"{sub}: a class folder whose name is not UTF-8 text; rename it") from None
        (names if any(p.suffix.lower() in suffixes for p in sub.iterdir()) else skipped).append(sub.name)
    return names, skipped


@dataclass(frozen=True)
class ImageFolder:
    """An image-folder dataset: one subfolder per class, in sorted order."""

    paths: tuple[Path, ...]
    labels: tuple[int, ...]
    label_names: tuple[str, ...]
    skipped: tuple[str, ...] = ()  # subfolders without images (e.g. archspec's own outputs), not classes

    @classmethod
    def scan(cls, root: str | os.PathLike[str]) -> ImageFolder:
        root = Path(root)
        if not root.is_dir():
            raise UsageError(f"--data: no such folder: {root}")
        names, skipped = class_folders(root)
        paths: list[Path] = []
        labels: list[int] = []
        for k, name in enumerate(names):
            files = image_files(root / name)
            paths += files
            labels += [k] * len(files)
        if not paths:
            raise UsageError(f"--data: {root} has no images in class subfolders (one subfolder per class)")
        return cls(tuple(paths), tuple(labels), tuple(names), tuple(skipped))

    def shuffled(self, seed: int) -> ImageFolder:
        """The images in a seeded random order (the notes shuffle before writing, so that a later split by
        index is fair); the seed is recorded in the output file."""
        order = np.random.default_rng(seed).permutation(len(self.paths))
        return ImageFolder(
            tuple(self.paths[i] for i in order), tuple(self.labels[i] for i in order), self.label_names, self.skipped
        )

    def fingerprint(self) -> str:
        h = hashlib.sha256()
        for path, label in zip(self.paths, self.labels):
            h.update(f"{path.name}\0{label}\0{path.stat().st_size}\n".encode())
        return h.hexdigest()


@dataclass(frozen=True)
class ExtractResult:
    path: Path
    count: int
    dim: int
    layers: tuple[str, ...]
    resumed_at: int  # rows already written by an interrupted run (0 for a fresh run)
    skipped: tuple[str, ...] = ()  # subfolders of the data that hold no images: not classes


def load_images(paths: Sequence[Path], shape: Sequence[int]) -> np.ndarray:
    """Read, convert (RGB or grayscale) and resize images into a float32 batch of 0..255 values."""

    height, width, channels = shape
    mode = "L" if channels == 1 else "RGB"
    out = np.empty((len(paths), height, width, channels), dtype=np.float32)
    for i, path in enumerate(paths):
        out[i] = _read_image(path, mode, (width, height)).reshape(height, width, channels)
    return out


def _read_image(path: Path, mode: str, size: tuple[int, int]) -> np.ndarray:
    """One image, converted and resized; an unreadable file or a decompression bomb (more pixels
    than PIL's ``MAX_IMAGE_PIXELS``, about 89 million) is a usage error naming the file."""
    import warnings

    from PIL import Image

    try:
        with warnings.catch_warnings():
            warnings.simplefilter("error", Image.DecompressionBombWarning)
            with Image.open(path) as img:
                return np.asarray(img.convert(mode).resize(size, Image.BILINEAR), dtype=np.float32)
    except (Image.DecompressionBombError, Image.DecompressionBombWarning) as exc:
        raise UsageError(f"{path}: refused as a possible decompression bomb: {exc}") from None
    except (OSError, ValueError, SyntaxError, EOFError) as exc:  # PIL's errors for a damaged or foreign file
        raise UsageError(f"cannot read image {path}: {exc}") from None


def default_layers(graph: Graph) -> tuple[str, ...]:
    """The base's output if the spec has a base, else the spec's outputs."""
    info = transfer_info(graph)
    if info is not None and info.base is not None:
        return (info.base.output,)
    return tuple(graph.outputs)


def weights_digest(model: Any) -> str:
    h = hashlib.sha256()
    for w in model.weights:
        h.update(np.ascontiguousarray(np.asarray(w)).tobytes())
    return h.hexdigest()


def spec_text(graph: Graph) -> str:
    path = Path(graph.file)
    if path.is_file():
        return path.read_text(encoding="utf-8")
    from ..emit_yaml import dump

    return dump(graph)


def extract(
    graph: Graph,
    data: str | os.PathLike[str],
    output: str | os.PathLike[str],
    *,
    layers: Sequence[str] | None = None,
    batch_size: int = 32,
    buffer_size: int = 1000,
    progress: bool = True,
    on_flush: Callable[[int], None] | None = None,
    model: Any = None,
    seed: int | None = DEFAULT_SEED,
) -> ExtractResult:
    """Extract features of every image under ``data`` into the HDF5 file ``output``.

    ``layers`` are the tapped layers (default :func:`default_layers`); each is flattened and
    they are concatenated. ``on_flush(rows_done)`` is called after every buffer written.
    ``model`` is the built Keras model of ``graph`` (built here when not given). Rows are written
    in a random order drawn from ``seed`` (recorded as the ``shuffle_seed`` attribute; None keeps
    the folders' order).
    """
    import keras

    from ..keras_backend import build_graph
    from .plan import plan
    from .preprocess import preprocess_function

    output = Path(output)
    check_regular_output(output)  # the partial file and its marker live beside it: not beside /dev/null
    folder = ImageFolder.scan(data)
    if seed is not None:
        folder = folder.shuffled(seed)
    tapped = tuple(layers or default_layers(graph))
    model = model if model is not None else build_graph(graph)
    names = {layer.name for layer in model.layers}
    for name in tapped:
        if name not in names:
            from ..errors import did_you_mean

            raise UsageError(f"--layer: the model has no layer {name!r}.{did_you_mean(name, names)}")
    extractor = keras.Model(model.inputs, [_tap(model, n) for n in tapped])
    dim = sum(int(np.prod(t.shape[1:])) for t in extractor.outputs)
    the_plan = plan(graph)
    preprocess, image_shape = the_plan.preprocess, the_plan.input_shape
    text = spec_text(graph)
    meta = {
        "spec": text,
        "spec_sha256": hashlib.sha256(text.encode()).hexdigest(),
        "layers": json.dumps(list(tapped)),
        "preprocess": preprocess,
        "input_shape": json.dumps(list(image_shape)),
        "images": len(folder.paths),
        "data": str(Path(data).resolve()),
        "shuffle_seed": "none" if seed is None else seed,
    }
    fingerprint = hashlib.sha256(
        json.dumps([meta["spec_sha256"], tapped, preprocess, folder.fingerprint(), weights_digest(model)]).encode()
    ).hexdigest()
    writer = _Writer(output, fingerprint, len(folder.paths), dim, folder.label_names)
    with OutputLock(output):  # before the partial file is touched: a second extraction would truncate it
        start = writer.open()
        fn = preprocess_function(preprocess)
        try:
            _run(extractor, folder, image_shape, fn, writer, start, batch_size, buffer_size, progress, on_flush)
        except BaseException:
            writer.h5.close()  # the partial file and its marker stay for the next run to resume
            raise
        writer.finish(meta)
    return ExtractResult(output, len(folder.paths), dim, tapped, start, folder.skipped)


def _tap(model: Any, name: str) -> Any:
    """The tensor of a layer inside ``model``; an opaque base (a nested model) is called afresh
    on the model's input, because its own ``output`` belongs to its inner graph."""
    import keras

    layer = model.get_layer(name)
    if isinstance(layer, keras.Model):
        return layer(model.inputs[0], training=False)
    return layer.output


def _run(
    extractor: Any,
    folder: ImageFolder,
    shape: Sequence[int],
    fn: Callable[[Any], Any],
    writer: _Writer,
    start: int,
    batch_size: int,
    buffer_size: int,
    progress: bool,
    on_flush: Callable[[int], None] | None,
) -> None:
    from rich.progress import BarColumn, MofNCompleteColumn, Progress, TextColumn, TimeRemainingColumn

    total = len(folder.paths)
    buffer: list[np.ndarray] = []
    row = start
    columns = (TextColumn("extracting"), BarColumn(), MofNCompleteColumn(), TimeRemainingColumn())
    with Progress(*columns, disable=not progress, transient=True) as bar:
        task = bar.add_task("extract", total=total, completed=start)
        for i in range(start, total, batch_size):
            batch = fn(load_images(folder.paths[i : i + batch_size], shape))
            outs = extractor.predict_on_batch(batch)
            outs = outs if isinstance(outs, list | tuple) else [outs]
            buffer.append(np.concatenate([np.asarray(o).reshape(len(batch), -1) for o in outs], axis=1))
            bar.update(task, advance=len(batch))
            if sum(len(b) for b in buffer) >= buffer_size or i + batch_size >= total:
                rows = np.concatenate(buffer).astype(np.float32)
                writer.write(row, rows, folder.labels[row : row + len(rows)])
                row += len(rows)
                buffer = []
                if on_flush is not None:
                    on_flush(row)


class _Writer:
    """The partial HDF5 file and its progress marker, next to the target."""

    def __init__(self, target: Path, fingerprint: str, count: int, dim: int, label_names: Sequence[str]):
        self.target = target
        self.partial = target.with_name(target.name + ".partial")
        self.marker = target.with_name(target.name + ".progress.json")
        self.fingerprint = fingerprint
        self.count, self.dim, self.label_names = count, dim, list(label_names)
        self.h5: Any = None

    def open(self) -> int:
        """Open the partial file; returns the row to start from (0, or where a run stopped)."""
        import h5py

        done = self._resumable_rows()
        if done is not None:
            self.h5 = h5py.File(self.partial, "r+")
            return done
        self.target.parent.mkdir(parents=True, exist_ok=True)
        self.h5 = h5py.File(self.partial, "w")
        self.h5.create_dataset("features", (self.count, self.dim), dtype="float32", chunks=True)
        self.h5.create_dataset("labels", (self.count,), dtype="int64")
        self.h5.create_dataset("label_names", data=self.label_names, dtype=h5py.string_dtype())
        self.h5.flush()
        self._mark(0)
        return 0

    def _resumable_rows(self) -> int | None:
        import h5py

        if not (self.marker.is_file() and self.partial.is_file()):
            return None
        try:
            marker = json.loads(self.marker.read_text())
            with h5py.File(self.partial, "r") as h5:
                ok = h5["features"].shape == (self.count, self.dim)
        except (OSError, ValueError, KeyError):
            return None  # a damaged partial file: start again
        if not ok or marker.get("fingerprint") != self.fingerprint:
            return None
        return int(marker.get("rows", 0))

    def _mark(self, rows: int) -> None:
        atomic_write_text(self.marker, json.dumps({"fingerprint": self.fingerprint, "rows": rows}) + "\n")

    def write(self, row: int, features: np.ndarray, labels: Sequence[int]) -> None:
        self.h5["features"][row : row + len(features)] = features
        self.h5["labels"][row : row + len(features)] = np.asarray(labels, dtype=np.int64)
        self.h5.flush()
        self._mark(row + len(features))  # only after the rows are on disk

    def finish(self, meta: dict[str, Any]) -> None:
        import h5py

        for key, value in meta.items():
            if isinstance(value, str) and len(value.encode()) > ATTR_LIMIT:
                # HDF5 keeps attributes in the object header (64 KiB); a long spec goes in a dataset
                self.h5.create_dataset(key, data=value, dtype=h5py.string_dtype())
                value = f"(in dataset {key!r})"
            self.h5.attrs[key] = value
        self.h5.close()
        with atomic_path(self.target) as tmp:
            os.replace(self.partial, tmp)
        self.marker.unlink(missing_ok=True)
