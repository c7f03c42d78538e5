"""Benchmark of the static analysis (issues 3 and 19). Prints measurements and ratios; asserts nothing.

1. ``archspec summary`` of the ResNet-152 spec, as a whole process, against a process that
   builds ``keras.applications.ResNet152(weights=None)`` and counts its parameters (the
   quickest way to get the same figure from Keras). Target: archspec at least 50x faster
   (issue 19; issue 3 asked for 20x).
2. ResNet-1202 (specs/resnet_cifar.yaml, ``--variant resnet1202``, n = 200): target under
   half a second.
3. Generated specs of 100, 1,000 and 10,000 layers: the time per layer should stay flat
   (linear growth); then 100,000 layers, which archspec's limits refuse by design
   (docs/security.md: 25,000 layers, 1 MiB of YAML), so this process raises them for itself.
4. A 10,000-layer explicit spec summarised as a whole process (start-up included): target
   under 1 s.
5. Peak memory of ``archspec summary`` (whole processes) as the number of repeated block
   instances grows (resnet_cifar.yaml, n units per stage): the cost per layer should stay
   flat, repeated instances sharing their argument objects.

Child processes run without PYTHONDONTWRITEBYTECODE (an installed package has its bytecode
cache; without it every run would compile archspec from source).

    python bench/bench_summary.py [--repeat 3]
"""

from __future__ import annotations

import argparse
import contextlib
import json
import os
import platform
import resource
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parent.parent
SPECS = ROOT / "specs"
# The archspec of this tree, in this process and in the processes it starts: run as
# `python bench/bench_summary.py`, Python would otherwise find whichever archspec is installed.
sys.path.insert(0, str(ROOT))
ENV = {**os.environ, "TF_CPP_MIN_LOG_LEVEL": "3", "PYTHONWARNINGS": "ignore", "PYTHONPATH": str(ROOT)}
ENV.pop("PYTHONDONTWRITEBYTECODE", None)
TARGET_KERAS_RATIO = 50
KERAS_RESNET152 = "import keras; m = keras.applications.ResNet152(weights=None); print(m.count_params())"


def run(cmd: list[str]) -> tuple[float, float, str]:
    """Wall time and CPU time (user + system, all threads) of a whole process, and its output."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, text=True, env=ENV, cwd=ROOT, check=False)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stderr[-2000:]}")
    cpu = (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)
    return elapsed, cpu, proc.stdout


def timed(fn: Callable[[], object], repeat: int) -> tuple[list[float], list[float]]:
    """Wall and CPU (this process) times of ``repeat`` calls."""
    wall, cpu = [], []
    for _ in range(repeat):
        start, start_cpu = time.perf_counter(), time.process_time()
        fn()
        wall.append(time.perf_counter() - start)
        cpu.append(time.process_time() - start_cpu)
    return wall, cpu


def describe(wall: list[float], cpu: list[float]) -> str:
    return f"wall {statistics.median(wall):7.3f} s, CPU {statistics.median(cpu):7.3f} s (medians of {len(wall)})"


def bench_resnet152(repeat: int) -> None:
    spec = SPECS / "resnet152.yaml"
    summary_cmd = [sys.executable, "-m", "archspec", "summary", str(spec), "--format", "json"]
    keras_cmd = [sys.executable, "-c", KERAS_RESNET152]
    run(summary_cmd)  # warm the OS file cache before timing, for both sides
    run(keras_cmd)
    ours, ours_cpu, theirs, theirs_cpu = [], [], [], []
    archspec_params = keras_params = 0
    for _ in range(repeat):  # interleaved, so that a change in machine load hits both
        t, c, out = run(summary_cmd)
        ours.append(t)
        ours_cpu.append(c)
        archspec_params = _json_total(out)
        t, c, out = run(keras_cmd)
        theirs.append(t)
        theirs_cpu.append(c)
        keras_params = int(out.strip().splitlines()[-1])
    ratio = statistics.median(theirs) / statistics.median(ours)
    cpu_ratio = statistics.median(theirs_cpu) / statistics.median(ours_cpu)
    print("1. ResNet-152, whole processes")
    print(f"   archspec summary specs/resnet152.yaml        {describe(ours, ours_cpu)} -> {archspec_params:,} params")
    print(f"   keras.applications.ResNet152 + count_params {describe(theirs, theirs_cpu)} -> {keras_params:,} params")
    print(f"   same parameter count: {archspec_params == keras_params}")
    target = TARGET_KERAS_RATIO
    print(
        f"   ratio Keras / archspec: wall {ratio:.1f}x, CPU {cpu_ratio:.1f}x   "
        f"(target >= {target}x: wall {_met(ratio >= target)}, CPU {_met(cpu_ratio >= target)})"
    )


def _met(ok: bool) -> str:
    return "met" if ok else "NOT met"


def _json_total(text: str) -> int:
    return int(json.loads(text)["total_params"])


def bench_resnet1202(repeat: int) -> None:
    import archspec
    from archspec import report
    from archspec.analysis import analyse

    spec = SPECS / "resnet_cifar.yaml"
    holder: dict[str, Any] = {}

    def summarise(fmt: str) -> Callable[[], None]:
        def run_once() -> None:  # what `archspec summary` does after start-up
            graph = archspec.expand(spec, variant="resnet1202")
            analysis = analyse(graph)
            holder.update(layers=len(graph), params=analysis.total_params)
            report.render_table(analysis) if fmt == "table" else report.to_json(analysis)

        return run_once

    summarise("table")()  # first call pays for imports and schema construction
    print(
        f"2. ResNet-1202 (resnet_cifar.yaml --variant resnet1202): {holder['layers']:,} layers, {holder['params']:,} params"
    )
    for fmt in ("table", "json"):
        wall, cpu = timed(summarise(fmt), repeat)
        cmd = [sys.executable, "-m", "archspec", "summary", str(spec), "--variant", "resnet1202", "--format", fmt]
        runs = [run(cmd) for _ in range(repeat)]
        whole_wall, whole_cpu = [r[0] for r in runs], [r[1] for r in runs]
        # Warm: a second summary in one process (imports done, expression results remembered).
        print(f"   --format {fmt:5s} in process, warm (expand, analyse, render): {describe(wall, cpu)}")
        print(f"   --format {fmt:5s} whole process (start-up included):          {describe(whole_wall, whole_cpu)}")
        verdict = (
            f"in process {_met(statistics.median(cpu) < 0.5)}, whole process {_met(statistics.median(whole_cpu) < 0.5)}"
        )
        print(f"   target < 0.5 s (CPU): {verdict}")


def generated_spec(layers: int) -> str:
    """A plain chain of ``layers`` layers (conv / bn / relu cycles on a 16x16x16 map)."""
    lines = ["archspec: 1", f"name: chain{layers}", "input: [16, 16, 16]", "layers:"]
    kinds = ["{conv: 16, padding: same, bias: false, name: c%d}", "{bn: null, name: b%d}", "{relu: null, name: r%d}"]
    lines += ["  - " + kinds[i % 3] % i for i in range(layers)]
    return "\n".join(lines) + "\n"


def bench_scaling(repeat: int) -> None:
    import archspec
    from archspec import report
    from archspec.analysis import analyse
    from archspec.loader import load_file

    print("3. Generated chains (load + expand + analyse + JSON in process; then the terminal table)")
    print("   layers    wall s     CPU s   CPU us/layer   table CPU s")
    per_layer: dict[int, float] = {}
    with tempfile.TemporaryDirectory() as tmp, _limits_raised():
        for n in (100, 1000, 10000, 100000):
            path = Path(tmp) / f"chain{n}.yaml"
            path.write_text(generated_spec(n))

            def pipeline(path: Path = path) -> object:
                analysis = analyse(archspec.expand(load_file(path)))
                report.to_json(analysis)
                return analysis

            analysis = pipeline()
            assert len(analysis.layers) == n  # type: ignore[attr-defined]
            wall, cpu = (statistics.median(x) for x in timed(pipeline, repeat if n < 100000 else 1))
            table = statistics.median(timed(lambda a=analysis: report.render_table(a), 1)[1])  # type: ignore[arg-type]
            per_layer[n] = cpu / n
            print(f"   {n:>6}  {wall:>8.3f}  {cpu:>8.3f}  {cpu / n * 1e6:>13.1f}  {table:>12.3f}")
    for n in (10000, 100000):
        growth = per_layer[n] / per_layer[100]
        print(f"   CPU time per layer, {n:,} vs 100 layers: {growth:.2f}x (1.0 = linear; {n // 100} = quadratic)")
    print("   (100,000 layers with archspec's limits raised in this process only: the CLI refuses them)")


@contextlib.contextmanager
def _limits_raised() -> Iterator[None]:
    """archspec's size limits (25,000 layers, 1 MiB, 200,000 YAML values, the work budget) x 20."""
    saved = [(m, n, getattr(m, n)) for m, n in _limit_names()]
    for module, name, value in saved:
        setattr(module, name, value * 20)
    try:
        yield
    finally:
        for module, name, value in saved:
            setattr(module, name, value)


def _limit_names() -> list[tuple[Any, str]]:
    import importlib

    budget, expand, limits, loader = (
        importlib.import_module(f"archspec.{m}") for m in ("budget", "expand", "limits", "loader")
    )
    return [
        (limits, "MAX_LAYERS"),
        (expand, "MAX_LAYERS"),  # imported by value
        (loader, "MAX_FILE_BYTES"),
        (loader, "MAX_NODES"),
        (budget, "MAX_STEPS"),
    ]


def bench_explicit_10000(repeat: int) -> None:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "chain10000.yaml"
        path.write_text(generated_spec(10000))
        print("4. A 10,000-layer explicit spec (bench 3's chain), `archspec summary` as a whole process")
        for fmt in ("json", "table"):
            cmd = [sys.executable, "-m", "archspec", "summary", str(path), "--format", fmt]
            run(cmd)  # bytecode and file caches
            runs = [run(cmd) for _ in range(repeat)]
            wall, cpu = statistics.median(r[0] for r in runs), statistics.median(r[1] for r in runs)
            print(
                f"   --format {fmt:5s} {describe([r[0] for r in runs], [r[1] for r in runs])}   "
                f"(target < 1 s: wall {_met(wall < 1)}, CPU {_met(cpu < 1)})"
            )


def bench_memory() -> None:
    print("5. Peak memory of `archspec summary specs/resnet_cifar.yaml --set n=N --format json`, whole processes")
    print("        n   layers   peak RSS MiB   above n=1, KiB per layer   argument objects / layers")
    base = None
    for n in (1, 30, 300, 1000):
        cmd = [sys.executable, "-m", "archspec", "summary", str(SPECS / "resnet_cifar.yaml"), "--set", f"n={n}"]
        peak, out = _peak_rss([*cmd, "--format", "json"])
        layers = len(json.loads(out)["layers"])
        base = base or (peak, layers)
        per_layer = (peak - base[0]) / max(layers - base[1], 1) / 1024
        shared = _argument_objects(n)
        print(f"   {n:>6}  {layers:>7,}  {peak / 2**20:>13.1f}  {per_layer:>25.2f}   {shared:>12,} / {layers:,}")


def _peak_rss(cmd: list[str]) -> tuple[int, str]:
    """Peak resident memory (bytes) of a whole process, read from its own rusage by a wrapper."""
    wrapper = (
        "import resource, subprocess, sys; p = subprocess.run(sys.argv[1:], capture_output=True, text=True); "
        "sys.stdout.write(p.stdout); "
        "sys.stderr.write(str(resource.getrusage(resource.RUSAGE_CHILDREN).ru_maxrss))"
    )
    proc = subprocess.run([sys.executable, "-c", wrapper, *cmd], capture_output=True, text=True, env=ENV, cwd=ROOT)
    return int(proc.stderr.strip().splitlines()[-1]) * 1024, proc.stdout


def _argument_objects(n: int) -> int:
    import archspec

    graph = archspec.expand(SPECS / "resnet_cifar.yaml", overrides={"n": n})
    return len({id(node.args) for node in graph.nodes})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=3, help="runs of each measurement (medians are reported)")
    parser.add_argument("--skip-keras", action="store_true", help="skip the ResNet-152 comparison (slow)")
    opts = parser.parse_args()
    print(
        f"bench_summary: {platform.node()} {platform.machine()}, {os.cpu_count()} CPUs, "
        f"Python {platform.python_version()}, load average {os.getloadavg()[0]:.1f}"
    )
    if not opts.skip_keras:
        bench_resnet152(opts.repeat)
    bench_resnet1202(opts.repeat)
    bench_scaling(opts.repeat)
    bench_explicit_10000(opts.repeat)
    bench_memory()


if __name__ == "__main__":
    main()
