"""Writing files: atomically, by one process at a time, and never over a special file.

Three promises (docs/security.md):

- A crash never leaves a half-written file that looks complete: data goes to a temporary
  file next to the target, is fsynced, and is renamed over it (:func:`atomic_path`).
- Every output is owned by one process at a time (:class:`OutputLock`): a second archspec
  process that wants to write the same file or run directory is refused with exit status 2,
  naming the holder's pid. The lock is ``flock`` on a hidden sidecar file, so the kernel
  releases it when its holder dies: a stale lock never blocks.
- A target that is not a regular file is never replaced by one: a character device
  (``/dev/null``), a FIFO, or this process's own standard output (``/dev/stdout``) is written
  through; a directory, a block device or a kernel file (``/proc``, ``/sys``) is refused. A
  symlink to a regular file stays a symlink: the file it points to is replaced.
"""

from __future__ import annotations

import contextlib
import errno
import fcntl
import hashlib
import os
import shutil
import stat
import sys
import tempfile
from collections.abc import Iterator
from pathlib import Path
from types import TracebackType
from typing import TextIO

from .errors import UsageError

_MAX_SUFFIX = 40  # of a temporary file's name: a long dotted target name must not overflow NAME_MAX
_MAX_PREFIX = 64
_KERNEL_FILES = ("/proc/", "/sys/")
# Failures of the file system, not of archspec: out of space, read-only, not allowed, name too long.
_USER_ERRNOS = {
    errno.ENOSPC,
    errno.EDQUOT,
    errno.EROFS,
    errno.EACCES,
    errno.EPERM,
    errno.ENAMETOOLONG,
    errno.EFBIG,
    errno.ENOENT,
    errno.ENOTDIR,
    errno.EISDIR,
    errno.ENXIO,
    errno.EIO,
    errno.EINVAL,
    errno.EPIPE,  # the reader of a FIFO or of /dev/stdout stopped reading (`| head -1`)
}


@contextlib.contextmanager
def atomic_path(target: str | os.PathLike[str], suffix: str = "") -> Iterator[Path]:
    """Yield a temporary path to write; on success it becomes ``target``.

    For a regular (or absent) target the temporary file lives in the same directory (so the
    rename is atomic) and keeps the target's suffix (Keras chooses the format from it); the
    target is locked (:class:`OutputLock`) while it is written, and on any error the
    temporary file is removed. A special target (see the module docstring) is written
    through once the data is complete, or refused with :class:`UsageError`.
    """
    target = Path(target)
    suffix = (suffix or "".join(target.suffixes))[-_MAX_SUFFIX:]
    if _writes_through(target):
        with _write_through(target, suffix) as tmp:
            yield tmp
        return
    real = _regular_target(target)
    with OutputLock(real), _os_errors_as_usage(target):
        real.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(prefix=f".{real.name[:_MAX_PREFIX]}.", suffix=suffix, dir=real.parent)
        os.close(fd)
        tmp_path = Path(tmp)
        os.chmod(tmp_path, 0o666 & ~_umask())  # mkstemp makes 0600; a written file should not be
        try:
            yield tmp_path
            _fsync(tmp_path)
            os.replace(tmp_path, real)
            _fsync_dir(real.parent)  # the rename itself survives a power cut, not only a crash
        finally:
            if tmp_path.exists():
                tmp_path.unlink()


@contextlib.contextmanager
def atomic_directory(target: str | os.PathLike[str]) -> Iterator[Path]:
    """Yield a temporary folder next to ``target``; rename it to ``target`` on success.

    The directory form of :func:`atomic_path` (a SavedModel is a folder): owned by one process
    (:class:`OutputLock`), removed on any error. A folder cannot be replaced atomically, so an
    existing ``target`` is refused rather than merged into.
    """
    target = Path(target)
    if target.exists() or target.is_symlink():
        raise UsageError(f"{target} already exists; remove it or choose another -o")
    target.parent.mkdir(parents=True, exist_ok=True)
    with OutputLock(target):
        tmp = Path(tempfile.mkdtemp(prefix=f".{target.name}.", dir=target.parent))
        try:
            yield tmp
            os.replace(tmp, target)
            _fsync_dir(target.parent)
        finally:
            if tmp.exists():
                shutil.rmtree(tmp)


def check_regular_output(target: str | os.PathLike[str]) -> None:
    """Refuse a target that is not a regular file or absent (for outputs written in steps beside it)."""
    if _writes_through(Path(target)):
        raise UsageError(f"cannot write {target}: it is not a regular file (this output is written in steps)")
    _regular_target(Path(target))


def _writes_through(target: Path) -> bool:
    """True for a target to write into rather than replace; raises for one archspec must not write."""
    try:
        st = os.stat(target)  # through symlinks: what the user's path reaches
    except OSError:
        return False  # absent (or a dangling symlink): created as a regular file
    if stat.S_ISDIR(st.st_mode):
        raise UsageError(f"cannot write {target}: it is a directory")
    if stat.S_ISBLK(st.st_mode):
        raise UsageError(f"cannot write {target}: it is a block device (a disk); archspec writes files")
    if not stat.S_ISREG(st.st_mode):
        return True  # a character device, FIFO or socket: what `> target` in a shell writes to
    return any(_same_file(st, fd) for fd in (1, 2))  # /dev/stdout redirected to a file: written through


def _same_file(st: os.stat_result, fd: int) -> bool:
    try:
        return os.path.samestat(st, os.fstat(fd))
    except OSError:
        return False


def _regular_target(target: Path) -> Path:
    """The file to replace: ``target`` with its symlinks resolved (a link stays a link); never a kernel file."""
    real = Path(os.path.realpath(target))
    if str(real).startswith(_KERNEL_FILES) or str(real) in ("/proc", "/sys"):
        raise UsageError(f"cannot write {target}: it is a kernel file ({real}), not a place for an output")
    if len(os.fsencode(real.name)) > 255:
        raise UsageError(f"cannot write {target}: the file name is longer than 255 bytes")
    return real


@contextlib.contextmanager
def _write_through(target: Path, suffix: str) -> Iterator[Path]:
    """Write into a special file: the data is made in a private temporary file, then copied in."""
    fd, tmp = tempfile.mkstemp(prefix=".archspec-", suffix=suffix)
    os.close(fd)
    tmp_path = Path(tmp)
    try:
        yield tmp_path
        with _os_errors_as_usage(target), open(tmp_path, "rb") as source:
            own = _own_stream(target)
            if own is not None:  # /dev/stdout: through our descriptor, so it shares the shell's file offset
                own.flush()
                sink = os.fdopen(os.dup(own.fileno()), "wb")
            else:  # no O_CREAT: if the special file vanished meanwhile, nothing regular takes its place
                sink = os.fdopen(os.open(target, os.O_WRONLY | os.O_APPEND | os.O_NOCTTY), "wb")
            with sink:
                shutil.copyfileobj(source, sink)
    finally:
        tmp_path.unlink(missing_ok=True)


def _own_stream(target: Path) -> TextIO | None:
    """``sys.__stdout__`` or ``sys.__stderr__`` if ``target`` is the same file, else None."""
    try:
        st = os.stat(target)
    except OSError:
        return None
    for stream in (sys.__stdout__, sys.__stderr__):
        if stream is not None and _same_file(st, stream.fileno()):
            return stream
    return None


@contextlib.contextmanager
def _os_errors_as_usage(target: Path) -> Iterator[None]:
    try:
        yield
    except OSError as exc:
        if exc.errno not in _USER_ERRNOS:
            raise
        raise UsageError(f"cannot write {target}: {exc.strerror or exc}") from None


# -- one writer per output ----------------------------------------------------------------------------------------

_HELD: dict[str, tuple[int, int]] = {}  # lock file -> (descriptor, nesting): re-entrant within one process


class OutputLock:
    """Exclusive ownership of an output file or run directory, for one process at a time.

    ``with OutputLock(path):`` takes ``flock`` on the sidecar ``.NAME.lock`` next to ``path``
    before anything is touched, writes this process's pid into it, and removes it on release.
    A second process is refused at once with :class:`UsageError` (exit status 2) naming the
    holder. The kernel drops the lock when its holder dies, so a dead process's lock file is
    simply taken over. Nested locks of the same path in one process are allowed.

    >>> with OutputLock("/tmp/out.h5"):
    ...     pass
    """

    def __init__(self, path: str | os.PathLike[str]):
        self.path = Path(path)
        self.lock_file = _lock_file_for(Path(os.path.realpath(self.path)))  # two names of one file: one lock

    def __enter__(self) -> OutputLock:
        self.acquire()
        return self

    def __exit__(self, kind: type[BaseException] | None, exc: BaseException | None, tb: TracebackType | None) -> None:
        self.release()

    def acquire(self) -> None:
        key = str(self.lock_file)
        if key in _HELD:
            fd, depth = _HELD[key]
            _HELD[key] = (fd, depth + 1)
            return
        with _os_errors_as_usage(self.path):
            self.lock_file.parent.mkdir(parents=True, exist_ok=True)
            fd = self._open_locked()
            os.ftruncate(fd, 0)
            os.write(fd, f"{os.getpid()}\n".encode())
        _HELD[key] = (fd, 1)

    def _open_locked(self) -> int:
        while True:
            fd = os.open(self.lock_file, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC | os.O_NOFOLLOW, 0o644)
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = _read_pid(fd)
                os.close(fd)
                raise UsageError(
                    f"{self.path} is being written by another archspec process ({holder}); "
                    "wait for it to finish, or choose another output"
                ) from None
            if _still_linked(fd, self.lock_file):
                return fd
            os.close(fd)  # its holder removed it between our open and our lock: take the new one

    def release(self) -> None:
        key = str(self.lock_file)
        if key not in _HELD:
            return
        fd, depth = _HELD[key]
        if depth > 1:
            _HELD[key] = (fd, depth - 1)
            return
        del _HELD[key]
        try:  # removed while still locked, so that a process that opened the old file sees it go and retries
            self.lock_file.unlink()
        except OSError:
            pass  # already gone (a run directory's clean-up); the lock itself ends with the close
        os.close(fd)


def _lock_file_for(path: Path) -> Path:
    name = f".{path.name}.lock"
    if len(os.fsencode(name)) > 255:  # the name is checked elsewhere; the lock must not be what fails
        name = f".{hashlib.sha256(os.fsencode(path.name)).hexdigest()[:32]}.lock"
    return path.parent / name


def _still_linked(fd: int, path: Path) -> bool:
    try:
        return os.path.samestat(os.fstat(fd), os.stat(path, follow_symlinks=False))
    except FileNotFoundError:
        return False


def _read_pid(fd: int) -> str:
    try:
        text = os.pread(fd, 32, 0).decode("ascii", "replace").strip()
    except OSError:
        text = ""
    return f"pid {text}" if text.isdigit() else "pid unknown"


def _umask() -> int:
    mask = os.umask(0)
    os.umask(mask)
    return mask


def _fsync(path: Path) -> None:
    with open(path, "rb+") as fh:
        os.fsync(fh.fileno())


def _fsync_dir(path: Path) -> None:
    try:
        fd = os.open(path, os.O_RDONLY)
    except OSError:  # e.g. a platform that cannot open directories
        return
    try:
        os.fsync(fd)
    except OSError:
        pass
    finally:
        os.close(fd)


def atomic_write_text(target: str | os.PathLike[str], text: str) -> None:
    with atomic_path(target) as tmp:
        tmp.write_text(text, encoding="utf-8")


def atomic_write_bytes(target: str | os.PathLike[str], data: bytes) -> None:
    with atomic_path(target) as tmp:
        tmp.write_bytes(data)
