"""Start-up of the static commands against the floor (issue 19). Prints measurements and ratios; asserts nothing.

The floor is ``python -c "import yaml, click"``: the interpreter and the two libraries every
archspec command needs. ``archspec validate`` and ``archspec summary`` of a small spec
(specs/seed_cnn.yaml) are timed as whole processes, through the console script and through
``python -m archspec``, interleaved with the floor (so that a change in load hits them all),
medians of ``--repeat`` runs; ``--baseline DIR`` adds the same commands run from an older
source tree (e.g. ``git archive COMMIT archspec | tar -x -C DIR``). Target: within 1.5x of
the floor.

Python writes no bytecode cache when PYTHONDONTWRITEBYTECODE is set (some shells here set
it), and then every run compiles archspec from source; an installed package has its cache,
so the processes timed here run with it unset, after a warm-up run that writes it.

    python bench/bench_startup.py [--repeat 21] [--baseline DIR]
"""

from __future__ import annotations

import argparse
import os
import platform
import resource
import statistics
import subprocess
import sys
import time
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
ENV = {k: v for k, v in os.environ.items() if k != "PYTHONDONTWRITEBYTECODE"}
ENV["PYTHONPATH"] = os.pathsep.join(p for p in (str(ROOT), ENV.get("PYTHONPATH", "")) if p)
SPEC = "specs/seed_cnn.yaml"
#: The `archspec` console script pip installs (what a user types); `python -m archspec` also
#: imports runpy and runs archspec/__main__.py, so it is timed too.
SCRIPT = str(Path(sys.executable).parent / "archspec")
COMMANDS = {
    'python -c "import yaml, click"': [sys.executable, "-c", "import yaml, click"],
    f"archspec validate {SPEC}": [sys.executable, SCRIPT, "validate", SPEC],
    f"archspec summary {SPEC}": [sys.executable, SCRIPT, "summary", SPEC],
    f"python -m archspec validate {SPEC}": [sys.executable, "-m", "archspec", "validate", SPEC],
    f"python -m archspec summary {SPEC}": [sys.executable, "-m", "archspec", "summary", SPEC],
}
TARGET = 1.5


def timed(cmd: list[str], env: dict[str, str] | None = None, cwd: Path = ROOT) -> tuple[float, float]:
    """Wall and CPU (user + system) seconds of one whole process."""
    before = resource.getrusage(resource.RUSAGE_CHILDREN)
    start = time.perf_counter()
    proc = subprocess.run(cmd, capture_output=True, env=env or ENV, cwd=cwd, check=False)
    elapsed = time.perf_counter() - start
    after = resource.getrusage(resource.RUSAGE_CHILDREN)
    if proc.returncode != 0:
        raise SystemExit(f"failed: {' '.join(cmd)}\n{proc.stderr.decode()[-2000:]}")
    return elapsed, (after.ru_utime - before.ru_utime) + (after.ru_stime - before.ru_stime)


def imported_modules(cmd: list[str]) -> list[str]:
    """Top-level packages a command imports beyond the floor (python -X importtime)."""
    proc = subprocess.run([cmd[0], "-X", "importtime", *cmd[1:]], capture_output=True, text=True, env=ENV, cwd=ROOT)
    names = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in proc.stderr.splitlines() if "|" in line}
    floor = subprocess.run(
        [sys.executable, "-X", "importtime", "-c", "import yaml, click"], capture_output=True, text=True, env=ENV
    )
    base = {line.rsplit("|", 1)[-1].strip().split(".")[0] for line in floor.stderr.splitlines() if "|" in line}
    return sorted(names - base - {"imported package"})


def _met(ratio: float) -> str:
    return "met" if ratio <= TARGET else "NOT met"


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--repeat", type=int, default=21, help="runs of each command (medians are reported)")
    parser.add_argument(
        "--baseline", metavar="DIR", default=None, help="also time the archspec package found in DIR (an older tree)"
    )
    opts = parser.parse_args()
    commands = dict(COMMANDS)
    places = dict.fromkeys(commands, (ENV, ROOT))
    if opts.baseline:  # run from there: `python -m` puts the working directory first on sys.path
        base = Path(opts.baseline).resolve()
        for name in list(COMMANDS)[1:3]:
            commands[f"{name} [baseline]"] = [*COMMANDS[name][:-1], str(ROOT / SPEC)]
            places[f"{name} [baseline]"] = ({**ENV, "PYTHONPATH": str(base)}, base)
    print(
        f"bench_startup: {platform.machine()}, {os.cpu_count()} CPUs, Python {platform.python_version()}, "
        f"load average {os.getloadavg()[0]:.1f}"
    )
    for name, cmd in commands.items():  # warm-up: OS file cache and bytecode cache
        timed(cmd, *places[name])
    walls: dict[str, list[float]] = {name: [] for name in commands}
    cpus: dict[str, list[float]] = {name: [] for name in commands}
    for _ in range(opts.repeat):
        for name, cmd in commands.items():
            wall, cpu = timed(cmd, *places[name])
            walls[name].append(wall)
            cpus[name].append(cpu)
    floor, floor_cpu = (statistics.median(next(iter(d.values()))) for d in (walls, cpus))
    print(f"whole processes, medians of {opts.repeat} interleaved runs (ratio = the command / the floor):")
    for name in commands:
        wall, cpu = statistics.median(walls[name]), statistics.median(cpus[name])
        line = f"   {name:52s} wall {wall * 1000:6.1f} ms {wall / floor:5.2f}x, CPU {cpu * 1000:6.1f} ms {cpu / floor_cpu:5.2f}x"
        if name != next(iter(commands)):
            line += f"  (target <= {TARGET}x: wall {_met(wall / floor)}, CPU {_met(cpu / floor_cpu)})"
        print(line)
    extra = imported_modules(COMMANDS[f"archspec summary {SPEC}"])
    print(f"packages `archspec summary` imports beyond the floor: {', '.join(extra)}")


if __name__ == "__main__":
    main()
