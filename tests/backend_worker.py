"""Build zoo specs under one Keras backend and record what the other backend must match.

Run as ``KERAS_BACKEND=... python tests/backend_worker.py JOBS.json OUT_DIR [REFERENCE_DIR]``
by tests/test_backends.py: one process per backend builds every spec of the job list (each at
its small input size), writes its layer names, output shapes and parameter counts to
OUT_DIR/NAME.json and its outputs on a fixed input to OUT_DIR/NAME.npz. The reference backend
also saves the weights (OUT_DIR/NAME.weights.h5); the other loads them from REFERENCE_DIR, so
the outputs are comparable and the weights file is shown to cross backends.
"""

from __future__ import annotations

import json
import sys
from pathlib import Path

import numpy as np


def main(jobs_path: str, out: str, reference: str | None = None) -> None:
    import keras

    from archspec.errors import ArchspecError
    from archspec.keras_backend import build
    from archspec.loader import load_file, load_text

    out_dir = Path(out)
    for job in json.loads(Path(jobs_path).read_text()):
        keras.backend.clear_session()  # auto-named layers are numbered per session
        doc = load_file(job["spec"]) if "spec" in job else load_text(job["text"])
        try:
            model = build(_resized(doc, job["input"]))
        except ArchspecError as exc:  # refused under this backend: the test says which refusals are right
            (out_dir / f"{job['name']}.json").write_text(json.dumps({"error": str(exc)}))
            continue
        record = {
            "backend": keras.backend.backend(),
            "layers": [layer.name for layer in model.layers],
            "shapes": [list(_shape(layer.output)) for layer in model.layers],
            "params": [int(layer.count_params()) for layer in model.layers],
        }
        name = job["name"]
        if reference is None:
            model.save_weights(out_dir / f"{name}.weights.h5")
        else:
            model.load_weights(Path(reference) / f"{name}.weights.h5")
        x = np.random.default_rng(0).uniform(0, 1, (2, *job["input"])).astype("float32")
        outputs = model.predict(x, verbose=0)
        outputs = outputs if isinstance(outputs, list) else [outputs]
        np.savez(out_dir / f"{name}.npz", *[np.asarray(o) for o in outputs])
        (out_dir / f"{name}.json").write_text(json.dumps(record))
        print(name, flush=True)


def _resized(doc: object, shape: list[int]) -> object:
    """The spec with another input shape (nothing else changes)."""
    from dataclasses import replace

    from archspec.loader import Document

    assert isinstance(doc, Document)
    return replace(doc, data={**doc.data, "input": list(shape)})


def _shape(tensor: object) -> tuple:
    first = tensor[0] if isinstance(tensor, list | tuple) else tensor
    return tuple(first.shape)


if __name__ == "__main__":
    main(*sys.argv[1:])
