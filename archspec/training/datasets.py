"""Data without a network: scikit-learn's bundled digits (1,797 real 8x8 images), and a synthetic
segmentation set (rectangles and discs with per-pixel masks), written as files.

``python -m archspec.training.datasets npz build/digits.npz`` (or ``folder``, ``csv``, ``hdf5``).
Pixels are scaled from the data set's 0..16 to 0..255 and stored as 8-bit values, so every
format reads like ordinary images (and ``normalize: rescale`` maps them to [0, 1]).

``python -m archspec.training.datasets npz build/shapes.npz --dataset shapes`` (or ``hdf5``)
writes ``images`` (N x 32 x 32 x 1), ``masks`` (N x 32 x 32 class ids: 0 background,
1 rectangle, 2 disc) and ``label_names``: what a segmentation net (``specs/unet_tiny.yaml``)
trains on. The same ``--seed`` writes the same arrays.
"""

from __future__ import annotations

import argparse
import csv
import io
import sys
from pathlib import Path

import numpy as np

from ..fileio import atomic_path, atomic_write_text

FORMATS = ("folder", "npz", "csv", "hdf5")
DATASETS = ("digits", "shapes")
SHAPE_NAMES = ("background", "rectangle", "disc")


def digits() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(images N x 8 x 8 x 1 uint8 in 0..255, labels N, label names '0'..'9')."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.round(bunch.images * (255 / 16)).astype(np.uint8)[..., None]
    return images, bunch.target.astype(np.int64), [str(n) for n in bunch.target_names]


def shapes(count: int = 1000, size: int = 32, seed: int = 0) -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(images N x size x size x 1 uint8, masks N x size x size uint8 class ids, SHAPE_NAMES).

    Each image holds one to three shapes, rectangles and discs alike in brightness (U(120, 255)
    plus noise) on a darker noisy background (U(0, 80) plus noise of stddev 12), so only a
    shape's outline tells the two apart; a later shape covers an earlier one, in the mask too.

    >>> images, masks, names = shapes(4, size=16)
    >>> images.shape, masks.shape, names
    ((4, 16, 16, 1), (4, 16, 16), ['background', 'rectangle', 'disc'])
    """
    rng = np.random.default_rng(seed)
    grid = np.mgrid[0:size, 0:size]
    images = np.empty((count, size, size), np.float64)
    masks = np.zeros((count, size, size), np.uint8)
    for i in range(count):
        image = rng.uniform(0, 80) + rng.normal(0, 12, (size, size))
        for _ in range(rng.integers(1, 4)):
            kind = int(rng.integers(1, 3))
            inside = _rectangle(rng, grid, size) if kind == 1 else _disc(rng, grid, size)
            image[inside] = rng.uniform(120, 255) + rng.normal(0, 12, int(inside.sum()))
            masks[i][inside] = kind
        images[i] = image
    return np.clip(np.round(images), 0, 255).astype(np.uint8)[..., None], masks, list(SHAPE_NAMES)


def _rectangle(rng: np.random.Generator, grid: np.ndarray, size: int) -> np.ndarray:
    """An axis-aligned rectangle, each side a quarter to a half of the image."""
    h, w = rng.integers(size // 4, size // 2 + 1, 2)
    top, left = rng.integers(0, size - h + 1), rng.integers(0, size - w + 1)
    rows, cols = grid
    return (rows >= top) & (rows < top + h) & (cols >= left) & (cols < left + w)  # type: ignore[no-any-return]


def _disc(rng: np.random.Generator, grid: np.ndarray, size: int) -> np.ndarray:
    """A disc of radius an eighth to a quarter of the image, wholly inside it."""
    radius = rng.uniform(size / 8, size / 4)
    cy, cx = rng.uniform(radius, size - radius, 2)
    rows, cols = grid
    return (rows + 0.5 - cy) ** 2 + (cols + 0.5 - cx) ** 2 <= radius**2  # type: ignore[no-any-return]


def write(fmt: str, target: str | Path, limit: int | None = None, dataset: str = "digits", seed: int = 0) -> Path:
    """Write ``dataset`` (the first ``limit`` examples; shapes: ``limit`` of them, default 1000) as
    ``fmt`` at ``target``; return the path."""
    if dataset == "shapes":
        return _write_shapes(fmt, Path(target), limit or 1000, seed)
    if dataset != "digits":
        raise ValueError(f"unknown dataset {dataset!r}; expected one of {', '.join(DATASETS)}")
    images, labels, names = digits()
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    target = Path(target)
    if fmt in ("npz", "hdf5"):
        _write_arrays(fmt, target, {"images": images, "labels": labels}, names)
    elif fmt == "csv":  # the notes' Fashion-MNIST layout: label, pixel1, ..., pixel64
        out = io.StringIO()
        writer = csv.writer(out, lineterminator="\n")
        writer.writerow(["label", *(f"pixel{i + 1}" for i in range(64))])
        for label, image in zip(labels, images.reshape(len(images), -1)):
            writer.writerow([int(label), *(int(v) for v in image)])
        atomic_write_text(target, out.getvalue())
    elif fmt == "folder":
        _write_folder(images, labels, names, target)
    else:
        raise ValueError(f"unknown format {fmt!r}; expected one of {', '.join(FORMATS)}")
    return target


def _write_shapes(fmt: str, target: Path, count: int, seed: int) -> Path:
    if fmt not in ("npz", "hdf5"):  # masks are arrays: a class folder or a CSV row has one label per image
        raise ValueError(f"the shapes set has per-pixel masks: write it as npz or hdf5, not {fmt}")
    images, masks, names = shapes(count, seed=seed)
    _write_arrays(fmt, target, {"images": images, "masks": masks}, names)
    return target


def _write_arrays(fmt: str, target: Path, arrays: dict[str, np.ndarray], names: list[str]) -> None:
    if fmt == "npz":
        with atomic_path(target, suffix=".npz") as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, **arrays, label_names=np.array(names))
        return
    import h5py

    with atomic_path(target, suffix=target.suffix or ".h5") as tmp, h5py.File(tmp, "w") as fh:
        for key, value in arrays.items():
            fh.create_dataset(key, data=value)
        fh.create_dataset("label_names", data=np.array(names, dtype="S"))


def _write_folder(images: np.ndarray, labels: np.ndarray, names: list[str], target: Path) -> None:
    """One subfolder per class of 8-bit grey PNGs (what image_dataset_from_directory reads)."""
    from PIL import Image

    for name in names:
        (target / name).mkdir(parents=True, exist_ok=True)
    for i, (image, label) in enumerate(zip(images, labels)):
        file = target / names[label] / f"{i:04d}.png"
        with atomic_path(file, suffix=".png") as tmp:
            Image.fromarray(image[..., 0]).save(tmp, format="PNG")


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("format", choices=FORMATS)
    parser.add_argument("output")
    parser.add_argument("--dataset", choices=DATASETS, default="digits", help="digits (real) or shapes (synthetic).")
    parser.add_argument("--limit", type=int, default=None, help="Write only the first N examples (shapes: N images).")
    parser.add_argument("--seed", type=int, default=0, help="The shapes set's random seed.")
    args = parser.parse_args(argv)
    if args.dataset == "shapes" and args.format not in ("npz", "hdf5"):
        parser.error(f"--dataset shapes has per-pixel masks: write it as npz or hdf5, not {args.format}")
    if args.limit is not None and args.limit < 1:
        parser.error(f"--limit must be at least 1; got {args.limit}")
    path = write(args.format, args.output, args.limit, args.dataset, args.seed)
    what = f"{args.limit or 1797} digits" if args.dataset == "digits" else f"{args.limit or 1000} shapes images"
    print(f"wrote {path} ({args.format}, {what})")
    return 0


if __name__ == "__main__":
    sys.exit(main())
