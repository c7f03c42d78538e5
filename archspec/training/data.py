"""Input pipelines: image folders, HDF5, NumPy .npz and CSV files as tf.data datasets.

Every source becomes unbatched ``(image, integer label)`` pairs split into train /
validation / test (by fraction, reproducibly from a seed, or by separate paths); then
:func:`pipeline` caches, shuffles, batches (the global batch), augments (training only),
normalizes, one-hot encodes and prefetches.

Data larger than :func:`stream_bytes` (1 GiB as float32 by default; ``ARCHSPEC_STREAM_BYTES``)
is streamed with flat memory: an HDF5 file is read in blocks of rows (:class:`Hdf5Stream`;
only the labels are held in memory), shuffled by block order and within a window of blocks,
and neither it nor a large image folder is cached in memory. The pipelines are ``tf.data``
and feed Keras under both backends (TensorFlow and JAX).
"""

from __future__ import annotations

import csv
import math
import os
import zipfile
import zlib
from collections.abc import Callable, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

import numpy as np
import tensorflow as tf

from ..errors import UsageError, did_you_mean
from ..transfer.preprocess import preprocess_input
from .config import DataConfig
from .labels import check_labels, check_masks

_HDF5 = (".h5", ".hdf5")
_SPLIT_SEED = 1337  # splits must be reproducible (evaluate recovers the test split) even without train.seed
_ZIP_MAGIC = (b"PK\x03\x04", b"PK\x05\x06")  # a zip with members, an empty zip
_STREAM_BYTES = 1 << 30
_BLOCK_BYTES = 4 << 20  # one read of a streamed HDF5 dataset
_WINDOW_BLOCKS = 4  # blocks shuffled together: what a streamed epoch holds in memory at once
_SHUFFLE_BYTES = 64 << 20  # the most a streamed pipeline's shuffle buffer may hold


def stream_bytes() -> int:
    """Data whose float32 images take more bytes than this is streamed, not held or cached in memory."""
    text = os.environ.get("ARCHSPEC_STREAM_BYTES", "")
    if text and not text.isdigit():
        raise UsageError(f"ARCHSPEC_STREAM_BYTES must be a number of bytes; got {text!r}")
    return int(text) if text else _STREAM_BYTES


@dataclass(frozen=True)
class Hdf5Stream:
    """An HDF5 dataset read in blocks of rows, each epoch anew: memory stays flat for any file size."""

    path: str
    key: str
    rows: int
    file_shape: tuple[int, ...]  # one row as stored
    shape: tuple[int, ...]  # one row as the model reads it (flat rows reshaped)
    dtype: str

    @property
    def block(self) -> int:
        return max(1, _BLOCK_BYTES // max(1, math.prod(self.file_shape) * np.dtype(self.dtype).itemsize))

    def dataset(self, labels: np.ndarray, keep: np.ndarray | None, seed: int | None, shuffle: bool) -> tf.data.Dataset:
        """(image, label) of the rows ``keep`` selects (all without it); with ``shuffle``, in a new order
        every epoch: blocks in a random order, rows shuffled within a window of blocks."""
        epochs = [0]

        def blocks() -> Any:
            rng = np.random.default_rng(None if seed is None else [seed, epochs[0]])
            epochs[0] += 1
            yield from self._blocks(labels, keep, rng if shuffle else None)

        spec = (tf.TensorSpec((None, *self.shape), tf.as_dtype(np.dtype(self.dtype))), tf.TensorSpec((None,), tf.int64))
        ds = tf.data.Dataset.from_generator(blocks, output_signature=spec).unbatch()
        count = len(labels) if keep is None else int(np.sum(keep))
        return ds.apply(tf.data.experimental.assert_cardinality(count))

    def _blocks(self, labels: np.ndarray, keep: np.ndarray | None, rng: np.random.Generator | None) -> Any:
        from ..safe_hdf5 import dataset, open_hdf5, read_rows

        starts = np.arange(0, self.rows, self.block)
        if rng is not None:
            starts = rng.permutation(starts)
        with open_hdf5(self.path) as fh:
            data = dataset(fh, self.key, self.path)
            for w in range(0, len(starts), _WINDOW_BLOCKS):
                spans = [(int(a), min(int(a) + self.block, self.rows)) for a in starts[w : w + _WINDOW_BLOCKS]]
                x = np.concatenate([read_rows(data, a, b, self.path) for a, b in spans])
                rows = np.concatenate([np.arange(a, b) for a, b in spans])
                pick = np.arange(len(rows)) if keep is None else np.flatnonzero(keep[rows])
                if rng is not None:
                    pick = rng.permutation(pick)
                yield x[pick].reshape((len(pick), *self.shape)), labels[rows[pick]].astype(np.int64)  # one copy


@dataclass(frozen=True)
class Source:
    """One loaded data source: in-memory arrays, or a streaming dataset of (image, label)."""

    count: int
    class_names: tuple[str, ...]
    images: np.ndarray | None = None
    labels: np.ndarray | None = None
    dataset: tf.data.Dataset | None = None
    features: bool = False  # the feature layout of `archspec extract` (no pixel normalization)
    names_given: bool = True  # the file or folder names its classes (False: numbered from the labels)
    notes: tuple[str, ...] = ()  # what was done to the data that the user did not write (a resize)
    stream: Hdf5Stream | None = None  # images read from the file in blocks (labels in memory)


@dataclass(frozen=True)
class Splits:
    """Unbatched (image, label) datasets of each split, their sizes and the class names."""

    train: tf.data.Dataset
    validation: tf.data.Dataset | None
    test: tf.data.Dataset | None
    counts: dict[str, int]
    class_names: tuple[str, ...]
    train_labels: np.ndarray | None
    features: bool = False
    names_given: bool = True
    notes: tuple[str, ...] = ()
    streamed: bool = False  # too large to hold in memory: not cached, a bounded shuffle buffer


def detect_format(path: str, declared: str | None = None) -> str:
    if declared:
        return declared
    p = Path(path)
    if p.is_dir():
        return "folder"
    suffix = p.suffix.lower()
    if suffix in _HDF5:
        return "hdf5"
    if suffix in (".npz", ".csv"):
        return suffix[1:]
    raise UsageError(
        f"cannot tell the format of {path!r}: expected a folder with one subfolder per class, "
        f".h5/.hdf5, .npz or .csv (or set train.data.format)"
    )


def load_source(
    path: str,
    cfg: DataConfig,
    input_shape: Sequence[int],
    class_names: Sequence[str] = (),
    classes: int | None = None,
    label_shape: tuple[int, ...] | None = None,
) -> Source:
    """Load one data source for a model whose input is ``input_shape`` (H, W, C) and that has
    ``classes`` outputs (when known: every label is checked against it before anything is
    allocated from the labels). ``label_shape`` (H, W) means per-pixel labels: masks of that shape."""
    if not Path(path).exists():
        raise UsageError(f"no such data file or folder: {path}")
    fmt = detect_format(path, cfg.format)
    if label_shape and fmt in ("folder", "csv"):
        raise UsageError(
            f"{path}: the model outputs one class per position ({'x'.join(map(str, label_shape))}), and a {fmt} "
            "has one label per image; give images and masks in an .npz or .h5 file (docs/training.md)"
        )
    if fmt == "hdf5" and label_shape is None:  # masks (per-pixel labels) are read whole, as before streaming
        streamed = _hdf5_stream(path, cfg, tuple(input_shape), tuple(class_names), classes)
        if streamed is not None:
            return streamed
    loader = {"folder": _folder, "hdf5": _hdf5, "npz": _npz, "csv": _csv}[fmt]
    images, labels, names, features = loader(path, cfg, tuple(input_shape), tuple(class_names))
    if labels is None:
        return images  # type: ignore[no-any-return]  # a folder: a streaming Source already
    source = _arrays(images, labels, names, path, features, classes, label_shape)
    fitted, notes = _fit_shape(source.images, tuple(input_shape), path)  # type: ignore[arg-type]
    return replace(source, images=fitted, notes=notes)


_Loaded = tuple[Any, Any, list[str], bool]  # images (or a folder's Source), labels, names, features


def _folder(path: str, cfg: DataConfig, shape: tuple[int, ...], class_names: tuple[str, ...]) -> _Loaded:
    import keras

    if len(shape) != 3 or shape[-1] not in (1, 3, 4):
        raise UsageError(f"image folders need a model input of (height, width, 1|3|4); the spec's input is {shape}")
    from ..transfer.extract import class_folders, image_files

    names, skipped = class_folders(Path(path), _KERAS_IMAGES)
    files = [f for name in names for f in image_files(Path(path) / name, _KERAS_IMAGES)]  # dangling links refused
    # TensorFlow decodes a GIF to 3 channels only: read such folders as RGB and convert below.
    gif = shape[-1] != 3 and any(f.suffix.lower() == ".gif" for f in files)
    mode = "rgb" if gif else {1: "grayscale", 3: "rgb", 4: "rgba"}[shape[-1]]
    size = cfg.image_size or shape[:2]
    try:
        ds = keras.utils.image_dataset_from_directory(
            path,
            labels="inferred",
            label_mode="int",
            class_names=list(class_names or names) or None,
            color_mode=mode,
            batch_size=None,
            image_size=tuple(size),
            shuffle=False,  # the split below is seeded; keras would reshuffle a subset every epoch
            verbose=False,
        )
    except ValueError as exc:
        raise UsageError(f"cannot read the image folder {path}: {exc}") from exc
    count = len(ds.file_paths)
    if count == 0:
        raise UsageError(f"no images in {path} (expected one subfolder per class holding .png/.jpg/.bmp/.gif files)")
    found = tuple(ds.class_names)  # a mapped dataset loses the attribute
    notes = tuple(f"{Path(path) / name}: holds no images, so it is not a class" for name in skipped)
    if gif:
        ds = ds.map(_from_rgb(shape[-1]), num_parallel_calls=tf.data.AUTOTUNE)
    return Source(count, found, dataset=ds, notes=notes), None, list(found), False


_KERAS_IMAGES = (".bmp", ".gif", ".jpeg", ".jpg", ".png")  # what image_dataset_from_directory reads


def _from_rgb(channels: int) -> Callable[[tf.Tensor, tf.Tensor], tuple[tf.Tensor, tf.Tensor]]:
    """RGB images to the model's grey (ITU-R 601 luma, as PIL's "L") or RGBA (opaque) channels."""

    def convert(x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        if channels == 1:
            return tf.image.rgb_to_grayscale(x), y
        return tf.concat([x, tf.fill(tf.concat([tf.shape(x)[:-1], [1]], 0), 255.0)], -1), y

    return convert


def _hdf5(path: str, cfg: DataConfig, shape: tuple[int, ...], class_names: tuple[str, ...]) -> _Loaded:
    from ..safe_hdf5 import decode_names, open_hdf5, read_array

    with open_hdf5(path) as fh:  # refuses external links, virtual datasets, declared-size bombs
        keys = list(fh.keys())
        features = "features" in fh and cfg.images_key is None
        x_key = cfg.images_key or ("features" if features else "images")
        y_key = cfg.labels_key or _labels_key(fh)
        for key in (x_key, y_key):
            if key not in fh:
                raise UsageError(
                    f"{path} has no dataset {key!r} (it has {', '.join(keys)}); expected images/labels, "
                    f"or features/labels/label_names.{did_you_mean(key, keys)}"
                )
        images, labels = read_array(fh, x_key, path), read_array(fh, y_key, path)
        names = decode_names(read_array(fh, "label_names", path), path) if "label_names" in fh else []
    return images, labels, names or list(class_names), features


def _hdf5_stream(
    path: str, cfg: DataConfig, shape: tuple[int, ...], class_names: tuple[str, ...], classes: int | None
) -> Source | None:
    """An HDF5 source whose images are too large for memory, streamed (None: small enough to read)."""
    from ..safe_hdf5 import dataset, decode_names, open_hdf5, read_array

    with open_hdf5(path) as fh:
        x_key = cfg.images_key or ("features" if "features" in fh else "images")
        if x_key not in fh or (cfg.labels_key or "labels") not in fh:
            return None  # the in-memory loader says what is missing
        data = dataset(fh, x_key, path)
        if len(data) * math.prod(data.shape[1:]) * 4 <= stream_bytes():
            return None
        if data.dtype.kind not in "biuf":
            raise UsageError(f"{path}: the images must be an array of numbers; got {data.dtype} values")
        labels = read_array(fh, cfg.labels_key or "labels", path)
        names = decode_names(read_array(fh, "label_names", path), path) if "label_names" in fh else list(class_names)
        stream = Hdf5Stream(path, x_key, len(data), tuple(data.shape[1:]), tuple(data.shape[1:]), data.dtype.str)
    labels = check_labels(np.asarray(labels), path, classes, len(names))
    if len(labels) != stream.rows:
        raise UsageError(f"{path}: {stream.rows} images but {len(labels)} labels")
    fitted, notes = _fit_shape(np.empty((0, *stream.file_shape), stream.dtype), shape, path)
    count = classes if classes is not None else int(labels.max()) + 1
    given = bool(names)
    names = list(names) if names else [str(i) for i in range(count)]
    size = stream.rows * math.prod(stream.file_shape) * np.dtype(stream.dtype).itemsize
    note = f"{path}: streamed from disk in blocks ({size / 2**30:.2f} GiB as stored; above ARCHSPEC_STREAM_BYTES)"
    return Source(
        stream.rows,
        tuple(names),
        labels=labels,
        features=x_key == "features",
        names_given=given,
        notes=(*notes, note),
        stream=replace(stream, shape=tuple(fitted.shape[1:])),
    )


def _npz(path: str, cfg: DataConfig, shape: tuple[int, ...], class_names: tuple[str, ...]) -> _Loaded:
    with open(path, "rb") as fh:
        if fh.read(4) not in _ZIP_MAGIC:
            raise UsageError(f"{path}: not an .npz file (an .npz is a zip archive of .npy arrays)")
    try:
        with np.load(path, allow_pickle=False) as npz:
            return _npz_arrays(npz, path, cfg, class_names)
    except ValueError as exc:
        if "allow_pickle" in str(exc) or "Object arrays" in str(exc):
            raise UsageError(
                f"{path}: holds an object array (pickled Python objects), which archspec never loads; "
                "store numbers (and label names as a string array)"
            ) from None
        raise UsageError(f"{path}: cannot read it as .npz: {exc}") from None
    except (zipfile.BadZipFile, zlib.error, EOFError, OSError, KeyError) as exc:
        raise UsageError(f"{path}: cannot read it as .npz (damaged or truncated?): {exc}") from None


def _npz_arrays(npz: Any, path: str, cfg: DataConfig, class_names: tuple[str, ...]) -> _Loaded:
    from ..safe_hdf5 import decode_names

    keys = list(npz.keys())
    x_key = cfg.images_key or next((k for k in ("images", "x", "features") if k in npz), "images")
    y_key = cfg.labels_key or _labels_key(npz)
    for key in (x_key, y_key):
        if key not in npz:
            raise UsageError(f"{path} has no array {key!r} (it has {', '.join(keys)}).{did_you_mean(key, keys)}")
    names = decode_names(np.atleast_1d(npz["label_names"]), path) if "label_names" in npz else list(class_names)
    return npz[x_key], npz[y_key], names, x_key == "features"


def _labels_key(arrays: Any) -> str:
    """labels, y, or a segmentation set's masks (per-pixel labels)."""
    return next((k for k in ("labels", "y", "masks") if k in arrays), "labels")


def _csv(path: str, cfg: DataConfig, shape: tuple[int, ...], class_names: tuple[str, ...]) -> _Loaded:
    """The Fashion-MNIST layout: a header row, a label column and one column per pixel."""
    try:
        with open(path, newline="", encoding="utf-8") as fh:
            header = next(csv.reader(fh), [])
            fh.read()  # the whole file must be UTF-8, not only its header: numbers in Latin-1 are a mistake too
    except UnicodeDecodeError as exc:
        raise UsageError(
            f"{path}: not UTF-8 text (byte {exc.object[exc.start]:#04x} at offset {exc.start}); "
            "save the CSV as UTF-8 (or ASCII)"
        ) from None
    has_header = any(not _is_number(cell) for cell in header)
    column = cfg.label_column
    if isinstance(column, str):
        if not has_header:
            raise UsageError(f"{path} has no header row, so the label column must be an index; got {column!r}")
        if column not in header:
            raise UsageError(f"{path} has no column {column!r}.{did_you_mean(column, header)}")
        column = header.index(column)
    try:
        table = np.loadtxt(
            path, delimiter=",", skiprows=1 if has_header else 0, dtype=np.float64, ndmin=2, encoding="utf-8"
        )
    except ValueError as exc:
        raise UsageError(f"cannot read {path} as numbers: {exc}") from exc
    if not -table.shape[1] <= column < table.shape[1]:
        raise UsageError(f"{path}: no label column {column}; the rows have {table.shape[1]} columns")
    labels = table[:, column]
    images = np.delete(table, column, axis=1).astype(np.float32)
    return images, labels, list(class_names), False


def _is_number(text: str) -> bool:
    try:
        float(text)
    except ValueError:
        return False
    return True


def _arrays(
    images: Any,
    labels: Any,
    names: Sequence[str],
    path: str,
    features: bool,
    classes: int | None,
    label_shape: tuple[int, ...] | None = None,
) -> Source:
    images, labels = np.asarray(images), np.asarray(labels)
    if images.ndim == 0 or images.dtype.kind not in "biuf":
        what = "a scalar" if images.ndim == 0 else f"{images.dtype} values"
        raise UsageError(f"{path}: the images must be an array of numbers with one row per example; got {what}")
    if len(images) == 0:
        raise UsageError(f"{path} holds no examples")
    if label_shape:
        labels = check_masks(labels, path, classes, label_shape, len(names))
    else:
        labels = check_labels(labels, path, classes, len(names))
    if len(images) != len(labels):
        raise UsageError(f"{path}: {len(images)} images but {len(labels)} labels")
    given = bool(names)
    count = classes if classes is not None else int(labels.max()) + 1  # bounded: checked above
    names = tuple(names) if names else tuple(str(i) for i in range(count))
    return Source(len(labels), names, images=images, labels=labels, features=features, names_given=given)


def _fit_shape(images: np.ndarray, shape: tuple[int, ...], path: str) -> tuple[np.ndarray, tuple[str, ...]]:
    """Reshape flat rows (CSV, features) to the input; images of another size are resized later,
    and a note says so (naming both sizes)."""
    if images.shape[1:] == shape:
        return images, ()
    if math.prod(images.shape[1:]) == math.prod(shape):
        return images.reshape((len(images), *shape)), ()
    if len(shape) == 3 and images.ndim == 3 and shape[-1] == 1:
        images = images[..., None]  # (N, H, W) grey images
    if len(shape) == 3 and images.ndim == 4 and images.shape[-1] == shape[-1]:
        if images.shape[1:3] == shape[:2]:
            return images, ()
        have, want = "x".join(map(str, images.shape[1:3])), "x".join(map(str, shape[:2]))
        return images, (f"{path}: resizing its {have} images to the model input {want} (bilinear)",)
    raise UsageError(
        f"{path}: examples of shape {tuple(images.shape[1:])} do not fit the model input {shape} "
        f"({math.prod(images.shape[1:])} values each, the input needs {math.prod(shape)})"
    )


def load_splits(
    cfg: DataConfig,
    input_shape: Sequence[int],
    seed: int | None = None,
    classes: int | None = None,
    label_shape: tuple[int, ...] | None = None,
) -> Splits:
    """Load the training data and cut it into train / validation / test as ``cfg`` says; every
    split's labels are checked against the model's ``classes`` outputs (when given), as masks of
    ``label_shape`` for a model with per-pixel outputs."""
    if not cfg.path:
        raise UsageError("no training data: give --data PATH or train.data.path in the spec")
    source = load_source(cfg.path, cfg, input_shape, classes=classes, label_shape=label_shape)
    fractions = {k: v for k, v in (("validation", cfg.validation), ("test", cfg.test)) if isinstance(v, float | int)}
    assign = split_assignment(source.count, fractions, _SPLIT_SEED if seed is None else seed)
    parts: dict[str, tf.data.Dataset | None] = {}
    counts: dict[str, int] = {}
    notes = list(source.notes)
    for index, split in enumerate(("train", "validation", "test")):
        extra = getattr(cfg, split, None) if split != "train" else None
        if isinstance(extra, str):
            named = source.class_names if source.names_given else ()  # numbered names are not a bound
            other = load_source(extra, cfg, input_shape, named, classes, label_shape)
            _check_classes(source.class_names, other.class_names, extra)
            notes += other.notes
            parts[split], counts[split] = as_dataset(other, None, 0), other.count
        elif split == "train" or split in fractions:
            ds = as_dataset(source, assign, index, shuffle=split == "train", seed=seed)
            parts[split], counts[split] = ds, int(np.sum(assign == index))
        else:
            parts[split] = None
    train_labels = source.labels[assign == 0] if source.labels is not None else None
    return Splits(
        parts["train"],  # type: ignore[arg-type]
        parts["validation"],
        parts["test"],
        counts,
        source.class_names,
        train_labels,
        source.features,
        source.names_given,
        tuple(notes),
        _too_large(source, input_shape),
    )


def _too_large(source: Source, input_shape: Sequence[int]) -> bool:
    """Whether a source's float32 images exceed what may be held in memory (then they are streamed)."""
    return source.images is None and source.count * math.prod(input_shape) * 4 > stream_bytes()


def streaming_notes(
    splits: Splits, cache: bool, shuffle_buffer: int, input_shape: Sequence[int]
) -> tuple[bool, int, tuple[str, ...]]:
    """For streamed data: no in-memory cache, and a shuffle buffer of at most _SHUFFLE_BYTES (said in notes)."""
    if not splits.streamed:
        return cache, shuffle_buffer, ()
    bound = max(1, _SHUFFLE_BYTES // (math.prod(input_shape) * 4))
    notes = ("the data is larger than ARCHSPEC_STREAM_BYTES: streamed each epoch, not cached in memory",)
    if shuffle_buffer > bound:
        notes += (f"shuffle_buffer {shuffle_buffer} lowered to {bound} ({_SHUFFLE_BYTES >> 20} MiB of images)",)
    return False, min(shuffle_buffer, bound), notes


def split_assignment(count: int, fractions: dict[str, float], seed: int) -> np.ndarray:
    """For each example, 0 (train), 1 (validation) or 2 (test): a seeded permutation cut by the fractions."""
    assign = np.zeros(count, dtype=np.int64)
    order = np.random.default_rng(seed).permutation(count)
    start = 0
    for code, split in ((1, "validation"), (2, "test")):
        n = round(count * fractions.get(split, 0))
        assign[order[start : start + n]] = code
        start += n
    return assign


def _check_classes(train: tuple[str, ...], other: tuple[str, ...], path: str) -> None:
    if len(other) > len(train):
        raise UsageError(f"{path} has {len(other)} classes but the training data has {len(train)}")


def as_dataset(
    source: Source, assign: np.ndarray | None = None, code: int = 0, shuffle: bool = False, seed: int | None = None
) -> tf.data.Dataset:
    """The (image, label) pairs of ``source`` whose split code is ``code`` (all of them without ``assign``).

    A streamed HDF5 source is read in a new block order every epoch (from ``seed``) with ``shuffle``
    (the training split): its pipeline's shuffle buffer is bounded, so the blocks must mix too."""
    if source.stream is not None:
        keep = None if assign is None else assign == code
        return source.stream.dataset(source.labels, keep, seed, shuffle)  # type: ignore[arg-type]
    if source.images is not None:
        keep = slice(None) if assign is None else assign == code
        return tf.data.Dataset.from_tensor_slices((source.images[keep], source.labels[keep]))  # type: ignore[index]
    ds = source.dataset
    if assign is None:
        return ds
    table = tf.constant(assign)

    # Named functions, not lambdas: AutoGraph cannot read the source of two lambdas on one line
    # and warned "could not transform <lambda>" twice per split.
    def in_split(i: tf.Tensor, xy: Any) -> tf.Tensor:
        return tf.gather(table, i) == code

    def without_index(i: tf.Tensor, xy: Any) -> Any:
        return xy

    kept = ds.enumerate().filter(in_split).map(without_index)
    # A filter hides the size; Keras needs it for progress bars and to know where an epoch ends.
    return kept.apply(tf.data.experimental.assert_cardinality(int(np.sum(assign == code))))


def _random_crop(x: tf.Tensor, size: Any, gen: tf.random.Generator) -> tf.Tensor:
    """tf.image.random_crop to ``size``, its offsets drawn from ``gen`` (seeded by train.seed)."""
    seed = gen.make_seeds(1)[:, 0]
    return tf.image.stateless_random_crop(x, (*size, tf.shape(x)[-1]), seed=seed)


def normalizer(normalize: dict[str, Any] | None, features: bool) -> Callable[[tf.Tensor], tf.Tensor]:
    """The normalization as a function on float batches: rescale/offset or an application's preprocess_input."""
    if normalize is None:
        normalize = {"rescale": 1.0, "offset": 0.0} if features else {"rescale": 1 / 255, "offset": 0.0}
    if "preprocess_input" in normalize:
        return preprocess_input(normalize["preprocess_input"])
    scale, offset = float(normalize["rescale"]), float(normalize["offset"])
    mean = tf.constant(normalize["mean"], tf.float32) if normalize.get("featurewise_center") else 0.0
    # ImageDataGenerator.standardize: x * rescale, - mean, / (std + 1e-6), with the statistics fit() found
    std = tf.constant(normalize["std"], tf.float32) + 1e-6 if normalize.get("featurewise_std_normalization") else 1.0
    return lambda x: (x * scale + offset - mean) / std


def featurewise_statistics(
    ds: tf.data.Dataset, input_shape: Sequence[int], normalize: dict[str, Any]
) -> dict[str, Any]:
    """``normalize`` with the per-channel mean and std of a split (after rescale, as ImageDataGenerator.fit
    computes them), in one streaming pass of float64 sums: memory stays flat for any data size."""
    if not (normalize.get("featurewise_center") or normalize.get("featurewise_std_normalization")):
        return normalize
    rescale = normalizer({"rescale": normalize["rescale"], "offset": normalize["offset"]}, False)
    size = tuple(input_shape[:2]) if len(input_shape) == 3 else None
    total = total_sq = None
    count = 0
    for x, _ in ds.batch(256):
        x = tf.cast(x, tf.float32)
        x = tf.image.resize(x, size) if size is not None and tuple(x.shape[1:3]) != size else x
        values = np.asarray(rescale(x), dtype=np.float64).reshape(-1, x.shape[-1])
        total = values.sum(0) + (0 if total is None else total)
        total_sq = (values**2).sum(0) + (0 if total_sq is None else total_sq)
        count += len(values)
    mean = total / count  # type: ignore[operator]
    std = np.sqrt(np.maximum(total_sq / count - mean**2, 0.0))  # type: ignore[operator]
    return {**normalize, "mean": mean.tolist(), "std": std.tolist()}


def pipeline(
    ds: tf.data.Dataset,
    *,
    batch_size: int,
    classes: int,
    input_shape: Sequence[int],
    normalize: Callable[[tf.Tensor], tf.Tensor],
    outputs: Sequence[str] = (),
    training: bool = False,
    augment: Callable[[tf.Tensor], tf.Tensor] | None = None,
    noise: Callable[[tf.Tensor], tf.Tensor] | None = None,
    cache: bool = False,  # only for several epochs: one pass gains nothing and holds the data
    shuffle_buffer: int = 10_000,
    seed: int | None = None,
    crop_from: Sequence[int] | None = None,
    drop_remainder: bool = False,
    sparse: bool = False,
) -> tf.data.Dataset:
    """Batch and prepare a split for ``model.fit``: (x, one-hot y) or (x, {output: y}) for several outputs.

    With ``crop_from`` (augment.random_crop) images are read at that size and cut to the input: at a
    random place for training (tf.image.random_crop, every epoch anew), at the centre otherwise.
    ``drop_remainder`` leaves out a last partial batch (multi-worker runs: every worker takes a
    slice of each whole batch).

    Without a cache (streamed data) and without random crops the examples are shuffled as read
    (uint8 for images: a quarter of the memory) and batched first, and the casting, resizing,
    normalizing and one-hot encoding run once per batch instead of once per example: the same
    values, in the same order, at a fraction of tf.data's per-example cost. ``sparse`` keeps the labels
    as class ids (per-pixel masks: a one-hot mask is ``classes`` times larger)."""

    def label(y: tf.Tensor) -> tf.Tensor:
        return y if sparse else tf.one_hot(y, classes)

    size = tuple(input_shape[:2]) if len(input_shape) == 3 else None
    read = tuple(crop_from) if crop_from and size is not None else size
    random_crop = read != size and training
    raw = augment is not None or random_crop  # the random steps work on raw pixels, after the cache
    batched = not cache and read == size

    def to_float(x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        x = tf.cast(x, tf.float32)
        if read is not None and tuple(x.shape[1:3] if batched else x.shape[:2]) != read:
            x = tf.image.resize(x, read)
        if read != size and not training:
            x = tf.image.resize_with_crop_or_pad(x, *size)  # type: ignore[misc]  # the centre
        return x, y

    def encode(x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, tf.Tensor]:
        return normalize(x), label(y)

    if batched:
        if training and shuffle_buffer:
            ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
        ds = ds.batch(batch_size, drop_remainder=drop_remainder).map(to_float, num_parallel_calls=tf.data.AUTOTUNE)
        if not raw:
            ds = ds.map(encode, num_parallel_calls=tf.data.AUTOTUNE)
        return _finish(ds, label, normalize, outputs, raw, augment, noise)
    ds = ds.map(to_float, num_parallel_calls=tf.data.AUTOTUNE)
    if not raw:  # deterministic: normalize and encode once, before the cache, not every epoch
        ds = ds.map(encode, num_parallel_calls=tf.data.AUTOTUNE)
    if cache:
        ds = ds.cache()
    if training and shuffle_buffer:
        ds = ds.shuffle(shuffle_buffer, seed=seed, reshuffle_each_iteration=True)
    if random_crop:
        crop = (
            tf.random.Generator.from_seed(seed)
            if seed is not None
            else tf.random.Generator.from_non_deterministic_state()
        )
        ds = ds.map(lambda x, y: (_random_crop(x, size, crop), y), num_parallel_calls=tf.data.AUTOTUNE)
    ds = ds.batch(batch_size, drop_remainder=drop_remainder)
    return _finish(ds, label, normalize, outputs, raw, augment, noise)


def _finish(
    ds: tf.data.Dataset,
    label: Callable[[tf.Tensor], tf.Tensor],
    normalize: Callable[[tf.Tensor], tf.Tensor],
    outputs: Sequence[str],
    raw: bool,
    augment: Callable[[tf.Tensor], tf.Tensor] | None,
    noise: Callable[[tf.Tensor], tf.Tensor] | None,
) -> tf.data.Dataset:
    """The steps on batches: augmentation of raw pixels, noise, one label per output; then prefetch."""

    def prepare(x: tf.Tensor, y: tf.Tensor) -> tuple[tf.Tensor, Any]:
        if raw:  # augmentation works on raw pixels, as ImageDataGenerator's does
            x, y = normalize(augment(x) if augment is not None else x), label(y)
        if noise is not None:
            x = noise(x)
        return x, ({name: y for name in outputs} if len(outputs) > 1 else y)

    if raw or noise is not None or len(outputs) > 1:
        ds = ds.map(prepare, num_parallel_calls=tf.data.AUTOTUNE)
    options = tf.data.Options()
    # In-memory sources cannot be sharded by file across workers; shard by data instead.
    options.experimental_distribute.auto_shard_policy = tf.data.experimental.AutoShardPolicy.DATA
    return ds.with_options(options).prefetch(tf.data.AUTOTUNE)
