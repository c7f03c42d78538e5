"""Outputs: one writer per file, special files written through or refused, never replaced.

The promises of docs/security.md ("Outputs: one owner, special files"). Lock holders run in
child processes, because a lock belongs to a process (a second lock in the same process is
the same owner and is allowed). Special files are made in tmp_path (a FIFO, a private null
device made with mknod when running as root); /dev/null itself is written only after the
same write was seen to leave a private device a device.
"""

from __future__ import annotations

import os
import stat
import subprocess
import sys
import threading
from pathlib import Path

import pytest
from click.testing import CliRunner

from archspec.cli import main
from archspec.errors import UsageError
from archspec.fileio import OutputLock, atomic_path, atomic_write_text, check_regular_output

SPEC = "archspec: 1\nname: t\ninput: [8, 8, 1]\nlayers: [flatten, {dense: 3, name: fc}]\n"

_HOLDER = """
import sys, time
from archspec.fileio import OutputLock
lock = OutputLock(sys.argv[1])
lock.acquire()
print("locked", flush=True)
time.sleep(120)
"""


def _cli(*args: str):
    return CliRunner().invoke(main, list(args))


@pytest.fixture
def holder():
    """Start a child process that holds the lock of a path; yields (start, processes)."""
    procs: list[subprocess.Popen] = []

    def start(path: Path) -> subprocess.Popen:
        proc = subprocess.Popen([sys.executable, "-c", _HOLDER, str(path)], stdout=subprocess.PIPE, text=True)
        procs.append(proc)
        assert proc.stdout.readline().strip() == "locked"
        return proc

    yield start
    for proc in procs:
        proc.kill()
        proc.wait(timeout=30)


# -- one owner per output -------------------------------------------------------------------------------------


def test_a_second_writer_is_refused_naming_the_holder(tmp_path, holder):
    target = tmp_path / "schema.json"
    target.write_text("the first writer's file\n")
    proc = holder(target)
    result = _cli("schema", "-o", str(target))
    assert result.exit_code == 2, result.output
    assert f"is being written by another archspec process (pid {proc.pid})" in result.output
    assert target.read_text() == "the first writer's file\n"  # untouched
    assert sorted(p.name for p in tmp_path.iterdir()) == [".schema.json.lock", "schema.json"]  # no temporary


def test_every_name_of_one_file_shares_its_lock(tmp_path, holder):
    real = tmp_path / "real.py"
    (tmp_path / "link.py").symlink_to(real)
    holder(tmp_path / "link.py")
    spec = tmp_path / "s.yaml"
    spec.write_text(SPEC)
    result = _cli("compile", str(spec), "-o", str(real))
    assert result.exit_code == 2 and "pid" in result.output


def test_the_lock_of_a_dead_process_does_not_block(tmp_path, holder):
    target = tmp_path / "out.json"
    proc = holder(target)
    proc.kill()
    proc.wait(timeout=30)
    assert (tmp_path / ".out.json.lock").exists()  # left behind by the kill
    assert _cli("schema", "-o", str(target)).exit_code == 0
    assert target.read_text().startswith("{")
    assert not (tmp_path / ".out.json.lock").exists()  # released, and removed


def test_locks_are_reentrant_in_one_process_and_released_in_order(tmp_path):
    target = tmp_path / "x.txt"
    with OutputLock(target), OutputLock(target):
        atomic_write_text(target, "nested\n")  # atomic_path locks the same file again: same owner
        assert (tmp_path / ".x.txt.lock").exists()
    assert not (tmp_path / ".x.txt.lock").exists()
    assert target.read_text() == "nested\n"


def test_a_run_directory_is_owned_by_one_process(tmp_path, holder):
    pytest.importorskip("keras")
    from archspec.training.rundir import RunDir

    run = tmp_path / "run"
    holder(run)
    with pytest.raises(UsageError, match=r"run is being written by another archspec process \(pid \d+\)"):
        RunDir.create(run)
    assert not run.exists()  # refused before anything was touched


# -- special files and symlinks ---------------------------------------------------------------------------------


def test_a_symlink_stays_a_symlink_and_its_target_is_written(tmp_path):
    real = tmp_path / "real.json"
    real.write_text("old\n")
    link = tmp_path / "link.json"
    link.symlink_to(real)
    assert _cli("schema", "-o", str(link)).exit_code == 0
    assert link.is_symlink() and real.read_text().startswith("{")


def test_a_fifo_is_written_through_not_replaced(tmp_path):
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)
    received: list[bytes] = []
    reader = threading.Thread(target=lambda: received.append(fifo.read_bytes()), daemon=True)
    reader.start()
    result = _cli("schema", "-o", str(fifo))
    reader.join(timeout=60)
    assert result.exit_code == 0, result.output
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)
    assert received and received[0].startswith(b"{") and received[0].rstrip().endswith(b"}")


def _private_null(tmp_path: Path) -> Path:
    if os.geteuid() != 0:
        pytest.skip("making a device node needs root")
    node = tmp_path / "null"
    os.mknod(node, stat.S_IFCHR | 0o666, os.makedev(1, 3))
    return node


def test_a_character_device_is_written_through_not_replaced(tmp_path):
    node = _private_null(tmp_path)
    link = tmp_path / "stdout-like"
    link.symlink_to(node)
    spec = tmp_path / "s.yaml"
    spec.write_text(SPEC)
    for target in (node, link):
        result = _cli("compile", str(spec), "-o", str(target))
        assert result.exit_code == 0, result.output
        assert stat.S_ISCHR(os.stat(node).st_mode) and link.is_symlink()
    assert sorted(p.name for p in tmp_path.iterdir()) == ["null", "s.yaml", "stdout-like"]
    # only now that a private device stayed a device: the real one, through archspec's own path
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)
    assert _cli("compile", str(spec), "-o", "/dev/null").exit_code == 0
    assert stat.S_ISCHR(os.stat("/dev/null").st_mode)


def test_dev_stdout_writes_to_this_process_s_standard_output(tmp_path):
    spec = tmp_path / "s.yaml"
    spec.write_text(SPEC)
    out = tmp_path / "out.py"
    with out.open("wb") as fh:  # `archspec compile s.yaml -o /dev/stdout > out.py`
        proc = subprocess.run(
            [sys.executable, "-m", "archspec", "compile", str(spec), "-o", "/dev/stdout"],
            stdout=fh,
            stderr=subprocess.PIPE,
            timeout=120,
        )
    assert proc.returncode == 0, proc.stderr
    text = out.read_text()
    assert text.count("def build_model") == 1 and text.rstrip().endswith("wrote /dev/stdout")


@pytest.mark.parametrize(
    ("target", "message"),
    [
        ("/proc/version", "it is a kernel file"),
        ("/sys/kernel/out.json", "it is a kernel file"),
        ("{tmp}", "is a directory"),
        ("{tmp}/" + "a" * 300 + ".json", "longer than 255 bytes"),
    ],
)
def test_outputs_archspec_cannot_write_are_usage_errors(tmp_path, target, message):
    target = target.format(tmp=tmp_path)
    spec = tmp_path / "s.yaml"
    spec.write_text(SPEC)
    before = os.stat("/proc/version").st_mode
    result = _cli("compile", str(spec), "-o", target)
    assert result.exit_code == 2, result.output
    assert message in result.output
    assert os.stat("/proc/version").st_mode == before


@pytest.mark.parametrize("name", ["a.b.c.d.py", "resnet.v1.5.py", "x." * 100 + "py", "b" * 240 + ".py"])
def test_long_and_dotted_names_are_written(tmp_path, name):
    spec = tmp_path / "s.yaml"
    spec.write_text(SPEC)
    result = _cli("compile", str(spec), "-o", str(tmp_path / name))
    assert result.exit_code == 0, result.output
    assert (tmp_path / name).read_text().count("def build_model") == 1
    assert sorted(p.name for p in tmp_path.iterdir()) == sorted([name, "s.yaml"])


def test_outputs_written_in_steps_must_be_regular_files(tmp_path):
    fifo = tmp_path / "f.h5"
    os.mkfifo(fifo)
    with pytest.raises(UsageError, match="not a regular file"):
        check_regular_output(fifo)
    with pytest.raises(UsageError, match="kernel file"):
        check_regular_output("/proc/version")
    check_regular_output(tmp_path / "new.h5")  # absent is fine


def test_an_error_mid_write_to_a_special_file_writes_nothing(tmp_path):
    fifo = tmp_path / "pipe"
    os.mkfifo(fifo)  # opening it would block without a reader: the failed write must not open it
    with pytest.raises(RuntimeError), atomic_path(fifo) as tmp:
        tmp.write_text("half")
        raise RuntimeError("crash")
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


def test_the_library_refuses_a_directory_as_an_output(tmp_path):
    with pytest.raises(UsageError, match="it is a directory"):
        atomic_write_text(tmp_path, "x")


def test_a_reader_that_stops_early_is_a_usage_error_not_a_crash(tmp_path):
    fifo = tmp_path / "pipe.json"
    os.mkfifo(fifo)

    def read_one_byte_and_leave() -> None:
        with open(fifo, "rb") as fh:
            fh.read(1)

    reader = threading.Thread(target=read_one_byte_and_leave, daemon=True)
    reader.start()
    result = _cli("schema", "-o", str(fifo))  # ~600 kB: far more than a pipe holds
    reader.join(timeout=60)
    assert result.exit_code == 2, result.output
    assert "cannot write" in result.output and "Broken pipe" in result.output
    assert stat.S_ISFIFO(os.lstat(fifo).st_mode)


@pytest.mark.parametrize("args", [["compile", "{spec}", "-o", "/dev/stdout"], ["compile", "{spec}"], ["schema"]])
def test_standard_output_closed_early_is_not_an_internal_error(tmp_path, args):
    spec = tmp_path / "s.yaml"
    spec.write_text(SPEC.replace("flatten, ", "flatten, " + "{dense: 3}, " * 300))  # a long module
    argv = [a.format(spec=spec) for a in args]
    proc = subprocess.Popen(
        [sys.executable, "-m", "archspec", *argv], stdout=subprocess.PIPE, stderr=subprocess.PIPE, cwd=tmp_path
    )
    proc.stdout.read(10)
    proc.stdout.close()  # `| head -c 10`
    err = proc.stderr.read().decode()
    proc.wait(timeout=120)
    assert "internal error" not in err and "Traceback" not in err, err
    assert proc.returncode in (0, 2, 141), (proc.returncode, err)  # 0: everything fitted in the pipe's buffer


_RACER = """
import os, sys
from archspec.errors import UsageError
from archspec.fileio import OutputLock, atomic_write_text
me, target = sys.argv[1], sys.argv[2]
inside = target + ".owner"  # made with O_EXCL while the lock is held: two owners at once cannot both make it
wrote = refused = 0
for i in range(150):
    try:
        with OutputLock(target):
            os.close(os.open(inside, os.O_CREAT | os.O_EXCL | os.O_WRONLY))
            atomic_write_text(target, (me + "\\n") * 2000)
            os.unlink(inside)
        wrote += 1
    except UsageError as exc:
        assert "is being written by another archspec process" in str(exc), exc
        refused += 1
print(wrote, refused)
"""


def test_racing_writers_each_write_whole_files_or_are_refused(tmp_path):
    """Eight processes writing one file 150 times each: the lock file is created, taken, removed and
    re-created under them all the time; two owners at once would collide on an O_EXCL marker. (Without
    the lock it fails every time; without the re-check of the lock file's inode, in about one run of three.)"""
    target = tmp_path / "raced.txt"
    procs = [
        subprocess.Popen([sys.executable, "-c", _RACER, f"writer{k}", str(target)], stdout=subprocess.PIPE, text=True)
        for k in range(8)
    ]
    counts = [tuple(map(int, p.communicate(timeout=300)[0].split())) for p in procs]
    assert all(p.returncode == 0 for p in procs), counts
    assert sum(w for w, _ in counts) >= 1 and all(w + r == 150 for w, r in counts), counts
    lines = set(target.read_text().splitlines())
    assert len(lines) == 1 and target.stat().st_size == len(next(iter(lines))) * 2000 + 2000
    assert sorted(p.name for p in tmp_path.iterdir()) == ["raced.txt"]  # no temporary, no lock left
