"""Starting TensorFlow without its start-up log lines on the user's terminal.

TensorFlow writes 6-9 lines to the process's stderr while it is imported and while it first
looks for devices (oneDNN, CUDA stubs, ``failed call to cuInit``, CPU instruction sets). Most
are written by C++ before absl's logging is initialised, so ``TF_CPP_MIN_LOG_LEVEL`` cannot
hide them: the only reliable place to catch them is file descriptor 2 itself. archspec
points it at a temporary file while the framework starts, then puts it back and replays
every line that is *not* one of the framework's log lines, so a real error still reaches the
user. ``archspec --verbose`` (or ``ARCHSPEC_VERBOSE=1``) shows everything.
"""

from __future__ import annotations

import contextlib
import importlib.abc
import importlib.machinery
import importlib.util
import os
import re
import sys
import tempfile
import types
from collections.abc import Iterator
from typing import Any

#: glog/absl lines (``I0000 00:00:1795640716.445094    7860 port.cc:153] ...``), absl's
#: pre-initialisation banner, and the second line of the CPU feature notice.
_FRAMEWORK_LINE = re.compile(
    r"^(?:[IWEF]\d{4} \d\d:\d\d:\d+\.\d+\s+\d+ [\w./-]+:\d+\] "
    r"|WARNING: All log messages before absl::InitializeLog\(\) is called are written to STDERR"
    r"|To enable the following instructions: .*rebuild TensorFlow with the appropriate compiler flags\."
    r"|INFO: Created TensorFlow Lite XNNPACK delegate for CPU\.)"
)


def is_framework_log_line(line: str) -> bool:
    """Whether ``line`` is one of TensorFlow's own start-up log lines.

    >>> is_framework_log_line("I0000 00:00:1795640716.445094    7860 port.cc:153] oneDNN custom operations are on.")
    True
    >>> is_framework_log_line("archspec: error: no such file")
    False
    """
    return bool(_FRAMEWORK_LINE.match(line))


def start(verbose: bool = False) -> None:
    """Import TensorFlow and Keras now and initialise their devices, once per process.

    Unless ``verbose``, the framework's log lines written meanwhile are dropped; anything else
    written to stderr is replayed.
    """
    quiet_when_imported(verbose)
    import keras  # noqa: F401
    import tensorflow  # noqa: F401


def quiet_when_imported(verbose: bool = False) -> None:
    """Make TensorFlow's first import (whenever a command gets to it) drop its log lines.

    Commands refuse bad input before they import TensorFlow (and some never do), so TensorFlow
    is not imported here: an import hook wraps its module's execution, and the CUDA probe that
    logs ``failed call to cuInit`` right after, in :func:`framework_lines_dropped`.
    """
    verbose = verbose or os.environ.get("ARCHSPEC_VERBOSE", "") not in ("", "0")
    if verbose or "tensorflow" in sys.modules or any(isinstance(f, _QuietFinder) for f in sys.meta_path):
        return
    sys.meta_path.insert(0, _QuietFinder())


class _QuietFinder(importlib.abc.MetaPathFinder):
    """Finds ``tensorflow`` as usual, and runs its import with the log lines dropped."""

    def find_spec(self, fullname: str, path: Any, target: Any = None) -> importlib.machinery.ModuleSpec | None:
        if fullname != "tensorflow":
            return None
        sys.meta_path.remove(self)  # once: the real finders do the finding, and later imports are plain
        spec = importlib.util.find_spec(fullname)
        if spec is None or spec.loader is None:
            return spec
        spec.loader = _QuietLoader(spec.loader)
        return spec


class _QuietLoader(importlib.abc.Loader):
    def __init__(self, loader: importlib.abc.Loader):
        self.loader = loader

    def create_module(self, spec: importlib.machinery.ModuleSpec) -> types.ModuleType | None:
        return self.loader.create_module(spec)

    def exec_module(self, module: types.ModuleType) -> None:
        with framework_lines_dropped():
            self.loader.exec_module(module)
            module.config.list_physical_devices()  # CUDA's probe (cuInit) logs here, not at import


@contextlib.contextmanager
def framework_lines_dropped() -> Iterator[None]:
    """Keep the framework's log lines written to fd 2 meanwhile off the terminal; replay the rest."""
    sys.stderr.flush()
    saved = os.dup(2)
    with tempfile.TemporaryFile(mode="w+b") as sink:
        os.dup2(sink.fileno(), 2)
        try:
            yield
        finally:
            sys.stderr.flush()
            os.dup2(saved, 2)
            os.close(saved)
            sink.seek(0)
            _replay(sink.read().decode("utf-8", "replace"))


def _replay(text: str) -> None:
    kept = [line for line in text.splitlines() if line.strip() and not is_framework_log_line(line)]
    if kept:
        sys.stderr.write("\n".join(kept) + "\n")
        sys.stderr.flush()
