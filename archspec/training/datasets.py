"""Real data without a network: scikit-learn's bundled digits (1,797 8x8 images) written as files.

``python -m archspec.training.datasets npz build/digits.npz`` (or ``folder``, ``csv``, ``hdf5``).
Pixels are scaled from the data set's 0..16 to 0..255 and stored as 8-bit values, so every
format reads like ordinary images (and ``normalize: rescale`` maps them to [0, 1]).
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


def digits() -> tuple[np.ndarray, np.ndarray, list[str]]:
    """(images N x 8 x 8 x 1 uint8 in 0..255, labels N, label names '0'..'9')."""
    from sklearn.datasets import load_digits

    bunch = load_digits()
    images = np.round(bunch.images * (255 / 16)).astype(np.uint8)[..., None]
    return images, bunch.target.astype(np.int64), [str(n) for n in bunch.target_names]


def write(fmt: str, target: str | Path, limit: int | None = None) -> Path:
    """Write the digits (the first ``limit`` of them) as ``fmt`` at ``target``; return the path."""
    images, labels, names = digits()
    if limit is not None:
        images, labels = images[:limit], labels[:limit]
    target = Path(target)
    if fmt == "npz":
        with atomic_path(target, suffix=".npz") as tmp, open(tmp, "wb") as fh:
            np.savez_compressed(fh, images=images, labels=labels, label_names=np.array(names))
    elif fmt == "hdf5":
        import h5py

        with atomic_path(target, suffix=target.suffix or ".h5") as tmp, h5py.File(tmp, "w") as fh:
            fh.create_dataset("images", data=images)
            fh.create_dataset("labels", data=labels)
            fh.create_dataset("label_names", data=np.array(names, dtype="S"))
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
    parser.add_argument("--limit", type=int, default=None, help="Write only the first N digits.")
    args = parser.parse_args(argv)
    path = write(args.format, args.output, args.limit)
    print(f"wrote {path} ({args.format}, {args.limit or 1797} digits)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
