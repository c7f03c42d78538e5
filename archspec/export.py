"""Export a model to SavedModel, ONNX or LiteRT, and prove the export computes what Keras computes.

The conversion is Keras' own (``Model.export``, which drives TensorFlow's SavedModel writer,
tf2onnx and the LiteRT converter); archspec adds what makes an export trustworthy:

1. the export is written to a temporary path next to the target;
2. it is loaded back with *its own* runtime (TensorFlow's SavedModel loader, onnxruntime, the
   LiteRT interpreter) and run on a fixed batch next to the Keras model; every output element
   must satisfy ``|exported - keras| <= atol + rtol * |keras|`` (numpy's ``allclose`` rule);
3. only then are the static figures attached (ONNX ``metadata_props``; ``archspec.json`` inside a
   SavedModel; ``NAME.tflite.json`` beside a LiteRT file) and the export renamed into place.

A failed check leaves nothing behind.
"""

from __future__ import annotations

import contextlib
import hashlib
import importlib
import json
import warnings
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any

import numpy as np

from .errors import ArchspecError, Location, Problem, UsageError
from .fileio import atomic_directory, atomic_path, atomic_write_text


@dataclass(frozen=True)
class Format:
    """One export format: Keras' name for it, the file suffix, and the packages it needs."""

    name: str
    keras_format: str
    suffix: str  # "" for a directory
    runtime: str
    modules: tuple[str, ...]  # importable names needed to write and verify it


FORMATS: dict[str, Format] = {
    f.name: f
    for f in (
        Format("saved_model", "tf_saved_model", "", "TensorFlow's SavedModel loader", ()),
        Format("onnx", "onnx", ".onnx", "onnxruntime", ("tf2onnx", "onnx", "onnxruntime")),
        Format("litert", "litert", ".tflite", "the LiteRT interpreter", ("ai_edge_litert",)),
    )
}


@dataclass(frozen=True)
class Target:
    """A Keras model to export and what is known about it."""

    model: Any  # keras.Model
    name: str
    class_names: tuple[str, ...] = ()
    normalize: Callable[[Any], Any] | None = None  # the run's input preprocessing, on 0..255 images
    spec_text: str | None = None
    macs: int | None = None
    source: str = ""


@dataclass(frozen=True)
class Check:
    """How the exported model compared with the Keras model."""

    inputs: int
    max_abs: float
    max_rel: float
    atol: float
    rtol: float
    worst: float = field(default=0.0)  # max of |a - b| - (atol + rtol |b|); > 0 fails

    @property
    def ok(self) -> bool:
        return self.worst <= 0.0

    def describe(self, runtime: str) -> str:
        return (
            f"verified with {runtime} on {self.inputs} inputs: max abs diff {self.max_abs:.3g}, "
            f"max rel diff {self.max_rel:.3g} (tolerance atol {self.atol:g} + rtol {self.rtol:g})"
        )


class ExportError(ArchspecError):
    """An export that could not be written or did not match the Keras model (exit status 1)."""

    def __init__(self, message: str, output: Path | str):
        super().__init__(Problem(message, Location(str(output))))


def require(fmt: Format) -> None:
    """Refuse early, naming the extra to install, when a format's packages are missing."""
    missing = [m for m in fmt.modules if importlib.util.find_spec(m) is None]
    if missing:
        raise UsageError(
            f"--format {fmt.name} needs {', '.join(missing)}: pip install 'archspec[export]' "
            "(make install sets it up in .venv)"
        )


def export(
    target: Target,
    fmt: Format,
    output: Path,
    *,
    atol: float = 1e-5,
    rtol: float = 1e-3,
    batch: int = 8,
    bake_preprocessing: bool = False,
    seed: int = 0,
) -> Check:
    """Write ``target`` to ``output`` in ``fmt`` after checking it against Keras; return the check."""
    require(fmt)
    model = _with_preprocessing(target) if bake_preprocessing else target.model
    inputs = sample_inputs(model, batch, raw_images=bake_preprocessing, seed=seed)
    expected = _keras_outputs(model, inputs)
    with _owned_output(output, fmt) as tmp:
        _write(model, fmt, tmp, output)
        got = run_exported(fmt, tmp, inputs, output)
        check = compare(expected, got, atol, rtol, output)
        if not check.ok:
            raise ExportError(
                f"the {fmt.name} export does not compute what the Keras model computes: "
                f"{check.describe(fmt.runtime)}; nothing was written. Loosen --atol/--rtol only if "
                "the difference is acceptable for your use.",
                output,
            )
        meta = metadata(target, model, fmt, check, bake_preprocessing)
        _attach_metadata(fmt, tmp, meta)
    if fmt.name == "litert":  # LiteRT's flatbuffer has no free-form metadata its interpreter reads back
        atomic_write_text(metadata_path(fmt, output), _json(meta))
    return check


def sample_inputs(model: Any, batch: int, *, raw_images: bool, seed: int) -> list[np.ndarray]:
    """A fixed batch per model input: uniform in [0, 255] for raw images, else in [0, 1)."""
    rng = np.random.default_rng(seed)
    high = 255.0 if raw_images else 1.0
    return [rng.uniform(0.0, high, (batch, *t.shape[1:])).astype(np.float32) for t in model.inputs]


def _keras_outputs(model: Any, inputs: list[np.ndarray]) -> list[np.ndarray]:
    out = model(inputs if len(inputs) > 1 else inputs[0], training=False)
    return [np.asarray(o) for o in (out if isinstance(out, list | tuple) else [out])]


def compare(
    expected: Sequence[np.ndarray], got: Sequence[np.ndarray], atol: float, rtol: float, output: Path | str
) -> Check:
    """Element-wise comparison of every output, in the model's output order."""
    if len(expected) != len(got):
        raise ExportError(f"the export has {len(got)} outputs; the Keras model has {len(expected)}", output)
    max_abs = max_rel = 0.0
    worst = -np.inf
    for want, have in zip(expected, got):
        have = np.asarray(have, dtype=np.float64).reshape(want.shape) if have.size == want.size else have
        if have.shape != want.shape:
            raise ExportError(f"an exported output has shape {have.shape}; Keras gives {want.shape}", output)
        diff = np.abs(have - want)
        max_abs = max(max_abs, float(diff.max(initial=0.0)))
        max_rel = max(max_rel, float((diff / np.maximum(np.abs(want), 1e-12)).max(initial=0.0)))
        worst = max(worst, float((diff - (atol + rtol * np.abs(want))).max(initial=-np.inf)))
        if not np.all(np.isfinite(have)):
            worst = np.inf
    return Check(len(expected[0]), max_abs, max_rel, atol, rtol, worst)


def _with_preprocessing(target: Target) -> Any:
    """The model with the run's preprocessing as its first step, so the export takes raw 0..255 images."""
    import keras

    if target.normalize is None:
        raise UsageError(
            "--bake-preprocessing: no preprocessing is known for this model (export a run directory, "
            "whose run.json records it, or a spec)"
        )
    model = target.model
    inputs = keras.Input(shape=tuple(model.inputs[0].shape[1:]), name="raw_image")
    prepared = keras.layers.Lambda(target.normalize, name="preprocessing")(inputs)
    return keras.Model(inputs, model(prepared), name=f"{model.name}_with_preprocessing")


@contextlib.contextmanager
def _owned_output(output: Path, fmt: Format) -> Iterator[Path]:
    """A temporary path to export to, renamed over ``output`` only if the block succeeds."""
    if fmt.suffix:
        with atomic_path(output, suffix=fmt.suffix) as tmp:
            yield tmp
        return
    with atomic_directory(output) as tmp:
        yield tmp


def _write(model: Any, fmt: Format, tmp: Path, output: Path) -> None:
    from . import framework

    with framework.framework_lines_dropped(), warnings.catch_warnings():
        warnings.simplefilter("ignore", FutureWarning)  # Keras' tf2onnx shim probes np.object
        try:
            model.export(str(tmp), format=fmt.keras_format, verbose=False)
        except (ValueError, TypeError, NotImplementedError) as exc:
            raise ExportError(f"Keras could not export this model to {fmt.name}: {exc}", output) from None


def run_exported(fmt: Format, path: Path, inputs: list[np.ndarray], output: Path | str) -> list[np.ndarray]:
    """Run an exported model with its own runtime on ``inputs``."""
    from . import framework

    runner = {"saved_model": _run_saved_model, "onnx": _run_onnx, "litert": _run_litert}[fmt.name]
    try:
        with framework.framework_lines_dropped():
            return runner(path, inputs)
    except ArchspecError:
        raise
    except Exception as exc:  # each runtime raises its own types for a file it cannot read
        message = f"{fmt.runtime} cannot run the exported file: {type(exc).__name__}: {str(exc)[:300]}"
        raise ExportError(message, output) from None


def _run_saved_model(path: Path, inputs: list[np.ndarray]) -> list[np.ndarray]:
    import tensorflow as tf

    loaded = tf.saved_model.load(str(path))  # kept: its functions need its variables alive
    return _as_list(loaded.serve(*inputs))


def _run_onnx(path: Path, inputs: list[np.ndarray]) -> list[np.ndarray]:
    import onnxruntime

    session = onnxruntime.InferenceSession(str(path), providers=["CPUExecutionProvider"])
    feed = {i.name: x for i, x in zip(session.get_inputs(), inputs)}
    return [np.asarray(o) for o in session.run(None, feed)]


def _run_litert(path: Path, inputs: list[np.ndarray]) -> list[np.ndarray]:
    """Through the model's signature: its outputs are named output_0, output_1, ... in Keras' order
    (the interpreter's raw output list is in tensor order, which differs for several outputs)."""
    from ai_edge_litert.interpreter import Interpreter

    interpreter = Interpreter(model_path=str(path))
    signature = interpreter.get_signature_list()["serving_default"]
    runner = interpreter.get_signature_runner("serving_default")
    outputs = runner(**dict(zip(signature["inputs"], inputs)))
    return [np.asarray(outputs[k]) for k in sorted(outputs, key=lambda k: int(k.rsplit("_", 1)[-1]))]


def _as_list(out: Any) -> list[np.ndarray]:
    if isinstance(out, Mapping):
        return [np.asarray(out[k]) for k in sorted(out)]
    if isinstance(out, list | tuple):
        return [np.asarray(o) for o in out]
    return [np.asarray(out)]


def metadata(target: Target, model: Any, fmt: Format, check: Check, baked: bool) -> dict[str, Any]:
    """The static figures and provenance stored with an export."""
    from importlib.metadata import version

    return {
        "archspec_version": version("archspec"),
        "format": fmt.name,
        "name": target.name,
        "source": target.source,
        "spec_sha256": hashlib.sha256(target.spec_text.encode()).hexdigest() if target.spec_text else None,
        "params": int(model.count_params()),
        "macs": target.macs,
        "input_shapes": [list(t.shape) for t in model.inputs],
        "output_shapes": [list(t.shape) for t in model.outputs],
        "class_names": list(target.class_names),
        "preprocessing_included": baked,
        "verification": {
            "runtime": fmt.runtime,
            "inputs": check.inputs,
            "max_abs_diff": check.max_abs,
            "max_rel_diff": check.max_rel,
            "atol": check.atol,
            "rtol": check.rtol,
        },
    }


def metadata_path(fmt: Format, output: Path) -> Path:
    """Where the figures of an export live: inside a SavedModel, beside a LiteRT file, in the ONNX file."""
    if fmt.name == "saved_model":
        return output / "archspec.json"
    return output.with_name(output.name + ".json")


def _attach_metadata(fmt: Format, tmp: Path, meta: dict[str, Any]) -> None:
    if fmt.name == "onnx":
        import onnx

        proto = onnx.load(str(tmp))
        for key, value in meta.items():
            entry = proto.metadata_props.add()
            entry.key, entry.value = f"archspec.{key}", json.dumps(value)
        onnx.save(proto, str(tmp))
    elif fmt.name == "saved_model":
        (tmp / "archspec.json").write_text(_json(meta), encoding="utf-8")


def _json(meta: Mapping[str, Any]) -> str:
    return json.dumps(meta, indent=2) + "\n"


def read_onnx_metadata(path: Path) -> dict[str, Any]:
    """The archspec figures stored in an exported ONNX file."""
    import onnx

    proto = onnx.load(str(path))
    return {
        p.key.removeprefix("archspec."): json.loads(p.value)
        for p in proto.metadata_props
        if p.key.startswith("archspec.")
    }


def open_target(target: str, variant: Sequence[str] = (), sets: Mapping[str, Any] | None = None) -> Target:
    """A run directory, a ``.keras`` file or a spec (built with fresh weights), ready to export."""
    path = Path(target)
    if path.suffix in (".yaml", ".yml"):
        return _spec_target(path, variant, sets or {})
    if variant or sets:
        raise UsageError("--variant and --set choose the network of a spec; a run or a .keras file is already built")
    return _model_target(path)


def _model_target(path: Path) -> Target:
    from .training.data import normalizer
    from .training.evaluate import open_model

    if not path.exists():
        raise UsageError(f"no such run directory or model file: {path}")
    loaded = open_model(path)
    spec_text, macs = None, None
    if loaded.run_dir is not None:
        spec_text, macs = _run_spec_figures(loaded.run_dir)
    normalize = normalizer(dict(loaded.normalize), False) if loaded.normalize else None
    name = loaded.model.name if loaded.run_dir is None else loaded.run_dir.name
    return Target(loaded.model, name, loaded.class_names, normalize, spec_text, macs, str(loaded.path))


def _run_spec_figures(run_dir: Path) -> tuple[str | None, int | None]:
    """The trained spec's text and MACs, from the run directory's own copy and options."""
    from .analysis import analyse
    from .api import expand

    spec = run_dir / "spec.yaml"
    if not spec.is_file():
        return None, None
    options = json.loads((run_dir / "run.json").read_text(encoding="utf-8")).get("options") or {}
    try:
        graph = expand(str(spec), variant=options.get("variant") or None, overrides=options.get("sets") or {})
        return spec.read_text(encoding="utf-8"), analyse(graph).macs
    except ArchspecError:  # the run's spec no longer expands (an older archspec wrote it): no figures, no guess
        return spec.read_text(encoding="utf-8"), None


def _spec_target(path: Path, variant: Sequence[str], sets: Mapping[str, Any]) -> Target:
    from .analysis import analyse
    from .api import expand
    from .keras_backend import build_graph
    from .training.data import normalizer
    from .training.trainer import resolve_normalize
    from .transfer.keras_build import probing

    if not path.is_file():
        raise UsageError(f"no such spec file: {path}")
    with probing():
        graph = expand(str(path), variant=list(variant), overrides=dict(sets))
    train = graph.sections.get("train") or {}
    declared = (train.get("data") or {}).get("normalize") if isinstance(train, Mapping) else None
    normalize = resolve_normalize(_normalize_setting(declared), graph)
    model = build_graph(graph)
    return Target(
        model,
        graph.name,
        (),
        normalizer(dict(normalize) if normalize else None, False),
        path.read_text(encoding="utf-8"),
        analyse(graph).macs,
        str(path),
    )


def _normalize_setting(raw: Any) -> Mapping[str, Any] | None:
    from .training.config import data_config

    return data_config({"normalize": raw}).normalize if raw is not None else None


def default_output(target: Target, fmt: Format) -> Path:
    """``RUN/export/model.onnx`` for a run; ``NAME.onnx`` (or ``NAME_saved_model/``) beside a file otherwise."""
    source = Path(target.source)
    if source.parent.joinpath("run.json").exists():
        return source.parent / "export" / f"model{fmt.suffix or '_saved_model'}"
    return source.with_name(f"{source.stem}{fmt.suffix or '_saved_model'}")
