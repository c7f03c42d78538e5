"""Opening HDF5 files (feature files, datasets, weights, models) that may come from strangers.

HDF5 can make a small file point elsewhere or promise more than it holds:

- an *external link* makes ``f["x"]`` open another file, anywhere on the disk;
- a *virtual dataset* maps its contents from other files, and a dataset with *external
  storage* reads its raw bytes from another file;
- a dataset can *declare* a shape of terabytes while storing a few bytes (unallocated
  chunks read back as the fill value), and reading it allocates the declared size;
- a group can contain itself (hard links make cycles: each object is walked once), and a
  file can hold millions of objects.

:func:`check_hdf5` walks the file without following any link and refuses all of these, with a
message naming the object, before a reader touches the data. :func:`open_hdf5` checks and
opens; :func:`load_model_file` applies the model rules: ``.keras`` files load with
``safe_mode=True`` (no Lambda bytecode), a legacy ``.h5`` full model only with an explicit
``trust_h5=True`` (its config is deserialised by older, less careful code), and both are
checked as HDF5/zip first.
"""

from __future__ import annotations

import contextlib
import os
import zipfile
from collections.abc import Iterator
from dataclasses import dataclass
from pathlib import Path
from typing import Any

from .errors import Location, Problem, UsageError

DEFAULT_MAX_BYTES = 64 << 30  # what the declared datasets of one file may add up to
DEFAULT_MAX_RATIO = 1100  # declared / stored bytes; gzip's best case (all zeros) is ~1030
SLACK_BYTES = 1 << 20  # a small dataset may be mostly fill value (e.g. preallocated labels)
DEFAULT_MAX_OBJECTS = 100_000
_HDF5_SIGNATURE = b"\x89HDF\r\n\x1a\n"


class UnsafeFileError(UsageError):
    """An input file is refused: it points outside itself, or promises more than it holds.

    A data or model file is the command's input, not the spec: exit status 2, as a missing file.
    """


@dataclass(frozen=True)
class DatasetInfo:
    """One dataset of a checked file: what it declares and what it stores."""

    name: str
    shape: tuple[int, ...]
    dtype: str
    declared_bytes: int
    stored_bytes: int


@dataclass(frozen=True)
class Hdf5Report:
    """What :func:`check_hdf5` found in a file that passed."""

    path: str
    datasets: tuple[DatasetInfo, ...]
    groups: int
    soft_links: int

    @property
    def declared_bytes(self) -> int:
        return sum(d.declared_bytes for d in self.datasets)


def _refuse(path: str | os.PathLike[str], message: str) -> UnsafeFileError:
    return UnsafeFileError(Problem(message, Location(str(path))))


def is_hdf5(path: str | os.PathLike[str]) -> bool:
    """True if the file starts with the HDF5 signature (at offset 0, the only place we accept)."""
    with open(path, "rb") as fh:
        return fh.read(8) == _HDF5_SIGNATURE


def check_hdf5(
    path: str | os.PathLike[str],
    *,
    max_bytes: int = DEFAULT_MAX_BYTES,
    max_ratio: float = DEFAULT_MAX_RATIO,
    max_objects: int = DEFAULT_MAX_OBJECTS,
) -> Hdf5Report:
    """Refuse an HDF5 file with external links, virtual or externally stored datasets,
    declared sizes far beyond the stored bytes (or above ``max_bytes`` in total), link
    cycles, or more than ``max_objects`` objects. Returns a report of what it holds.
    """
    import h5py

    p = Path(path)
    if not p.is_file():
        raise _refuse(path, "no such file")
    if not is_hdf5(p):
        raise _refuse(path, "not an HDF5 file (no HDF5 signature at the start)")
    try:
        fh = h5py.File(p, "r")
    except OSError as exc:
        raise _refuse(path, f"cannot be read as HDF5: {exc}") from None
    with fh:
        walker = _Walker(str(path), max_ratio, max_objects)
        walker.group(fh, "")
    total = sum(d.declared_bytes for d in walker.datasets)
    if total > max_bytes:
        biggest = max(walker.datasets, key=lambda d: d.declared_bytes)
        raise _refuse(
            path,
            f"its datasets declare {total:,} bytes in all (largest {biggest.name!r}, shape {list(biggest.shape)}); "
            f"the limit is {max_bytes:,}",
        )
    return Hdf5Report(str(path), tuple(walker.datasets), walker.groups, walker.soft_links)


class _Walker:
    def __init__(self, path: str, max_ratio: float, max_objects: int):
        self.path = path
        self.max_ratio = max_ratio
        self.max_objects = max_objects
        self.seen: set[Any] = set()
        self.datasets: list[DatasetInfo] = []
        self.groups = 0
        self.soft_links = 0
        self.objects = 0

    def group(self, group: Any, prefix: str) -> None:
        import h5py

        if not self.first_visit(group):
            return  # a hard link back up (a cycle) or a second name: walked already
        self.groups += 1
        for name in group:  # iterating names does not resolve links
            full = f"{prefix}/{name}"
            self.objects += 1
            if self.objects > self.max_objects:
                raise _refuse(self.path, f"holds more than {self.max_objects:,} objects")
            link = group.get(name, getlink=True)
            if isinstance(link, h5py.ExternalLink):
                raise _refuse(self.path, f"{full!r} is an external link to {link.filename!r}; refusing to follow it")
            if isinstance(link, h5py.SoftLink):
                self.soft_links += 1  # its target is checked where it lives
                continue
            obj = group.get(name)
            if isinstance(obj, h5py.Group):
                self.group(obj, full)
            elif isinstance(obj, h5py.Dataset):
                self.dataset(obj, full)

    def first_visit(self, obj: Any) -> bool:
        key = hash(obj.id)  # (file number, object address): one key per object, whatever its names
        if key in self.seen:
            return False
        self.seen.add(key)
        return True

    def dataset(self, ds: Any, name: str) -> None:
        if not self.first_visit(ds):
            return
        if ds.is_virtual:
            raise _refuse(self.path, f"{name!r} is a virtual dataset (its data lives in other files)")
        if ds.external:
            files = ", ".join(repr(str(e[0])) for e in ds.external)
            raise _refuse(self.path, f"{name!r} stores its data in external files ({files})")
        shape = tuple(int(d) for d in (ds.shape or ()))
        declared = int(ds.size or 0) * int(ds.dtype.itemsize)
        stored = int(ds.id.get_storage_size())
        if declared > max(stored * self.max_ratio, SLACK_BYTES):
            raise _refuse(
                self.path,
                f"{name!r} declares shape {list(shape)} ({declared:,} bytes) but stores only {stored:,} bytes; "
                "reading it would allocate the declared size",
            )
        self.datasets.append(DatasetInfo(name, shape, str(ds.dtype), declared, stored))


@contextlib.contextmanager
def open_hdf5(path: str | os.PathLike[str], **limits: Any) -> Iterator[Any]:
    """Check a file with :func:`check_hdf5`, then open it read-only (an ``h5py.File``)."""
    import h5py

    check_hdf5(path, **limits)
    with h5py.File(path, "r") as fh:
        yield fh


def check_keras_archive(path: str | os.PathLike[str], max_bytes: int = DEFAULT_MAX_BYTES) -> None:
    """A ``.keras`` file is a zip: refuse one whose members would unpack beyond ``max_bytes``
    (a zip bomb) or that holds anything but Keras' config, metadata and weights."""
    try:
        with zipfile.ZipFile(path) as zf:
            members = zf.infolist()
    except (zipfile.BadZipFile, OSError) as exc:
        raise _refuse(path, f"not a .keras archive: {exc}") from None
    total = sum(m.file_size for m in members)
    if total > max_bytes:
        raise _refuse(path, f"unpacks to {total:,} bytes; the limit is {max_bytes:,}")
    for m in members:
        if m.filename.startswith("/") or ".." in Path(m.filename).parts:
            raise _refuse(path, f"archive member {m.filename!r} points outside the archive")


def load_model_file(path: str | os.PathLike[str], *, trust_h5: bool = False, **kwargs: Any) -> Any:
    """Load a Keras model from a file that may come from anyone.

    ``.keras``: archive checked, then ``keras.models.load_model(safe_mode=True)``.
    ``.h5``/``.hdf5`` full models: refused unless ``trust_h5`` (in a spec: ``base: {model: m.h5, trust: true}``);
    even then the file is checked with :func:`check_hdf5` first.
    """
    name = str(path)
    if not Path(name).is_file():
        raise UsageError(Problem("no such model file", Location(name)))
    if name.endswith(".keras"):
        check_keras_archive(name)
    elif name.endswith((".h5", ".hdf5")):
        if name.endswith(".weights.h5"):
            raise UsageError(Problem("this is a weights file, not a model; load it into a built model", Location(name)))
        if not trust_h5:
            raise UsageError(
                Problem(
                    "legacy .h5 full models are loaded only from sources you trust (their config is "
                    "deserialised without Keras' safe mode); pass trust_h5=True (in a spec, `trust: true`) if you do, "
                    "or convert it to .keras",
                    Location(name),
                )
            )
        check_hdf5(name)
    else:
        raise UsageError(Problem("a model file must end in .keras (or .h5, trusted explicitly)", Location(name)))
    import keras

    from . import keras_layers  # noqa: F401  (archspec's own layers deserialise by name)

    kwargs.setdefault("compile", False)
    try:
        return keras.models.load_model(name, safe_mode=True, **kwargs)
    except ValueError as exc:
        if "safe_mode" not in str(exc) and "unsafe" not in str(exc).lower():
            raise _refuse(name, f"Keras cannot load this model: {_first_line(exc)}") from None
        raise _refuse(name, f"refused by Keras' safe mode (it holds code, e.g. a Lambda layer): {exc}") from None
    except (OSError, KeyError, TypeError, AttributeError, IndexError, EOFError, zipfile.BadZipFile) as exc:
        # A .keras archive that passed the zip checks can still hold a config or weights Keras chokes on
        # (a truncated weights file, a config of the wrong shape): the file is at fault, not archspec.
        raise _refuse(name, f"Keras cannot load this model ({type(exc).__name__}: {_first_line(exc)})") from None


def _first_line(exc: BaseException) -> str:
    text = str(exc).strip().splitlines()
    return text[0][:300] if text else type(exc).__name__


def load_weights_file(model: Any, path: str | os.PathLike[str]) -> None:
    """Check a ``.weights.h5`` file with :func:`check_hdf5`, then load it into ``model``."""
    check_hdf5(path)
    model.load_weights(path)


def read_array(fh: Any, key: str, path: str | os.PathLike[str]) -> Any:
    """The whole dataset ``key`` of an open, checked file as a NumPy array of at least one
    dimension; a dangling soft link, a group, a scalar or an unreadable dataset is refused by name."""
    obj = dataset(fh, key, path)
    try:
        return obj[()]
    except (OSError, ValueError, TypeError) as exc:
        raise _refuse(path, f"cannot read {key!r}: {_first_line(exc)}") from None


def read_rows(data: Any, start: int, stop: int, path: str | os.PathLike[str]) -> Any:
    """Rows ``start:stop`` of an open dataset (streaming reads); a damaged chunk is refused by name."""
    try:
        return data[start:stop]
    except (OSError, ValueError, TypeError) as exc:
        raise _refuse(path, f"cannot read rows {start}..{stop} of {data.name!r}: {_first_line(exc)}") from None


def dataset(fh: Any, key: str, path: str | os.PathLike[str]) -> Any:
    """The dataset ``key`` of an open, checked file, not read (to stream it); a dangling soft link,
    a group or a scalar is refused by name."""
    import h5py

    link = fh.get(key, getlink=True)
    obj = fh.get(key)
    if isinstance(link, h5py.SoftLink) and obj is None:
        raise _refuse(path, f"{key!r} is a soft link to {link.path!r}, which does not exist in the file")
    if not isinstance(obj, h5py.Dataset):
        kind = "a group" if isinstance(obj, h5py.Group) else "not a dataset"
        raise _refuse(path, f"{key!r} is {kind}; expected a dataset (an array with one row per example)")
    if not obj.shape:
        raise _refuse(path, f"{key!r} is a scalar; expected an array with one row per example")
    return obj


def decode_names(values: Any, path: str | os.PathLike[str], key: str = "label_names") -> list[str]:
    """Class names stored as bytes or text, each checked to be UTF-8 (HDF5 and .npz store bytes as they are)."""
    names = []
    for i, value in enumerate(list(values)):
        if isinstance(value, bytes):
            try:
                value = value.decode("utf-8")
            except UnicodeDecodeError as exc:
                raise _refuse(path, f"{key}[{i}] is not UTF-8 text ({value[:40]!r}: {exc.reason})") from None
        names.append(str(value))
    return names
