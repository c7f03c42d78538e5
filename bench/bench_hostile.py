"""How fast archspec refuses hostile specs, against what the same input cost without the guard.

Each row runs the guarded path (what archspec does now) and the unguarded alternative in the
same process, and prints both times and their ratio. Nothing is asserted; docs/security.md
quotes these numbers. Run: python bench/bench_hostile.py
"""

from __future__ import annotations

import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import yaml

from archspec import loader
from archspec.errors import ArchspecError
from archspec.expand import Expander

BOMB = (
    "a0: &a0 [lol, lol, lol, lol, lol, lol, lol, lol, lol, lol]\n"
    + "".join(f"a{i}: &a{i} [" + ", ".join([f"*a{i - 1}"] * 10) + "]\n" for i in range(1, 9))
    + "archspec: 1\ninput: [8, 8, 1]\nlayers: [flatten]\n"
)
NESTED_REPEAT = (
    "archspec: 1\ninput: [8, 8, 1]\nlayers:\n  - repeat: 10000\n    layers: [{repeat: 10000, layers: [relu]}]\n"
)
UNITS = "archspec: 1\ninput: [8, 8, 1]\nlayers: [flatten, {dense: 1000000000000}]\n"
DEEP = "archspec: 1\ninput: [8, 8, 1]\nlayers: " + "[" * 50_000 + "]" * 50_000 + "\n"
#: Issue 21's work without layers, stopped by the work budget (archspec/budget.py): unguarded,
#: each ran for hours or until memory ran out, so only the guarded time is measured.
HOSTILE = Path(__file__).resolve().parent.parent / "tests" / "corpus" / "hostile"
WORK = [
    "work_empty_repeats",
    "work_when_false",
    "work_pattern_empty_groups",
    "expr_long_list_cache",
    "did_you_mean_199",
]


def timed(fn: Callable[[], Any], repeat: int = 3) -> float:
    best = float("inf")
    for _ in range(repeat):
        start = time.perf_counter()
        try:
            fn()
        except (ArchspecError, RecursionError):
            pass
        best = min(best, time.perf_counter() - start)
    return best


def guarded(text: str) -> Callable[[], Any]:
    import archspec

    return lambda: archspec.expand(text)


def unguarded_walk() -> None:
    """The converter walking the bomb value by value (what the loader did before counting)."""
    node = yaml.compose(BOMB, Loader=loader._Loader)
    converter = loader._Converter("<bench>")
    converter.convert(node, (), 0)


def unguarded_expand(text: str) -> Callable[[], Any]:
    """Expansion without the static layer count (the expander's own 100,000-node cap stops it)."""

    def run() -> None:
        doc = loader.load_text(text)
        Expander(doc).run()

    return run


def main() -> None:
    import archspec

    archspec.expand(UNITS.replace("1000000000000", "10"))  # import and warm up once
    rows = [
        (f"billion laughs ({len(BOMB)} bytes, 10^9 values)", guarded(BOMB), unguarded_walk),
        ("repeat 10,000 x repeat 10,000 (10^8 layers)", guarded(NESTED_REPEAT), unguarded_expand(NESTED_REPEAT)),
        ("dense: 10^12 units (65 * 10^12 params)", guarded(UNITS), None),
        ("50,000 nested '[' (composer recursion)", guarded(DEEP), None),
        *((f"{name}.yaml (work budget)", guarded((HOSTILE / f"{name}.yaml").read_text()), None) for name in WORK),
    ]
    print(f"{'hostile input':48} {'refused in':>12} {'unguarded':>12} {'ratio':>8}")
    for label, fast, slow in rows:
        t_fast = timed(fast)
        t_slow = timed(slow, repeat=1) if slow else None  # one run: the unguarded side takes seconds
        ratio = f"{t_slow / t_fast:8.0f}x" if t_slow else f"{'-':>8}"
        slow_text = f"{t_slow * 1000:10.1f}ms" if t_slow else f"{'-':>12}"
        print(f"{label:48} {t_fast * 1000:10.2f}ms {slow_text} {ratio}")


if __name__ == "__main__":
    main()
