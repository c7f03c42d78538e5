"""The ``train:`` section: its JSON Schema fragment and the frozen settings the trainer reads.

This module must not import TensorFlow: ``archspec validate`` and ``archspec schema`` load it.

.. code-block:: yaml

    train:
      data: {path: digits.npz, validation: 0.1, test: 0.2, normalize: rescale}
      augment: {rotation_range: 10, width_shift_range: 0.1, zoom_range: 0.1}
      epochs: 20
      batch_size: 64                      # global: split across replicas
      optimizer: {name: sgd, lr: 0.01, momentum: 0.9, nesterov: true}
      schedule: {name: plateau, factor: 0.1, patience: 3}
      l2: 0.0005
      label_smoothing: 0.1
      metrics: [accuracy, top5]
      early_stopping: {patience: 5}
      seed: 42
"""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field, replace
from pathlib import Path
from typing import Any

from ..analysis import DEFAULT_LR as DEFAULT_LR  # Keras' defaults, shared with fine_tune: stages
from ..errors import Problem, SpecError, did_you_mean
from ..loader import Document

_NUM = {"type": "number"}
_POS = {"type": "number", "exclusiveMinimum": 0}
_FRACTION = {"type": "number", "minimum": 0, "maximum": 1}
_INT1 = {"type": "integer", "minimum": 1}

OPTIMIZERS = ("sgd", "rmsprop", "adam", "adamw")

#: An optimizer of ``train:``: a bare name, or a mapping (``fine_tune:`` stages have their own,
#: narrower schema in archspec.transfer.schema).
OPTIMIZER_SCHEMA: dict[str, Any] = {
    "description": "An optimizer: sgd, rmsprop, adam, adamw, or {name: sgd, lr: 0.01, momentum: 0.9, ...}.",
    "anyOf": [
        {"enum": list(OPTIMIZERS)},
        {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"enum": list(OPTIMIZERS)},
                "lr": _POS,
                "learning_rate": _POS,
                "momentum": _FRACTION,
                "nesterov": {"type": "boolean"},
                "rho": _FRACTION,
                "beta_1": _FRACTION,
                "beta_2": _FRACTION,
                "epsilon": _POS,
                "weight_decay": {"type": "number", "minimum": 0},
                "clipnorm": _POS,
                "clipvalue": _POS,
                "global_clipnorm": _POS,
            },
            "additionalProperties": False,
        },
    ],
}

SCHEDULES = ("step", "exponential", "cosine", "plateau", "constant")

SCHEDULE_SCHEMA: dict[str, Any] = {
    "description": "Learning-rate schedule: step, exponential, cosine, plateau (divide by 10 when validation stalls).",
    "anyOf": [
        {"enum": list(SCHEDULES)},
        {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"enum": list(SCHEDULES)},
                "every": {**_INT1, "description": "step: epochs between drops."},
                "factor": {"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1},
                "decay_epochs": {**_POS, "description": "exponential: epochs per decay_rate."},
                "decay_rate": {"type": "number", "exclusiveMinimum": 0, "maximum": 1},
                "alpha": _FRACTION,
                "warmup_epochs": {"type": "integer", "minimum": 0},
                "patience": {"type": "integer", "minimum": 0},
                "monitor": {"type": "string"},
                "min_lr": {"type": "number", "minimum": 0},
            },
            "additionalProperties": False,
        },
    ],
}

FORMATS = ("folder", "hdf5", "npz", "csv")

DATA_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Where the images come from and how they are split, resized and normalized.",
    "properties": {
        "path": {"type": "string", "description": "Image folder (one subfolder per class), .h5/.hdf5, .npz or .csv."},
        "format": {"enum": list(FORMATS)},
        "validation": {
            "anyOf": [{"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}, {"type": "string"}],
            "description": "A fraction of the data, or a path in any supported format.",
        },
        "test": {"anyOf": [{"type": "number", "exclusiveMinimum": 0, "exclusiveMaximum": 1}, {"type": "string"}]},
        "image_size": {"type": "array", "items": _INT1, "minItems": 2, "maxItems": 2},
        "normalize": {
            "anyOf": [
                {"enum": ["rescale", "none"]},
                {
                    "type": "object",
                    "properties": {
                        "rescale": _NUM,
                        "offset": _NUM,
                        "featurewise_center": {
                            "type": "boolean",
                            "description": "Subtract the training split's per-channel mean (ImageDataGenerator).",
                        },
                        "featurewise_std_normalization": {
                            "type": "boolean",
                            "description": "Divide by the training split's per-channel std (ImageDataGenerator).",
                        },
                        "preprocess_input": {
                            "type": "string",
                            "description": "keras.applications module, e.g. resnet50",
                        },
                    },
                    "additionalProperties": False,
                },
            ]
        },
        "label_column": {"type": ["string", "integer"], "description": "CSV: the label column (name or index)."},
        "images_key": {"type": "string"},
        "labels_key": {"type": "string"},
        "cache": {"type": "boolean"},
        "shuffle_buffer": {"type": "integer", "minimum": 0},
    },
    "additionalProperties": False,
}

#: The notes' ImageDataGenerator vocabulary, mapped onto Keras preprocessing layers.
AUGMENT_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "Training-only augmentation (ImageDataGenerator names).",
    "properties": {
        "rotation_range": {"type": "number", "minimum": 0, "maximum": 180, "description": "Degrees."},
        "width_shift_range": _FRACTION,
        "height_shift_range": _FRACTION,
        "shear_range": {
            "type": "number",
            "minimum": 0,
            "description": "Shear angle in degrees, one axis (ImageDataGenerator).",
        },
        "zoom_range": {"anyOf": [_FRACTION, {"type": "array", "items": _NUM, "minItems": 2, "maxItems": 2}]},
        "horizontal_flip": {"type": "boolean"},
        "vertical_flip": {"type": "boolean"},
        "brightness_range": {
            "anyOf": [_FRACTION, {"type": "array", "items": _NUM, "minItems": 2, "maxItems": 2}],
            "description": "[lo, hi]: multiply by U(lo, hi) (ImageDataGenerator); a number f: add U(-f, f) x 255.",
        },
        "contrast_range": _FRACTION,
        "gaussian_noise": {"type": "number", "minimum": 0, "description": "Noise stddev, after normalization."},
        "fill_mode": {"enum": ["reflect", "wrap", "constant", "nearest"]},
        "random_crop": {
            "type": "boolean",
            "description": "Crop a random window of the input's size from images read at data.image_size "
            "(tf.image.random_crop); other splits are centre-cropped.",
        },
    },
    "additionalProperties": False,
}

SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "How `archspec train` trains the model: data, augmentation, optimizer, schedule, epochs.",
    "properties": {
        "data": DATA_SCHEMA,
        "augment": AUGMENT_SCHEMA,
        "epochs": _INT1,
        "batch_size": {**_INT1, "description": "Global batch size (split across replicas under distribution)."},
        "optimizer": OPTIMIZER_SCHEMA,
        "schedule": SCHEDULE_SCHEMA,
        "l2": {
            "type": "number",
            "minimum": 0,
            "description": "L2 weight decay on every conv/dense kernel without one.",
        },
        "label_smoothing": {"type": "number", "minimum": 0, "exclusiveMaximum": 1},
        "class_weight": {
            "anyOf": [{"const": "balanced"}, {"type": "object", "additionalProperties": {"type": "number"}}]
        },
        "loss": {"enum": ["categorical_crossentropy", "binary_crossentropy"]},
        "metrics": {
            "type": "array",
            "items": {"enum": ["accuracy", "top5", "top_k", "auc", "precision", "recall", "mean_iou"]},
        },
        "early_stopping": {
            "anyOf": [
                {"type": "boolean"},
                {
                    "type": "object",
                    "properties": {
                        "monitor": {"type": "string"},
                        "patience": {"type": "integer", "minimum": 0},
                        "min_delta": {"type": "number", "minimum": 0},
                        "restore_best": {"type": "boolean"},
                    },
                    "additionalProperties": False,
                },
            ]
        },
        "monitor": {"type": "string", "description": "What picks the best model (default val_accuracy)."},
        "seed": {"type": "integer", "minimum": 0},
        "loss_weights": {"type": "object", "additionalProperties": {"type": "number", "minimum": 0}},
    },
    "additionalProperties": False,
}


@dataclass(frozen=True)
class OptimizerConfig:
    """An optimizer and its arguments (``lr`` is the learning rate)."""

    name: str = "adam"
    lr: float | None = None
    args: Mapping[str, Any] = field(default_factory=dict)


@dataclass(frozen=True)
class DataConfig:
    path: str | None = None
    format: str | None = None
    validation: float | str | None = None
    test: float | str | None = None
    image_size: tuple[int, int] | None = None
    normalize: Mapping[str, Any] | None = None  # None: rescale images to [0, 1], leave features as they are
    label_column: str | int = "label"
    images_key: str | None = None
    labels_key: str | None = None
    cache: bool = True
    shuffle_buffer: int = 10_000
    center_crop: bool = False  # set by augment.random_crop: splits other than training are centre-cropped


@dataclass(frozen=True)
class TrainConfig:
    """Everything the trainer needs from the ``train:`` section, defaults filled in."""

    data: DataConfig = DataConfig()
    augment: Mapping[str, Any] = field(default_factory=dict)
    epochs: int = 10
    batch_size: int = 32
    optimizer: OptimizerConfig = OptimizerConfig()
    schedule: Mapping[str, Any] | None = None
    l2: float | None = None
    label_smoothing: float = 0.0
    class_weight: str | Mapping[int, float] | None = None
    loss: str = "categorical_crossentropy"
    metrics: tuple[str, ...] = ("accuracy",)
    early_stopping: Mapping[str, Any] | None = None
    monitor: str | None = None
    seed: int | None = None
    loss_weights: Mapping[str, float] | None = None


def optimizer_config(raw: Any) -> OptimizerConfig:
    """``adam`` or ``{name: sgd, lr: 0.01, momentum: 0.9}`` -> OptimizerConfig (schema-checked input)."""
    if raw is None:
        return OptimizerConfig()
    if isinstance(raw, str):
        return OptimizerConfig(raw)
    args = {k: v for k, v in raw.items() if k not in ("name", "lr", "learning_rate")}
    return OptimizerConfig(raw["name"], raw.get("lr", raw.get("learning_rate")), args)


def _normalize(raw: Any) -> dict[str, Any] | None:
    if raw is None:
        return None
    if raw == "rescale":
        return {"rescale": 1 / 255, "offset": 0.0}
    if raw == "none":
        return {"rescale": 1.0, "offset": 0.0}
    if "preprocess_input" in raw:
        return {"preprocess_input": raw["preprocess_input"]}
    out = {"rescale": float(raw.get("rescale", 1 / 255)), "offset": float(raw.get("offset", 0.0))}
    # fitted on the training split by the trainer, as ImageDataGenerator.fit does (mean, std then stored)
    return out | {k: raw[k] for k in ("featurewise_center", "featurewise_std_normalization", "mean", "std") if k in raw}


def data_config(raw: Mapping[str, Any] | None, base_dir: Path | None = None) -> DataConfig:
    """The ``data:`` mapping as a DataConfig; relative paths are relative to ``base_dir`` (the spec's folder)."""
    raw = dict(raw or {})

    def where(value: Any) -> Any:
        if isinstance(value, str) and base_dir is not None and not Path(value).is_absolute():
            return str(base_dir / value)
        return value

    size = raw.get("image_size")
    return DataConfig(
        path=where(raw.get("path")),
        format=raw.get("format"),
        validation=where(raw.get("validation")),
        test=where(raw.get("test")),
        image_size=tuple(size) if size else None,  # type: ignore[arg-type]
        normalize=_normalize(raw.get("normalize")),
        label_column=raw.get("label_column", "label"),
        images_key=raw.get("images_key"),
        labels_key=raw.get("labels_key"),
        cache=raw.get("cache", True),
        shuffle_buffer=raw.get("shuffle_buffer", 10_000),
    )


def stored_data_config(stored: Mapping[str, Any]) -> DataConfig:
    """The DataConfig a run saved in run.json (``DataConfig.__dict__``; JSON made the tuple a list)."""
    fields = dict(stored)
    fields["image_size"] = tuple(fields["image_size"]) if fields.get("image_size") else None
    return replace(data_config({}), **fields)


def train_config(doc: Document | None, section: Mapping[str, Any] | None, base_dir: Path | None = None) -> TrainConfig:
    """Read a (schema-checked) ``train:`` section; raise SpecError, with locations, on what the schema cannot see."""
    raw = dict(section or {})
    problems: list[Problem] = []

    def fail(message: str, *path: Any) -> None:
        where = doc.problem(message, ("train", *path)) if doc is not None else Problem(message, path=("train", *path))
        problems.append(where)

    data = data_config(raw.get("data"), base_dir)
    fractions = [v for v in (data.validation, data.test) if isinstance(v, float | int)]
    if sum(fractions) >= 1:
        fail(f"validation and test fractions must leave data to train on; they add up to {sum(fractions):g}", "data")
    normalize_raw = (raw.get("data") or {}).get("normalize")
    if isinstance(normalize_raw, Mapping) and "preprocess_input" in normalize_raw:
        ignored = sorted(k for k in normalize_raw if k != "preprocess_input")
        if ignored:  # preprocess_input does all the scaling: these would be silently ignored
            fail(
                f"preprocess_input does all the input scaling itself; {', '.join(ignored)} cannot be combined "
                "with it (drop them, or drop preprocess_input)",
                "data",
                "normalize",
            )
    if (raw.get("augment") or {}).get("random_crop"):
        if not data.image_size:
            fail("random_crop crops the model's input from images read larger: set data.image_size", "augment")
        data = replace(data, center_crop=True)
    stopping = raw.get("early_stopping")
    if stopping is True:
        stopping = {}
    schedule = raw.get("schedule")
    if isinstance(schedule, str):
        schedule = {"name": schedule}
    class_weight = raw.get("class_weight")
    if isinstance(class_weight, Mapping):
        parsed: dict[int, float] = {}
        for key, value in class_weight.items():
            try:
                parsed[int(key)] = float(value)
            except ValueError:
                fail(f"class_weight keys are class indices (0, 1, ...); got {key!r}", "class_weight", key)
        class_weight = parsed
    if problems:
        raise SpecError(problems)
    return TrainConfig(
        data=data,
        augment=dict(raw.get("augment") or {}),
        epochs=raw.get("epochs", 10),
        batch_size=raw.get("batch_size", 32),
        optimizer=optimizer_config(raw.get("optimizer")),
        schedule=schedule,
        l2=raw.get("l2"),
        label_smoothing=raw.get("label_smoothing", 0.0),
        class_weight=class_weight,
        loss=raw.get("loss", "categorical_crossentropy"),
        metrics=tuple(raw.get("metrics", ("accuracy",))),
        early_stopping=stopping if isinstance(stopping, Mapping) else None,
        monitor=raw.get("monitor"),
        seed=raw.get("seed"),
        loss_weights=raw.get("loss_weights"),
    )


def check_names(names: list[str], known: list[str], what: str) -> str:
    """A message naming the first unknown name with a hint, or an empty string."""
    for name in names:
        if name not in known:
            return f"unknown {what} {name!r} (known: {', '.join(known)}).{did_you_mean(name, known)}"
    return ""
