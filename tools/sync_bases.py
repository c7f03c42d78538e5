"""Copy the zoo specs of the supported applications into archspec/data/bases/ (package data).

``python tools/sync_bases.py`` refreshes the copies; ``--check`` exits 1 if any is stale.
Run it after editing specs/vgg16.yaml, specs/resnet50.yaml, ... (tests/test_transfer.py checks).
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parent.parent
sys.path.insert(0, str(ROOT))

from archspec.transfer.bases import APPLICATIONS, DATA_DIR  # noqa: E402


def main(check: bool) -> int:
    stale = []
    for app in APPLICATIONS.values():
        source, copy = ROOT / "specs" / app.spec_file, DATA_DIR / app.spec_file
        if source.is_file() and (not copy.is_file() or copy.read_bytes() != source.read_bytes()):
            stale.append(app.spec_file)
            if not check:
                shutil.copyfile(source, copy)
    verb = "stale" if check else "updated"
    print(f"{verb}: {', '.join(stale)}" if stale else "archspec/data/bases/ is current")
    return 1 if check and stale else 0


if __name__ == "__main__":
    sys.exit(main("--check" in sys.argv[1:]))
