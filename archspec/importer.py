"""Keras models in: a ``.keras`` file (or a saved model config) as a readable archspec spec.

A ``.keras`` file is a zip holding ``config.json``, the model's structure as Keras serialises
it. archspec reads that JSON itself, without TensorFlow and without Keras' deserialiser: nothing
in the file is executed, its size and nesting are capped, and every layer class is looked up in
archspec's own registry (the inverse of the Keras class and argument names each layer type
declares). A class archspec does not know is reported by name and place, never guessed.

Each Keras layer becomes one layer item with Keras' own name; wiring that is not "read the
previous layer" becomes ``inputs:``. Settings archspec's language has no place for (a custom
initializer's parameters, constraints, regularisers other than L2) do not change the network's
figures; they are listed as notes, so nothing is dropped silently. Settings that would change
the figures (``channels_first``, a layer used twice, a nested model) are errors.
"""

from __future__ import annotations

import functools
import json
import re
import zipfile
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import ArchspecError, Location, Problem, UsageError
from .registry import REQUIRED, Arg, LayerType, registry

MAX_CONFIG_BYTES = 32 << 20  # EfficientNetV2-L's config is ~2 MB
MAX_LAYERS = 20_000


@dataclass(frozen=True)
class Imported:
    """A spec made from a Keras model, and what it could not carry over."""

    spec: dict[str, Any]
    notes: tuple[str, ...] = ()


class ImportProblem(ArchspecError):
    """A Keras model that archspec cannot express (exit status 1), with where it is in the config."""

    def __init__(self, message: str, where: str):
        super().__init__(Problem(message, Location(where)))


def _unreadable(message: str, where: str) -> UsageError:
    """A file that is not a readable Keras model: a broken data file (exit status 2)."""
    return UsageError(f"{where}: {message}")


# -- reading the file -------------------------------------------------------------------------------


def read_config(path: str | Path) -> dict[str, Any]:
    """The model config inside a ``.keras`` file (or a ``.json`` config), read as plain JSON."""
    path = Path(path)
    if not path.is_file():
        raise _unreadable("no such model file", str(path))
    if path.suffix == ".json":
        return _parse(_read_capped(path.open("rb")), str(path))
    try:
        with zipfile.ZipFile(path) as archive:
            try:
                info = archive.getinfo("config.json")
            except KeyError:
                raise _unreadable("not a Keras model file: the archive has no config.json", str(path)) from None
            if info.file_size > MAX_CONFIG_BYTES:
                raise _unreadable(
                    f"config.json is {info.file_size:,} bytes; the limit is {MAX_CONFIG_BYTES:,}", str(path)
                )
            with archive.open(info) as fh:
                return _parse(_read_capped(fh), f"{path}:config.json")
    except (zipfile.BadZipFile, OSError) as exc:
        raise _unreadable(f"not a Keras model file (a .keras file is a zip archive): {exc}", str(path)) from None


def _read_capped(fh: Any) -> bytes:
    with fh:
        data = fh.read(MAX_CONFIG_BYTES + 1)
    if len(data) > MAX_CONFIG_BYTES:
        raise _unreadable(f"the model config is over {MAX_CONFIG_BYTES:,} bytes", "config.json")
    return data


def _parse(data: bytes, where: str) -> dict[str, Any]:
    try:
        config = json.loads(data.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError) as exc:
        raise _unreadable(f"the model config is not valid JSON: {exc}", where) from None
    except RecursionError:
        raise _unreadable("the model config is nested too deeply", where) from None
    if not isinstance(config, dict):
        raise _unreadable("the model config is not a JSON object", where)
    return config


# -- from a config to a spec --------------------------------------------------------------------------


def import_file(path: str | Path) -> Imported:
    """Read a ``.keras`` file (or a config ``.json``) and turn it into a spec."""
    return from_config(read_config(path), str(path))


def from_config(config: Mapping[str, Any], where: str = "<config>") -> Imported:
    """A spec for a serialised Keras ``Functional`` or ``Sequential`` model."""
    kind = config.get("class_name")
    body = config.get("config") if isinstance(config.get("config"), Mapping) else {}
    layers = body.get("layers")
    if kind not in ("Functional", "Sequential", "Model") or not isinstance(layers, list):
        raise ImportProblem(f"expected a Functional or Sequential model; the config is a {kind!r}", where)
    if len(layers) > MAX_LAYERS:
        raise ImportProblem(f"the model has {len(layers):,} layers; the limit is {MAX_LAYERS:,}", where)
    builder = _Builder(where, sequential=kind == "Sequential")
    for index, layer in enumerate(layers):
        builder.add(index, layer)
    return builder.finish(str(body.get("name") or "imported"), body)


class _Builder:
    """Walks the config's layers in order (Keras writes them topologically sorted)."""

    def __init__(self, where: str, sequential: bool):
        self.where = where
        self.sequential = sequential
        self.input: dict[str, Any] | None = None
        self.items: list[dict[str, Any]] = []
        self.notes: list[str] = []
        self.previous: str | None = None
        self.seen: set[str] = set()
        self.aliases: dict[str, str] = {}  # an inlined Sequential's name -> its last layer

    def place(self, index: int, layer: Mapping[str, Any]) -> str:
        return f"{self.where}: layers[{index}] {layer.get('name') or (layer.get('config') or {}).get('name')!r}"

    def add(self, index: int, layer: Any) -> None:
        if not isinstance(layer, Mapping) or not isinstance(layer.get("config"), Mapping):
            raise ImportProblem(f"layers[{index}] is not a layer config", self.where)
        cls, config = str(layer.get("class_name")), layer["config"]
        name = str(config.get("name") or layer.get("name"))
        if cls == "InputLayer":
            self.set_input(index, layer, name)
            return
        if self.input is None and self.sequential:
            self.set_input_from(index, layer)
        if cls == "Sequential" and not self.sequential:
            self.inline(index, layer, name)
            return
        item = self.item(index, layer, cls, config)
        item["name"] = name
        sources = self.sources(index, layer)
        if sources and sources != [self.previous]:
            item["inputs"] = sources[0] if len(sources) == 1 else sources
        if config.get("trainable") is False:
            item["trainable"] = False
        self.items.append(item)
        self.seen.add(name)
        self.previous = name

    def inline(self, index: int, layer: Mapping[str, Any], name: str) -> None:
        """A Sequential used as a layer (ConvNeXt's stem and head): its layers, in line, keep their names."""
        inner = [lay for lay in (layer["config"].get("layers") or []) if lay.get("class_name") != "InputLayer"]
        if not inner or any(lay.get("class_name") in ("Sequential", "Functional") for lay in inner):
            raise ImportProblem(f"{self.place(index, layer)}: a nested model archspec cannot put in line", self.where)
        sources = self.sources(index, layer)
        for k, sub in enumerate(inner):
            item = self.item(
                index, {**sub, "name": sub.get("config", {}).get("name")}, str(sub["class_name"]), sub["config"]
            )
            item["name"] = str(sub["config"].get("name"))
            if k == 0 and sources and sources != [self.previous]:
                item["inputs"] = sources[0] if len(sources) == 1 else sources
            if sub["config"].get("trainable") is False or layer["config"].get("trainable") is False:
                item["trainable"] = False
            self.items.append(item)
            self.seen.add(item["name"])
            self.previous = item["name"]
        self.aliases[name] = self.previous
        self.notes.append(
            f"{self.place(index, layer)}: a Sequential model used as a layer, put in line ({len(inner)} layers)"
        )

    def set_input(self, index: int, layer: Mapping[str, Any], name: str) -> None:
        if self.input is not None:
            raise ImportProblem(
                f"{self.place(index, layer)}: a second model input (archspec models have one)", self.where
            )
        shape = layer["config"].get("batch_shape") or layer["config"].get("batch_input_shape")
        if not isinstance(shape, list) or len(shape) < 2 or not all(isinstance(d, int) for d in shape[1:]):
            raise ImportProblem(f"{self.place(index, layer)}: the input shape {shape!r} is not fixed", self.where)
        self.input = {"shape": shape[1:], "name": name}
        self.previous = name

    def set_input_from(self, index: int, layer: Mapping[str, Any]) -> None:
        """A Sequential model without an InputLayer declares its shape on the first layer."""
        build = layer.get("build_config") or {}
        shape = build.get("input_shape") or layer["config"].get("batch_input_shape")
        if not isinstance(shape, list) or not all(isinstance(d, int) for d in shape[1:]):
            raise ImportProblem(f"{self.place(index, layer)}: the model's input shape is not recorded", self.where)
        self.input = {"shape": shape[1:], "name": "input"}
        self.previous = "input"

    def sources(self, index: int, layer: Mapping[str, Any]) -> list[str]:
        if self.sequential:
            return []
        nodes = layer.get("inbound_nodes") or []
        if len(nodes) != 1:
            what = "is not connected" if not nodes else f"is used {len(nodes)} times (a shared layer)"
            raise ImportProblem(f"{self.place(index, layer)} {what}; archspec layers are applied once", self.where)
        names = []
        for history in _keras_tensors(nodes[0]):
            if not isinstance(history, list) or len(history) != 3 or history[2] != 0 or history[1] != 0:
                raise ImportProblem(
                    f"{self.place(index, layer)} reads a tensor archspec cannot name: {history!r}", self.where
                )
            history = [self.aliases.get(history[0], history[0]), *history[1:]]
            if history[0] not in self.seen and history[0] != (self.input or {}).get("name"):
                raise ImportProblem(
                    f"{self.place(index, layer)} reads {history[0]!r}, which is not above it", self.where
                )
            names.append(str(history[0]))
        return names

    def item(self, index: int, layer: Mapping[str, Any], cls: str, config: Mapping[str, Any]) -> dict[str, Any]:
        place = self.place(index, layer)
        if config.get("data_format", "channels_last") != "channels_last":
            raise ImportProblem(
                f"{place}: data_format={config['data_format']!r}; archspec is channels-last", self.where
            )
        if str(layer.get("module", "")).startswith("keras.src.ops"):
            return _operation(cls, layer, place)
        rank = _input_rank(layer)
        if cls == "Concatenate" and rank and config.get("axis") == rank - 1:
            config = {**config, "axis": -1}  # the last axis, written as archspec's default
        if cls in _SPECIAL:
            return _SPECIAL[cls](config, place, self.notes)
        _check_last_axis(config, rank, place)
        kind = _layer_type_for(cls)
        if kind is None:
            raise ImportProblem(
                f"{place}: unknown layer class {cls!r} (archspec has no layer type for it; "
                "docs/layers.md lists the Keras classes it knows)",
                self.where,
            )
        item = _generic(kind, config, place, self.notes)
        if cls == "Dense" and rank > 3:  # Keras' Dense maps the last axis of a feature map too
            item["per_position"] = True
        return item

    def finish(self, name: str, body: Mapping[str, Any]) -> Imported:
        if self.input is None:
            raise ImportProblem("the model has no input layer", self.where)
        spec: dict[str, Any] = {"archspec": 1, "name": _spec_name(name)}
        spec["description"] = f"Imported from a Keras model config ({len(self.items)} layers) by archspec import."
        spec["input"] = self.input["shape"] if self.input["name"] == "input" else dict(self.input)
        spec["layers"] = self.items
        outputs = [o[0] for o in _output_names(body)]
        if outputs and outputs != [self.previous]:
            spec["outputs"] = outputs
        return Imported(spec, tuple(self.notes))


def _input_rank(layer: Mapping[str, Any]) -> int:
    """The rank of the layer's (first) input, batch axis included, from its build config; 0 if unknown."""
    shape = (layer.get("build_config") or {}).get("input_shape") or ()
    if shape and isinstance(shape[0], list):  # a merge: one shape per input
        shape = shape[0]
    return len(shape)


def _keras_tensors(node: Any) -> Iterator[Any]:
    """The ``keras_history`` of every tensor a call reads, in argument order (args, then kwargs)."""
    if isinstance(node, Mapping):
        if node.get("class_name") == "__keras_tensor__":
            yield (node.get("config") or {}).get("keras_history")
            return
        for value in node.values():
            yield from _keras_tensors(value)
    elif isinstance(node, list | tuple):
        for item in node:
            yield from _keras_tensors(item)


def _output_names(body: Mapping[str, Any]) -> list[list[Any]]:
    out = body.get("output_layers") or []
    if out and isinstance(out[0], str):  # a single output written flat: [name, 0, 0]
        return [out]
    return [o for o in out if isinstance(o, list) and o]


_NAME = re.compile(r"[^A-Za-z0-9_]")


def _spec_name(name: str) -> str:
    cleaned = _NAME.sub("_", name) or "imported"
    return cleaned if cleaned[0].isalpha() or cleaned[0] == "_" else f"m_{cleaned}"


# -- one layer -----------------------------------------------------------------------------------------

# Keys every Keras layer config has that carry nothing the spec needs (or that are checked above).
_FRAMEWORK_KEYS = {"name", "trainable", "dtype", "data_format", "build_config", "quantization_config", "seed", "axis"}
# Settings Keras derives from the input shape, as archspec's own analysis does.
_FRAMEWORK_KEYS |= {"projection_dim"}
# Settings at their Keras defaults: nothing to carry over.
_DEFAULTS: dict[str, Any] = {
    "bias_initializer": "zeros",
    "beta_initializer": "zeros",
    "gamma_initializer": "ones",
    "moving_mean_initializer": "zeros",
    "moving_variance_initializer": "ones",
    "pointwise_initializer": "glorot_uniform",
    "depthwise_initializer": "glorot_uniform",
    "renorm_momentum": 0.99,
    "renorm_clipping": None,
    "threshold": 0.0,
    "synchronized": False,
    "lora_rank": None,
    "lora_alpha": None,
    "autocast": True,
    "renorm": False,
    "invert": False,
    "sparse": False,
    "ragged": False,
    "mask_value": None,
    "dilation_rate": [1, 1],  # Conv2DTranspose's, undilated: archspec's conv_transpose has no dilation
    "rms_scaling": False,  # LayerNormalization
    "use_gate": False,  # MultiHeadAttention
    "kernel_initializer": "glorot_uniform",  # MultiHeadAttention's (its projections' initializer)
    "index": 0,  # SelectToken: the first token
}


@functools.cache
def _layer_type_for(cls: str) -> LayerType | None:
    """The one archspec type whose Keras class is ``cls`` (Activation and its kin are read apart)."""
    candidates = [t for t in registry().types.values() if t.keras_class == cls and t.keras_class != "Activation"]
    if len(candidates) == 1:
        return candidates[0]
    return None


def _generic(kind: LayerType, config: Mapping[str, Any], place: str, notes: list[str]) -> dict[str, Any]:
    by_keras = {a.keras: a for a in kind.args if a.keras}
    args: dict[str, Any] = {}
    for key, value in config.items():
        if key in _FRAMEWORK_KEYS or value is None:
            continue
        if key == "kernel_regularizer" and "l2" in kind.arg_map():
            args["l2"] = _l2(value, place, notes)
            continue
        arg = by_keras.get(key)
        if arg is None:
            _leftover(key, value, place, notes)
            continue
        args[arg.name] = _value(arg, value, place, notes)
    for key, value in kind.fixed_keras_args.items():
        if config.get(key, value) != value:
            raise ImportProblem(
                f"{place}: {key}={config.get(key)!r}; archspec's {kind.name} has {key}={value!r}", place
            )
    return _item(kind, args, place)


def _item(kind: LayerType, args: dict[str, Any], place: str) -> dict[str, Any]:
    """``{type: main value, other: values}``, leaving out what equals archspec's own default."""
    checked: dict[str, Any] = {}
    for arg in kind.args:
        if arg.name not in args:
            continue
        try:
            value = arg.check(args[arg.name])
        except ValueError as exc:
            raise ImportProblem(f"{place}: {exc}", place) from None
        if arg.kind == "activation" and value == "linear" and arg.default is None:
            continue  # Keras writes "linear" for no activation, archspec's default
        if arg.default is REQUIRED or _plain(value) != _plain(arg.default) or arg.name == kind.primary:
            checked[arg.name] = _plain(value)
    main = checked.pop(kind.primary, None) if kind.primary else None
    return {kind.name: main, **checked}


def _plain(value: Any) -> Any:
    if isinstance(value, tuple):
        if len(value) == 2 and value[0] == value[1] and isinstance(value[0], int):
            return value[0]  # `kernel: 3` reads better than `kernel: [3, 3]`, and means the same
        return [_plain(v) for v in value]
    return value


def _value(arg: Arg, value: Any, place: str, notes: list[str]) -> Any:
    if arg.kind == "initializer":
        return _initializer(value, f"{place}: {arg.keras}", notes)
    if arg.kind == "activation" and not isinstance(value, str):
        raise ImportProblem(f"{place}: a custom activation {value!r} is not a named activation", place)
    return value


_CAMEL = re.compile(r"(?<!^)(?=[A-Z])")


def _initializer(value: Any, place: str, notes: list[str]) -> str:
    if isinstance(value, str):
        return value
    if not isinstance(value, Mapping):
        raise ImportProblem(f"{place}: an initializer must be a name or a Keras config; got {value!r}", place)
    name = _CAMEL.sub("_", str(value.get("class_name"))).lower()
    settings = {k: v for k, v in (value.get("config") or {}).items() if v is not None}
    if settings:
        notes.append(f"{place}: the spec says {name!r} with Keras' default settings, not {settings}")
    return name


def _l2(value: Any, place: str, notes: list[str]) -> float | None:
    if isinstance(value, Mapping) and value.get("class_name") in ("L2", "l2"):
        return float((value.get("config") or {}).get("l2", 0.01))
    notes.append(f"{place}: kernel_regularizer {value!r} is not carried over (the spec language has `l2` only)")
    return None


def _leftover(key: str, value: Any, place: str, notes: list[str]) -> None:
    default = _DEFAULTS.get(key, REQUIRED)
    if isinstance(value, Mapping) and default is not REQUIRED:  # an initializer or the like, as a config
        value_name = _CAMEL.sub("_", str(value.get("class_name"))).lower()
        if value_name == default and not {k: v for k, v in (value.get("config") or {}).items() if v is not None}:
            return
    elif value == default:
        return
    if key == "attention_axes" and value == list(range(1, len(value) + 1)):
        return  # what Keras writes for its default: attention over every position axis
    notes.append(f"{place}: {key}={json.dumps(value)[:120]} is not carried over (no spec equivalent)")


def _check_last_axis(config: Mapping[str, Any], rank: int, place: str) -> None:
    """Normalisation layers work on the channel axis in archspec; another axis changes the figures."""
    axis = config.get("axis", -1)
    axes = axis if isinstance(axis, list) else [axis]
    if "axis" in config and axes not in ([-1], [rank - 1]):
        raise ImportProblem(f"{place}: axis={axis!r}; archspec normalises the last (channel) axis only", place)


def _concat(config: Mapping[str, Any], place: str, notes: list[str]) -> dict[str, Any]:
    axis = int(config.get("axis", -1))
    if axis == 0:
        raise ImportProblem(f"{place}: concatenation along the batch axis", place)
    kind = registry().types["concat"]
    return _item(kind, {"axis": axis - 1 if axis > 0 else axis}, place)  # archspec's axes exclude the batch


def _dropout(config: Mapping[str, Any], place: str, notes: list[str]) -> dict[str, Any]:
    kind = registry().types["dropout"]
    args: dict[str, Any] = {"rate": config.get("rate", 0.5)}
    noise = config.get("noise_shape")
    if noise is not None:
        if not isinstance(noise, list) or not noise or any(not isinstance(n, int) for n in noise[1:]):
            raise ImportProblem(f"{place}: noise_shape={noise!r} needs fixed sizes after the batch axis", place)
        args["noise_shape"] = noise[1:]
    return _item(kind, args, place)


def _operation(cls: str, layer: Mapping[str, Any], place: str) -> dict[str, Any]:
    """A Keras operation written in a functional model (``x + 3.0``, ``x * (1 / 6)``, ``a + b``).

    Between two tensors it is the merge layer of the same name; between a tensor and a number
    it is an affine map, which archspec writes as ``rescale`` (Keras' Rescaling: ``x * scale +
    offset``) under the operation's name: same output, no weights, the same figures.
    """
    args = (layer.get("inbound_nodes") or [{}])[0].get("args") or []
    tensors = [a for a in args if isinstance(a, Mapping) and a.get("class_name") == "__keras_tensor__"]
    numbers = [a for a in args if isinstance(a, int | float) and not isinstance(a, bool)]
    if len(tensors) == 2 and not numbers and cls in ("Add", "Multiply"):
        return {cls.lower(): None}
    tensor_first = bool(args) and args[0] is (tensors[0] if tensors else None)
    if len(tensors) == 1 and len(numbers) == 1 and len(args) == 2:
        c = float(numbers[0])
        affine = {
            "Add": (1.0, c),
            "Subtract": (1.0, -c) if tensor_first else (-1.0, c),
            "Multiply": (c, 0.0),
            "TrueDivide": (1.0 / c, 0.0) if tensor_first and c else None,
            "Divide": (1.0 / c, 0.0) if tensor_first and c else None,
        }.get(cls)
        if affine is not None:
            item: dict[str, Any] = {"rescale": affine[0]}
            if affine[1]:
                item["offset"] = affine[1]
            return item
    raise ImportProblem(f"{place}: the Keras operation {cls} on {len(tensors)} tensor(s) has no spec equivalent", place)


# Keras classes that several archspec types share, or that need their own reading.
def _activation(config: Mapping[str, Any], place: str, notes: list[str]) -> dict[str, Any]:
    name = config.get("activation")
    if not isinstance(name, str):
        raise ImportProblem(f"{place}: a custom activation {name!r} is not a named activation", place)
    kinds = registry().types
    if name in kinds and kinds[name].keras_class == "Activation" and not kinds[name].args:
        return {name: None}
    return {"act": name}


def _relu(config: Mapping[str, Any], place: str, notes: list[str]) -> dict[str, Any]:
    if config.get("threshold") not in (None, 0, 0.0):
        raise ImportProblem(f"{place}: ReLU threshold={config['threshold']!r} has no spec equivalent", place)
    max_value, slope = config.get("max_value"), config.get("negative_slope") or 0.0
    if max_value == 6.0 and not slope:
        return {"relu6": None}
    item: dict[str, Any] = {"relu": None}
    if max_value is not None:
        item["max_value"] = float(max_value)
    if slope:
        item["negative_slope"] = float(slope)
    return item


def _softmax(config: Mapping[str, Any], place: str, notes: list[str]) -> dict[str, Any]:
    if config.get("axis", -1) != -1:
        raise ImportProblem(f"{place}: Softmax over axis {config['axis']!r}; archspec's softmax uses the last", place)
    return {"softmax": None}


def _custom_scale(config: Mapping[str, Any], place: str, notes: list[str]) -> dict[str, Any]:
    """keras.applications.inception_resnet_v2's CustomScaleLayer: ``inputs[0] + inputs[1] * scale``."""
    return _item(registry().types["scaled_add"], {"scale": config.get("scale", 1.0)}, place)


def _nested(config: Mapping[str, Any], place: str, notes: list[str]) -> dict[str, Any]:
    raise ImportProblem(f"{place}: a model nested as a layer; save or import the inner model on its own", place)


_SPECIAL = {
    "Activation": _activation,
    "ReLU": _relu,
    "Softmax": _softmax,
    "Concatenate": _concat,
    "Dropout": _dropout,
    "Functional": _nested,
    "CustomScaleLayer": _custom_scale,
}


def import_application(name: str, input_shape: tuple[int, ...] | None = None) -> Imported:
    """A ``keras.applications`` model (built by Keras with ``weights=None``) as a spec."""
    from . import framework

    framework.start()
    import keras

    short = name.removeprefix("keras.applications.")
    apps = keras.applications
    known = sorted(n for n in dir(apps) if n[:1].isupper() and callable(getattr(apps, n)))
    if short not in known:
        from .errors import did_you_mean

        raise UsageError(f"no keras.applications model {name!r}.{did_you_mean(short, known)}")
    kwargs = {"input_shape": input_shape} if input_shape else {}
    model = getattr(apps, short)(weights=None, **kwargs)
    return from_config(json.loads(model.to_json()), f"keras.applications.{short}")


def to_yaml(imported: Imported) -> str:
    """The spec as YAML, with what it could not carry over as comments at the top."""
    from .emit_yaml import dump_data

    header = "".join(f"# note: {note}\n" for note in imported.notes)
    return header + dump_data(imported.spec)
