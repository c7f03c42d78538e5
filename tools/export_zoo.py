"""Export every spec in specs/ to every format with `archspec export`'s parity check, and print a table.

The test suite exports a sample (tests/test_export.py); this runs the whole zoo, which takes tens of
minutes on 2 cores. Networks made for ImageNet are exported at a smaller input where the
architecture allows it (the first of 64, 96, 128, 160, 224 pixels that validates), which changes
nothing the converters see but the sizes; fresh weights; a check batch of 1.

    python tools/export_zoo.py [--formats onnx litert saved_model] [--specs resnet50 ...] [--json]

`--json` prints one JSON object per export instead of the table (tests/test_export_zoo.py runs
this once per spec, in a process of its own: converters keep memory that a long process would
pile up until the machine runs out).
"""

from __future__ import annotations

import argparse
import copy
import json
import math
import tempfile
import time
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SIZES = (64, 96, 128, 160, 224)


def small_graph(spec: Path) -> tuple[Any, str]:
    """The spec's graph at the smallest input size that validates, and that size."""
    from archspec.api import expand
    from archspec.errors import ArchspecError
    from archspec.loader import load_file

    data = copy.deepcopy(load_file(spec).data)
    data.pop("expect", None)
    shape = data.get("input")
    if not (isinstance(shape, list) and len(shape) == 3 and isinstance(shape[2], int)):
        return expand(spec), "as written"
    # a height written as an expression (`${res}`) is tried at every size, as written last
    height = shape[0] if isinstance(shape[0], int) else math.inf
    for size in (s for s in SIZES if s < height):
        try:
            return expand({**data, "input": [size, size, shape[2]]}), f"{size}x{size}"
        except ArchspecError:
            continue
    return expand(spec), "as written"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--formats", nargs="+", default=["onnx", "litert", "saved_model"])
    parser.add_argument("--specs", nargs="+", default=None)
    parser.add_argument("--json", action="store_true", help="one JSON object per export, not the table")
    args = parser.parse_args()
    from archspec import framework

    framework.start()
    import keras

    from archspec import export as exp
    from archspec.errors import ArchspecError
    from archspec.keras_backend import build_graph

    names = args.specs or [p.stem for p in sorted((ROOT / "specs").glob("*.yaml"))]
    if not args.json:
        print(f"{'spec':<32} {'input':<10} {'format':<12} {'result':<7} {'max abs diff':>12} {'seconds':>8}")
    with tempfile.TemporaryDirectory() as folder:
        for name in names:
            graph, size = small_graph(ROOT / "specs" / f"{name}.yaml")
            model = build_graph(graph)
            for fmt in args.formats:
                out = Path(folder) / f"{name}{exp.FORMATS[fmt].suffix or '_saved_model'}"
                start = time.perf_counter()
                record: dict[str, Any] = {"spec": name, "input": size, "format": fmt}
                try:
                    check = exp.export(exp.Target(model, name), exp.FORMATS[fmt], out, batch=1)
                    record.update(ok=check.ok, max_abs=check.max_abs, message="")
                except ArchspecError as exc:
                    record.update(ok=False, max_abs=None, message=str(exc.problems[0].message))
                record["seconds"] = round(time.perf_counter() - start, 1)
                print(json.dumps(record) if args.json else _row(record), flush=True)
            keras.backend.clear_session()


def _row(record: dict[str, Any]) -> str:
    result = "ok" if record["ok"] else "FAILED"
    diff = f"{record['max_abs']:.2g}" if record["ok"] else record["message"][:60]
    return (
        f"{record['spec']:<32} {record['input']:<10} {record['format']:<12} {result:<7} {diff:>12} "
        f"{record['seconds']:8.1f}"
    )


if __name__ == "__main__":
    main()
