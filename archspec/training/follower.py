"""The run directory as workers other than worker 0 see it in a multi-worker run: read, never written.

Worker 0 writes every file (checkpoints, state, history, logs); the others compute the same
epochs and only read the run directory (its state and checkpoint, to resume). Importing this
module imports Keras (through :mod:`.rundir`).
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

from ..errors import UsageError
from .rundir import EpochRecorder, RunDir


class FollowerRunDir(RunDir):
    """A run directory that this process reads and never writes (no lock, no files)."""

    def lock(self) -> None:
        pass

    def release(self) -> None:
        pass

    def write_history(self, history: Any) -> None:
        pass

    def write_json(self, name: str, data: Any) -> None:
        pass

    def log(self, message: str) -> None:
        pass

    def copy(self, source: Path, target: Path) -> None:
        pass

    def save_model(self, model: Any, target: Path) -> None:
        pass

    def remove_checkpoint(self, name: Any) -> None:
        pass

    @staticmethod
    def existing(path: str | Path, index: int) -> FollowerRunDir:
        """The run directory that worker 0 wrote, as worker ``index`` sees it (to resume)."""
        run = FollowerRunDir(path)
        if not (run.path / "run.json").exists():
            raise UsageError(
                f"worker {index} cannot see {Path(path) / 'run.json'}: to resume, the run directory must be on a "
                "file system every worker shares (or be copied to the same path on every machine)"
            )
        return run


class FollowerRecorder(EpochRecorder):
    """Keeps the history as worker 0's recorder does, and writes nothing (not even the curves)."""

    def on_train_end(self, logs: Any = None) -> None:
        pass
