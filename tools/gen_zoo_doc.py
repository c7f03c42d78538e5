"""Write docs/zoo.md, the table of every spec in specs/ with its figures and its authority.

    python tools/gen_zoo_doc.py            # rewrite docs/zoo.md
    python tools/gen_zoo_doc.py --check    # exit 1 if docs/zoo.md is out of date

Every figure comes from archspec's static analysis of the spec (no TensorFlow: the page
costs about what ``archspec summary`` costs per spec); "authority" is the spec's
``expect.authority`` and "matches" says whether the pinned figures in ``expect:`` hold.
One row per spec as written and one per variant of its ``scales:`` table. The comparison
with keras.applications itself is in the slow tests (tests/test_zoo.py, tests/test_parity.py).
tests/test_zoo_doc.py checks that the committed page is current.
"""

from __future__ import annotations

import argparse
import math
import sys
from dataclasses import dataclass
from pathlib import Path
from typing import Any

import archspec
from archspec.analysis import Analysis
from archspec.errors import ArchspecError
from archspec.expect import compare_all, pinned, weight_layers
from archspec.fileio import atomic_write_text
from archspec.loader import load

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
TARGET = ROOT / "docs" / "zoo.md"


@dataclass(frozen=True)
class Row:
    spec: str
    variant: str | None
    analysis: Analysis | None
    authority: str
    matches: str


def rows(spec_dir: Path = SPECS) -> list[Row]:
    """Analyse every top-level spec of ``spec_dir`` and each of its variants."""
    out: list[Row] = []
    for path in sorted(spec_dir.glob("*.yaml")):
        try:
            data = load(path).data
        except ArchspecError as exc:
            out.append(Row(path.name, None, None, "", f"does not load: {exc.problems[0].message}"))
            continue
        expect = data.get("expect") or {}
        for variant in [None, *sorted(data.get("scales") or {})]:
            out.append(_row(path, variant, expect))
    return out


def _row(path: Path, variant: str | None, expect: dict[str, Any]) -> Row:
    figures = expect if variant is None else (expect.get("variants") or {}).get(variant) or {}
    authority = str(figures.get("authority") or expect.get("authority") or "")
    try:
        analysis = archspec.summary(path, variant=variant)
    except ArchspecError as exc:
        return Row(path.name, variant, None, authority, f"does not expand: {exc.problems[0].message}")
    return Row(path.name, variant, analysis, authority, _matches(analysis))


def _matches(analysis: Analysis) -> str:
    _, figures = pinned(analysis.graph)
    keys = [k for k in figures if k not in ("authority", "variants")]
    if not keys:
        return "nothing pinned"
    failed = compare_all(analysis)
    if failed:
        return "**no**: " + "; ".join(message for _, _, message in failed)
    return "yes (" + ", ".join(_SHORT.get(k, k) for k in keys) + ")"


_SHORT = {
    "total_params": "params",
    "trainable_params": "trainable",
    "non_trainable_params": "non-trainable",
    "output_shape": "output",
    "weight_layers": "depth",
    "activation_elements": "activations",
}


def giga(n: int) -> str:
    if n >= 1e8:
        return f"{n / 1e9:,.3f} G"
    return f"{n / 1e6:,.3f} M"


def shape(s: Any) -> str:
    return "x".join(str(d) for d in s)


def table(all_rows: list[Row]) -> list[str]:
    lines = [
        "| spec | variant | params | MACs | depth | input | output | authority | matches |",
        "|---|---|--:|--:|--:|---|---|---|---|",
    ]
    for r in all_rows:
        a = r.analysis
        variant = f"`{r.variant}`" if r.variant else ""
        if a is None:
            lines.append(f"| {r.spec} | {variant} |  |  |  |  |  | {_cell(r.authority)} | {_cell(r.matches)} |")
            continue
        outs = ", ".join(shape(s) for s in a.output_shapes)
        lines.append(
            f"| {r.spec} | {variant} | {a.total_params:,} | {giga(a.macs)} | {weight_layers(a)} "
            f"| {shape(a.graph.input_shape)} | {outs} | {_cell(r.authority)} | {_cell(r.matches)} |"
        )
    return lines


def _cell(text: str) -> str:
    return text.replace("|", "\\|").replace("\n", " ")


def vgg16_memory(spec_dir: Path = SPECS) -> list[str]:
    """The notes' VGG16 memory column against archspec's activation count, with the arithmetic."""
    path = spec_dir / "vgg16.yaml"
    if not path.exists():
        return []
    a = archspec.summary(path)
    listed = [a.graph.input_shape] + [s.shape for s in a.layers if s.type != "flatten"]
    entries = sum(math.prod(s) for s in listed)
    flatten = sum(s.elements for s in a.layers if s.type == "flatten")
    conv = sum(s.elements for s in a.layers if s.type == "conv")
    return [
        "## VGG16's activation memory: the notes' table and archspec",
        "",
        f"The notes' VGG16 table lists {len(listed)} memory entries (the input, 13 convs, 5 pools, 3 FCs:",
        "150K, 3.2M, 3.2M, 800K, ..., 25K, 4096, 4096, 1000). archspec reproduces every entry exactly",
        f"(224x224x3 = {math.prod(a.graph.input_shape):,}, 224x224x64 = {a.layers[0].elements:,}, ...;",
        "tests/test_zoo.py::test_vgg16_notes_memory_column_per_layer). The entries add up to",
        f"**{entries:,}** values ({entries / 1e6:.1f}M, {entries * 4 / 1e6:.0f} MB per image in float32), not",
        'the notes\' "TOTAL memory: 24M * 4 bytes ~= 96MB / image": the 24M total does not follow from its',
        "own column.",
        "",
        f"archspec's `activation_elements` for vgg16.yaml is **{a.activation_elements:,}** = {entries:,} +",
        f"{flatten:,}: archspec counts the input and the output of every layer, and the spec has a flatten",
        "layer (as Keras' VGG16 does) whose output the notes do not list (in Keras it is a reshape of the",
        "last pool). Counting each conv's pre-ReLU output as well, as a framework that keeps it for the",
        f"backward pass does, would add {conv:,} for {entries + conv:,} ({(entries + conv) / 1e6:.1f}M):",
        "neither reading gives 24M.",
    ]


#: Which pinned figures are Keras' and which a paper's, and where the two disagree (by hand:
#: the figures are checked by the tests named, this text only says where they come from).
FIGURE_SOURCES = [
    "## Keras' figures and the papers'",
    "",
    "- **Keras' own** (built with `weights=None`, equal layer by layer in",
    "  tests/test_zoo_transformers_unet.py): convnext_tiny and its base variant (small: Keras' count",
    "  as tools/gen_bases.py recorded it),",
    "  mobilenetv3_small/large (`keras.applications`); vit_b16 (ti, s), vit_tiny_cifar and",
    "  vit_hybrid against a ViT written by hand with Keras' layers; unet's parameter count (its",
    "  Keras build, and by hand from Figure 1's channels).",
    "- **The papers'**: U-Net's map sizes (all 27 of Figure 1 hold). ViT Table 1: B 86M (86.57M),",
    "  L 307M: the layers give 304.33M with a 1000-class head (303.30M without, 325.69M with a",
    "  21,843-class one), 0.9% below, and no head reproduces it. DeiT Table 1: Ti 5M and S 22M",
    "  (5.72M and 22.05M: the table truncates). ConvNeXt-T, Table 9: 28M (28.59M) and 4.5G FLOPs",
    "  (4.456G MACs, -1.0%). MobileNetV3, Table 3: Small 2.5M parameters and 56M MAdds (Keras",
    "  2.55M; 56.5M MACs, +0.9%), Large 5.4M and 219M (Keras 5.51M; 216.6M MACs, -1.1%: archspec",
    "  counts conv and dense layers only).",
]


def render(spec_dir: Path = SPECS) -> str:
    all_rows = rows(spec_dir)
    specs = len({r.spec for r in all_rows})
    lines = [
        "# The reference zoo",
        "",
        "<!-- Generated by tools/gen_zoo_doc.py from specs/*.yaml; do not edit by hand (make zoo-doc). -->",
        "",
        f"{specs} specs in specs/, each with the figures archspec computes statically and the",
        "authority its pinned figures (`expect:`) come from. **params**: total parameters as Keras",
        "counts them (trainable + non-trainable). **MACs**: multiply-accumulates of the weight layers",
        "(conv, depthwise, separable, dense; kernel only), M = 10^6, G = 10^9; FLOPs = 2 x MACs.",
        "**depth**: weight layers (conv, depthwise, separable, dense), as VGG's Table 1 counts them.",
        "**matches**: whether every figure pinned in the spec's `expect:` (or `expect.variants`) holds;",
        "`archspec validate` and `archspec summary` fail, with both figures, when one does not.",
        "Rows with a variant are `archspec summary SPEC --variant NAME`.",
        "",
        *table(all_rows),
        "",
        *FIGURE_SOURCES,
        "",
        *vgg16_memory(spec_dir),
    ]
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="exit 1 if the page is out of date")
    parser.add_argument("-o", "--output", type=Path, default=TARGET)
    args = parser.parse_args(argv)
    text = render()
    if args.check:
        current = args.output.read_text(encoding="utf-8") if args.output.exists() else ""
        if current != text:
            print(f"{args.output} is out of date: run `make zoo-doc` (python tools/gen_zoo_doc.py)", file=sys.stderr)
            return 1
        return 0
    atomic_write_text(args.output, text)
    print(f"wrote {args.output} ({text.count(chr(10))} lines)")
    return 0


if __name__ == "__main__":
    sys.exit(main())
