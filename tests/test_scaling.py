"""Architecture scaling: width/depth/resolution multipliers, EfficientNet's compound rule and
rounding, and named variants (``scales:``, ``--variant``, ``archspec.expand(variant=)``)."""

from __future__ import annotations

import pytest
from click.testing import CliRunner
from conftest import SPECS

import archspec
from archspec.cli import main
from archspec.errors import UsageError
from archspec.expressions import ExpressionError, evaluate, round_filters, round_repeats

EFFICIENTNET = SPECS / "efficientnet_b0.yaml"


@pytest.mark.parametrize(
    ("filters", "width", "expected"),
    [
        (32, 1.0, 32),
        (32, 1.1, 32),  # 35.2 -> int(39.2) // 8 * 8 = 32, within 10% of 35.2
        (32, 1.2, 40),  # 38.4 -> 40
        (16, 1.2, 24),  # 19.2 -> 16 is more than 10% down (< 17.28), so one step up: 24
        (1280, 1.1, 1408),
        (1280, 1.2, 1536),
        (3, 1.0, 8),  # never below the divisor
    ],
)
def test_round_filters_rounds_to_a_multiple_of_8_never_10_percent_down(filters, width, expected):
    assert round_filters(filters, width) == expected
    assert evaluate(f"round_filters({filters}, {width})", {}) == expected


def test_round_repeats_always_rounds_up():
    assert round_repeats(2, 1.1) == 3  # 2.2 -> 3
    assert round_repeats(3, 1.0) == 3
    assert round_repeats([1, 2, 2, 3, 3, 4, 1], 1.4) == [2, 3, 3, 5, 5, 6, 2]
    assert evaluate("sum(round_repeats(r, 1.1))", {"r": [1, 2, 2, 3, 3, 4, 1]}) == 23


def test_list_slices_sum_and_letter():
    env = {"R": [1, 2, 2, 3]}
    assert evaluate("sum(R[:2])", env) == 3
    assert evaluate("R[1:3]", env) == [2, 2]
    assert evaluate("R[::-1]", env) == [3, 2, 2, 1]
    assert evaluate("letter(2)", {}) == "c"
    for bad, message in [("letter(26)", "letter()"), ("sum(3)", "sum()"), ("R[::0]", "step"), ("R['a':]", "sliced")]:
        with pytest.raises(ExpressionError, match=message):
            evaluate(bad, env)


COMPOUND = """
archspec: 1
name: compound
description: EfficientNet's compound rule on a toy net; phi scales depth, width and resolution together.
input: ["${res}", "${res}", 3]
classes: 10
vars:
  phi: 0
  depth: "${1.2 ** phi}"    # alpha^phi
  width: "${1.1 ** phi}"    # beta^phi
  res: "${int(32 * 1.15 ** phi)}"  # gamma^phi
layers:
  - {conv: "${round_filters(16, width)}", kernel: 3, strides: 2, padding: same, name: stem}
  - repeat: "${round_repeats(2, depth)}"
    as: j
    layers:
      - {mbconv: "${round_filters(24, width)}", name: "block1${letter(j)}"}
  - {gap: null, name: avg_pool}
  - {dense: "${classes}", activation: softmax, name: predictions}
scales:
  s0: {phi: 0}
  s1: {phi: 1}
  s3: {phi: 3}
"""


def test_compound_rule_scales_depth_width_and_resolution_from_phi():
    base = archspec.expand(COMPOUND, variant="s0")
    s1 = archspec.expand(COMPOUND, variant="s1")
    s3 = archspec.expand(COMPOUND, variant="s3")
    assert (base.input_shape, s1.input_shape, s3.input_shape) == ((32, 32, 3), (36, 36, 3), (48, 48, 3))
    # depth 1.2^phi on 2 repeats: ceil(2), ceil(2.4), ceil(3.456)
    assert [len([n for n in g.nodes if n.name.endswith("_project_conv")]) for g in (base, s1, s3)] == [2, 3, 4]
    # width 1.1^phi: round_filters(16, 1.331) = 24 (21.3 -> 24); round_filters(24, 1.331) = 32
    assert [g.node("stem").args["filters"] for g in (base, s1, s3)] == [16, 16, 24]
    assert s3.node("block1d_project_conv").args["filters"] == 32


def test_overrides_recompute_the_vars_that_depend_on_them():
    graph = archspec.expand(COMPOUND, overrides={"phi": 1})
    assert graph.input_shape == (36, 36, 3)
    assert archspec.expand(COMPOUND, overrides={"phi": 1, "res": 40}).input_shape == (40, 40, 3)


def test_efficientnet_variants_round_channels_and_repeats_like_keras():
    b3 = archspec.expand(EFFICIENTNET, variant="b3")  # width 1.2, depth 1.4, 300x300
    assert b3.input_shape == (300, 300, 3)
    assert b3.node("stem_conv").args["filters"] == 40
    assert b3.node("block1a_project_conv").args["filters"] == 24
    assert b3.node("top_conv").args["filters"] == 1536
    blocks = sorted({n.name.split("_")[0] for n in b3.nodes if n.name.startswith("block")})
    assert len(blocks) == 26 and "block6f" in blocks and "block6g" not in blocks
    assert b3.node("block4a_dwconv_pad").args["padding"] == ((0, 1), (0, 1))  # 38x38: correct_pad
    # drop-connect rises linearly over the 26 blocks: block b has 0.2 * b / 26
    assert b3.node("block7b_drop").args["rate"] == pytest.approx(0.2 * 25 / 26)


def test_variants_from_the_library_and_the_cli():
    assert archspec.summary(EFFICIENTNET, variant="b1").total_params == 7_856_239
    result = CliRunner().invoke(main, ["summary", str(EFFICIENTNET), "--variant", "b2"])
    assert result.exit_code == 0, result.output
    assert "Total params: 9,177,569" in result.output
    with pytest.raises(UsageError, match="Did you mean 'b1'"):
        archspec.expand(EFFICIENTNET, variant="b11")


def test_a_stage_multiplier_scales_only_that_stage():
    spec = COMPOUND.replace("round_filters(24, width)", "round_filters(24, width * stage_width)").replace(
        "  phi: 0\n", "  phi: 0\n  stage_width: 1.0\n"
    )
    graph = archspec.expand(spec, overrides={"stage_width": 2.0})
    assert graph.node("stem").args["filters"] == 16
    assert graph.node("block1a_project_conv").args["filters"] == 48
