"""Layer types from installed packages (issue 15's "safe door"): the ``archspec.layers`` entry points.

A tiny plugin package is written into a temporary folder with its ``.dist-info`` (the metadata
pip would install), and the folder is put on ``sys.path``: ``importlib.metadata`` then finds
its entry points exactly as it finds an installed package's. It adds two layer types: ``prelu``
(Keras' PReLU, which archspec lacks) and ``channel_gain`` (the package's own Keras layer, with
its own emitter and import line). They are checked by the same parity test as the built-in
types (tests/test_layers_vocabulary.py), and a broken plugin is reported by name.
"""

from __future__ import annotations

import subprocess
import sys
import textwrap
from pathlib import Path

import pytest
import yaml
from conftest import ROOT, SUBPROCESS_ENV

import archspec
from archspec import plugins
from archspec.errors import SpecError
from archspec.registry import registry

PLUGIN = '''
"""A tiny archspec plugin package, as a user would install it."""

import math

from archspec.registry import Arg, Call, Info, LayerType


class PReLU(LayerType):
    """Parametric ReLU (He et al. 2015): a learned slope for negative values."""

    name = "prelu"
    keras_class = "PReLU"
    args = (Arg("shared_axes", "ints", default=None, keras="shared_axes", low=1, doc="Axes sharing one slope."),)

    def infer(self, node, inputs):
        shape = inputs[0]
        shared = node.args.get("shared_axes") or ()
        slopes = math.prod(1 if axis + 1 in shared else d for axis, d in enumerate(shape))
        return Info(shape, trainable=slopes, other_ops=2 * math.prod(shape))


class ChannelGain(LayerType):
    """A learned gain per channel (the package's own Keras layer)."""

    name = "channel_gain"
    aliases = ("gain",)
    imports = ("import plugin_pkg.keras_layer",)

    def infer(self, node, inputs):
        return Info(inputs[0], trainable=inputs[0][-1], other_ops=math.prod(inputs[0]))

    def build(self, node, **extra):
        from plugin_pkg.keras_layer import ChannelGain as Layer  # Keras only when a model is built

        return Layer(**extra, name=node.name)

    def emit(self, node):
        return Call("plugin_pkg.keras_layer.ChannelGain", (), {"name": node.name})
'''

KERAS_LAYER = """
import keras


@keras.saving.register_keras_serializable(package="plugin_pkg")
class ChannelGain(keras.layers.Layer):
    def build(self, input_shape):
        self.gain = self.add_weight(shape=(input_shape[-1],), initializer="ones", name="gain")

    def call(self, x):
        return x * self.gain
"""

ENTRY_POINTS = """
[archspec.layers]
prelu = plugin_pkg:PReLU
channel_gain = plugin_pkg:ChannelGain
"""


def _package(site: Path, name: str, entry_points: str, files: dict[str, str]) -> Path:
    for relpath, text in files.items():
        (site / relpath).parent.mkdir(parents=True, exist_ok=True)
        (site / relpath).write_text(textwrap.dedent(text))
    info = site / f"{name.replace('-', '_')}-0.1.dist-info"
    info.mkdir()
    (info / "METADATA").write_text(f"Metadata-Version: 2.1\nName: {name}\nVersion: 0.1\n")
    (info / "entry_points.txt").write_text(textwrap.dedent(entry_points))
    return site


@pytest.fixture(scope="module")
def site(tmp_path_factory) -> Path:
    """A folder holding the plugin package and its metadata, as site-packages would."""
    files = {"plugin_pkg/__init__.py": PLUGIN, "plugin_pkg/keras_layer.py": KERAS_LAYER}
    return _package(tmp_path_factory.mktemp("site"), "archspec-plugin-demo", ENTRY_POINTS, files)


@pytest.fixture
def installed(site, monkeypatch):
    """The plugin package installed for this test (registry and plugin state restored after)."""
    from archspec.schema import generated_schema

    plugins.reset(registry())
    monkeypatch.syspath_prepend(str(site))
    yield site
    plugins.reset(registry())
    generated_schema.cache_clear()  # never keep a schema that saw the plugin's types


def spec(layers, shape=(6, 6, 4)) -> str:
    return yaml.safe_dump({"archspec": 1, "input": list(shape), "layers": layers}, sort_keys=False)


def test_a_plugin_type_is_used_like_a_built_in_one(installed):
    analysis = archspec.summary(spec([{"prelu": {"shared_axes": [1, 2]}}, {"gain": None, "name": "g"}, "flatten"]))
    rows = {s.name: s for s in analysis.layers}
    assert rows["prelu"].trainable_params == 4 and rows["g"].trainable_params == 4
    assert rows["g"].shape == (6, 6, 4)
    assert registry().plugins == {
        "prelu": "plugin package 'archspec-plugin-demo'",
        "channel_gain": "plugin package 'archspec-plugin-demo'",
    }


def test_a_plugin_types_arguments_are_checked_like_a_built_in_ones(installed):
    with pytest.raises(SpecError) as info:
        archspec.expand(spec([{"prelu": {"shared_axis": [1]}}, {"prelu": {"shared_axes": [0]}}]))
    messages = [p.message for p in info.value.problems]
    assert "prelu has no argument 'shared_axis'. Did you mean 'shared_axes'?" in messages
    assert "`shared_axes` must contain integers >= 1. Received: shared_axes=[0]" in messages


def test_plugins_are_not_looked_for_while_every_type_is_built_in(installed, monkeypatch):
    import importlib.metadata

    def refuse(**kwargs):
        raise AssertionError("entry points read for a spec that needs no plugin")

    monkeypatch.setattr(importlib.metadata, "entry_points", refuse)
    archspec.expand(spec([{"conv": 4}, "relu", "flatten", {"dense": 2}]))
    assert "prelu" not in registry()


def test_a_spec_cannot_reach_code_that_no_entry_point_registered(installed, tmp_path, monkeypatch):
    _package(tmp_path, "no-entry-points", "", {"sneaky/__init__.py": "raise SystemExit('imported!')\n"})
    monkeypatch.syspath_prepend(str(tmp_path))
    for name in ("sneaky", "plugin_pkg", "plugin_pkg.keras_layer:ChannelGain", "PReLU"):
        with pytest.raises(SpecError, match="unknown layer type"):
            archspec.expand(spec([{name: None}]))
    assert "sneaky" not in sys.modules


BROKEN = {
    "broken_pkg/__init__.py": "import numpyy  # a typo in the plugin's own code\n",
    "clash_pkg/__init__.py": "from archspec.registry import registry\nConv = type(registry().get('conv'))\n",
    "junk_pkg/__init__.py": "NotAType = 42\n",
}
BROKEN_EPS = """
[archspec.layers]
fancy_pool = broken_pkg:FancyPool
conv = clash_pkg:Conv
junk = junk_pkg:NotAType
"""


def _validate(text: str, tmp_path: Path, site: Path) -> subprocess.CompletedProcess:
    path = tmp_path / "spec.yaml"
    path.write_text(text)
    env = {**SUBPROCESS_ENV, "PYTHONPATH": f"{site}:{ROOT}"}
    return subprocess.run(
        [sys.executable, "-m", "archspec", "validate", str(path)], capture_output=True, text=True, env=env, timeout=120
    )


def test_a_broken_plugin_is_named_with_what_went_wrong_never_a_traceback(tmp_path):
    site = _package(tmp_path / "site", "archspec-broken-demo", BROKEN_EPS, BROKEN)
    done = _validate(spec([{"fancy_pool": 2}]), tmp_path, site)
    assert done.returncode == 1 and "Traceback" not in done.stderr + done.stdout
    assert (
        "unknown layer type 'fancy_pool'. It would come from plugin package 'archspec-broken-demo', but that plugin "
        "could not be imported: ModuleNotFoundError: No module named 'numpyy' (entry point 'fancy_pool')"
    ) in done.stdout + done.stderr
    done = _validate(spec([{"junkk": 2}]), tmp_path, site)
    out = done.stdout + done.stderr
    assert done.returncode == 1 and "Traceback" not in out
    assert "names layer type 'conv', which archspec (built in) already has" in out
    assert "'junk' in archspec.layers) is not a layer type: the entry point names 42" in out
    assert "could not be imported: ModuleNotFoundError" in out  # every failure is said, even for another name
    done = _validate(spec([{"conv": 2}, "flatten"]), tmp_path, site)  # a spec of built-in types never meets them
    assert done.returncode == 0, done.stdout + done.stderr


def test_the_cli_validates_a_spec_using_a_plugin_type(site, tmp_path):
    done = _validate(spec([{"prelu": None}, {"channel_gain": None}, "flatten", {"dense": 3}]), tmp_path, site)
    assert done.returncode == 0 and "ok (4 layers, 583 params)" in done.stdout, done.stdout + done.stderr


# -- the parity tests of the built-in types, on the plugin's types -------------------------------


@pytest.fixture
def vocabulary():
    import test_layers_vocabulary  # the built-in types' parity test, imported as a module (not re-collected)

    return test_layers_vocabulary


def _cases(vocab):
    return [
        vocab.Case("plugin_prelu", (5, 6, 3), ({"prelu": None},), vocab._layer(lambda k: k.layers.PReLU())),
        vocab.Case("plugin_prelu_shared", (5, 6, 3), ({"prelu": {"shared_axes": [1, 2]}},),
                   vocab._layer(lambda k: k.layers.PReLU(shared_axes=(1, 2)))),
        vocab.Case("plugin_gain", (4, 3), ({"channel_gain": None},), vocab._function(lambda xs, w: xs[0] * w[0])),
    ]  # fmt: skip


@pytest.mark.slow
def test_plugin_types_pass_the_built_in_parity_test(installed, vocabulary, keras):
    for case in _cases(vocabulary):
        vocabulary.test_layer_matches_keras(case, keras)


@pytest.mark.slow
def test_plugin_types_compile_to_source_and_round_trip_a_keras_file(installed, vocabulary, keras, tmp_path):
    import numpy as np

    for case in _cases(vocabulary):
        graph = archspec.expand(case.spec())
        model = archspec.build(graph)
        source = archspec.compile_source(graph)
        namespace: dict = {"__name__": "generated"}
        exec(compile(source, f"{case.id}.py", "exec"), namespace)
        generated = namespace["build_model"]()
        assert [(type(a).__name__, a.name) for a in generated.layers] == [
            (type(b).__name__, b.name) for b in model.layers
        ]
        generated.set_weights(model.get_weights())
        x = np.random.default_rng(3).normal(size=(2, *case.input)).astype("float32")
        np.testing.assert_allclose(generated(x), model(x), rtol=1e-6, err_msg=case.id)
        model.save(tmp_path / f"{case.id}.keras")
        loaded = keras.saving.load_model(tmp_path / f"{case.id}.keras", safe_mode=True, compile=False)
        np.testing.assert_allclose(loaded(x), model(x), rtol=1e-6, err_msg=case.id)
    assert "import plugin_pkg.keras_layer" in source
