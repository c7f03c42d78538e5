"""Throughput of ``archspec sweep`` (issue 19). Prints measurements and ratios; asserts nothing.

The seed grammar, INPUT -> [[CONV -> RELU]*N -> POOL?]*M -> [FC -> RELU]*K -> FC
(specs/seed_grammar_general.yaml), over N = 0..3, M = 0..5, K = 0..2 and pool on or off:
144 candidates, each expanded, checked and analysed (parameters, MACs, activation memory,
receptive fields), and filtered by a --where condition. Each measurement is one sweep in a
fresh process, timed after the imports and a first candidate that loads the layer registry
and compiles the schema check (in process, as the target says; the one-time cost is printed
too, and bench_startup.py measures start-up); medians of ``--repeat`` processes. Target:
>= 1,000 candidates per second.

For scale, the same figures from Keras: building each candidate as a Keras model and counting
its parameters (what a tuner that builds every candidate pays before any training), for the
first ``--keras`` candidates, in one process after a warm-up build.

    python bench/bench_sweep.py [--repeat 5] [--keras 12]
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import statistics
import subprocess
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
SPEC = ROOT / "specs" / "seed_grammar_general.yaml"
GRID = ["N=0..3", "M=0..5", "K=0..2", "pool=true,false"]
WHERE = "params < 1e6 and macs < 5e7 and activation_bytes < 64MiB"
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONPATH": str(ROOT)}
TARGET = 1000

ONE_SWEEP = f"""
import json, sys, time
from archspec import sweep as sw
grid = sw.parse_grid({GRID!r})
where = sw.parse_condition({WHERE!r}, grid)
start = time.perf_counter()
sw.run({str(SPEC)!r}, {{}})  # one candidate (the spec as written): loads the layer registry, compiles the schema
first = time.perf_counter() - start
start, start_cpu = time.perf_counter(), time.process_time()
result = sw.run({str(SPEC)!r}, grid, where=where)
elapsed, cpu = time.perf_counter() - start, time.process_time() - start_cpu
print(json.dumps({{"seconds": elapsed, "cpu": cpu, "first": first, "total": result.total, "kept": len(result.candidates),
                  "invalid": result.invalid_count, "filtered": result.filtered_out}}))
"""

KERAS_BUILDS = """
import json, sys, time, itertools
import archspec, keras
from archspec import sweep as sw
grid = sw.parse_grid({grid!r})
combos = list(sw.combinations(grid))[: {count}]
archspec.build({spec!r}).count_params()  # warm-up: imports, first graph
times, params = [], []
for values in combos:
    keras.backend.clear_session()
    start = time.perf_counter()
    try:
        params.append(archspec.build({spec!r}, overrides=values).count_params())
    except archspec.ArchspecError:
        continue
    times.append(time.perf_counter() - start)
print(json.dumps({{"times": times, "params": params}}))
"""


def sweep_once() -> dict[str, float]:
    proc = subprocess.run([sys.executable, "-c", ONE_SWEEP], capture_output=True, text=True, env=ENV, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def keras_builds(count: int) -> dict[str, list[float]]:
    code = KERAS_BUILDS.format(grid=GRID, count=count, spec=str(SPEC))
    proc = subprocess.run([sys.executable, "-c", code], capture_output=True, text=True, env=ENV, cwd=ROOT)
    if proc.returncode != 0:
        raise SystemExit(proc.stderr[-2000:])
    return json.loads(proc.stdout.strip().splitlines()[-1])  # type: ignore[no-any-return]


def _met(rate: float) -> str:
    return "met" if rate >= TARGET else "NOT met"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=5, help="sweeps, each in a fresh process (medians reported)")
    parser.add_argument(
        "--keras", type=int, default=12, help="candidates to build in Keras for the comparison (0: skip)"
    )
    opts = parser.parse_args()
    print(
        f"bench_sweep: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    runs = [sweep_once() for _ in range(opts.repeat)]
    first = runs[0]
    seconds = statistics.median(r["seconds"] for r in runs)
    cpu = statistics.median(r["cpu"] for r in runs)
    rate, cpu_rate = first["total"] / seconds, first["total"] / cpu
    print(f"1. archspec sweep of the seed grammar, {', '.join(GRID)}, --where {WHERE!r}")
    print(
        f"   {first['total']:.0f} candidates: {first['kept']:.0f} kept, {first['filtered']:.0f} filtered out, "
        f"{first['invalid']:.0f} refused by the spec"
    )
    first_ms = statistics.median(r["first"] for r in runs) * 1000
    print(f"   first candidate of a process (registry, schema check, first expansion): {first_ms:.1f} ms")
    print(
        f"   the sweep, in process after that: wall {seconds * 1000:.1f} ms, CPU {cpu * 1000:.1f} ms "
        f"(medians of {opts.repeat} processes)"
    )
    print(
        f"   throughput: wall {rate:,.0f} candidates/s, CPU {cpu_rate:,.0f} candidates/s   "
        f"(target >= {TARGET:,}: wall {_met(rate)}, CPU {_met(cpu_rate)})"
    )
    if opts.keras:
        keras = keras_builds(opts.keras)
        per = statistics.median(keras["times"])
        print(
            f"2. The same candidates built in Keras + count_params (first {len(keras['times'])} valid ones, one process)"
        )
        print(f"   median {per * 1000:.1f} ms per candidate -> {1 / per:,.1f} candidates/s")
        print(f"   ratio archspec sweep / Keras builds: {rate * per:,.0f}x")


if __name__ == "__main__":
    main()
