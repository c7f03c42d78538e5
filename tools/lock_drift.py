"""Print how the installed packages differ from the lock: `python tools/lock_drift.py requirements/lock.txt`.

`make test-latest` runs it before the suite, so a failure there comes with the list of releases
that moved since the lock was made (the first suspects). It only reports; it never fails.
"""

from __future__ import annotations

import re
import sys
from importlib import metadata
from pathlib import Path

from packaging.markers import Marker
from packaging.utils import canonicalize_name

_PIN = re.compile(r"^([A-Za-z0-9][A-Za-z0-9._-]*)==([^\s;\\]+)\s*(?:;\s*([^\\]+?))?\s*\\?$")


def locked(path: Path) -> dict[str, str]:
    """The pins of a lock file that apply to this interpreter and platform."""
    pins: dict[str, str] = {}
    for line in path.read_text(encoding="utf-8").splitlines():
        m = _PIN.match(line)
        if m and (m.group(3) is None or Marker(m.group(3)).evaluate()):
            pins[canonicalize_name(m.group(1))] = m.group(2)
    return pins


def installed() -> dict[str, str]:
    return {canonicalize_name(d.metadata["Name"]): d.version for d in metadata.distributions()}


def drift(pins: dict[str, str], have: dict[str, str]) -> list[str]:
    lines = []
    for name in sorted(pins.keys() | have.keys()):
        want, got = pins.get(name), have.get(name)
        if want != got and name not in ("archspec", "pip"):
            lines.append(f"  {name}: lock {want or '-'}, installed {got or '-'}")
    return lines


def main(argv: list[str]) -> int:
    pins = locked(Path(argv[0] if argv else "requirements/lock.txt"))
    lines = drift(pins, installed())
    if lines:
        print(f"{len(lines)} packages differ from the lock:", *lines, sep="\n")
    else:
        print("the installed packages are the lock's")
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
