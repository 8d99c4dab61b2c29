"""Where per-partition work runs: in this process, or on a Dask cluster.

An :class:`Engine` maps a function over items (police.uk: one month of files each) and yields
the results in the order of the items, so whoever consumes them (the store's single writer)
sees the same sequence whichever engine ran them. The function is called the same way on both
engines: the single-process engine calls it directly; the Dask engine submits it to the
cluster's workers, keeping at most :attr:`DaskEngine.in_flight` items submitted and not yet
consumed, so neither the cluster nor this process holds more than a few partitions' results
at a time.

The engine is chosen by the ``scheduler`` setting (``--scheduler``, ``GEO_SERVICE_SCHEDULER``):

=====================  ================================================================
value                  engine
=====================  ================================================================
absent / empty         this process (:class:`SingleProcess`), as without Dask
``local``              a :class:`dask.distributed.LocalCluster` sized to this machine: one
                       worker process per core, one thread each, memory split evenly
``tcp://host:port``    an existing Dask scheduler (also ``tls://``, ``ucx://``, ``inproc://``)
=====================  ================================================================

Dask is optional (``pip install 'geo_service[dask]'``); asking for a scheduler without it is
one :class:`~geo_service.errors.InputError`. Nothing here imports a web or CLI framework.
"""

from __future__ import annotations

import contextlib
import logging
import os
import socket
from collections import deque
from collections.abc import Callable, Iterable, Iterator, Mapping
from dataclasses import dataclass
from typing import Any, Protocol, TypeVar
from urllib.parse import urlsplit

from geo_service.errors import InputError

logger = logging.getLogger(__name__)

T = TypeVar("T")
R = TypeVar("R")

#: The scheduler value that starts a cluster on this machine.
LOCAL = "local"
#: Address schemes of an existing Dask scheduler.
SCHEMES: tuple[str, ...] = ("tcp://", "tls://", "ucx://", "inproc://")
#: How to install the optional engine, as every error about it says.
INSTALL_HINT = "pip install 'geo_service[dask]'"


class Engine(Protocol):
    """Runs a function over items; results come back in the order of the items."""

    @property
    def name(self) -> str:
        """How the engine is named in logs ("single process", "dask ...")."""
        ...

    @property
    def task_threads(self) -> int | None:
        """Threads a task may use for its own pool (None: the task chooses, one per core)."""
        ...

    def map(
        self, fn: Callable[..., R], items: Iterable[Any], **shared: Any
    ) -> Iterator[R]:  # pragma: no cover - protocol
        """Yield ``fn(item, **shared)`` for each item, in order."""
        ...


@dataclass(frozen=True)
class SingleProcess:
    """Calls the function directly, one item at a time, in this process (the default)."""

    name: str = "single process"
    task_threads: int | None = None

    def map(self, fn: Callable[..., R], items: Iterable[Any], **shared: Any) -> Iterator[R]:
        """Yield ``fn(item, **shared)`` for each item, each computed when asked for."""
        for item in items:
            yield fn(item, **shared)


class DaskEngine:
    """Submits the function to a Dask cluster through ``client``, a bounded number at a time.

    ``shared`` arguments (e.g. the area layers) are sent to every worker once, not with each
    item. Log records of ``geo_service`` loggers emitted by a task on a worker are sent back
    with its result and logged here, so warnings about an input file reach the user as they
    do in a single process. When a task fails, its exception (e.g. an
    :class:`~geo_service.errors.InputError`) is raised here once the few tasks submitted and
    not yet consumed have ended (a task may be writing into the store's staging version).
    """

    task_threads: int | None = 1  # a worker's thread is the task's only thread

    def __init__(self, client: Any, *, in_flight: int | None = None) -> None:
        self.client = client
        workers = client.scheduler_info(n_workers=-1).get("workers", {})
        threads = sum(int(w.get("nthreads", 1)) for w in workers.values()) or 1
        #: Items submitted and not yet consumed: two per worker thread keeps every thread
        #: busy while this process consumes one result.
        self.in_flight = in_flight or 2 * threads
        self.name = (
            f"dask ({len(workers)} workers, {threads} threads at {client.scheduler.address})"
        )

    def map(self, fn: Callable[..., R], items: Iterable[Any], **shared: Any) -> Iterator[R]:
        """Yield ``fn(item, **shared)`` for each item, in order, computed on the workers."""
        level = logging.getLogger("geo_service").getEffectiveLevel()
        # In a list: a mapping given to scatter would be sent as one object per value.
        sent = {
            k: self.client.scatter([v], broadcast=True, hash=False)[0] for k, v in shared.items()
        }
        pending: deque[Any] = deque()
        try:
            for item in items:
                pending.append(self.client.submit(_logged, fn, item, level, pure=False, **sent))
                if len(pending) >= self.in_flight:
                    yield _replayed(pending.popleft().result())
            while pending:
                yield _replayed(pending.popleft().result())
        finally:
            if pending:
                # A task already running may be writing into the store's staging version,
                # which the store removes next: let the submitted tasks end first.
                from distributed import wait

                wait(list(pending))
            for future in pending:
                future.cancel()
            for future in sent.values():
                future.release()


def _logged(fn: Callable[..., R], item: Any, level: int, **shared: Any) -> tuple[R, list[Any]]:
    """On a worker: ``fn(item, **shared)`` and the ``geo_service`` log records it emitted.

    Records of every thread are kept (a loader logs from its own pool's threads); on a worker
    running several tasks at once, one task may then also carry another's messages.
    """
    records: list[tuple[str, int, str]] = []
    handler = _Collect(records)
    handler.setLevel(level)
    target = logging.getLogger("geo_service")
    before = target.level
    target.addHandler(handler)
    target.setLevel(min(level, before) if before else level)
    try:
        return fn(item, **shared), records
    finally:
        target.removeHandler(handler)
        target.setLevel(before)


class _Collect(logging.Handler):
    """Keeps (logger, level, message) of each record."""

    def __init__(self, into: list[tuple[str, int, str]]) -> None:
        super().__init__()
        self.into = into

    def emit(self, record: logging.LogRecord) -> None:
        self.into.append((record.name, record.levelno, record.getMessage()))


def _replayed(outcome: tuple[R, list[tuple[str, int, str]]]) -> R:
    result, records = outcome
    for name, level, message in records:
        logging.getLogger(name).log(level, "%s", message)
    return result


# ------------------------------------------------------------------------- choosing one
def check_scheduler(value: str | None, *, where: str) -> str | None:
    """``value`` as a scheduler setting (None or empty: single process).

    Raises
    ------
    InputError
        Neither ``local`` nor a scheduler address such as ``tcp://host:8786``.
    """
    if value is None or not str(value).strip():
        return None
    text = str(value).strip()
    if text == LOCAL or (text.startswith(SCHEMES) and len(text) > len(text.split("://")[0]) + 3):
        return text
    raise InputError(
        f"{where}: scheduler must be empty (this process), {LOCAL!r} (a Dask cluster on this "
        f"machine) or a Dask scheduler address such as tcp://host:8786, got {value!r}"
    )


@contextlib.contextmanager
def open_engine(
    scheduler: str | None, *, workers: int | None = None, connect_timeout_s: float = 10.0
) -> Iterator[Engine]:
    """The engine ``scheduler`` names, open for the block (a local cluster is then closed).

    Parameters
    ----------
    scheduler
        None or empty: this process; ``local``: a LocalCluster on this machine; an address
        (``tcp://host:port``): an existing Dask scheduler.
    workers
        Worker processes of a local cluster (default: one per core available to this process).
    connect_timeout_s
        How long to try reaching an existing scheduler, seconds.

    Raises
    ------
    InputError
        The value is not a scheduler (see :func:`check_scheduler`), Dask is not installed, or
        the scheduler cannot be reached.
    """
    chosen = check_scheduler(scheduler, where="scheduler")
    if chosen is None:
        yield SingleProcess()
        return
    distributed = _distributed(chosen)
    with contextlib.ExitStack() as stack:
        stack.enter_context(_quiet_dask())
        if chosen == LOCAL:
            cluster = stack.enter_context(_local_cluster(distributed, workers))
            client = stack.enter_context(distributed.Client(cluster))
        else:
            client = stack.enter_context(_connected(distributed, chosen, connect_timeout_s))
        engine = DaskEngine(client)
        logger.info("engine: %s", engine.name)
        yield engine


@contextlib.contextmanager
def _quiet_dask() -> Iterator[None]:
    """Dask's own messages (cluster start, workers joining) at WARNING and above only, unless
    geo_service logs debug messages: the user asked for an ingest, not a cluster's diary."""
    dask_logger = logging.getLogger("distributed")
    before = dask_logger.level
    if logging.getLogger("geo_service").getEffectiveLevel() > logging.DEBUG:
        dask_logger.setLevel(max(logging.WARNING, before))
    try:
        yield
    finally:
        dask_logger.setLevel(before)


def _distributed(scheduler: str) -> Any:
    try:
        import distributed
    except ImportError as exc:
        raise InputError(
            f"scheduler {scheduler!r} needs Dask, which is not installed; install it with "
            f"{INSTALL_HINT} (or leave the scheduler setting empty to run in this process)"
        ) from exc
    return distributed


def local_sizes(workers: int | None = None) -> Mapping[str, Any]:
    """A local cluster's size: one single-threaded worker per core, memory split evenly.

    ``memory_limit`` is bytes per worker: the machine's memory (or its cgroup limit, as Dask
    reads it) divided by the number of workers.
    """
    from distributed.system import MEMORY_LIMIT

    count = workers or _cores()
    return {"n_workers": count, "threads_per_worker": 1, "memory_limit": MEMORY_LIMIT // count}


def _cores() -> int:
    try:
        return max(1, len(os.sched_getaffinity(0)))
    except AttributeError:  # not on Linux
        return max(1, os.cpu_count() or 1)


@contextlib.contextmanager
def _local_cluster(distributed: Any, workers: int | None) -> Iterator[Any]:
    sizes = local_sizes(workers)
    logger.info(
        "starting a local Dask cluster: %d workers x 1 thread, %.1f GB each",
        sizes["n_workers"], sizes["memory_limit"] / 1e9,
    )  # fmt: skip
    with distributed.LocalCluster(
        processes=True, dashboard_address=None, silence_logs=logging.ERROR, **sizes
    ) as cluster:
        yield cluster


@contextlib.contextmanager
def _connected(distributed: Any, address: str, timeout_s: float) -> Iterator[Any]:
    try:
        _reachable(address, timeout_s)
        client = distributed.Client(address, timeout=f"{timeout_s}s")
    except OSError as exc:
        raise InputError(
            f"scheduler {address}: cannot connect to a Dask scheduler there ({exc}); start one "
            "with `dask scheduler` and workers with `dask worker ADDRESS`, or use 'local'"
        ) from exc
    with client:
        yield client


def _reachable(address: str, timeout_s: float) -> None:
    """Open and close a TCP connection to a ``tcp://host:port`` scheduler, so a refused one is
    reported at once (Dask's client retries until its timeout); other schemes are left to Dask.

    Raises
    ------
    OSError
        Nothing listens there, or it does not answer within ``timeout_s`` seconds.
    """
    parts = urlsplit(address)
    if parts.scheme != "tcp" or parts.hostname is None or parts.port is None:
        return
    socket.create_connection((parts.hostname, parts.port), timeout=timeout_s).close()
