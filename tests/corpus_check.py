"""Reading the ``# expect:`` headers of corpus specs and checking archspec's output against them.

A corpus file starts with comment lines::

    # What the file gets wrong.
    # expect: 7:12: layers[2].conv.kernal: conv has no argument 'kernal'. Did you mean 'kernel'?
    # expect: 9:5: layers[3]: ... does not fit the 1x1 input
    # problems: 2

Each ``expect`` is ``LINE:COL: TEXT`` (or just ``TEXT`` for a problem with no position); the
output must have a line ``FILE:LINE:COL: TEXT``, where ``...`` in TEXT stands for anything.
``problems: N`` pins how many problems are reported in all.
"""

from __future__ import annotations

import re
from dataclasses import dataclass
from pathlib import Path

_EXPECT = re.compile(r"^#\s*expect:\s*(?:(\d+):(\d+):\s)?(.*)$")
_COUNT = re.compile(r"^#\s*problems:\s*(\d+)\s*$")


@dataclass(frozen=True)
class Expectation:
    line: int | None
    column: int | None
    text: str

    def matches(self, output_line: str, file: str) -> bool:
        where = f"{file}:{self.line}:{self.column}: " if self.line else f"{file}: "
        if not output_line.startswith(where):
            return False
        pattern = ".*".join(re.escape(part) for part in self.text.split("..."))
        return re.fullmatch(pattern, output_line[len(where) :]) is not None

    def __str__(self) -> str:
        return f"{self.line}:{self.column}: {self.text}" if self.line else self.text


def expectations(path: Path) -> tuple[list[Expectation], int | None]:
    """The ``expect`` lines and the ``problems`` count of a corpus file's header."""
    out: list[Expectation] = []
    count = None
    for line in path.read_text(encoding="utf-8", errors="replace").splitlines():
        if not line.startswith("#"):
            break
        m = _EXPECT.match(line)
        if m:
            out.append(Expectation(int(m[1]) if m[1] else None, int(m[2]) if m[2] else None, m[3].rstrip()))
        m = _COUNT.match(line)
        if m:
            count = int(m[1])
    return out, count


def check_output(path: Path, file_arg: str, output: str) -> list[str]:
    """What is wrong with ``output`` for corpus file ``path`` (given to archspec as ``file_arg``)."""
    wanted, count = expectations(path)
    lines = output.splitlines()
    failures = []
    if not wanted:
        failures.append(f"{path.name} has no '# expect:' lines")
    for exp in wanted:
        if not any(exp.matches(line, file_arg) for line in lines):
            failures.append(f"missing: {exp}")
    if "Traceback" in output or "internal error" in output:
        failures.append("a traceback or internal error was printed")
    problems = [line for line in lines if line.startswith(file_arg)]
    if count is not None and len(problems) != count:
        failures.append(f"expected {count} problems, got {len(problems)}")
    if count is None and wanted and len(problems) != len(wanted):
        failures.append(f"expected {len(wanted)} problem(s), got {len(problems)}")
    return failures
