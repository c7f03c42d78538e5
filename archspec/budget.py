"""The work budget: every static command does a bounded number of counted steps.

The size limits (:mod:`archspec.limits`) count layers, but work can grow without layers:
``repeat: 10000`` of ``repeat: 10000`` of an empty body makes no layer in 10^8 iterations,
and an expression over a long list costs as much as the list. Each stage that loops over
something the spec controls charges its steps here (a repeat iteration, an item walked,
an expression evaluated, with the list elements it touched), and :func:`bounded` stops the
work, with :class:`WorkExceeded`, once a command has used :data:`MAX_STEPS`. The stage that
knows where it is turns that into a located :class:`~archspec.errors.SpecError`.

The counter is a plain integer in this module (no clock, no thread), so a command gives the
same answer on a busy machine as on an idle one. This module imports nothing from archspec:
every stage may charge it.
"""

from __future__ import annotations

from collections.abc import Iterator
from contextlib import contextmanager

#: Steps one expansion may use. ResNet-1202 uses 52,948; a spec near the layer limit
#: (24,502 layers) with an expression in every argument uses 318,505. A step is a
#: microsecond or two, so the limit is seconds of work (bench/bench_hostile.py).
MAX_STEPS = 2_000_000

#: How deeply repeats and block instances may nest (each level is a few Python frames; a
#: chain of 3,000 blocks, each using the next, overflowed Python's stack).
MAX_NESTING = 100

_used = 0
_stop: int | None = None  # the value of _used at which the innermost bounded() stops work


class WorkExceeded(Exception):
    """The command used its budget of steps; ``problem`` is set by the stage that knows where."""

    def __init__(self) -> None:
        super().__init__(message())
        self.problem: object | None = None


def message() -> str:
    return (
        f"expanding this spec takes more than {MAX_STEPS:,} steps of work (repeat iterations, "
        "items walked, expression evaluations); the limit keeps every command's time bounded"
    )


def spend(steps: int = 1) -> None:
    """Charge ``steps``; raise WorkExceeded once the innermost :func:`bounded` is used up."""
    global _used
    _used += steps
    if _stop is not None and _used > _stop:
        raise WorkExceeded


def used() -> int:
    """Steps charged so far in this process (for tests and the fuzzer: a difference of two)."""
    return _used


@contextmanager
def bounded(steps: int | None = None) -> Iterator[None]:
    """Allow at most ``steps`` (default :data:`MAX_STEPS`) inside the block; a nested block
    can only tighten the budget of the one around it."""
    global _stop
    outer = _stop
    stop = _used + (MAX_STEPS if steps is None else steps)
    _stop = stop if outer is None else min(outer, stop)
    try:
        yield
    finally:
        _stop = outer
