"""Benchmark: ``archspec summary`` on every zoo spec, as a whole process (issue 6: "prints in
well under a second"). Prints measurements and ratios; asserts nothing.

For each top-level spec in specs/ it times ``python -m archspec summary SPEC`` (the best of
``--repeat`` runs, wall clock), and, in one run for comparison, the floor every command pays:
a bare ``python -c pass`` and ``python -c "import archspec.cli"`` (interpreter and import
start-up). It also times the work itself in this process (load, expand, analyse, render the
table), so the table shows how much of a command is start-up and how much is the spec.
Then it prints the slowest spec and its ratio to the one-second budget.

    python bench/bench_zoo_summary.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import os
import platform
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore"}
BUDGET = 1.0  # seconds: "prints in well under a second"


def process_time(cmd: list[str], repeat: int) -> float:
    """Best wall time of ``repeat`` runs of a whole process (the best is the least disturbed)."""
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        proc = subprocess.run(cmd, capture_output=True, text=True, env=ENV, cwd=ROOT, check=False)
        best = min(best, time.perf_counter() - start)
        if proc.returncode != 0:
            raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stdout[-1000:]}{proc.stderr[-2000:]}")
    return best


def in_process_time(path: Path, repeat: int) -> tuple[float, int]:
    """Best time of load + expand + analyse + check + render, in this process; and the layer count."""
    from archspec import report, summary
    from archspec.expect import check_expectations

    best, layers = float("inf"), 0
    for _ in range(repeat):
        start = time.perf_counter()
        analysis = summary(path)
        check_expectations(analysis)
        report.render_table(analysis, None, "float32")
        best = min(best, time.perf_counter() - start)
        layers = len(analysis.layers)
    return best, layers


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3)
    args = parser.parse_args()
    py = sys.executable
    print(f"python {platform.python_version()} on {platform.machine()}, {os.cpu_count()} cores; best of {args.repeat}")
    print(f"load average at start: {os.getloadavg()[0]:.2f} (other processes on the cores inflate every figure)")
    bare = process_time([py, "-c", "pass"], args.repeat)
    imported = process_time([py, "-c", "import archspec.cli"], args.repeat)
    print(f"floor: bare interpreter {bare * 1000:.0f} ms; interpreter + import archspec.cli {imported * 1000:.0f} ms\n")

    specs = sorted(SPECS.glob("*.yaml"))
    rows = []
    print(f"{'spec':<36} {'layers':>6} {'process':>9} {'in-process':>11} {'minus import':>13} {'of budget':>9}")
    for path in specs:
        wall = process_time([py, "-m", "archspec", "summary", str(path)], args.repeat)
        work, layers = in_process_time(path, args.repeat)
        rows.append((wall, path.name, layers, work))
        print(
            f"{path.name:<36} {layers:>6} {wall * 1000:>7.0f}ms {work * 1000:>9.1f}ms "
            f"{(wall - imported) * 1000:>11.0f}ms {wall / BUDGET:>8.0%}"
        )
    wall, name, layers, work = max(rows)
    total = sum(r[0] for r in rows)
    print(
        f"\nslowest: {name} ({layers} layers): {wall * 1000:.0f} ms as a process "
        f"({wall / BUDGET:.2f}x the {BUDGET:.0f} s budget; {work * 1000:.1f} ms of it is the spec's own work, "
        f"{imported * 1000:.0f} ms is start-up)"
    )
    print(f"all {len(rows)} specs: {total:.2f} s as processes; mean {total / len(rows) * 1000:.0f} ms per spec")
    print(f"load average at end: {os.getloadavg()[0]:.2f}")


if __name__ == "__main__":
    main()
