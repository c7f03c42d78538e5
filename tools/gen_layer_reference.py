"""Write docs/layers.md, the reference of every layer type and built-in block, from the registry.

    python tools/gen_layer_reference.py            # rewrite docs/layers.md
    python tools/gen_layer_reference.py --check    # exit 1 if docs/layers.md is out of date

The page is generated so that it cannot drift from what the expander accepts: argument
names, aliases, kinds, defaults and the Keras keywords all come from the ``Arg`` tuples.
tests/test_docs.py checks that the committed page is current.
"""

from __future__ import annotations

import argparse
import sys
from pathlib import Path
from typing import Any

from archspec.blocks import BLOCKS, canonical_block_keys
from archspec.codegen import literal
from archspec.ir import Node, freeze
from archspec.registry import REQUIRED, Arg, LayerType, registry

ROOT = Path(__file__).resolve().parent.parent
TARGET = ROOT / "docs" / "layers.md"

_KINDS = {
    "int": "integer",
    "float": "number",
    "floats": "number, or one per channel",
    "bool": "true/false",
    "str": "string",
    "enum": "one of",
    "pair": "int or [rows, cols]",
    "padding2d": "int, [rows, cols] or [[top, bottom], [left, right]]",
    "ints": "list of integers",
    "activation": "activation name",
    "initializer": "initializer name",
}


def value(v: Any) -> str:
    """A default as a reader would write it in YAML."""
    if v is REQUIRED:
        return "**required**"
    if v is None:
        return "null"
    if isinstance(v, bool):
        return str(v).lower()
    if isinstance(v, tuple):
        return "[" + ", ".join(value(i) for i in v) + "]"
    return f"{v}"


def kind(arg: Arg) -> str:
    text = _KINDS[arg.kind]
    if arg.kind == "enum":
        text += " " + ", ".join(f"`{c}`" for c in arg.choices)
    bounds = []
    if arg.low is not None and arg.kind in ("int", "float", "ints", "pair"):
        bounds.append(f">= {arg.low:g}")
    if arg.high is not None:
        bounds.append(f"<= {arg.high:g}")
    return text + (f" ({', '.join(bounds)})" if bounds else "")


def keras_kwarg(arg: Arg) -> str:
    if arg.name == "l2":
        return "`kernel_regularizer=L2(l2)`"
    if arg.keras is None:
        return "(not passed)"
    out = f"`{arg.keras}`"
    if arg.keras_default is not REQUIRED and arg.keras_default != arg.default:
        out += f" (Keras default {value(arg.keras_default)})"
    return out


def keras_equivalent(lt: LayerType) -> str:
    """The Keras constructor: exactly what the code generator writes when no argument is required."""
    prefix = "archspec.keras_layers." if lt.custom else "keras.layers."
    if any(a.default is REQUIRED for a in lt.args):
        return f"`{prefix}{lt.keras_class}`"
    try:
        args = lt.check_args({a.name: a.check(a.default) for a in lt.args})
        call = lt.emit(Node("x", lt.name, freeze(args), ("input",)))
    except Exception:  # a layer whose emitter needs a real node: fall back to the class
        return f"`{prefix}{lt.keras_class}`"
    shown = [literal(a) for a in call.args] + [f"{k}={literal(v)}" for k, v in call.kwargs.items() if k != "name"]
    callee = call.callee.replace("layers.", "keras.layers.", 1) if call.callee.startswith("layers.") else call.callee
    callee = callee.replace("archspec_layers.", "archspec.keras_layers.", 1)
    return f"`{callee}({', '.join(shown)})`"


def arg_table(args: tuple[Arg, ...], primary: str | None, with_keras: bool = True) -> list[str]:
    if not args:
        return ["No arguments: write it as a bare name (`- flatten`) or `{name: null}`.", ""]
    head = "| Argument | Aliases | Kind | Default |" + (" Keras keyword |" if with_keras else "") + " Notes |"
    rule = "|---|---|---|---|" + ("---|" if with_keras else "") + "---|"
    lines = [head, rule]
    for a in args:
        name = f"`{a.name}`" + (" (main)" if a.name == primary else "")
        aliases = ", ".join(f"`{x}`" for x in a.aliases)
        notes = a.doc.replace("|", "\\|")
        row = f"| {name} | {aliases} | {kind(a)} | {value(a.default)} |"
        row += f" {keras_kwarg(a)} |" if with_keras else ""
        lines.append(row + f" {notes} |")
    return [*lines, ""]


def layer_section(lt: LayerType) -> list[str]:
    doc = (lt.__doc__ or "").strip()
    lines = [f"### `{lt.name}`", ""]
    if doc:
        lines += [" ".join(doc.split()), ""]
    facts = [f"Keras: {keras_equivalent(lt)}"]
    if lt.aliases:
        facts.append("also written " + ", ".join(f"`{a}`" for a in lt.aliases))
    if lt.primary:
        facts.append(f"a bare value sets `{lt.primary}` (`{lt.name}: VALUE`)")
    if lt.multi_input:
        facts.append("takes several `inputs`")
    if lt.custom:
        facts.append("an archspec layer (Keras has none): generated code imports `archspec.keras_layers`")
    lines += ["- " + fact for fact in facts] + [""]
    return lines + arg_table(lt.args, lt.primary)


def block_section(name: str) -> list[str]:
    bt = BLOCKS[name]
    doc = " ".join((type(bt).__doc__ or "").split())
    lines = [f"### `{name}` (block)", ""]
    if doc:
        lines += [doc, ""]
    if bt.aliases:
        lines += ["- also written " + ", ".join(f"`{a}`" for a in bt.aliases), ""]
    return lines + arg_table(bt.args, bt.primary, with_keras=False)


def render() -> str:
    reg = registry()
    lines = [
        "# Layer reference",
        "",
        "<!-- Generated by tools/gen_layer_reference.py from the registry; do not edit by hand. -->",
        "",
        "Every layer type of spec language v1, with its arguments, defaults and Keras equivalent.",
        "The syntax is described in [spec-language.md](spec-language.md#layer-items). Any layer item also",
        "takes the common keys `name`, `inputs`, `when`, `trainable` and `comment`. Arguments given",
        "neither in the item nor in `defaults:` take the default shown here; where archspec's default",
        "differs from Keras', the Keras default is noted (the generated Keras code then passes the",
        "value explicitly).",
        "",
        "| Layer type | Keras | Main argument |",
        "|---|---|---|",
    ]
    types = sorted(reg.types.values(), key=lambda t: t.name)
    for lt in types:
        lines.append(f"| [`{lt.name}`](#{lt.name}) | {keras_equivalent(lt)} | {lt.primary or ''} |")
    lines += ["", "## Layer types", ""]
    for lt in types:
        lines += layer_section(lt)
    blocks = sorted(BLOCKS)
    lines += ["## Built-in blocks", ""]
    if not blocks:
        lines += ["No built-in blocks are registered yet.", ""]
    else:
        lines += [
            "Built-in blocks expand into the layer types above (see [blocks/](blocks/) for how to use",
            f"them). Registered names: {', '.join(f'`{k}`' for k in sorted(canonical_block_keys()))}.",
            "",
        ]
        for name in blocks:
            lines += block_section(name)
    return "\n".join(lines).rstrip() + "\n"


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--check", action="store_true", help="only check that docs/layers.md is current")
    opts = parser.parse_args(argv)
    text = render()
    if opts.check:
        current = TARGET.read_text(encoding="utf-8") if TARGET.exists() else ""
        if current != text:
            print(f"{TARGET.relative_to(ROOT)} is out of date; run: python tools/gen_layer_reference.py")
            return 1
        return 0
    TARGET.parent.mkdir(parents=True, exist_ok=True)
    TARGET.write_text(text, encoding="utf-8")
    print(f"wrote {TARGET.relative_to(ROOT)}")
    return 0


if __name__ == "__main__":
    sys.exit(main())
