"""The store's writer lock: one writer at a time, across processes and threads; nobody waits.

Private to :class:`geo_service.store.Store`. An exclusive ``fcntl.flock`` on ``<store>/.lock``
(Linux and macOS; keep the store on a local disk, not NFS) holds other processes off; a thread
lock holds off other threads of this process, which ``flock`` would not. Taking it while another
holds it raises :class:`~geo_service.errors.StoreBusyError` (exit code 4) at once.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
import threading
from collections.abc import Iterator
from pathlib import Path

from geo_service.errors import StoreBusyError, StoreError


class WriterLock:
    """The writer lock of the store at ``root``; re-entrant within one thread."""

    def __init__(self, root: Path) -> None:
        self.root = root
        self._held = threading.local()  # per thread: depth of held() re-entry
        self._writer = threading.Lock()  # one writing thread per Store object
        self._fd: int | None = None

    @property
    def depth(self) -> int:
        """How many times this thread holds the lock now (0: not held)."""
        return int(getattr(self._held, "depth", 0))

    @contextlib.contextmanager
    def held(self) -> Iterator[None]:
        """Hold the lock for the block; StoreBusyError when another thread or process has it."""
        depth = int(getattr(self._held, "depth", 0))
        if depth == 0:
            if not self._writer.acquire(blocking=False):
                raise StoreBusyError(
                    f"store {self.root} is being written by another thread of this process; "
                    "try again when it has finished"
                )
            try:
                self._fd = self._take_file_lock()
            except BaseException:
                self._writer.release()
                raise
        self._held.depth = depth + 1
        try:
            yield
        finally:
            self._held.depth = depth
            if depth == 0:
                self._release_file_lock()

    def _take_file_lock(self) -> int:
        """Open ``<store>/.lock`` and take the exclusive ``flock`` on it; returns the fd."""
        try:
            self.root.mkdir(parents=True, exist_ok=True)
            fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
        except OSError as exc:
            raise StoreError(f"cannot write store {self.root} ({exc.strerror})") from exc
        try:
            fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
        except BlockingIOError:
            holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "unknown"
            os.close(fd)
            raise StoreBusyError(
                f"store {self.root} is being written by another process ({holder}); "
                "try again when it has finished"
            ) from None
        os.ftruncate(fd, 0)
        os.pwrite(fd, f"pid {os.getpid()}".encode(), 0)
        return fd

    def _release_file_lock(self) -> None:
        try:
            if self._fd is not None:
                fcntl.flock(self._fd, fcntl.LOCK_UN)
                os.close(self._fd)
                self._fd = None
        finally:
            self._writer.release()
