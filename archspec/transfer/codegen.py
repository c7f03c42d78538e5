"""What ``archspec compile`` writes for a transfer-learning spec, beyond the layers.

The layers of a keras.applications base with a reference spec are written like any others,
with Keras' own names; this module adds what the spec says about them, so that the generated
module does what ``archspec build`` and ``archspec train`` do:

- ``BASE_WEIGHTS`` and ``load_base_weights(model)``: the pretrained weights, loaded as Keras
  loads them (by the application's constructor) and copied into the base's layers by name;
  ``build_model()`` calls it;
- ``preprocess_input``: the base's own preprocessing, for batches of 0..255 RGB images (archspec
  applies it in the input pipeline, not inside the model);
- ``STAGES`` and ``fine_tune(model, x, y, ...)``: the fine-tuning plan, each stage setting
  the trainable flags, compiling with its optimizer and fitting for its epochs.

What a module cannot carry is refused with the reason (an opaque base, a spec base's weights
file) or, for stage callbacks, listed in the module and returned as a note.
"""

from __future__ import annotations

from typing import Any

from ..errors import Problem, UsageError
from ..extensions import Literal, ModuleParts
from ..ir import Graph
from .bases import PREPROCESS_MODES
from .info import BaseInfo, transfer_info
from .plan import OptimizerConfig, Plan, plan

_OPTIMIZERS = {"sgd": "SGD", "rmsprop": "RMSprop", "adam": "Adam", "adamw": "AdamW"}


def transfer_code(graph: Graph, literal: Literal) -> ModuleParts | None:
    """The transfer-learning parts of the module for ``graph``, or None for a spec without them."""
    info = transfer_info(graph)
    if info is None:
        return None
    base = info.base
    if base is not None:
        _check_portable(base)
    the_plan = plan(graph)
    lit = literal  # codegen.literal: every value is written through it
    constants: list[str] = []
    functions: list[str] = []
    build: list[str] = []
    if base is not None and base.kind == "application":
        constants += [f"BASE_WEIGHTS = {lit(base.weights)}  # None: random initial weights", ""]
        functions += _weights_function(base, graph, lit)
        build += ["    if base_weights is not None:", "        load_base_weights(model, base_weights)"]
    functions += _preprocess_function(the_plan.preprocess, lit)
    notes: list[str] = []
    if the_plan.stages:
        constants += _stage_constants(the_plan, lit)
        functions += _FINE_TUNE
        notes = [
            f"fine_tune stage {s.name!r}: callbacks {list(s.callbacks)} are not in the module (archspec train runs them)"
            for s in the_plan.stages
            if s.callbacks
        ]
    parameters = ("base_weights=BASE_WEIGHTS",) if build else ()
    return ModuleParts(tuple(constants), parameters, tuple(build), tuple(functions), tuple(notes))


def _check_portable(base: BaseInfo) -> None:
    if base.opaque:
        what = "a saved model" if base.kind == "model" else f"keras.applications.{base.source} (no reference spec)"
        raise UsageError(
            Problem(
                f"compile cannot write this base: {what} is one opaque unit that archspec builds with Keras, so "
                "the module would hold the head only; use `archspec build` (a .keras file) instead",
                base.location,
                ("base",),
            )
        )
    if base.kind == "spec" and base.weights is not None:
        raise UsageError(
            Problem(
                "compile cannot carry a spec base's weights file (it belongs to the base spec's own model, which "
                "the module does not build); use `archspec build`, or compile without `weights:`",
                base.location,
                ("base", "weights"),
            )
        )


def _weights_function(base: BaseInfo, graph: Graph, lit: Literal) -> list[str]:
    kwargs = {"include_top": base.include_top, **dict(base.vars)}
    if base.include_top and base.classes:
        kwargs["classes"] = base.classes
    args = ", ".join(f"{k}={lit(v)}" for k, v in kwargs.items())
    return [
        "def load_base_weights(model, weights=BASE_WEIGHTS):",
        f'    """Load the pretrained weights of keras.applications.{base.keras_class} as Keras loads them (its',
        "    constructor: imagenet, or a weights file), then copy them into the base's layers by name.",
        '    """',
        f"    base = keras.applications.{base.keras_class}(",
        f"        weights=weights, input_shape=model.input_shape[1:], {args}",
        "    )",
        "    for layer in base.layers:",
        "        if layer.weights:",
        "            model.get_layer(layer.name).set_weights(layer.get_weights())",
        "",
        "",
    ]


def _preprocess_function(name: str, lit: Literal) -> list[str]:
    doc = '    """The base\'s own preprocessing, for batches of RGB images with values 0..255 (apply it before the model)."""'
    if name == "none":
        body = ["    return images"]
    elif name in ("caffe", "tf", "torch"):
        body = [f"    return keras.applications.imagenet_utils.preprocess_input(images, mode={lit(name)})"]
    else:
        module = name.removeprefix("keras.applications.")
        if module not in PREPROCESS_MODES:  # only modules archspec knows are ever written
            raise UsageError(f"compile: unknown preprocessing {name!r}")
        body = [f"    return keras.applications.{module}.preprocess_input(images)"]
    return ["def preprocess_input(images):", doc, *body, "", ""]


def _stage_constants(the_plan: Plan, lit: Literal) -> list[str]:
    layers = the_plan.stages[0].layers
    lines = ["# the layers the plan governs; each stage lists those that train", *_names("PLANNED_LAYERS", layers, lit)]
    lines.append("STAGES = [")
    for s in the_plan.stages:
        options = ", ".join(f"{lit(k)}: {lit(v)}" for k, v in _optimizer_options(s.optimizer).items())
        lines += [
            "    {",
            f'        "name": {lit(s.name)},',
            f'        "epochs": {lit(s.epochs)},',
            f'        "optimizer": ({lit(_OPTIMIZERS[s.optimizer.name])}, {{{options}}}),',
            *_names('        "trainable"', [n for n in layers if n in s.trainable], lit, ":", ","),
            "    },",
        ]
    return [*lines, "]", ""]


def _names(target: str, names: Any, lit: Literal, sign: str = " =", end: str = "") -> list[str]:
    """A list of names, one per line when it does not fit (as ruff format writes it)."""
    one = f"{target}{sign} {lit(list(names))}{end}"
    if len(one) <= 88:
        return [one]
    indent = " " * (len(target) - len(target.lstrip()) + 4)
    return [f"{target}{sign} [", *(f"{indent}{lit(n)}," for n in names), f"{indent[:-4]}]{end}"]


def _optimizer_options(opt: OptimizerConfig) -> dict[str, object]:
    options: dict[str, object] = {"learning_rate": opt.lr}
    if opt.name in ("sgd", "rmsprop"):
        options["momentum"] = opt.momentum
    if opt.name == "sgd":
        options["nesterov"] = opt.nesterov
    if opt.weight_decay is not None:
        options["weight_decay"] = opt.weight_decay
    return options


_FINE_TUNE = [
    "def fine_tune(",
    '    model, x, y=None, validation_data=None, loss="categorical_crossentropy", metrics=("accuracy",), **fit_kwargs',
    "):",
    '    """Train stage after stage as the spec\'s plan says: set every planned layer\'s trainable flag, compile',
    "    with the stage's optimizer (a trainable change takes effect only on compile), fit its epochs.",
    "    x, y and the keyword arguments are model.fit's; x must already be preprocessed (preprocess_input).",
    '    """',
    "    histories, epoch = [], 0",
    "    for stage in STAGES:",
    "        for name in PLANNED_LAYERS:",
    '            model.get_layer(name).trainable = name in stage["trainable"]',
    '        optimizer_class, options = stage["optimizer"]',
    "        optimizer = getattr(keras.optimizers, optimizer_class)(**options)",
    "        model.compile(optimizer=optimizer, loss=loss, metrics=list(metrics))",
    '        end = epoch + stage["epochs"]',
    "        histories.append(",
    "            model.fit(x, y, validation_data=validation_data, initial_epoch=epoch, epochs=end, **fit_kwargs)",
    "        )",
    "        epoch = end",
    "    return histories",
    "",
    "",
]
