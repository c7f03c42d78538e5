"""Transfer-learning directives, statically (no TensorFlow): bases, selectors, plans, errors.

The Keras side (the same figures against keras.applications' own trainable flags and
counts, weights, plans run for a few steps, extraction) is in test_transfer_keras.py.
"""

from __future__ import annotations

import filecmp
import json
import subprocess
import sys

import pytest
from click.testing import CliRunner
from conftest import ROOT, SPECS

import archspec
from archspec.cli import main
from archspec.errors import SpecError
from archspec.transfer import plan, transfer_info
from archspec.transfer.bases import APPLICATIONS, DATA_DIR, supported
from archspec.transfer.freeze import SelectorError, select

VGG16_NOTOP = 14_714_688  # keras.applications.VGG16(weights=None, include_top=False).count_params()


def spec(body: str, input_shape: str = "[32, 32, 3]") -> str:
    return f"archspec: 1\nname: t\ninput: {input_shape}\nclasses: 17\n{body}"


VGG_HEAD = spec(
    "base: {application: vgg16, weights: none}\n"
    "layers: [{flatten: null, name: flatten}, {dense: 256, activation: relu, name: fc1},"
    " {dropout: 0.5, name: drop}, {dense: 17, activation: softmax, name: predictions}]\n"
)


def test_packaged_reference_specs_are_the_zoo_specs():
    """archspec/data/bases/ ships copies of specs/; refresh them with `python tools/sync_bases.py`."""
    copies = sorted(DATA_DIR.glob("*.yaml"))
    assert copies, "no packaged reference specs"
    for copy in copies:
        assert filecmp.cmp(copy, SPECS / copy.name, shallow=False), (
            f"{copy.name} differs from specs/{copy.name}: run python tools/sync_bases.py"
        )
    assert {a.spec_file for a in APPLICATIONS.values()} >= {c.name for c in copies}
    in_zoo = {a.spec_file for a in APPLICATIONS.values() if (SPECS / a.spec_file).is_file()}
    assert in_zoo <= {c.name for c in copies}, "a zoo spec of an application has no packaged copy"


def test_vgg16_base_prepends_keras_named_nodes_in_a_scope():
    g = archspec.expand(VGG_HEAD)
    names = [n.name for n in g.nodes]
    assert names[:3] == ["block1_conv1", "block1_conv2", "block1_pool"]
    assert names[17] == "block5_pool" and names[18:] == ["flatten", "fc1", "drop", "predictions"]
    assert all(n.scope[:1] == ("vgg16",) for n in g.nodes[:18]) and g.scopes["vgg16"].kind == "base"
    a = archspec.summary(g)
    assert a["block5_pool"].shape == (1, 1, 512) and a["flatten"].shape == (512,)  # head input inferred
    assert sum(s.params for s in a.layers[:18]) == VGG16_NOTOP


def test_notes_recipe_stage_counts_at_224():
    """Stage 1: head only (25088*256+256 + 256*17+17); stage 2 adds block5's three convs."""
    p = plan(archspec.expand(SPECS / "transfer" / "vgg16_finetune.yaml"))
    head = 25088 * 256 + 256 + 256 * 17 + 17
    block5 = 3 * (3 * 3 * 512 * 512 + 512)
    assert [s.name for s in p] == ["warmup", "block5"]
    assert [(s.trainable_params, s.non_trainable_params) for s in p] == [
        (head, VGG16_NOTOP),
        (head + block5, VGG16_NOTOP - block5),
    ]
    assert [s.epochs for s in p] == [25, 100]
    assert (p.stages[0].optimizer.name, p.stages[0].optimizer.lr) == ("rmsprop", 0.001)
    sgd = p.stages[1].optimizer
    assert (sgd.name, sgd.lr, sgd.momentum, sgd.nesterov) == ("sgd", 0.001, 0.9, False)
    assert p.preprocess == "keras.applications.vgg16"


@pytest.mark.parametrize(
    "selector, expected",
    [
        (
            "layers[15:]",
            ["block5_conv1", "block5_conv2", "block5_conv3", "block5_pool", "flatten", "fc1", "drop", "predictions"],
        ),
        ({"index": "15:18"}, ["block5_conv1", "block5_conv2", "block5_conv3"]),
        ({"index": 1}, ["block1_conv1"]),
        ({"index": "-1"}, ["predictions"]),
        (
            {"from": "block5_conv1", "to": "block5_pool"},
            ["block5_conv1", "block5_conv2", "block5_conv3", "block5_pool"],
        ),
        ({"name": ["fc1", "predictions"]}, ["fc1", "predictions"]),
        ("fc1", ["fc1"]),
        ({"pattern": "block4_conv*"}, ["block4_conv1", "block4_conv2", "block4_conv3"]),
        ({"block": "block2"}, ["block2_conv1", "block2_conv2", "block2_pool"]),
        ({"type": "dense"}, ["fc1", "predictions"]),
        ("head", ["flatten", "fc1", "drop", "predictions"]),
        ("none", []),
        ([{"name": "fc1"}, {"block": "block1"}], ["block1_conv1", "block1_conv2", "block1_pool", "fc1"]),
    ],
)
def test_selectors(selector, expected):
    g = archspec.expand(VGG_HEAD)
    base = transfer_info(g).base
    order = [n.name for n in g.nodes]
    assert sorted(select(selector, g.nodes, frozenset(base.nodes)), key=order.index) == expected


@pytest.mark.parametrize(
    "selector, message",
    [
        ("block5_cnv1", "Did you mean one of 'block5_conv1'"),
        ({"pattern": "block9_*"}, "matches no layer"),
        ({"block": "blok5"}, "no block or stage"),
        ({"index": "a:b"}, "START:STOP"),
        ({"index": 99}, "out of range"),
        ({"from": "fc1", "to": "block1_conv1"}, "comes before"),
    ],
)
def test_bad_selectors(selector, message):
    g = archspec.expand(VGG_HEAD)
    with pytest.raises(SelectorError, match=message):
        select(selector, g.nodes, frozenset(transfer_info(g).base.nodes))


def test_freeze_directive_sets_trainable_flags_and_totals():
    a = archspec.summary(VGG_HEAD + "freeze: {index: ':15'}\n")
    frozen_names = [s.name for s in a.layers if not s.node.trainable]
    assert frozen_names == [s.name for s in a.layers[:14]] and frozen_names[-1] == "block4_pool"
    frozen = 1792 + 36928 + 73856 + 147584 + 295168 + 2 * 590080 + 1180160 + 2 * 2359808
    assert a.non_trainable_params == frozen and a.trainable_params == a.total_params - frozen


def test_base_batch_norm_stays_frozen_when_unfrozen_unless_overridden(tmp_path):
    base = tmp_path / "tiny.yaml"
    base.write_text(TINY_BASE)
    text = spec(
        "base: {spec: tiny.yaml, output: r2}\nlayers: [{gap_head: 3}]\n"
        "fine_tune:\n"
        "  - {freeze: base, optimizer: adam, epochs: 1}\n"
        "  - {unfreeze: all, optimizer: sgd, epochs: 1}\n"
        "  - {unfreeze: all, bn_inference: false, optimizer: sgd, epochs: 1}\n",
        "[16, 16, 3]",
    )
    path = tmp_path / "t.yaml"
    path.write_text(text)
    s1, s2, s3 = plan(archspec.expand(path))
    assert "bn1" not in s1.trainable and "bn1" not in s2.trainable and "bn1" in s3.trainable
    assert "c1" in s2.trainable
    bn_params = 4 * 8 + 4 * 16
    assert s2.non_trainable_params == bn_params
    assert s3.non_trainable_params == bn_params // 2  # moving mean and variance never train


TINY_BASE = """archspec: 1
name: tinybase
input: [16, 16, 3]
layers:
  - {conv: 8, kernel: 3, padding: same, name: c1}
  - {bn: null, name: bn1}
  - {relu: null, name: r1}
  - {maxpool: 2, name: p1}
  - {conv: 16, kernel: 3, padding: same, name: c2}
  - {bn: null, name: bn2}
  - {relu: null, name: r2}
  - {gap: null, name: pool}
  - {dense: 10, activation: softmax, name: top}
"""


@pytest.mark.parametrize(
    "body, input_shape, path, message",
    [
        ("base: {application: vgg16}\nlayers: []\n", "[16, 16, 3]", "input", "too small for VGG16"),
        ("base: {application: vgg16, weights: imagenet}\nlayers: []\n", "[64, 64, 1]", "input", "3 input channels"),
        ("base: {application: vgg61}\nlayers: []\n", "[64, 64, 3]", "base.application", "'vgg16'?"),
        (
            "base: {application: mobilenetv3small, vars: {alpha: 0.75}}\nlayers: []\n",
            "[96, 96, 3]",
            "base.vars",  # what makes it a network only Keras can measure
            "static figures",
        ),
        ("base: {model: m.keras}\nlayers: []\n", "[64, 64, 3]", "base.model", "saved model not found"),
        ("base: {model: m.h5}\nlayers: []\n", "[64, 64, 3]", "base.model", "trust: true"),
        ("base: {application: vgg16, output: block9_pool}\nlayers: []\n", "[64, 64, 3]", "base.output", "block5_pool"),
        (
            "base: {application: vgg16}\nlayers: [{dense: 3, inputs: block5_conv3}]\n",
            "[64, 64, 3]",
            "layers[0]",
            "dense",
        ),
        (
            "base: {application: vgg16}\nlayers: []\nfreeze: {from: block5_cnv1}\n",
            "[64, 64, 3]",
            "freeze",
            "block5_conv1",
        ),
        (
            "base: {application: vgg16}\nlayers: []\nfine_tune: [{optimizer: {name: rmsprop, nesterov: true}, epochs: 1}]\n",
            "[64, 64, 3]",
            "fine_tune[0].optimizer",
            "sgd only",
        ),
        ("base: {application: vgg16, vars: {alpha: 1}}\nlayers: []\n", "[64, 64, 3]", "base.vars.alpha", "no variable"),
    ],
)
def test_misfits_fail_validation_with_a_location(body, input_shape, path, message):
    with pytest.raises(SpecError) as info:
        archspec.expand(spec(body, input_shape))
    problem = info.value.problems[0]
    assert message in problem.message
    from archspec.errors import format_path

    assert format_path(problem.path) == path
    assert problem.location.line > 0


def test_heads_are_one_liners():
    g = archspec.expand(spec("base: {application: vgg16}\nlayers: [{fc_head: 256, classes: '${classes}'}]\n"))
    tail = [(n.name, n.type) for n in g.nodes[18:]]
    assert tail == [("fc_head_flatten", "flatten"), ("fc_head_fc", "dense"), ("fc_head_dropout", "dropout"),
                    ("fc_head_predictions", "dense")]  # fmt: skip
    assert g.node("fc_head_dropout").args["rate"] == 0.5 and g.node("fc_head_fc").args["activation"] == "relu"
    g = archspec.expand(spec("base: {application: vgg16}\nlayers: [{gap_head: 5}]\n"))
    assert [(n.type, archspec.summary(g)[n.name].shape) for n in g.nodes[18:]] == [("gap", (512,)), ("dense", (5,))]


def test_resnet50_taps_spec_concatenates_mid_and_top_features():
    a = archspec.summary(SPECS / "transfer" / "resnet50_taps.yaml")
    assert a["avg_pool"].shape == (2048,) and a["conv3_block4_out"].shape == (28, 28, 512)
    assert a["fc"].node.inputs and a[a["fc"].node.inputs[0]].shape == (2560,)
    assert a.trainable_params == 2560 * 64 + 64 + 64 * 2 + 2


def test_summary_shows_frozen_layers_and_the_stage_table():
    path = str(SPECS / "transfer" / "vgg16_finetune.yaml")
    result = CliRunner().invoke(main, ["summary", path])
    assert result.exit_code == 0, result.output
    assert "block5_conv1 (conv) [frozen]" in result.output and "fc_head_fc (dense) [frozen]" not in result.output
    assert "Fine-tuning plan" in result.output and "13,506,577" in result.output
    data = json.loads(CliRunner().invoke(main, ["summary", path, "--format", "json"]).output)
    assert [s["trainable_params"] for s in data["stages"]] == [6_427_153, 13_506_577]
    assert [layer["trainable"] for layer in data["layers"]][:18] == [False] * 18
    md = CliRunner().invoke(main, ["summary", path, "--format", "markdown"]).output
    assert "| warmup | 25 | rmsprop lr 0.001 | 6,427,153 | 14,714,688 |" in md


def test_static_commands_do_not_import_tensorflow():
    code = (
        "import sys, archspec; from archspec.transfer import plan; "
        f"g = archspec.expand({str(SPECS / 'transfer' / 'resnet50_taps.yaml')!r}); archspec.summary(g); plan(g); "
        "assert 'tensorflow' not in sys.modules and 'keras' not in sys.modules, 'TF imported'"
    )
    subprocess.run([sys.executable, "-c", code], check=True, cwd=ROOT)


def test_supported_bases_expand_statically():
    for key in supported():
        size = "[96, 96, 3]"  # InceptionV3 needs 75 pixels, Xception 71
        a = archspec.summary(spec(f"base: {{application: {key}, pooling: avg}}\nlayers: []\n", size))
        assert len(a.output_shapes[0]) == 1 and a.layers[-1].name == "avg_pool"


def test_fit_features_report_on_separable_data(tmp_path):
    import h5py
    import numpy as np

    from archspec.training.shallow import fit_features

    rng = np.random.default_rng(0)
    labels = np.repeat(np.arange(3), 40)
    feats = (rng.normal(size=(120, 8)) + labels[:, None] * 4).astype(np.float32)
    path = tmp_path / "f.hdf5"
    with h5py.File(path, "w") as db:
        db["features"], db["labels"] = feats, labels
        db.create_dataset("label_names", data=["cats", "dogs", "panda"], dtype=h5py.string_dtype())
    report = fit_features(path)
    assert report.accuracy == 1.0 and report.best_params["C"] in (0.1, 1.0, 10.0, 100.0, 1000.0)
    for word in ("precision", "recall", "f1-score", "support", "cats", "dogs", "panda", "macro avg"):
        assert word in report.report


def test_bases_without_reference_spec_have_no_static_figures(tmp_path):
    (tmp_path / "m.keras").write_bytes(b"not read statically")
    reasons = {  # why, said where the spec makes it so
        "{application: mobilenetv3small, vars: {alpha: 0.75}}": "base.vars: static figures are not available for "
        "keras.applications.MobileNetV3Small: its reference spec is MobileNetV3Small at Keras' defaults, and `vars` "
        "(alpha) make another network",
        "{model: m.keras}": "base.model: static figures are not available for the saved model m.keras: a saved model "
        "is read by Keras, not by archspec",
    }
    for base, reason in reasons.items():
        path = tmp_path / "t.yaml"
        path.write_text(spec(f"base: {base}\nlayers: [{{gap_head: 3}}]\n", "[96, 96, 3]"))
        result = CliRunner().invoke(main, ["summary", str(path)])
        assert result.exit_code == 1 and reason in " ".join(result.output.split()), result.output


def test_expanded_transfer_spec_expands_to_the_same_graph():
    from archspec.emit_yaml import dump

    g = archspec.expand(SPECS / "transfer" / "resnet50_taps.yaml")
    again = archspec.expand(dump(g))
    assert [(n.name, n.type, dict(n.args), n.inputs, n.trainable) for n in again.nodes] == [
        (n.name, n.type, dict(n.args), n.inputs, n.trainable) for n in g.nodes
    ]
    g = archspec.expand(SPECS / "transfer" / "vgg16_finetune.yaml")
    p1, p2 = plan(g), plan(archspec.expand(dump(g)))
    assert [(s.trainable, s.trainable_params) for s in p1] == [(s.trainable, s.trainable_params) for s in p2]
