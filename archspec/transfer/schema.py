"""JSON Schema fragments of the transfer-learning sections: ``base``, ``freeze`` and ``fine_tune``.

Registered in :data:`archspec.schema.SECTIONS`; this module must not import TensorFlow.
"""

from __future__ import annotations

from typing import Any

_NAME = {"type": "string", "minLength": 1}

#: One freeze/unfreeze selector (see :mod:`archspec.transfer.freeze`).
SELECTOR: dict[str, Any] = {
    "anyOf": [
        {
            "type": "string",
            "minLength": 1,
            "description": "all | base | head | none | layers[15:] (Keras layer indices) | a layer name.",
        },
        {
            "type": "object",
            "minProperties": 1,
            "properties": {
                "index": {
                    "anyOf": [{"type": "string"}, {"type": "integer"}],
                    "description": "Keras layer index or slice, as in `model.layers[15:]` (0 is the input layer).",
                },
                "from": {**_NAME, "description": "This layer and every later one."},
                "to": {**_NAME, "description": "With `from`: up to and including this layer."},
                "name": {"anyOf": [_NAME, {"type": "array", "items": _NAME, "minItems": 1}]},
                "pattern": {**_NAME, "description": "Shell-style name pattern, e.g. block5_*."},
                "block": {**_NAME, "description": "A block instance or stage: its scope, or the name prefix `X_`."},
                "type": {**_NAME, "description": "A layer type, e.g. bn."},
            },
            "additionalProperties": False,
        },
    ]
}
SELECTORS: dict[str, Any] = {"anyOf": [SELECTOR, {"type": "array", "items": SELECTOR}]}

OPTIMIZER: dict[str, Any] = {
    "anyOf": [
        {"enum": ["rmsprop", "sgd", "adam", "adamw"]},
        {
            "type": "object",
            "required": ["name"],
            "properties": {
                "name": {"enum": ["rmsprop", "sgd", "adam", "adamw"]},
                "lr": {"type": "number", "exclusiveMinimum": 0},
                "momentum": {"type": "number", "minimum": 0, "maximum": 1},
                "nesterov": {"type": "boolean"},
                "weight_decay": {"type": "number", "minimum": 0},
            },
            "additionalProperties": False,
        },
    ],
    "description": "A bare name, or {name: rmsprop|sgd|adam|adamw, lr: 0.001, momentum: 0.9, nesterov: false}.",
}

BASE_SCHEMA: dict[str, Any] = {
    "type": "object",
    "description": "A pretrained base network; the body `layers:` (the head) follows its output.",
    "properties": {
        "application": {**_NAME, "description": "A keras.applications model: vgg16, resnet50, mobilenetv2, ..."},
        "spec": {**_NAME, "description": "Another archspec spec (path relative to this one) as the base."},
        "model": {**_NAME, "description": "A saved .keras model (loaded with safe_mode=True)."},
        "include_top": {"type": "boolean"},
        "pooling": {"enum": ["avg", "max", None]},
        "weights": {**_NAME, "description": "imagenet | none | path to a local weights file."},
        "preprocess": {
            **_NAME,
            "description": "auto (the application's preprocess_input) | none | caffe | tf | torch | an application.",
        },
        "output": {**_NAME, "description": "Cut the base at this layer (default: its feature output)."},
        "vars": {"type": "object", "description": "Variables of a spec base (also Keras application arguments)."},
        "classes": {"type": "integer", "minimum": 1, "description": "Classes of the base's own top (include_top)."},
        "bn_inference": {
            "type": "boolean",
            "description": "Keep the base's batch-norm layers frozen (inference mode) when unfreezing (default true).",
        },
        "trust": {"type": "boolean", "description": "Allow loading a legacy .h5 full model (can run code)."},
        "name": {"type": "string", "pattern": r"^[A-Za-z_][A-Za-z0-9_]*$", "description": "Scope name of the base."},
    },
    "additionalProperties": False,
}

FREEZE_SCHEMA: dict[str, Any] = {
    **SELECTORS,
    "description": "Layers frozen before training (selectors: all, base, head, layers[15:], {from: block5_conv1}, ...).",
}

FINE_TUNE_SCHEMA: dict[str, Any] = {
    "type": "array",
    "minItems": 1,
    "description": "Staged fine-tuning: each stage freezes/unfreezes layers, then trains with its optimizer.",
    "items": {
        "type": "object",
        "properties": {
            "name": {"type": "string", "pattern": r"^[A-Za-z0-9_.\-]+$"},
            "freeze": SELECTORS,
            "unfreeze": SELECTORS,
            "bn_inference": {"type": "boolean"},
            "optimizer": OPTIMIZER,
            "epochs": {"type": "integer", "minimum": 1},
            "callbacks": {"type": "array", "items": {"anyOf": [{"type": "string"}, {"type": "object"}]}},
            "comment": {"type": "string"},
        },
        "required": ["optimizer", "epochs"],
        "additionalProperties": False,
    },
}
