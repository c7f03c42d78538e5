"""The base networks archspec knows statically: keras.applications models and their reference specs.

A reference spec is an archspec spec with keras.applications' exact layer names and structure
(the zoo specs in ``specs/``). archspec ships copies of them as package data in
``archspec/data/bases/`` (a test keeps the copies identical to ``specs/``); from a source
checkout the ``specs/`` file is used when no copy exists. Applications without a reference
spec can still be named, but have no static figures.
"""

from __future__ import annotations

import json
from dataclasses import dataclass, replace
from pathlib import Path

DATA_DIR = Path(__file__).resolve().parent.parent / "data" / "bases"
SPECS_DIR = Path(__file__).resolve().parent.parent.parent / "specs"


@dataclass(frozen=True)
class Application:
    """One keras.applications model.

    ``features`` is the last layer Keras keeps with ``include_top=False``; ``module`` is the
    keras.applications module whose ``preprocess_input`` the application expects.
    """

    key: str
    keras_class: str
    module: str
    spec_file: str
    features: str
    min_size: int = 32
    default_size: int = 224
    generated: bool = False  # its reference spec is archspec import of the Keras model (tools/gen_bases.py)
    notop_spec_file: str | None = None  # when Keras' include_top=False model is not a prefix of the full one


APPLICATIONS: dict[str, Application] = {
    a.key: a
    for a in (
        Application("vgg16", "VGG16", "vgg16", "vgg16.yaml", "block5_pool"),
        Application("vgg19", "VGG19", "vgg19", "vgg19.yaml", "block5_pool"),
        Application("resnet50", "ResNet50", "resnet", "resnet50.yaml", "conv5_block3_out"),
        Application("resnet101", "ResNet101", "resnet", "resnet101.yaml", "conv5_block3_out"),
        Application("resnet152", "ResNet152", "resnet", "resnet152.yaml", "conv5_block3_out"),
        Application("resnet50v2", "ResNet50V2", "resnet_v2", "resnet50v2.yaml", "post_relu"),
        Application("densenet121", "DenseNet121", "densenet", "densenet121.yaml", "relu"),
        Application("mobilenet", "MobileNet", "mobilenet", "mobilenet.yaml", "conv_pw_13_relu"),
        Application("mobilenetv2", "MobileNetV2", "mobilenet_v2", "mobilenetv2.yaml", "out_relu"),
        Application("efficientnet_b0", "EfficientNetB0", "efficientnet", "efficientnet_b0.yaml", "top_activation"),
    )
}

GENERATED_DIR = DATA_DIR / "generated"


def _generated() -> dict[str, Application]:
    """The applications whose reference specs tools/gen_bases.py wrote from Keras' own models."""
    table = GENERATED_DIR / "applications.json"
    if not table.is_file():
        return {}
    out = {}
    for key, entry in json.loads(table.read_text(encoding="utf-8")).items():
        if "features" in entry:  # the others use a layer the language lacks ("not_expressible")
            fields = ("keras_class", "module", "spec_file", "features", "min_size", "default_size")
            app = Application(key, *(entry[f] for f in fields), generated=True)  # type: ignore[arg-type]
            out[key] = replace(app, notop_spec_file=entry.get("notop_spec_file"))
    return out


APPLICATIONS.update({k: v for k, v in _generated().items() if k not in APPLICATIONS})

#: The preprocessing modes of keras.applications.imagenet_utils, by application module.
PREPROCESS_MODES = {
    "vgg16": "caffe",
    "vgg19": "caffe",
    "resnet": "caffe",
    "resnet_v2": "tf",
    "mobilenet": "tf",
    "mobilenet_v2": "tf",
    "densenet": "torch",
    "efficientnet": "none (the model rescales itself)",
    "efficientnet_v2": "none (the model rescales itself)",
    "convnext": "none (the model normalises itself)",
    "mobilenet_v3": "none (the model rescales itself)",
    "xception": "tf",
    "inception_v3": "tf",
    "inception_resnet_v2": "tf",
    "nasnet": "tf",
}


def normalise(name: str) -> str:
    """``ResNet50V2`` / ``resnet50_v2`` / ``EfficientNetB0`` -> the table key."""
    key = name.strip().lower().replace("-", "_")
    aliases = {"resnet50_v2": "resnet50v2", "mobilenet_v2": "mobilenetv2", "efficientnetb0": "efficientnet_b0"}
    return aliases.get(key, key)


def application(name: str) -> Application | None:
    return APPLICATIONS.get(normalise(name))


def reference_spec(app: Application, include_top: bool = True) -> Path | None:
    """The reference spec of an application: the packaged copy, else the checkout's specs/ file.

    Without the top, a model whose Keras ``include_top=False`` form is not a prefix of the full
    one (ConvNeXt adds a layer norm there) has a reference spec of its own.
    """
    name = app.spec_file if include_top or not app.notop_spec_file else app.notop_spec_file
    for folder in (DATA_DIR, SPECS_DIR):
        path = folder / name
        if path.is_file():
            return path
    return None


def supported() -> list[str]:
    """Applications with a reference spec available (static figures known)."""
    return [key for key, app in APPLICATIONS.items() if reference_spec(app) is not None]


#: Every model in keras.applications (Keras 3): normalised key -> class name.
KERAS_APPLICATIONS = {
    normalise(n): n
    for n in (
        "ConvNeXtBase", "ConvNeXtLarge", "ConvNeXtSmall", "ConvNeXtTiny", "ConvNeXtXLarge", "DenseNet121",
        "DenseNet169", "DenseNet201", "EfficientNetB0", "EfficientNetB1", "EfficientNetB2", "EfficientNetB3",
        "EfficientNetB4", "EfficientNetB5", "EfficientNetB6", "EfficientNetB7", "EfficientNetV2B0",
        "EfficientNetV2B1", "EfficientNetV2B2", "EfficientNetV2B3", "EfficientNetV2L", "EfficientNetV2M",
        "EfficientNetV2S", "InceptionResNetV2", "InceptionV3", "MobileNet", "MobileNetV2", "MobileNetV3Large",
        "MobileNetV3Small", "NASNetLarge", "NASNetMobile", "ResNet101", "ResNet101V2", "ResNet152", "ResNet152V2",
        "ResNet50", "ResNet50V2", "VGG16", "VGG19", "Xception",
    )
}  # fmt: skip
