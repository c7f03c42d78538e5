"""The run directory: spec, models, history, curves, log, and the checkpoint a killed run resumes from.

Layout::

    RUN_DIR/spec.yaml            the exact spec text trained
    RUN_DIR/run.json             options, data settings, class names, strategy, replicas
    RUN_DIR/state.json           last completed epoch, its checkpoint, the best value so far, the history
    RUN_DIR/checkpoints/epoch-NNNN.keras   model + optimizer state after epoch NNNN (latest only)
    RUN_DIR/best.keras           the best model by the monitored metric
    RUN_DIR/last.keras           the model after the last epoch
    RUN_DIR/history.json         per-epoch metrics, learning rate, seconds, stage; continues across resumes
    RUN_DIR/history.csv          the same table as CSV (one row per epoch, written with history.json)
    RUN_DIR/tensorboard/         TensorBoard event files (Keras' TensorBoard callback): tensorboard --logdir RUN_DIR
    RUN_DIR/curves.png           accuracy and loss curves (training and validation), drawn after each stage
    RUN_DIR/train.log            what happened, one line per event
    RUN_DIR/test.json            test-split loss and metrics, when there is a test split

Every file is written atomically (temporary file + rename). ``state.json`` is the commit
point of an epoch: one write names the epoch's complete checkpoint and holds the history up
to it; the previous checkpoint is deleted only after. So a kill at any moment leaves a state
that names a complete checkpoint with its matching history.
"""

from __future__ import annotations

import csv
import io
import json
import math
import re
import shutil
import time
from collections.abc import Mapping
from pathlib import Path
from typing import Any

import keras

from ..errors import UsageError
from ..fileio import OutputLock, atomic_path, atomic_write_text

#: The files archspec writes in a run directory (and the only ones it ever removes, with its checkpoints).
OWN_FILES = (
    "spec.yaml",
    "run.json",
    "state.json",
    "history.json",
    "history.csv",
    "train.log",
    "best.keras",
    "last.keras",
    "curves.png",
    "test.json",
    "confusion.png",
)
CHECKPOINT = re.compile(r"checkpoints/epoch-\d{4,}\.keras")
# atomic_path's temporaries: ".TARGET." + mkstemp's 8 random characters + the target's suffix.
_TEMPORARY = re.compile(r"\.(?P<target>.+)\.[a-z0-9_]{8}(?P<suffix>\.[A-Za-z0-9]+)?")


class RunDir:
    """Reads and writes one run directory.

    :meth:`create` and :meth:`open_existing` lock the directory for this process
    (:class:`~archspec.fileio.OutputLock` on ``.NAME.lock`` beside it) before they look
    inside it, so two trainings, or two ``--resume`` of one run, never share it: the second
    is refused with exit status 2, naming the first one's pid. :meth:`release` ends it.
    """

    def __init__(self, path: str | Path):
        self.path = Path(path)
        self._lock: OutputLock | None = None

    def lock(self) -> None:
        if self._lock is None:
            self._lock = OutputLock(self.path)
            self._lock.acquire()

    def release(self) -> None:
        if self._lock is not None:
            self._lock.release()
            self._lock = None

    # -- paths ---------------------------------------------------------------------------
    def __truediv__(self, name: str) -> Path:
        return self.path / name

    @property
    def best(self) -> Path:
        return self.path / "best.keras"

    @property
    def last(self) -> Path:
        return self.path / "last.keras"

    # -- json files ----------------------------------------------------------------------
    def write_history(self, history: Mapping[str, list[Any]]) -> None:
        """history.json and history.csv, from the same table: epochs as rows, metrics as columns.

        Derived from the history archspec commits, so a resumed run lists each epoch once (Keras'
        CSVLogger, appending, would list twice the epochs redone after a kill).
        """
        self.write_json("history.json", history)
        atomic_write_text(self.path / "history.csv", history_csv(history))

    def write_json(self, name: str, data: Any) -> None:
        atomic_write_text(self.path / name, json.dumps(data, indent=2, default=_plain) + "\n")

    def read_json(self, name: str, default: Any = None) -> Any:
        file = self.path / name
        if not file.exists():
            return default
        return json.loads(file.read_text(encoding="utf-8"))

    def log(self, message: str) -> None:
        """Append a timestamped line to train.log (rewritten atomically: the log is small)."""
        file = self.path / "train.log"
        old = file.read_text(encoding="utf-8") if file.exists() else ""
        stamp = time.strftime("%Y-%m-%d %H:%M:%S")
        atomic_write_text(file, f"{old}{stamp} {message}\n")

    def copy(self, source: Path, target: Path) -> None:
        with atomic_path(target, suffix=target.suffix) as tmp:
            shutil.copyfile(source, tmp)

    def save_model(self, model: keras.Model, target: Path) -> None:
        with atomic_path(target, suffix=".keras") as tmp:
            model.save(tmp)

    def checkpoint(self, name: Any) -> Path:
        """The checkpoint a run directory's state.json names, refused unless it is one archspec writes
        (``checkpoints/epoch-NNNN.keras``, a regular file inside this directory): an edited state.json
        must not make archspec load, or later delete, a file anywhere else."""
        if not isinstance(name, str) or not CHECKPOINT.fullmatch(name):
            raise UsageError(
                f"{self.path / 'state.json'}: its checkpoint {name!r} is not one archspec writes "
                "(checkpoints/epoch-NNNN.keras inside the run directory); refusing to use it"
            )
        path = self.path / name
        if path.is_symlink() or path.resolve().parent != self.path.resolve() / "checkpoints":
            raise UsageError(f"{path}: a link out of the run directory; refusing to use it as a checkpoint")
        return path

    def remove_checkpoint(self, name: Any) -> None:
        """Delete an earlier checkpoint, only if it is archspec's own (see :meth:`checkpoint`)."""
        try:
            path = self.checkpoint(name)
        except UsageError:
            self.log(f"kept {name!r}: not a checkpoint archspec wrote")
            return
        path.unlink(missing_ok=True)

    def remove_stale_checkpoints(self, state: Mapping[str, Any]) -> list[Path]:
        """Remove the checkpoints an epoch's commit replaced but a kill left (between the commit and the
        delete): archspec's own ``epoch-NNNN.keras`` files other than the one state.json names."""
        keep = state.get("checkpoint")
        removed = []
        for file in sorted((self.path / "checkpoints").glob("epoch-*.keras")):
            name = f"checkpoints/{file.name}"
            if name != keep and CHECKPOINT.fullmatch(name) and file.is_file() and not file.is_symlink():
                file.unlink()
                removed.append(file)
        return removed

    def repair_best(self, state: Mapping[str, Any]) -> bool:
        """After a kill between an epoch's commit and its best-model copy: make the copy. True if it was needed."""
        best, checkpoint = state.get("best") or {}, state.get("checkpoint")
        if not checkpoint or best.get("epoch") != state.get("epoch"):
            return False
        path = self.checkpoint(checkpoint)
        if not path.exists():
            return False
        self.copy(path, self.best)
        return True

    def clean_temporaries(self) -> list[Path]:
        """Remove half-written temporary files a killed run left: atomic_path's ``.TARGET.XXXXXXXX``
        for the files archspec writes here, and nothing else (a user's dotfile stays)."""
        removed = []
        for folder in (self.path, self.path / "checkpoints"):
            for file in folder.glob(".*"):
                if file.is_file() and not file.is_symlink() and _is_own_temporary(file, folder != self.path):
                    file.unlink()
                    removed.append(file)
        return removed

    @staticmethod
    def create(path: str | Path) -> RunDir:
        """A new run directory, locked; refused if it already holds anything (checked under the lock)."""
        run = RunDir(path)
        run.lock()
        if run.path.exists() and any(run.path.iterdir()):
            run.release()
            raise UsageError(f"run directory {path} exists and is not empty; use --resume {path} to continue it")
        run.path.mkdir(parents=True, exist_ok=True)
        return run

    @staticmethod
    def open_existing(path: str | Path) -> RunDir:
        """An existing run directory, locked for this process."""
        run = RunDir(path)
        if not (run.path / "run.json").exists():
            raise UsageError(f"{path} is not an archspec run directory (it has no run.json)")
        run.lock()
        return run


def _is_own_temporary(file: Path, in_checkpoints: bool) -> bool:
    match = _TEMPORARY.fullmatch(file.name)
    if match is None:
        return False
    if in_checkpoints:
        return CHECKPOINT.fullmatch(f"checkpoints/{match['target']}") is not None
    return match["target"] in OWN_FILES


class EpochRecorder(keras.callbacks.Callback):
    """After every epoch: checkpoint (with the optimizer), best model, history, curves, state, log."""

    def __init__(self, run: RunDir, monitor: str, stage: int, history: dict[str, list[Any]], best: Mapping[str, Any]):
        super().__init__()
        self.run = run
        self.monitor = monitor
        self.stage = stage
        self.history = history
        self.best = dict(best)

    def on_epoch_begin(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        self._lr = _current_lr(self.model.optimizer)  # the rate this epoch starts with (a schedule moves on)
        self._start = time.perf_counter()

    def on_epoch_end(self, epoch: int, logs: Mapping[str, Any] | None = None) -> None:
        logs = dict(logs or {})
        number = epoch + 1  # Keras counts from 0; the run directory from 1
        logs["lr"] = self._lr
        logs["seconds"] = time.perf_counter() - self._start  # training + validation, before this bookkeeping
        for key, value in logs.items():
            self.history.setdefault(key, [None] * (len(self.history.get("epoch", []))))
            self.history[key].append(_plain(value))
        self.history.setdefault("epoch", []).append(number)
        self.history.setdefault("stage", []).append(self.stage)
        for values in self.history.values():  # a metric absent this epoch: keep columns aligned
            if len(values) < len(self.history["epoch"]):
                values.append(None)
        improved = self._improved(logs.get(self.monitor))
        checkpoint = self.run / f"checkpoints/epoch-{number:04d}.keras"
        self.run.save_model(self.model, checkpoint)
        if improved:
            self.best = {"monitor": self.monitor, "value": _plain(logs[self.monitor]), "epoch": number}
        self.run.write_history(self.history)
        shown = ", ".join(f"{k}={_fmt(v)}" for k, v in logs.items())
        self.run.log(f"epoch {number} (stage {self.stage}): {shown}{' [best]' if improved else ''}")
        # The commit point: state.json names the checkpoint and carries the history up to this epoch, in one
        # atomic write. A kill before it resumes at this epoch (history.json, which may be one epoch ahead, is
        # rewritten from the state); a kill after it resumes at the next.
        previous = (self.run.read_json("state.json") or {}).get("checkpoint")
        relative = str(checkpoint.relative_to(self.run.path))
        state = {"epoch": number, "stage": self.stage, "checkpoint": relative, "best": self.best, "finished": False}
        self.run.write_json("state.json", {**state, "history": self.history})
        if improved:  # the best model is this epoch's checkpoint: a copy, after the commit (resume redoes it)
            self.run.copy(checkpoint, self.run.best)
        if previous and previous != relative:
            self.run.remove_checkpoint(previous)

    def on_train_end(self, logs: Mapping[str, Any] | None = None) -> None:
        # Drawing takes longer than a small model's epoch; the curves are drawn once per stage (and on resume).
        plot_curves(self.history, self.run / "curves.png")

    def _improved(self, value: Any) -> bool:
        if value is None or (isinstance(value, float) and math.isnan(value)):
            return False
        old = self.best.get("value")
        if old is None:
            return True
        lower_is_better = "loss" in self.monitor
        return bool(value < old if lower_is_better else value > old)


def history_csv(history: Mapping[str, list[Any]]) -> str:
    """The history as CSV: ``epoch`` and ``stage`` first, then the metrics in a stable order."""
    first = [k for k in ("epoch", "stage") if k in history]
    columns = first + sorted(k for k in history if k not in first)
    rows = zip(*(history[k] for k in columns)) if columns else iter(())
    buffer = io.StringIO()
    writer = csv.writer(buffer, lineterminator="\n")
    writer.writerow(columns)
    writer.writerows(["" if v is None else v for v in row] for row in rows)
    return buffer.getvalue()


def tensorboard(run: RunDir) -> keras.callbacks.Callback:
    """Keras' TensorBoard callback writing into the run directory (one folder per stage, like Keras' runs)."""
    return keras.callbacks.TensorBoard(log_dir=str(run.path / "tensorboard"), write_graph=False, update_freq="epoch")


def _current_lr(optimizer: Any) -> float:
    rate = optimizer.learning_rate
    try:
        return float(keras.ops.convert_to_numpy(rate))
    except (TypeError, ValueError):
        return float("nan")


def _plain(value: Any) -> Any:
    try:
        return float(value)
    except (TypeError, ValueError):
        return str(value)


def _fmt(value: Any) -> str:
    return f"{value:.4g}" if isinstance(value, float) else str(value)


def plot_curves(history: Mapping[str, list[Any]], target: Path) -> None:
    """Training and validation accuracy and loss against the epoch, as the notes plot them."""
    import matplotlib

    matplotlib.use("Agg")
    import matplotlib.pyplot as plt

    epochs = history.get("epoch", [])
    panels = [
        ("loss", [k for k in history if k.endswith("loss")]),
        ("accuracy", [k for k in history if k.endswith("accuracy")]),
    ]
    panels = [(title, keys) for title, keys in panels if keys]
    fig, axes = plt.subplots(1, max(1, len(panels)), figsize=(6 * max(1, len(panels)), 4), squeeze=False)
    for ax, (title, keys) in zip(axes[0], panels):
        for key in keys:
            ax.plot(epochs, history[key], label=key, linestyle="--" if key.startswith("val_") else "-")
        ax.set_title(f"training and validation {title}")
        ax.set_xlabel("epoch")
        ax.set_ylabel(title)
        ax.legend(fontsize="small")
        ax.grid(alpha=0.3)
    fig.tight_layout()
    with atomic_path(target, suffix=".png") as tmp:
        fig.savefig(tmp, dpi=100)
    plt.close(fig)
