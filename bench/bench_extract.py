"""Benchmark of feature extraction (issue 19): ``archspec extract`` vs a bare loop. Prints; asserts nothing.

Both sides extract the same features of the same image folder (digits as 64x64 RGB PNGs) with
the same model (an inline spec) in the same process, in alternating rounds:

* archspec: ``archspec.transfer.extract.extract`` (the ``archspec extract`` command without its
  CLI): shuffled image list, batches, buffered HDF5 writes, a resumable partial file with its
  progress marker, the atomic rename and the metadata;
* bare: the same batches read by the same image reader, ``model.predict_on_batch`` and h5py
  writes of each buffer into a preallocated dataset, nothing else.

Target: archspec >= 0.95x the bare loop's images/s. Memory: the resident size after every
buffer written by archspec (its ``on_flush`` hook) is sampled; its growth from the first
buffer to the last shows whether memory stays flat as the file grows.

    python bench/bench_extract.py [--images 6000] [--rounds 3]
"""

from __future__ import annotations

import argparse
import os
import statistics
import tempfile
import time
from pathlib import Path

os.environ.setdefault("TF_CPP_MIN_LOG_LEVEL", "3")

SPEC = """\
archspec: 1
name: extract_bench
input: [64, 64, 3]
layers:
  - {conv: 32, kernel: 3, padding: same, activation: relu}
  - {maxpool: 2}
  - {conv: 64, kernel: 3, padding: same, activation: relu}
  - {maxpool: 2}
  - {conv: 64, kernel: 3, padding: same, activation: relu, name: features}
  - gap
  - {dense: 10, activation: softmax}
"""
BATCH, BUFFER = 32, 1000  # the defaults of `archspec extract`


def rss_mib() -> float:
    with open("/proc/self/statm") as fh:
        return int(fh.read().split()[1]) * os.sysconf("SC_PAGE_SIZE") / 2**20


def make_folder(root: Path, images: int) -> None:
    import numpy as np
    from PIL import Image
    from sklearn.datasets import load_digits

    digits = load_digits()
    for i in range(images):
        folder = root / f"digit{digits.target[i % len(digits.target)]}"
        folder.mkdir(parents=True, exist_ok=True)
        pixels = (digits.images[i % len(digits.target)] * 255 / 16).astype(np.uint8)
        Image.fromarray(pixels).resize((64, 64), Image.NEAREST).convert("RGB").save(folder / f"{i:05d}.png")


def run_archspec(graph, model, data: Path, out: Path, layers: tuple[str, ...]) -> tuple[float, list[float]]:
    from archspec.transfer.extract import extract

    samples: list[float] = []
    start = time.perf_counter()
    extract(
        graph, data, out, layers=layers, batch_size=BATCH, buffer_size=BUFFER, progress=False, model=model,
        on_flush=lambda rows: samples.append(rss_mib()),
    )  # fmt: skip
    return time.perf_counter() - start, samples


def run_bare(model, data: Path, out: Path, layer: str) -> float:
    import h5py
    import keras
    import numpy as np

    from archspec.transfer.extract import ImageFolder, load_images

    start = time.perf_counter()
    folder = ImageFolder.scan(data).shuffled(42)
    extractor = keras.Model(model.inputs, model.get_layer(layer).output)
    dim = int(np.prod(extractor.outputs[0].shape[1:]))
    with h5py.File(out, "w") as h5:
        features = h5.create_dataset("features", (len(folder.paths), dim), dtype="float32", chunks=True)
        labels = h5.create_dataset("labels", data=np.asarray(folder.labels, dtype="int64"))
        del labels
        buffer, row = [], 0
        for i in range(0, len(folder.paths), BATCH):
            batch = load_images(folder.paths[i : i + BATCH], (64, 64, 3)) / 255.0
            buffer.append(np.asarray(extractor.predict_on_batch(batch)).reshape(len(batch), -1))
            if sum(len(b) for b in buffer) >= BUFFER or i + BATCH >= len(folder.paths):
                rows = np.concatenate(buffer)
                features[row : row + len(rows)] = rows
                row, buffer = row + len(rows), []
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--images", type=int, default=6000)
    parser.add_argument("--rounds", type=int, default=3)
    args = parser.parse_args()
    from archspec.api import expand
    from archspec.keras_backend import build_graph
    from archspec.transfer.plan import plan

    graph = expand(SPEC)
    model = build_graph(graph)
    print(f"preprocessing (archspec's plan): {plan(graph).preprocess}; the bare loop divides by 255")
    times: dict[str, list[float]] = {"archspec": [], "bare": []}
    memory: list[list[float]] = []
    with tempfile.TemporaryDirectory() as tmp:
        data = Path(tmp) / "images"
        make_folder(data, args.images)
        run_bare(model, data, Path(tmp) / "warm.h5", "features")  # traces the extractor once before timing
        for r in range(args.rounds):
            for side in ("archspec", "bare") if r % 2 == 0 else ("bare", "archspec"):
                out = Path(tmp) / f"{side}-{r}.h5"
                if side == "archspec":
                    seconds, samples = run_archspec(graph, model, data, out, ("features",))
                    memory.append(samples)
                else:
                    seconds = run_bare(model, data, out, "features")
                times[side].append(seconds)
                print(f"round {r + 1} {side:8s}: {args.images / seconds:8.0f} images/s ({seconds:.2f} s)", flush=True)
    a, b = statistics.median(times["archspec"]), statistics.median(times["bare"])
    print(f"\narchspec extract: {args.images / a:8.0f} images/s (median of {args.rounds})")
    print(f"bare loop       : {args.images / b:8.0f} images/s (median of {args.rounds})")
    print(f"ratio archspec / bare: {b / a:.3f}x  (target >= 0.95x)")
    growth = [s[-1] - s[0] for s in memory if len(s) > 1]
    print(
        f"resident memory from the first buffer written to the last: {max(growth):+.1f} MiB (worst round; "
        f"{args.images // BUFFER} buffers of {BUFFER} rows)"
    )


if __name__ == "__main__":
    main()
