"""``archspec train``: build, compile and fit a spec's model, stage after stage, into a run directory.

The run directory (:mod:`.rundir`) records every epoch atomically with the optimizer state,
so :func:`resume` continues a killed run from its last completed epoch: no epoch is lost or
repeated, and the history continues. Distribution on one machine goes through
``tf.distribute`` (mirrored); across machines through Keras' distribution API on JAX
(``data-parallel``, :mod:`.distributed`). The model is built and compiled inside the
strategy's scope, and the batch size in the spec is the global batch (Keras splits each batch
across the replicas).
"""

from __future__ import annotations

import json
import math
import os
import shutil
import time
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, replace
from pathlib import Path
from typing import Any

from ..errors import UsageError
from ..fileio import atomic_write_text
from ..ir import Graph, freeze
from .config import TrainConfig, stored_data_config, train_config
from .stages import Stage, plan

STRATEGIES = ("default", "mirrored", "multiworker", "data-parallel")


@dataclass(frozen=True)
class Options:
    """How to run, beyond the spec: the command-line options (stored in run.json for --resume)."""

    data: str | None = None
    epochs: int | None = None
    batch_size: int | None = None
    strategy: str = "default"
    mixed_precision: bool = False
    jit_compile: bool = False
    cpu_devices: int | None = None
    variant: str | None = None
    sets: Mapping[str, Any] | None = None
    verbose: str | int = "auto"
    backend: str | None = None  # Keras' backend: tensorflow or jax (data-parallel: jax)
    workers: tuple[str, ...] | None = None  # data-parallel: every worker's HOST:PORT, the coordinator first
    worker_index: int | None = None  # data-parallel: this process's place in `workers`


@dataclass(frozen=True)
class RunResult:
    run_dir: Path
    epochs: int
    history: Mapping[str, list[Any]]
    test: Mapping[str, Any] | None


def setup_devices(cpu_devices: int | None) -> None:
    """Split the CPU into ``cpu_devices`` logical devices (to try distribution without GPUs): TensorFlow's
    logical devices, or under JAX the XLA host platform's device count; before the backend starts."""
    if not cpu_devices or cpu_devices < 2:
        return
    if os.environ.get("KERAS_BACKEND") == "jax":  # read when JAX first uses a device (importing it is not yet)
        flag = f"--xla_force_host_platform_device_count={cpu_devices}"
        os.environ["XLA_FLAGS"] = f"{os.environ.get('XLA_FLAGS', '')} {flag}".strip()
        return
    import tensorflow as tf

    cpus = tf.config.list_physical_devices("CPU")
    try:
        tf.config.set_logical_device_configuration(cpus[0], [tf.config.LogicalDeviceConfiguration()] * cpu_devices)
    except RuntimeError as exc:
        raise UsageError(f"--cpu-devices must be set before TensorFlow starts: {exc}") from exc


def make_strategy(name: str, top: Any = None) -> Any:
    """default (one device), mirrored (all local GPUs, else all logical CPUs), multiworker (TF_CONFIG),
    data-parallel (Keras' DataParallel on JAX over every device of every worker in ``top``)."""
    if name == "data-parallel":
        from . import distributed

        return distributed.start(top or distributed.Topology())
    import keras
    import tensorflow as tf

    if name == "mirrored" and keras.backend.backend() != "tensorflow":
        raise UsageError("--strategy mirrored is TensorFlow's; under JAX use --strategy data-parallel")
    if name == "default":
        return tf.distribute.get_strategy()
    if name == "mirrored":
        gpus = tf.config.list_logical_devices("GPU")
        devices = [d.name for d in (gpus or tf.config.list_logical_devices("CPU"))]
        cross = None if gpus else tf.distribute.ReductionToOneDevice()
        return tf.distribute.MirroredStrategy(devices=devices, cross_device_ops=cross)
    if name == "multiworker":
        if "TF_CONFIG" not in os.environ:
            raise UsageError(
                "--strategy multiworker reads the cluster from TF_CONFIG, which is not set (see docs/training.md)"
            )
        check_multiworker_supported()
        return tf.distribute.MultiWorkerMirroredStrategy()
    raise UsageError(f"unknown strategy {name!r}; expected one of {', '.join(STRATEGIES)}")


def check_multiworker_supported() -> None:
    """Refuse MultiWorkerMirroredStrategy where Keras' fit() cannot run under it.

    Keras 3's TensorFlow trainer (3.0 to at least 3.15, the version archspec is tested with)
    fails under it before the first step: its symbolic build reduces the input batch across
    workers, and each step reduces the logged scalars with ``axis=0`` (keras-team/keras#20585,
    tensorflow/tensorflow#72388). Failing at once, with the reason, beats a crash after the
    cluster has formed. ``tests/test_training_e2e.py`` runs plain Keras on a two-worker
    localhost cluster and fails when a Keras release fixes this, so the refusal can be lifted.
    """
    from importlib.metadata import version  # not `import keras`: this runs before TensorFlow starts

    keras_version = version("keras")
    if keras_version.split(".")[0] == "3":
        raise UsageError(
            f"--strategy multiworker: Keras {keras_version} cannot train with MultiWorkerMirroredStrategy "
            "(model.fit fails on every worker: keras-team/keras#20585, tensorflow/tensorflow#72388); "
            "use --strategy data-parallel --workers HOST:PORT,... --worker-index I for several machines (Keras' "
            "distribution API on JAX; docs/training.md), or --strategy mirrored for the GPUs of one machine"
        )


def is_chief() -> bool:
    """In a multi-worker cluster only the chief (or worker 0 without one) writes the run directory."""
    config = json.loads(os.environ.get("TF_CONFIG") or "{}")
    task = config.get("task") or {}
    if not task:
        return True
    has_chief = "chief" in (config.get("cluster") or {})
    return task.get("type") == "chief" or (not has_chief and task.get("type") == "worker" and task.get("index") == 0)


def with_l2(graph: Graph, l2: float | None) -> Graph:
    """The graph with L2 weight decay ``l2`` on every kernel that has no decay of its own."""
    if not l2:
        return graph
    nodes = tuple(
        replace(n, args=freeze({**n.args, "l2": l2})) if "l2" in n.args and n.args["l2"] is None else n
        for n in graph.nodes
    )
    return replace(graph, nodes=nodes)


def build_model(graph: Graph) -> Any:
    """The Keras model of a graph (keras_backend builds a transfer-learning base too)."""
    from ..keras_backend import build_graph

    return build_graph(graph)


def resolve_normalize(normalize: Mapping[str, Any] | None, graph: Graph) -> Mapping[str, Any] | None:
    """The spec's normalization; by default a pretrained base's own preprocess_input (archspec.transfer's plan)."""
    if normalize is not None or not graph.sections.get("base"):
        return normalize
    from ..transfer import plan as transfer_plan

    return {"preprocess_input": transfer_plan(graph).preprocess}


def default_run_dir(name: str) -> Path:
    return Path("runs") / f"{name}-{time.strftime('%Y%m%d-%H%M%S')}"


def train(
    spec: str,
    options: Options = Options(),
    run_dir: str | Path | None = None,
    echo: Callable[[str], None] = print,
) -> RunResult:
    """Train the spec at path ``spec`` into a new run directory and return what happened."""
    from ..api import expand
    from ..loader import load_file

    if not Path(spec).exists():
        raise UsageError(f"no such file: {spec}")
    if options.strategy == "multiworker":
        check_multiworker_supported()
    top, options = _distribution(options)
    if top.multi and run_dir is None:
        raise UsageError("a multi-worker run needs --run-dir: every worker must name the same run directory")
    doc = load_file(spec)  # first: it reports a file that is not UTF-8 text as a spec error
    text = Path(spec).read_text(encoding="utf-8")
    graph = expand(doc, variant=options.variant, overrides=dict(options.sets or {}))
    cfg = _with_output_aliases(train_config(doc, graph.sections.get("train"), Path(spec).resolve().parent), graph)
    data = cfg.data
    if options.data:
        data = replace(
            data, path=str(Path(options.data).resolve()), format=None if Path(options.data).is_dir() else data.format
        )
    if data.path:
        data = replace(data, path=str(Path(data.path).resolve()))
    data = replace(data, normalize=resolve_normalize(data.normalize, graph))
    cfg = replace(cfg, data=data)
    from ..analysis import analyse
    from ..limits import check_memory

    check_memory(analyse(graph), options.batch_size or cfg.batch_size, cfg.optimizer.name)  # before any tensor
    if not data.path:
        raise UsageError("no training data: give --data PATH or train.data.path in the spec")
    if not Path(data.path).exists():
        raise UsageError(f"no such data file or folder: {data.path}")
    if not top.writer:  # worker 0 writes the run directory; this worker only trains
        return _follow(run_dir, doc, graph, cfg, options, echo, top, resume=False)  # type: ignore[arg-type]
    from .rundir import RunDir

    rd = RunDir.create(run_dir or default_run_dir(graph.name))  # locked: a second training here is refused
    run = rd.path
    atomic_write_text(rd / "spec.yaml", text)
    rd.write_json(
        "run.json",
        {
            "spec": str(Path(spec).resolve()),
            "options": {**options.__dict__, "sets": dict(options.sets or {})},
            "data": {**data.__dict__, "normalize": dict(data.normalize) if data.normalize else None},
            "started": time.strftime("%Y-%m-%d %H:%M:%S"),
        },
    )
    rd.log(f"new run of {spec} -> {run}")
    try:
        with _fail_fast(top, run, echo):
            return _run(rd, doc, graph, cfg, options, echo, resume=False, top=top)
    except BaseException:
        if not (rd / "state.json").exists():  # no epoch completed: nothing to resume, leave no debris
            shutil.rmtree(run, ignore_errors=True)
        raise
    finally:
        rd.release()


def resume(
    run_dir: str | Path,
    epochs: int | None = None,
    echo: Callable[[str], None] = print,
    verbose: Any = None,
    workers: Sequence[str] | None = None,
    worker_index: int | None = None,
) -> RunResult:
    """Continue the run in ``run_dir`` from its last completed epoch (a data-parallel run: with the
    workers given now, which may differ from the first start's)."""
    stored = _stored_options(run_dir)  # before Keras starts: the run's backend must be chosen first
    top, _ = _distribution(Options(**{**stored, "workers": workers, "worker_index": worker_index}))
    if not top.writer:
        from .follower import FollowerRunDir

        with _fail_fast(top, run_dir, echo):
            return _resume(FollowerRunDir.existing(run_dir, top.index), epochs, echo, verbose, top)
    from .rundir import RunDir

    rd = RunDir.open_existing(run_dir)  # locked: a second --resume of this run is refused
    try:
        with _fail_fast(top, run_dir, echo):
            return _resume(rd, epochs, echo, verbose, top)
    finally:
        rd.release()


def _stored_options(run_dir: str | Path) -> dict[str, Any]:
    """The options run.json records, read without Keras; the backend they name is selected."""
    try:
        meta = json.loads((Path(run_dir) / "run.json").read_text(encoding="utf-8"))
        options = dict(meta["options"])
    except (OSError, ValueError, KeyError, TypeError):
        return {}  # RunDir.open_existing says what is wrong with the directory
    from ..backends import select_backend

    select_backend(options.get("backend"))
    return options


def _distribution(options: Options) -> tuple[Any, Options]:
    """The workers of a data-parallel run (from the options or Keras' environment variables), and the
    options with the backend that strategy runs on; the backend is selected before Keras starts."""
    from ..backends import select_backend
    from .distributed import Topology, topology

    if options.strategy != "data-parallel":
        if options.workers or options.worker_index is not None:
            raise UsageError("--workers and --worker-index go with --strategy data-parallel")
        select_backend(options.backend)
        return Topology(), options
    if options.backend not in (None, "jax"):
        raise UsageError(f"--strategy data-parallel runs on Keras' JAX backend, not --backend {options.backend}")
    top = topology(options.workers, options.worker_index)
    select_backend("jax")
    return top, replace(options, backend="jax", workers=top.workers or None, worker_index=top.index)


def _fail_fast(top: Any, run_dir: Any, echo: Callable[[str], None]) -> Any:
    from .distributed import fail_fast

    return fail_fast(top, run_dir, lambda m: echo(m) if not m.startswith("archspec:") else _stderr(m))


def _stderr(message: str) -> None:
    import sys

    print(message, file=sys.stderr)


def _follow(
    run_dir: str | Path,
    doc: Any,
    graph: Graph,
    cfg: TrainConfig,
    options: Options,
    echo: Callable[[str], None],
    top: Any,
    resume: bool,
) -> RunResult:
    """A worker other than 0 in a fresh run: trains the same epochs, writes nothing."""
    from .follower import FollowerRunDir

    with _fail_fast(top, run_dir, echo):
        return _run(FollowerRunDir(run_dir), doc, graph, cfg, options, echo, resume=resume, top=top)


def _resume(rd: Any, epochs: int | None, echo: Callable[[str], None], verbose: Any, top: Any = None) -> RunResult:
    from ..api import expand
    from ..loader import load_file

    meta = rd.read_json("run.json")
    opts = dict(meta["options"])
    if epochs is not None:  # extending the run: later resumes keep the new length
        opts["epochs"] = epochs
        meta["options"]["epochs"] = epochs
        rd.write_json("run.json", meta)
    if verbose is not None:
        opts["verbose"] = verbose
    if top is not None and top.multi:  # this start's workers, which may differ from the first start's
        opts["workers"], opts["worker_index"] = top.workers, top.index
    options = Options(**opts)
    doc = load_file(rd / "spec.yaml")
    graph = expand(doc, variant=options.variant, overrides=dict(options.sets or {}))
    cfg = _with_output_aliases(train_config(doc, graph.sections.get("train"), Path(meta["spec"]).parent), graph)
    cfg = replace(cfg, data=stored_data_config(meta["data"]))
    if top is None or top.writer:  # the other workers of a data-parallel run only read the directory
        _tidy(rd)
    rd.log(f"resuming (state: {rd.read_json('state.json')})")
    return _run(rd, doc, graph, cfg, options, echo, resume=True, top=top)


def _tidy(rd: Any) -> None:
    """Before resuming: remove half-written files and stale checkpoints, restore best.keras."""
    for leftover in rd.clean_temporaries():
        rd.log(f"removed the half-written {leftover.name}")
    state = rd.read_json("state.json") or {}
    rd.repair_best(state)
    for stale in rd.remove_stale_checkpoints(state):
        rd.log(f"removed {stale.name}, which the last committed epoch replaced")


@dataclass(frozen=True)
class _Inputs:
    """The prepared data of a run: splits, batched datasets, and what the pipelines share."""

    splits: Any
    train: Any
    validation: Any
    common: Mapping[str, Any]
    steps: int
    notes: tuple[str, ...] = ()  # what the user did not write, said at the start of the run
    normalize: Mapping[str, Any] | None = None  # with featurewise statistics fitted on the training split


def _run(
    rd: Any,
    doc: Any,
    graph: Graph,
    cfg: TrainConfig,
    options: Options,
    echo: Callable[[str], None],
    resume: bool,
    top: Any = None,
) -> RunResult:
    from .distributed import Topology, barrier, weights_digest

    top = top or Topology()
    setup_devices(options.cpu_devices)
    import keras

    strategy = make_strategy(options.strategy, top)  # first: a data-parallel worker joins the others here
    if top.multi and top.writer:
        from .distributed import saving_alone

        rd.save_model = saving_alone(rd.save_model)
    cfg, seed_note = _seeded(cfg, top)
    if cfg.seed is not None:
        keras.utils.set_random_seed(cfg.seed)
    keras.mixed_precision.set_global_policy("mixed_float16" if options.mixed_precision else "float32")
    batch = options.batch_size or cfg.batch_size
    graph = with_l2(graph, cfg.l2)
    stages = plan(graph, cfg, options.epochs)
    state = rd.read_json("state.json") or {} if resume else {}
    if state.get("finished") and state.get("epoch", 0) >= sum(s.epochs for s in stages):
        echo(f"{rd.path}: the run finished after epoch {state['epoch']}; nothing to resume (--epochs extends it)")
        return RunResult(rd.path, state["epoch"], rd.read_json("history.json", {}), rd.read_json("test.json"))
    with strategy.scope():
        model = build_model(graph)
    inputs = _inputs(cfg, graph, model, batch, strategy.num_replicas_in_sync, options.strategy == "data-parallel")
    inputs = replace(inputs, notes=(*inputs.notes, *seed_note))
    if not resume:  # a resumed run's checkpoint holds the adapted statistics
        for note in _adapt_normalization(model, inputs):
            inputs = replace(inputs, notes=(*inputs.notes, note))
    monitor = cfg.monitor or _default_monitor(inputs.validation is not None)
    _describe(rd, echo, inputs, graph, model, stages, strategy.num_replicas_in_sync, batch, monitor, top)
    history: dict[str, list[Any]] = dict(state.get("history") or {})  # the history committed with the checkpoint
    done = _fit_stages(rd, echo, model, strategy, stages, inputs, cfg, options, state, history, monitor, top)
    rd.save_model(model, rd.last)
    barrier(top, "archspec-trained")  # worker 0's last files are complete
    if options.strategy == "data-parallel":  # the same on every worker: a user (and the tests) can check
        echo(f"worker {top.index}: final weights sha256 {weights_digest(model)}")
    if not top.writer:
        return RunResult(rd.path, done, history, None)
    if options.strategy == "data-parallel":  # the test split: evaluated by worker 0 alone, on one device,
        keras.distribution.set_distribution(None)  # every example (its last batch need not divide over devices)
    test = _test(rd, inputs, echo) if inputs.splits.test is not None else None
    rd.write_json("state.json", {**(rd.read_json("state.json") or {}), "finished": True})
    rd.log(f"finished after epoch {done}" + (f"; test {_summary(test)}" if test else ""))
    return RunResult(rd.path, done, history, test)


def _seeded(cfg: TrainConfig, top: Any) -> tuple[TrainConfig, tuple[str, ...]]:
    """Workers must shuffle alike (each keeps its slice of the same global batch): without
    train.seed a multi-worker run uses seed 0, and says so."""
    if cfg.seed is not None or not top.multi:
        return cfg, ()
    return replace(cfg, seed=0), ("train.seed is not set: every worker must shuffle alike, so seed 0 is used",)


def _inputs(cfg: TrainConfig, graph: Graph, model: Any, batch: int, replicas: int = 1, whole: bool = False) -> _Inputs:
    """Load and split the data, and build the training and validation pipelines for ``model``.

    ``whole`` (data-parallel): every batch is whole, each worker keeps its slice of it, and all
    must take the same number of steps; a split's last partial batch is left out (a note says
    so), with any number of workers, so that a run resumed on another number of workers, or
    compared with one process, takes the same steps."""
    from . import augment as aug
    from . import data as data_mod

    classes = int(model.outputs[0].shape[-1])
    positions = _dense_outputs(cfg, model)
    # labels checked in every split (masks of the output's positions for a per-position output)
    splits = data_mod.load_splits(cfg.data, graph.input_shape, cfg.seed, classes, positions)
    _check_labels(splits, classes)
    cache, shuffle_buffer, stream_notes = data_mod.streaming_notes(
        splits, cfg.data.cache, cfg.data.shuffle_buffer, graph.input_shape
    )
    normalize = dict(cfg.data.normalize) if cfg.data.normalize else None
    if normalize is not None and "mean" not in normalize:  # featurewise statistics: fitted once, then stored
        normalize = data_mod.featurewise_statistics(splits.train, graph.input_shape, normalize)
    common = {
        "classes": classes,
        "input_shape": graph.input_shape,
        "normalize": data_mod.normalizer(normalize, splits.features),
        "outputs": tuple(model.output_names),
        "batch_size": batch,
        "cache": cache,
        "crop_from": _crop_from(cfg, graph.input_shape),
        "sparse": positions is not None,
    }
    if whole:
        common["drop_remainder"] = True
        _check_whole_batches(splits.counts, batch, replicas)
    augment, noise = aug.augmenter(cfg.augment, cfg.seed), aug.noise(cfg.augment, cfg.seed)
    train = data_mod.pipeline(
        splits.train,
        training=True,
        augment=augment,
        noise=noise,
        shuffle_buffer=shuffle_buffer,
        seed=cfg.seed,
        **common,
    )
    validation = data_mod.pipeline(splits.validation, **common) if splits.validation is not None else None
    notes = (*splits.notes, *stream_notes, *aug.meaning_notes(cfg.augment))
    if positions is not None:
        from .dense import note

        notes = (*notes, note(positions, classes))
    if whole:
        left = {k: v % batch for k, v in splits.counts.items() if v % batch}
        if left:
            notes = (*notes, f"data-parallel: whole global batches only; left out of each epoch: {left} examples")
    steps = splits.counts["train"] // batch if whole else -(-splits.counts["train"] // batch)
    return _Inputs(splits, train, validation, common, max(1, steps), notes, normalize)


def _check_whole_batches(counts: Mapping[str, int], batch: int, replicas: int) -> None:
    if batch % replicas:
        raise UsageError(f"the global batch {batch} must divide evenly over the {replicas} replicas (devices)")
    small = {k: v for k, v in counts.items() if k != "test" and v < batch}
    if small:
        raise UsageError(
            f"data-parallel training needs at least one whole global batch ({batch}) per split; got {small}"
        )


def _dense_outputs(cfg: TrainConfig, model: Any) -> tuple[int, ...] | None:
    """The positions (H, W) of a per-position output (segmentation), its train: options checked; None otherwise."""
    from . import dense

    positions = dense.label_shape(model)
    if positions is not None:
        dense.check_config(cfg, model.output_names)
    return positions


def _loss_and_metrics(cfg: TrainConfig, model: Any, classes: int) -> tuple[Any, Any]:
    """The loss and metrics of the output's kind: one class per example, or one per position."""
    from . import dense
    from . import optimizers as opt

    if dense.label_shape(model) is not None:
        return dense.loss_and_metrics(cfg.metrics, classes)
    if "mean_iou" in cfg.metrics:
        raise UsageError(
            "train.metrics: mean_iou is a per-position (segmentation) metric; this model outputs "
            f"one class per example ({classes} classes): use accuracy, top5, auc, precision, recall"
        )
    return opt.loss(cfg.loss, cfg.label_smoothing), opt.metrics(cfg.metrics, classes)


def _crop_from(cfg: TrainConfig, input_shape: Sequence[int]) -> tuple[int, int] | None:
    """The size images are read at for augment.random_crop, which must hold the input."""
    if not cfg.data.center_crop:
        return None
    size = tuple(cfg.data.image_size or ())
    if len(input_shape) != 3 or len(size) != 2 or any(s < i for s, i in zip(size, input_shape[:2])):
        raise UsageError(
            f"augment.random_crop cuts the model input {tuple(input_shape[:2])} out of images read at data.image_size; "
            f"got image_size {size or None}: give one at least as large as the input"
        )
    return size  # type: ignore[return-value]


def _adapt_normalization(model: Any, inputs: _Inputs) -> list[str]:
    """Adapt every ``normalize`` layer without a stored mean on the training split (normalized, not
    augmented), as Keras' Normalization must be before use: unadapted, it is the identity."""
    import keras

    from . import data as data_mod

    layers = [lyr for lyr in model.layers if isinstance(lyr, keras.layers.Normalization) and lyr.input_mean is None]
    if not layers:
        return []
    images = data_mod.pipeline(inputs.splits.train, **{**inputs.common, "outputs": ()}).map(lambda x, y: x)
    notes = []
    for layer in layers:
        probe = keras.Model(model.inputs, layer.input)
        layer.adapt(images.map(lambda x, probe=probe: probe(x, training=False)))
        notes.append(
            f"adapted the normalize layer {layer.name!r} on the training split ({layer.mean.shape[-1]} channels)"
        )
    return notes


def _describe(
    rd: Any,
    echo: Callable[[str], None],
    inputs: _Inputs,
    graph: Graph,
    model: Any,
    stages: Sequence[Stage],
    replicas: int,
    batch: int,
    monitor: str,
    top: Any = None,
) -> None:
    """Record the run's data, classes and distribution in run.json, and say them."""
    splits = inputs.splits
    meta = rd.read_json("run.json") or {}
    if top is not None and options_strategy(meta) == "data-parallel":
        meta["topology"] = top.describe()
        rd.log(f"data-parallel over {top.processes} worker(s): {', '.join(top.workers) or 'this process'}")
    meta.update(
        {
            "class_names": list(splits.class_names),
            "counts": splits.counts,
            "outputs": list(model.output_names),
            "input_shape": list(graph.input_shape),
            "replicas": replicas,
            "global_batch": batch,
            "per_replica_batch": batch / replicas,
            "monitor": monitor,
            "stages": [{"name": s.name, "epochs": s.epochs, "optimizer": s.optimizer.name} for s in stages],
            "data": {
                **meta.get("data", {}),
                "normalize": inputs.normalize,
            },  # evaluate and predict scale as training did
        }
    )
    if is_chief():  # a data-parallel follower's run directory writes nothing
        rd.write_json("run.json", meta)
    echo(f"run directory: {rd.path}")
    echo(
        f"data: {splits.counts} examples, {inputs.common['classes']} classes; global batch {batch} over {replicas}"
        f" replica(s) = {batch / replicas:g} per replica; {len(stages)} stage(s), {sum(s.epochs for s in stages)} epochs"
    )
    if batch % replicas:
        echo(f"warning: the global batch {batch} does not divide evenly over {replicas} replicas")
    for note in inputs.notes:  # what archspec does to the data, or means by an option, that the user did not write
        echo(f"note: {note}")
        rd.log(f"note: {note}")


def options_strategy(meta: Mapping[str, Any]) -> str:
    return str((meta.get("options") or {}).get("strategy", "default"))


def _fit_stages(
    rd: Any,
    echo: Callable[[str], None],
    model: Any,
    strategy: Any,
    stages: Sequence[Stage],
    inputs: _Inputs,
    cfg: TrainConfig,
    options: Options,
    state: Mapping[str, Any],
    history: dict[str, list[Any]],
    monitor: str,
    top: Any = None,
) -> int:
    """Fit stage after stage (recompiling between them); resume mid-plan from ``state``. Returns the last epoch."""
    import keras

    from .rundir import EpochRecorder, tensorboard

    done, best = int(state.get("epoch", 0)), dict(state.get("best", {}))
    pending = bool(done and state.get("checkpoint"))
    outputs, classes = inputs.common["outputs"], inputs.common["classes"]
    class_weight = _class_weight(cfg, inputs.splits, classes, outputs)
    start = 0
    for index, stage in enumerate(stages):
        end = start + stage.epochs
        if done >= end:
            start = end
            continue
        with strategy.scope():
            if stage.apply is not None:
                stage.apply(model)  # trainable flags take effect on the compile below
            _compile(model, cfg, stage, inputs.steps, options, outputs, classes)
        if pending:
            if done > start:  # mid-stage: the optimizer state (slots, iterations, learning rate) carries on
                with strategy.scope():
                    model.optimizer.build(model.trainable_variables)
            _load_weights(model, rd.checkpoint(state["checkpoint"]))
            echo(f"resumed from epoch {done} ({state['checkpoint']})")
            rd.log(f"resumed from epoch {done} in stage {index} ({stage.name})")
            pending = False
        trainable = sum(int(math.prod(w.shape)) for w in model.trainable_weights)
        rd.log(
            f"stage {index} ({stage.name}): epochs {max(start, done) + 1}..{end}, optimizer {stage.optimizer.name}, "
            f"trainable params {trainable:,}"
        )
        if top is not None and not top.writer:
            from .follower import FollowerRecorder

            recorder: Any = FollowerRecorder(rd, monitor, index, history, best)
            callbacks: list[Any] = [recorder]
        else:
            recorder = EpochRecorder(rd, monitor, index, history, best)
            callbacks = [recorder, tensorboard(rd)]
        plateau = _plateau(stage, monitor)
        if plateau is not None:
            callbacks.append(plateau)
        if stage.early_stopping is not None:
            callbacks.append(_early_stopping(stage.early_stopping, monitor))
        model.fit(
            inputs.train,
            validation_data=inputs.validation,
            epochs=end,
            initial_epoch=max(start, done),
            class_weight=class_weight,
            callbacks=callbacks,
            verbose=options.verbose,
            shuffle=False,  # the pipeline shuffles
        )
        best = recorder.best
        done = history["epoch"][-1] if history.get("epoch") else done
        if model.stop_training and any(isinstance(c, keras.callbacks.EarlyStopping) for c in callbacks):
            rd.log(f"early stopping after epoch {done}")
        start = end
    return done


def _load_weights(model: Any, path: Path) -> None:
    """Weights (and the optimizer's state, when it is built) from a checkpoint."""
    import warnings

    with warnings.catch_warnings():
        # At a stage boundary the new stage's optimizer starts fresh: Keras warns that it skips the old one.
        warnings.filterwarnings("ignore", message=".*optimizer.*")
        model.load_weights(path)


def _default_monitor(validation: bool) -> str:
    """val_loss (robust on small validation sets, where accuracies tie), or loss without validation data."""
    return "val_loss" if validation else "loss"


def _check_labels(splits: Any, classes: int) -> None:
    """Data that names its classes (a folder, label_names) must name as many as the model has outputs:
    a 17-way model on 3 classes trains phantom classes and reports a meaningless top-5."""
    from .labels import classes_hint

    if splits.names_given and len(splits.class_names) != classes:
        raise UsageError(
            f"the data has {len(splits.class_names)} classes ({_names(splits.class_names)}) but the model has "
            f"{classes} outputs; {classes_hint(len(splits.class_names))}"
        )


def _names(names: Sequence[str]) -> str:
    return ", ".join(names[:5]) + (", ..." if len(names) > 5 else "")


def _with_output_aliases(cfg: TrainConfig, graph: Any) -> TrainConfig:
    """``loss_weights`` may name outputs as the spec's ``outputs:`` writes them (``aux1``, a
    block instance) as well as by their layer names (``aux1_predictions``)."""
    aliases = graph.output_names
    if not cfg.loss_weights or not aliases:
        return cfg
    weights = {aliases.get(key, key): value for key, value in cfg.loss_weights.items()}
    return replace(cfg, loss_weights=weights)


def _compile(
    model: Any, cfg: TrainConfig, stage: Stage, steps: int, options: Options, outputs: Sequence[str], classes: int
) -> None:
    from . import optimizers as opt

    rate = opt.schedule(opt.learning_rate(stage.optimizer), stage.schedule, steps, stage.epochs)
    loss, metrics = _loss_and_metrics(cfg, model, classes)
    per_output: dict[str, Any] = {"loss": loss, "metrics": metrics}
    if len(outputs) > 1:  # the same loss and metrics for every output, weighted as the spec says
        weights = dict(cfg.loss_weights or {})
        unknown = [k for k in weights if k not in outputs]
        if unknown:
            from .config import check_names

            raise UsageError("train.loss_weights: " + check_names(unknown, list(outputs), "output"))
        per_output = {
            "loss": {name: loss for name in outputs},
            "loss_weights": {name: float(weights.get(name, 1.0)) for name in outputs},
            "metrics": {name: opt.metrics(cfg.metrics, classes) for name in outputs},
        }
    model.compile(
        optimizer=opt.optimizer(stage.optimizer, rate),
        jit_compile=True if options.jit_compile else "auto",
        **per_output,
    )


def _plateau(stage: Stage, monitor: str) -> Any:
    from .optimizers import plateau_callback

    loss_monitor = monitor if "loss" in monitor else ("val_loss" if monitor.startswith("val_") else "loss")
    return plateau_callback(stage.schedule, loss_monitor)


def _early_stopping(spec: Mapping[str, Any], monitor: str) -> Any:
    import keras

    return keras.callbacks.EarlyStopping(
        monitor=spec.get("monitor", monitor),
        patience=spec.get("patience", 5),
        min_delta=spec.get("min_delta", 0.0),
        restore_best_weights=spec.get("restore_best", True),
        verbose=1,
    )


def _class_weight(cfg: TrainConfig, splits: Any, classes: int, outputs: Sequence[str]) -> dict[int, float] | None:
    if cfg.class_weight is None:
        return None
    if len(outputs) > 1:
        raise UsageError(
            "train.class_weight works with single-output models only (Keras' limitation); use loss_weights"
        )
    if cfg.class_weight != "balanced":
        return {i: float(cfg.class_weight.get(i, 1.0)) for i in range(classes)}  # type: ignore[union-attr]
    import numpy as np

    labels = splits.train_labels
    if labels is None:
        labels = np.concatenate([y.numpy().reshape(-1) for _, y in splits.train.batch(1024)])
    counts = np.bincount(labels, minlength=classes)
    # sklearn's "balanced": n_samples / (n_classes * count), for classes that occur.
    return {i: float(len(labels) / (classes * c)) if c else 1.0 for i, c in enumerate(counts)}


def _test(rd: Any, inputs: _Inputs, echo: Callable[[str], None]) -> dict[str, Any]:
    """Evaluate the best model (chosen on validation) on the held-out test split; write test.json."""
    from . import data as data_mod
    from .evaluate import evaluate_dataset, load_model

    model_path = rd.best if rd.best.exists() else rd.last
    model = load_model(model_path)
    test_ds = data_mod.pipeline(inputs.splits.test, **{**inputs.common, "outputs": (), "drop_remainder": False})
    result = evaluate_dataset(model, test_ds, inputs.splits.class_names)
    result["model"] = model_path.name
    rd.write_json("test.json", result)
    echo(f"test ({inputs.splits.counts['test']} examples, {model_path.name}): {_summary(result)}")
    if "per_class_iou" in result:
        from .dense import summary

        echo(f"test {summary(result)}")
    return result


def _summary(result: Mapping[str, Any]) -> str:
    return ", ".join(f"{k}={v:.4f}" for k, v in result["metrics"].items())
