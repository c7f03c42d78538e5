"""Multi-host data-parallel training through Keras' distribution API on the JAX backend.

``archspec train SPEC --strategy data-parallel --workers HOST:PORT,... --worker-index I``
starts one process per machine. Each calls ``keras.distribution.initialize`` (JAX's
``jax.distributed``: the first address is the coordinator), then trains under a
``keras.distribution.DataParallel`` over every device of every process: the model is
replicated, each global batch is cut into one slice per process (Keras' auto-sharding of a
``tf.data`` pipeline: process ``i`` keeps the ``i``-th slice of every batch), and gradients
are averaged across processes at every step, so all workers hold identical weights.

Why not TensorFlow's ``MultiWorkerMirroredStrategy``: Keras 3's ``fit`` fails under it
(keras-team/keras#20585, tensorflow/tensorflow#72388); see docs/training.md.

Only worker 0 writes the run directory (every file atomically, as in a one-process run); the
others read it when they resume, so it must be on a file system they all see (or be copied to
the same path before ``--resume``). A worker that loses a peer (killed, network down) fails at
once with a message saying how to resume, instead of waiting in a collective.
"""

from __future__ import annotations

import os
import re
import sys
from collections.abc import Callable, Iterator, Mapping, Sequence
from contextlib import contextmanager
from dataclasses import dataclass
from typing import Any

from ..errors import ArchspecError, UsageError

#: Keras' own environment variables for keras.distribution.initialize (used when the options are absent).
ENV_ADDRESSES = "KERAS_DISTRIBUTION_JOB_ADDRESSES"
ENV_PROCESSES = "KERAS_DISTRIBUTION_NUM_PROCESSES"
ENV_PROCESS_ID = "KERAS_DISTRIBUTION_PROCESS_ID"
_ADDRESS = re.compile(r"^(?:\[[0-9A-Fa-f:.]+\]|[A-Za-z0-9_.-]+):(\d{1,5})$")
#: What JAX's collectives and coordination service say when a peer process is gone.
_PEER_LOST = re.compile(
    r"Gloo|Connection reset|Connection refused|connection closed|Socket closed|UNAVAILABLE|DEADLINE_EXCEEDED"
    r"|coordination service|heartbeat|Barrier timed out",
    re.IGNORECASE,
)
#: Exit status of a worker that lost a peer (EX_TEMPFAIL: try again, with --resume).
PEER_LOST_EXIT = 75


@dataclass(frozen=True)
class Topology:
    """Who takes part: the workers' addresses (the first is the coordinator) and this process's index."""

    workers: tuple[str, ...] = ()
    index: int = 0

    @property
    def processes(self) -> int:
        return max(1, len(self.workers))

    @property
    def multi(self) -> bool:
        return self.processes > 1

    @property
    def writer(self) -> bool:
        """Worker 0 writes the run directory; the others only read it."""
        return self.index == 0

    def describe(self) -> dict[str, Any]:
        return {
            "engine": "keras.distribution.DataParallel (JAX backend)",
            "processes": self.processes,
            "coordinator": self.workers[0] if self.workers else None,
            "workers": list(self.workers),
            "writer": 0,
        }


def topology(workers: str | Sequence[str] | None, index: int | None, env: Mapping[str, str] = os.environ) -> Topology:
    """The topology from ``--workers``/``--worker-index``, else from Keras' environment variables.

    >>> topology("10.0.0.1:7777,10.0.0.2:7777", 1)
    Topology(workers=('10.0.0.1:7777', '10.0.0.2:7777'), index=1)
    """
    if workers is None and env.get(ENV_ADDRESSES):
        workers = env[ENV_ADDRESSES]
        index = int(env.get(ENV_PROCESS_ID, "")) if env.get(ENV_PROCESS_ID, "").isdigit() else index
        if index is None:
            raise UsageError(f"{ENV_ADDRESSES} is set but {ENV_PROCESS_ID} is not a process index")
    if workers is None:
        if index not in (None, 0):
            raise UsageError("--worker-index needs --workers HOST:PORT,HOST:PORT,... (every worker, in order)")
        return Topology()
    addresses = tuple(a.strip() for a in (workers.split(",") if isinstance(workers, str) else workers))
    bad = [a for a in addresses if not _ADDRESS.match(a) or not 0 < int(_ADDRESS.match(a)[1]) < 65536]  # type: ignore[index]
    if bad:
        raise UsageError(f"--workers: expected HOST:PORT addresses separated by commas; got {', '.join(bad)!r}")
    if len(set(addresses)) != len(addresses):
        raise UsageError(f"--workers: every worker needs its own address; got {','.join(addresses)}")
    if index is None:
        raise UsageError("--workers needs --worker-index I: this process's place in the list (0 is the coordinator)")
    if not 0 <= index < len(addresses):
        raise UsageError(f"--worker-index must be in 0..{len(addresses) - 1} for {len(addresses)} workers; got {index}")
    if env.get(ENV_PROCESSES) and env[ENV_PROCESSES] != str(len(addresses)):
        raise UsageError(f"{ENV_PROCESSES}={env[ENV_PROCESSES]} but {len(addresses)} workers are given")
    return Topology(addresses, index)


class DataParallel:
    """The strategy object the trainer uses: a scope to build in, and the number of replicas."""

    def __init__(self, distribution: Any):
        self.distribution = distribution
        self.num_replicas_in_sync = len(distribution.device_mesh.devices.flatten())

    def scope(self) -> Any:
        return self.distribution.scope()


def start(top: Topology) -> DataParallel:
    """Join the other workers (blocks until all have started) and make Keras train data-parallel
    over all their devices. Keras must run on the JAX backend."""
    import keras

    if keras.backend.backend() != "jax":
        raise UsageError(
            f"--strategy data-parallel runs on Keras' JAX backend; Keras started with {keras.backend.backend()}"
        )
    if top.multi:
        keras.distribution.initialize(
            job_addresses=",".join(top.workers), num_processes=top.processes, process_id=top.index
        )
    if top.multi:  # Keras' sharding of a tf.data pipeline hides its length: the first epoch ends on running out
        import warnings

        warnings.filterwarnings("ignore", message="Your input ran out of data")
    distribution = keras.distribution.DataParallel(devices=keras.distribution.list_devices())
    keras.distribution.set_distribution(distribution)
    return DataParallel(distribution)


def saving_alone(save: Callable[..., Any]) -> Callable[..., Any]:
    """``save`` made safe to call on worker 0 alone: Keras' saving puts values on devices, which under a
    multi-process distribution is a collective the other workers (not saving) never join; saving
    with the distribution unset keeps it on this process's devices."""
    import keras

    def alone(*args: Any, **kwargs: Any) -> Any:
        distribution = keras.distribution.distribution()
        keras.distribution.set_distribution(None)
        try:
            return save(*args, **kwargs)
        finally:
            keras.distribution.set_distribution(distribution)

    return alone


def barrier(top: Topology, name: str) -> None:
    """Wait until every worker gets here (worker 0's files are complete before the others read them)."""
    if top.multi:
        from jax.experimental import multihost_utils

        multihost_utils.sync_global_devices(name)


def weights_digest(model: Any) -> str:
    """SHA-256 of the model's weights (values, in order): equal on every worker of a data-parallel run."""
    import hashlib

    import numpy as np

    digest = hashlib.sha256()
    for weight in model.get_weights():
        digest.update(np.ascontiguousarray(weight).tobytes())
    return digest.hexdigest()


def is_peer_lost(exc: BaseException) -> bool:
    """Whether ``exc`` is JAX saying that another worker is gone (a failed collective or coordination call)."""
    return not isinstance(exc, ArchspecError) and bool(_PEER_LOST.search(f"{type(exc).__name__}: {exc}"))


@contextmanager
def fail_fast(top: Topology, run_dir: Any, echo: Callable[[str], None]) -> Iterator[None]:
    """In a multi-worker run, end this process at once on any error, with a message.

    A worker that raises and exits normally waits in JAX's shutdown barrier for peers that
    wait in a collective for it: both hang. ``os._exit`` closes its sockets, so the others'
    collectives fail at once, and they end here too."""
    if not top.multi:
        yield
        return
    try:
        yield
    except BaseException as exc:  # every error must end the process, or the cluster hangs
        code, message = _failure(exc, top, run_dir)
        echo(message)
        sys.stdout.flush()
        sys.stderr.flush()
        os._exit(code)


def _failure(exc: BaseException, top: Topology, run_dir: Any) -> tuple[int, str]:
    where = f"archspec: worker {top.index} of {top.processes}"
    if isinstance(exc, ArchspecError):
        return (2 if isinstance(exc, UsageError) else 1), "\n".join(str(p) for p in exc.problems)
    if isinstance(exc, KeyboardInterrupt):
        return 130, f"{where}: interrupted"
    if is_peer_lost(exc):
        first = str(exc).strip().splitlines()[0][:300] if str(exc).strip() else type(exc).__name__
        return PEER_LOST_EXIT, (
            f"{where}: lost contact with another worker ({first}); training stopped. "
            f"Start every worker again with --resume {run_dir} (the last completed epoch is kept)"
        )
    return 3, f"{where}: internal error: {type(exc).__name__}: {str(exc)[:600]}"
