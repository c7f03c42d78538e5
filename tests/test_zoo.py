"""The reference zoo (specs/*.yaml) against its authorities, and the ``expect:`` section.

The walker tests cover every top-level spec in specs/ (a new spec is covered without editing
this file): each has a description, pins at least its parameter count and output shape,
meets its pinned figures (the variants' too), and ``archspec summary`` prints it. The pinned
parameter count is ``total_params``, or ``trainable_params`` where the authority counts only
those (papers leave batch norm's moving statistics out).

The authority tests name their source table and transcribe its figures here, so the test
compares archspec with numbers nobody on the team computed: VGG's Tables 1-2, the notes'
AlexNet arithmetic and VGG16 memory column, LeNet-5's per-layer counts (LeCun et al. 1998,
Sec. II.B), the notes' fashion-MNIST ``summary()``, and keras.applications (slow tests).
"""

from __future__ import annotations

import math

import pytest
from click.testing import CliRunner
from conftest import ROOT, n_weights

import archspec
from archspec.analysis import Analysis
from archspec.cli import main
from archspec.errors import SpecError
from archspec.expect import check_expectations, compare, weight_layers
from archspec.loader import load

#: The zoo: top-level specs (sub-folders such as specs/transfer/ hold specs of other kinds).
ZOO = sorted((ROOT / "specs").glob("*.yaml"))


def _ids(path):
    return path.stem


def _spec(name: str) -> str:
    return str(ROOT / "specs" / f"{name}.yaml")


def _expect(path) -> dict:
    return load(path).data.get("expect") or {}


# -- the walker ------------------------------------------------------------------------------
@pytest.mark.parametrize("path", ZOO, ids=_ids)
def test_every_zoo_spec_is_described_and_pins_its_figures(path):
    data = load(path).data
    assert len(str(data.get("description", "")).split()) >= 10, "describe the source (paper, table) and deviations"
    expect = data.get("expect") or {}
    # a parameter count: total_params, or trainable_params where the authority (a paper that
    # leaves batch norm's moving statistics out, e.g. ResNet's Table 6) counts only those
    assert {"total_params", "trainable_params"} & set(expect), "expect: must pin total_params"
    assert "output_shape" in expect, "expect: must pin output_shape"
    assert isinstance(expect.get("authority"), str) and expect["authority"].strip(), "expect.authority names the source"
    for variant in expect.get("variants") or {}:
        assert variant in (data.get("scales") or {}), f"expect.variants.{variant} is not a variant in scales:"


@pytest.mark.parametrize("path", ZOO, ids=_ids)
def test_every_zoo_spec_meets_its_pinned_figures(path):
    check_expectations(archspec.summary(path))
    for variant in _expect(path).get("variants") or {}:
        check_expectations(archspec.summary(path, variant=variant))


@pytest.mark.parametrize("path", ZOO, ids=_ids)
def test_archspec_summary_prints_every_zoo_spec(path):
    result = CliRunner().invoke(main, ["summary", str(path)])
    assert result.exit_code == 0, result.output
    total = archspec.summary(path).total_params
    assert f"Total params: {total:,}" in result.output


# -- expect: pinned figures ------------------------------------------------------------------
def _drifted(tmp_path, text: str, old: str, new: str):
    assert old in text
    path = tmp_path / "drifted.yaml"
    path.write_text(text.replace(old, new))
    return path


def test_a_drifted_spec_fails_validate_with_both_figures_and_the_location(tmp_path):
    text = (ROOT / "specs" / "vgg16.yaml").read_text()
    path = _drifted(tmp_path, text, "{conv: 256, n: 3}", "{conv: 256, n: 4}")  # VGG16 -> 17 convs
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 1
    line = next(i for i, s in enumerate(path.read_text().splitlines(), 1) if s.strip().startswith("total_params:"))
    extra = 3 * 3 * 256 * 256 + 256
    assert f"{path}:{line}:3: expect.total_params: expected total_params = 138,357,544" in result.output
    assert "138,357,544" in result.output and f"{138_357_544 + extra:,}" in result.output
    assert f"difference +{extra:,}" in result.output
    # every pinned figure that drifted is listed, not only the first
    assert "expect.weight_layers" in result.output and "expect.macs" in result.output
    assert "problems found" in result.output
    # and summary refuses too (a drifted spec is not silently summarised)
    assert CliRunner().invoke(main, ["summary", str(path)]).exit_code == 1


def test_a_drifted_variant_is_reported_at_its_own_key(tmp_path):
    text = (ROOT / "specs" / "alexnet.yaml").read_text()
    path = _drifted(tmp_path, text, "total_params: 60965224", "total_params: 60965000")
    assert CliRunner().invoke(main, ["validate", str(path)]).exit_code == 0  # the spec as written still holds
    result = CliRunner().invoke(main, ["summary", str(path), "--variant", "two_tower"])
    assert result.exit_code == 1
    line = next(i for i, s in enumerate(path.read_text().splitlines(), 1) if "60965000" in s)
    assert f"{path}:{line}:7: expect.variants.two_tower.total_params" in result.output
    assert "60,965,000" in result.output and "60,965,224" in result.output


def test_figures_for_a_variant_that_does_not_exist_are_refused(tmp_path):
    text = (ROOT / "specs" / "alexnet.yaml").read_text()
    path = _drifted(tmp_path, text, "    two_tower:\n      authority", "    two_towers:\n      authority")
    result = CliRunner().invoke(main, ["validate", str(path)])
    assert result.exit_code == 1
    line = next(i for i, s in enumerate(path.read_text().splitlines(), 1) if s.strip() == "two_towers:")
    assert (
        f"{path}:{line}:5: expect.variants.two_towers: expect.variants names 'two_towers', which is not a variant"
        in result.output
    )
    assert "(variants: two_tower)" in result.output
    assert "Did you mean 'two_tower'?" in result.output


def test_set_overrides_make_another_network_whose_figures_are_not_pinned():
    result = CliRunner().invoke(main, ["summary", _spec("seed_grammar_general"), "--set", "M=2"])
    assert result.exit_code == 0, result.output


@pytest.mark.parametrize(
    ("wanted", "actual", "ok"),
    [
        ("15.47e9 +- 0.5%", 15_470_264_320, True),
        ("15.47e9 +- 0.5%", 15.47e9 * 1.006, False),
        ("15.47e9 ± 0.5%", 15.47e9 * 0.996, True),
        ("15.47e9 +/- 0.5%", 15.47e9 * 0.994, False),
        ("133e6 +- 0.5e6", 132_863_336, True),
        ("133e6 +- 0.5e6", 133_638_952, False),
        ("1000 +- 10", 1010, True),
        ("1000 +- 10", 1011, False),
        ("1_000 +- 0", 1000, True),
        (61750, 61750, True),
        (61750, 61751, False),
        ([1000], [1000], True),
        ([1000], [7, 7, 512], False),
    ],
)
def test_tolerance_forms(wanted, actual, ok):
    message = compare("macs", wanted, actual)
    assert (message == "") is ok, message
    if not ok and isinstance(wanted, str):
        assert wanted in message and f"{actual:,}" in message and "%" in message


def test_unreadable_tolerance_is_a_clear_error():
    assert "cannot read '15.47 GMACs'" in compare("macs", "15.47 GMACs", 1)
    assert "cannot read" in compare("macs", "1e9 +- 1.2.3%", 1)
    assert "not a number" in compare("output_shape", "1000 +- 1", [1000])


def test_unknown_expect_key_is_refused_with_a_suggestion():
    spec = "archspec: 1\ninput: [4]\nlayers: [{dense: 2}]\nexpect: {total_parms: 10}\n"
    with pytest.raises(
        SpecError, match=r"expect.total_parms: unknown key 'total_parms'.*Did you mean .*'total_params'"
    ):
        archspec.expand(spec)


# -- VGG: Simonyan & Zisserman (2015), Tables 1 and 2 -----------------------------------------
#: Table 2, "Number of parameters (in millions)", and Table 1's "N weight layers".
VGG_TABLE_2 = {"vgg11": 133, "vgg_a_lrn": 133, "vgg13": 133, "vgg_c": 134, "vgg16": 138, "vgg19": 144}
VGG_TABLE_1_DEPTH = {"vgg11": 11, "vgg_a_lrn": 11, "vgg13": 13, "vgg_c": 16, "vgg16": 16, "vgg19": 19}


@pytest.mark.parametrize("name", sorted(VGG_TABLE_2))
def test_vgg_table2_parameter_counts(name):
    analysis = archspec.summary(_spec(name))
    assert round(analysis.total_params / 1e6) == VGG_TABLE_2[name]
    assert weight_layers(analysis) == VGG_TABLE_1_DEPTH[name]
    assert analysis.output_shapes == [(1000,)]


def test_vgg_table1_columns():
    """Table 1: A-LRN is A plus an LRN; C is B plus a 1x1 conv per stage 3-5; all 3x3 otherwise."""
    lrn = [s.name for s in archspec.summary(_spec("vgg_a_lrn")).layers if s.type == "lrn"]
    assert lrn == ["block1_lrn"]
    kernels = {s.name: s.node.args["kernel"] for s in archspec.summary(_spec("vgg_c")).layers if s.type == "conv"}
    assert [n for n, k in kernels.items() if k == (1, 1)] == ["block3_conv3", "block4_conv3", "block5_conv3"]


def test_vgg_notop_drops_the_whole_classifier():
    """classifier: {when: ${top}} guards every layer it generates (Keras' include_top=False)."""
    full = archspec.summary(_spec("vgg16"))
    notop = archspec.summary(_spec("vgg16"), variant="notop")
    assert [s.name for s in full.layers][len(notop.layers) :] == ["flatten", "fc1", "fc2", "predictions"]
    assert notop.layers[-1].name == "block5_pool" and notop.output_shapes == [(7, 7, 512)]
    assert full.total_params - notop.total_params == (25088 * 4096 + 4096) + (4096 * 4096 + 4096) + (4096 * 1000 + 1000)


# -- the notes' VGG16 table (seed 002: "INPUT: [224x224x3] memory: 224*224*3=150K ...") ------------
#: Each row: the notes' shape (its memory entry is the product) and its "params (not counting biases)".
VGG16_NOTES = [
    ("INPUT", (224, 224, 3), 0),
    ("CONV3-64", (224, 224, 64), (3 * 3 * 3) * 64),
    ("CONV3-64", (224, 224, 64), (3 * 3 * 64) * 64),
    ("POOL2", (112, 112, 64), 0),
    ("CONV3-128", (112, 112, 128), (3 * 3 * 64) * 128),
    ("CONV3-128", (112, 112, 128), (3 * 3 * 128) * 128),
    ("POOL2", (56, 56, 128), 0),
    ("CONV3-256", (56, 56, 256), (3 * 3 * 128) * 256),
    ("CONV3-256", (56, 56, 256), (3 * 3 * 256) * 256),
    ("CONV3-256", (56, 56, 256), (3 * 3 * 256) * 256),
    ("POOL2", (28, 28, 256), 0),
    ("CONV3-512", (28, 28, 512), (3 * 3 * 256) * 512),
    ("CONV3-512", (28, 28, 512), (3 * 3 * 512) * 512),
    ("CONV3-512", (28, 28, 512), (3 * 3 * 512) * 512),
    ("POOL2", (14, 14, 512), 0),
    ("CONV3-512", (14, 14, 512), (3 * 3 * 512) * 512),
    ("CONV3-512", (14, 14, 512), (3 * 3 * 512) * 512),
    ("CONV3-512", (14, 14, 512), (3 * 3 * 512) * 512),
    ("POOL2", (7, 7, 512), 0),
    ("FC", (1, 1, 4096), 7 * 7 * 512 * 4096),
    ("FC", (1, 1, 4096), 4096 * 4096),
    ("FC", (1, 1, 1000), 4096 * 1000),
]
#: The notes' rounded memory entries, as printed (150K, 3.2M, ...).
VGG16_NOTES_PRINTED = [150e3, 3.2e6, 3.2e6, 800e3, 1.6e6, 1.6e6, 400e3, 800e3, 800e3, 800e3, 200e3,
                       400e3, 400e3, 400e3, 100e3, 100e3, 100e3, 100e3, 25e3, 4096, 4096, 1000]  # fmt: skip
#: The notes' totals: "TOTAL memory: 24M * 4 bytes ~= 96MB / image", "TOTAL params: 138M".
VGG16_NOTES_TOTAL_MEMORY = 24e6


def test_vgg16_notes_memory_column_per_layer():
    analysis = archspec.summary(_spec("vgg16"))
    rows = [("INPUT", analysis.graph.input_shape, 0)] + [
        (s.name, s.shape, s.params - (s.shape[-1] if s.params else 0)) for s in analysis.layers if s.type != "flatten"
    ]
    assert len(rows) == len(VGG16_NOTES)
    for (name, shape, weights), (label, notes_shape, notes_weights), printed in zip(
        rows, VGG16_NOTES, VGG16_NOTES_PRINTED
    ):
        assert math.prod(shape) == math.prod(notes_shape), (name, label)
        assert weights == notes_weights, (name, label)  # the notes' params exclude the biases
        assert abs(math.prod(shape) - printed) / printed < 0.01, (name, printed)  # within the notes' rounding


def test_vgg16_notes_memory_total_and_why_archspec_differs():
    """The entries sum to 15,237,608 (15.2M), not the notes' 24M; archspec adds the flatten."""
    analysis = archspec.summary(_spec("vgg16"))
    entries = sum(math.prod(shape) for _, shape, _ in VGG16_NOTES)
    assert entries == 15_237_608
    assert abs(sum(VGG16_NOTES_PRINTED) - entries) / entries < 0.01
    assert analysis.activation_elements == entries + analysis["flatten"].elements == 15_262_696
    assert entries < 0.65 * VGG16_NOTES_TOTAL_MEMORY  # the notes' 24M is not the sum of their own column
    conv_outputs = sum(s.elements for s in analysis.layers if s.type == "conv")
    assert entries + conv_outputs == 28_785_128  # nor is it the sum with pre-ReLU copies
    assert round(sum(w for _, _, w in VGG16_NOTES) / 1e6) == 138  # "TOTAL params: 138M" (biases aside)


# -- AlexNet: the notes' arithmetic (seed 002, "Full (simplified) AlexNet architecture") ---------
ALEXNET_NOTES = [
    ("conv1", (55, 55, 96), 96 * (11 * 11 * 3) + 96),  # "(227-11)/4+1 = 55", "34'944 ~ 35K"
    ("pool1", (27, 27, 96), 0),  # "(55-3)/2+1 = 27", "Q4: 0"
    ("norm1", (27, 27, 96), 0),
    ("conv2", (27, 27, 256), None),
    ("pool2", (13, 13, 256), 0),
    ("norm2", (13, 13, 256), 0),
    ("conv3", (13, 13, 384), None),
    ("conv4", (13, 13, 384), None),
    ("conv5", (13, 13, 256), None),
    ("pool3", (6, 6, 256), 0),
    ("fc6", (4096,), None),
    ("fc7", (4096,), None),
    ("fc8", (1000,), None),
]


def test_alexnet_notes_arithmetic():
    analysis = archspec.summary(_spec("alexnet"))
    assert analysis["conv1"].params == 34_944
    for name, shape, params in ALEXNET_NOTES:
        assert analysis[name].shape == shape, name
        if params is not None:
            assert analysis[name].params == params, name
    assert analysis.graph.input_shape == (227, 227, 3)
    assert [s.type for s in analysis.layers if s.type == "lrn"] == ["lrn", "lrn"]


def test_alexnet_two_towers_give_the_notes_60m():
    """ "Total of 60M parameters": the two-GPU network, where CONV2, CONV4, CONV5 see half the maps."""
    one = archspec.summary(_spec("alexnet"))
    two = archspec.summary(_spec("alexnet"), variant="two_tower")
    assert round(two.total_params / 1e6) == 61 and two.total_params == 60_965_224
    for name in ("conv2", "conv4", "conv5"):
        cout = one[name].shape[-1]
        assert two[name].params - cout == (one[name].params - cout) // 2
    assert one.total_params - two.total_params == (614_656 - 307_456) + (1_327_488 - 663_936) + (884_992 - 442_624)


# -- LeNet-5: LeCun et al. (1998), Section II.B ----------------------------------------------
#: The paper's trainable parameters per layer; C3 is partially connected (Table I).
LENET5_PAPER = {"c1": 156, "s2": 12, "c3": 1_516, "s4": 32, "c5": 48_120, "f6": 10_164}
LENET5_C3_TABLE_I = [3] * 6 + [4] * 9 + [6]  # input maps of each of C3's 16 maps


def test_lenet5_paper_figures():
    analysis = archspec.summary(_spec("lenet5"))
    assert sum(LENET5_PAPER.values()) == 60_000  # "60,000 trainable free parameters"
    assert sum(n * 25 + 1 for n in LENET5_C3_TABLE_I) == LENET5_PAPER["c3"]
    shapes = {"c1": (28, 28, 6), "s2": (14, 14, 6), "c3": (10, 10, 16), "s4": (5, 5, 16), "c5": (1, 1, 120)}
    for name, shape in shapes.items():
        assert analysis[name].shape == shape
    for name, params in LENET5_PAPER.items():
        if name != "c3":
            assert analysis[name].params == params, name
    full_c3 = 16 * (6 * 25 + 1)
    assert analysis["c3"].params == full_c3 == LENET5_PAPER["c3"] + 900
    rbf_fixed = 84 * 10  # the output RBF units' parameters are fixed, not trained
    assert analysis["output"].params == rbf_fixed + 10
    assert analysis.total_params == 60_000 + 900 + 850 == 61_750
    plain = archspec.summary(_spec("lenet5"), variant="plain_pooling")
    assert plain.total_params == 61_750 - 12 - 32 == 61_706


# -- fashion-MNIST: the notes' printed summary (seed 002) -------------------------------------
FASHION_SUMMARY = [
    ("conv2d", (26, 26, 32), 320),
    ("activation", (26, 26, 32), 0),
    ("max_pooling2d", (13, 13, 32), 0),
    ("dropout", (13, 13, 32), 0),
    ("flatten", (5408,), 0),
    ("dense", (128,), 692_352),
    ("dense_1", (10,), 1_290),
]


def test_fashion_mnist_cnn_matches_the_notes_summary():
    analysis = archspec.summary(_spec("fashion_mnist_cnn"))
    assert [(s.name, s.shape, s.params) for s in analysis.layers] == FASHION_SUMMARY
    assert analysis.total_params == analysis.trainable_params == 693_962  # "Total params: 693,962"


# -- the seed grammar (seed 002, "Convolutional layer patterns") -------------------------------
SEED_PATTERNS = {
    "seed_grammar_general": "INPUT -> [[CONV -> RELU]*N -> POOL?]*M -> [FC -> RELU]*K -> FC",
    "seed_grammar_linear": "INPUT -> FC",
    "seed_grammar_conv_relu_fc": "INPUT -> CONV -> RELU -> FC",
    "seed_grammar_conv_relu_pool_x2": "INPUT -> [CONV -> RELU -> POOL]*2 -> FC -> RELU -> FC",
    "seed_grammar_conv_x2_pool_x3": "INPUT -> [CONV -> RELU -> CONV -> RELU -> POOL]*3 -> [FC -> RELU]*2 -> FC",
}
GENERAL_FORMS = {
    None: "seed_grammar_conv_x2_pool_x3",
    "example1": "seed_grammar_conv_relu_fc",
    "example2": "seed_grammar_conv_relu_pool_x2",
}


@pytest.mark.parametrize("name", sorted(SEED_PATTERNS))
def test_seed_grammar_specs_paste_the_notes_patterns(name):
    assert load(_spec(name)).data["pattern"] == SEED_PATTERNS[name]


def test_every_seed_grammar_spec_is_a_known_form():
    shipped = {p.stem for p in ZOO if p.stem.startswith("seed_grammar_")}
    assert shipped == set(SEED_PATTERNS)


def _layers(analysis: Analysis) -> list[tuple[str, tuple, int]]:
    return [(s.type, s.shape, s.params) for s in analysis.layers]


@pytest.mark.parametrize("variant", list(GENERAL_FORMS), ids=str)
def test_the_general_form_yields_the_notes_examples(variant):
    general = archspec.summary(_spec("seed_grammar_general"), variant=variant)
    example = archspec.summary(_spec(GENERAL_FORMS[variant]))
    assert _layers(general) == _layers(example)


def test_the_general_form_yields_the_linear_classifier():
    general = archspec.summary(_spec("seed_grammar_general"), variant="linear")
    linear = archspec.summary(_spec("seed_grammar_linear"))
    assert [s.type for s in general.layers] == ["flatten", "dense"]
    assert general.layers[-1].params == linear.total_params == 32 * 32 * 3 * 10 + 10


def test_a_token_written_twice_in_a_group_gets_numbered_names():
    analysis = archspec.summary(_spec("seed_grammar_conv_x2_pool_x3"))
    convs = [s.name for s in analysis.layers if s.type == "conv"]
    assert convs == [f"block{s}_conv{i}" for s in (1, 2, 3) for i in (1, 2)]


# -- Keras parity: keras.applications.VGG16 / VGG19 (Keras 3.15) -------------------------------
def _keras_table(model) -> list[tuple[str, tuple, int]]:
    return [(layer.name, tuple(layer.output.shape[1:]), layer.count_params()) for layer in model.layers[1:]]


def _archspec_table(analysis: Analysis) -> list[tuple[str, tuple, int]]:
    return [(s.name, s.shape, s.params) for s in analysis.layers]


@pytest.mark.slow
@pytest.mark.parametrize(("name", "app", "total"), [("vgg16", "VGG16", 138_357_544), ("vgg19", "VGG19", 143_667_240)])
def test_vgg_equals_keras_applications_with_and_without_top(keras, name, app, total):
    factory = getattr(keras.applications, app)
    for include_top in (True, False):
        model = factory(weights=None, include_top=include_top, input_shape=(224, 224, 3))
        ours = archspec.summary(_spec(name), variant=None if include_top else "notop")
        assert _archspec_table(ours) == _keras_table(model)
        assert ours.total_params == model.count_params()
        assert ours.non_trainable_params == 0 == n_weights(model.non_trainable_weights)
        assert list(ours.output_shapes[0]) == list(model.output.shape[1:])
        if include_top:
            assert model.count_params() == total  # the figure pinned in the spec
        del model
        keras.backend.clear_session()
