"""Backend-neutral models: zoo specs and every layer type build under Keras' TensorFlow and JAX backends with
the same layer names, shapes and parameter counts, and, with the same weights (a weights file
saved under TensorFlow, loaded under JAX), the same outputs within float32 tolerance.

One subprocess per backend builds all the specs (Keras picks its backend once per process),
each at the smallest input size its architecture accepts. JAX compiles every new shape, so
building DenseNet-121 under it takes ~20 s here: by default the test takes the cheapest zoo
specs that together hold every layer type the zoo uses, plus one small spec per case of
test_layers_vocabulary (the layer types beyond the zoo, archspec's own layers among them);
``ARCHSPEC_ALL_ZOO=1`` takes every zoo spec that fits (about 4 minutes here)."""

from __future__ import annotations

import json
import os
import subprocess
import sys
from dataclasses import replace
from pathlib import Path

import numpy as np
import pytest
from conftest import ROOT, SPECS, SUBPROCESS_ENV
from test_layers_vocabulary import CASES

from archspec.errors import ArchspecError
from archspec.loader import load_file

#: Square sizes tried, smallest first; a spec keeps its own size when that is smaller.
_SIZES = (32, 48, 64, 67, 96, 99, 128, 131, 160, 192, 224, 227)
#: Above this many parameters at the small size a spec is left out: its layers are the same types as
#: smaller specs' (VGG-19's are VGG-11's), and its weights would make the test slow, not stronger.
MAX_PARAMS = 30_000_000
#: float32 through up to ~150 layers, two backends' kernels (oneDNN vs XLA): outputs are softmax
#: probabilities (or logits) of order 1.
ATOL, RTOL = 2e-5, 1e-4


def zoo_jobs() -> tuple[list[dict], list[str]]:
    """(the specs that fit at a small input, each with its size; the names of those left out)."""
    from archspec.analysis import analyse
    from archspec.api import expand

    jobs, left_out = [], []
    for path in sorted(SPECS.glob("*.yaml")):  # the zoo; specs/transfer/ builds keras.applications bases
        doc = load_file(path)
        own = doc.data["input"]
        side = own[0] if isinstance(own[0], int) else max(_SIZES)  # "${res}": a variable's size
        candidates = [[s, s, own[2]] for s in _SIZES if s < side] + [own] if len(own) == 3 else [own]
        for shape in candidates:
            try:
                params = analyse(expand(replace(doc, data={**doc.data, "input": shape}))).total_params
            except ArchspecError:
                continue
            if params <= MAX_PARAMS:
                jobs.append({"name": path.stem, "spec": str(path), "input": shape})
            else:
                left_out.append(f"{path.stem} ({params:,} params at {shape})")
            break
    return jobs, left_out


#: Cases Keras cannot run under JAX, which archspec refuses there with a located message.
JAX_REFUSES = {"case_resize_area": "interpolation 'area' exists only under Keras' TensorFlow backend"}
JAX_REFUSES_CASES = {"resize_area", "attention_cross"}  # attention_cross: value_dim != key_dim (keras_layers)

#: archspec's own layers that no zoo spec or vocabulary case holds.
OWN_LAYERS = """\
archspec: 1
name: own_layers
input: [9, 9, 8]
layers:
  - {conv: 8, padding: same, name: branch}
  - {lrn: null, size: 3}
  - {stochastic_depth: 0.7, inputs: [input, branch], name: sd}
  - {scaled_add: {scale: 0.17}, inputs: [sd, branch]}
  - gap
  - {dense: 3, activation: softmax}
"""


def layer_types(job: dict) -> set[str]:
    from archspec.api import expand

    doc = load_file(job["spec"]) if "spec" in job else None
    return {n.type for n in expand(replace(doc, data={**doc.data, "input": job["input"]})).nodes} if doc else set()


def covering_jobs(jobs: list[dict]) -> list[dict]:
    """The cheapest specs (fewest layers) that together hold every layer type of ``jobs``: greedy set cover."""
    types = {j["name"]: layer_types(j) for j in jobs}
    size = {j["name"]: _layers(j) for j in jobs}
    wanted, chosen = set().union(*types.values()), []
    while wanted:
        best = max(jobs, key=lambda j: (len(types[j["name"]] & wanted) / size[j["name"]], -size[j["name"]]))
        chosen.append(best)
        wanted -= types[best["name"]]
    return chosen


def _layers(job: dict) -> int:
    from archspec.api import expand

    doc = load_file(job["spec"])
    return len(expand(replace(doc, data={**doc.data, "input": job["input"]})).nodes)


def vocabulary_jobs() -> list[dict]:
    """One case per layer type of test_layers_vocabulary (its first), and a spec of archspec's own layers."""
    first: dict[str, object] = {}
    for case in CASES:
        last = case.layers[-1]
        first.setdefault(last if isinstance(last, str) else next(iter(last)), case)
    picked = [*first.values(), *(c for c in CASES if c.id in JAX_REFUSES_CASES)]
    cases = [
        {"name": f"case_{c.id}", "text": c.spec(), "input": list(c.input)} for c in {c.id: c for c in picked}.values()
    ]
    return [*cases, {"name": "own_layers", "text": OWN_LAYERS, "input": [9, 9, 8]}]


def test_backend_is_chosen_before_keras_starts_and_needs_its_package(monkeypatch):
    import importlib.util

    from archspec import backends
    from archspec.errors import UsageError

    monkeypatch.setattr(importlib.util, "find_spec", lambda name: None)
    with pytest.raises(UsageError, match=r"pip install 'archspec\[jax\]'"):
        backends.select_backend("jax")
    monkeypatch.undo()
    monkeypatch.setattr(backends, "_started_backend", lambda: "tensorflow")
    with pytest.raises(UsageError, match="already started in this process with the tensorflow backend"):
        backends.select_backend("jax")
    monkeypatch.setenv("KERAS_BACKEND", "tensorflow")
    assert backends.select_backend("tensorflow") == "tensorflow"


def test_zoo_jobs_cover_the_zoo():
    jobs, left_out = zoo_jobs()
    names = {j["name"] for j in jobs}
    assert {"alexnet", "googlenet", "efficientnet_b0", "resnet50", "seed_cnn", "densenet121"} <= names, left_out
    assert len(jobs) + len(left_out) == len(list(SPECS.glob("*.yaml")))
    chosen = covering_jobs(jobs)
    assert set().union(*map(layer_types, chosen)) == set().union(*map(layer_types, jobs))


def _run(backend: str, jobs: Path, out: Path, reference: Path | None = None) -> None:
    out.mkdir()
    env = {**SUBPROCESS_ENV, "KERAS_BACKEND": backend, "PYTHONPATH": str(ROOT)}
    args = [sys.executable, str(ROOT / "tests" / "backend_worker.py"), str(jobs), str(out)]
    result = subprocess.run([*args, *([str(reference)] if reference else [])], env=env, capture_output=True, text=True)
    assert result.returncode == 0, result.stderr[-3000:]


@pytest.mark.slow
def test_every_zoo_spec_is_the_same_model_under_tensorflow_and_jax(tmp_path):
    jobs, _ = zoo_jobs()
    jobs = (jobs if os.environ.get("ARCHSPEC_ALL_ZOO") else covering_jobs(jobs)) + vocabulary_jobs()
    job_file = tmp_path / "jobs.json"
    job_file.write_text(json.dumps(jobs))
    _run("tensorflow", job_file, tmp_path / "tensorflow")
    _run("jax", job_file, tmp_path / "jax", reference=tmp_path / "tensorflow")
    for job in jobs:
        name = job["name"]
        tf_rec, jax_rec = (json.loads((tmp_path / b / f"{name}.json").read_text()) for b in ("tensorflow", "jax"))
        if name in JAX_REFUSES:
            assert JAX_REFUSES[name] in jax_rec["error"], jax_rec
            continue
        assert (tf_rec["backend"], jax_rec["backend"]) == ("tensorflow", "jax")
        for key in ("layers", "shapes", "params"):
            assert tf_rec[key] == jax_rec[key], f"{name}: {key} differ between backends"
        with np.load(tmp_path / "tensorflow" / f"{name}.npz") as a, np.load(tmp_path / "jax" / f"{name}.npz") as b:
            for k in a.files:
                np.testing.assert_allclose(b[k], a[k], atol=ATOL, rtol=RTOL, err_msg=f"{name}: output {k}")
