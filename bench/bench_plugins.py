"""What looking for plugin layer types would cost a static command, and what laziness saves.

archspec reads the ``archspec.layers`` entry points (archspec/plugins.py) only when a spec
names a type that is not built in. This script measures, each in fresh processes (best of
``--runs``): ``archspec validate`` of a spec of built-in types (what every static command
pays, plugins never looked for), the same process also reading every installed package's
entry points first (what an eager lookup at start-up would add), and ``validate`` of a spec
naming an unknown type (which does look). Prints the times and their ratios; nothing is
asserted. Run: python bench/bench_plugins.py
"""

from __future__ import annotations

import argparse
import subprocess
import sys
import tempfile
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
BUILT_IN = "archspec: 1\ninput: [32, 32, 3]\nlayers: [{conv: 8}, relu, flatten, {dense: 10}]\n"
UNKNOWN = "archspec: 1\ninput: [32, 32, 3]\nlayers: [{conv: 8}, {not_a_type: 1}, flatten, {dense: 10}]\n"
SCAN = (
    "import time; t = time.perf_counter(); import importlib.metadata; "
    "importlib.metadata.entry_points(group='archspec.layers'); print(time.perf_counter() - t)"
)
EAGER = (
    "import importlib.metadata, sys; importlib.metadata.entry_points(group='archspec.layers'); "
    "from archspec.cli import main; sys.argv = ['archspec', 'validate', sys.argv[1]]; main()"
)


def _best(command: list[str], runs: int) -> float:
    times = []
    for _ in range(runs):
        start = time.perf_counter()
        subprocess.run(command, capture_output=True, cwd=ROOT, check=False)
        times.append(time.perf_counter() - start)
    return min(times)


def _scan(runs: int) -> float:
    """The entry point lookup alone, timed inside fresh processes (less sensitive to load)."""
    out = [
        subprocess.run([sys.executable, "-c", SCAN], capture_output=True, text=True, check=True) for _ in range(runs)
    ]
    return min(float(done.stdout) for done in out)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--runs", type=int, default=5, help="fresh processes per row (best is shown)")
    args = parser.parse_args()
    with tempfile.TemporaryDirectory() as tmp:
        built_in, unknown = Path(tmp, "built_in.yaml"), Path(tmp, "unknown.yaml")
        built_in.write_text(BUILT_IN)
        unknown.write_text(UNKNOWN)
        lazy = _best([sys.executable, "-m", "archspec", "validate", str(built_in)], args.runs)
        eager = _best([sys.executable, "-c", EAGER, str(built_in)], args.runs)
        looked = _best([sys.executable, "-m", "archspec", "validate", str(unknown)], args.runs)
    scan = _scan(args.runs)
    print(f"validate, built-in types (plugins not looked for): {lazy * 1000:7.1f} ms")
    print(f"validate, entry points read at start-up (eager):    {eager * 1000:7.1f} ms  ({eager / lazy:.2f}x)")
    print(f"validate, an unknown type (entry points read once): {looked * 1000:7.1f} ms  ({looked / lazy:.2f}x)")
    print(f"the entry point lookup alone, in process:           {scan * 1000:7.1f} ms  ({scan / lazy:.2f} of validate)")


if __name__ == "__main__":
    main()
