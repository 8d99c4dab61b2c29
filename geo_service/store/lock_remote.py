"""The writer lock of a store at an fsspec URL: an object created only if it is absent.

Private to :mod:`geo_service.store.remote_write`. Object stores have no ``flock``; what they
(and fsspec) offer instead is the *exclusive write*: ``pipe_file(path, data, mode="create")``
raises :class:`FileExistsError` when ``path`` exists, checked by the server in the same request
(S3 ``If-None-Match: *``, GCS ``ifGenerationMatch=0``, Azure ``If-None-Match: *``; ``O_EXCL``
on a local disk). The lock is ``<store>/.lock``, a small JSON object naming its holder (host and
process), when it was taken and a random token. A second writer finds it and is refused at once
with :class:`~geo_service.errors.StoreBusyError` naming the holder and its age; nobody waits.

fsspec's own fallback for ``mode="create"`` checks and then writes in two requests, which two
writers can pass together: a file system that does not implement the write itself is refused
(:class:`~geo_service.errors.StoreError`, exit code 2, naming what is missing), and so is one
that lets a second exclusive write of the lock through (tried once, on every write: an S3-like
service that ignores ``If-None-Match``).

A writer killed mid-way leaves its lock. :func:`break_lock` removes it, given the token the
refusal printed, so a lock taken since by another writer is never removed by mistake; and the
writer checks its token again just before it publishes (:meth:`RemoteLock.confirm`), so a
writer whose lock was broken while it still ran publishes nothing.
"""

from __future__ import annotations

import json
import os
import socket
import uuid
from dataclasses import dataclass
from datetime import UTC, datetime
from typing import TYPE_CHECKING, Any

from geo_service.errors import StoreBusyError, StoreError

if TYPE_CHECKING:
    from fsspec import AbstractFileSystem

#: The lock object's name under the store's root.
LOCK = ".lock"


@dataclass(frozen=True)
class LockInfo:
    """What the lock object says: who holds it, since when (ISO UTC), its token."""

    holder: str
    since: str
    token: str

    def age_s(self) -> float:
        """Seconds since the lock was taken (0 when its time cannot be read)."""
        try:
            return max(
                0.0, (datetime.now(UTC) - datetime.fromisoformat(self.since)).total_seconds()
            )
        except ValueError:
            return 0.0

    def describe(self) -> str:
        """``host pid N since <time> (<age> ago; token T)``."""
        return f"{self.holder} since {self.since} ({_age(self.age_s())} ago; token {self.token})"


class RemoteLock:
    """The writer lock of the store at ``root`` on ``fs`` (``url`` names it in messages)."""

    def __init__(self, fs: AbstractFileSystem, root: str, *, url: str) -> None:
        self.fs, self.path, self.url = fs, f"{root}/{LOCK}", url
        self.info = LockInfo(
            holder=f"{socket.gethostname()} pid {os.getpid()}",
            since=datetime.now(UTC).isoformat(timespec="seconds"),
            token=uuid.uuid4().hex[:12],
        )

    def acquire(self) -> None:
        """Create the lock object; StoreBusyError naming the holder when it exists.

        Raises
        ------
        StoreBusyError
            Another writer holds the lock (or a killed one left it: see :func:`break_lock`).
        StoreError
            The file system cannot create an object only if it is absent (exit code 2).
        """
        require_exclusive_write(self.fs, self.url)
        payload = json.dumps(self.info.__dict__).encode()
        try:
            create(self.fs, self.path, payload)
        except FileExistsError:
            raise StoreBusyError(busy_message(self.url, read_lock(self.fs, self.path))) from None
        except Exception as exc:  # an edge: whatever the file system's package raises
            raise StoreError(
                f"store {self.url}: cannot create the writer lock {self.path} "
                f"({type(exc).__name__}: {exc}); geo-service needs an exclusive write there "
                "(fsspec's pipe_file(mode='create')); nothing was changed"
            ) from exc
        try:  # the second exclusive write of the same object must be refused
            create(self.fs, self.path, payload)
        except FileExistsError:
            return
        self.fs.rm_file(self.path)
        raise StoreError(
            f"store {self.url}: its file system ({type(self.fs).__name__}) let a second "
            "exclusive write of the lock object through, so two writers could both publish; "
            "geo-service needs a create-if-absent write there (S3: a service honouring "
            "If-None-Match)"
        )

    def confirm(self) -> None:
        """Raise StoreBusyError unless the lock object still holds this writer's token."""
        found = read_lock(self.fs, self.path)
        if found is None or found.token != self.info.token:
            taken = "removed" if found is None else f"taken by {found.describe()}"
            raise StoreBusyError(
                f"store {self.url}: the writer lock of this write was {taken} while it ran "
                "(broken as stale?); nothing was published, the store is as it was"
            )

    def release(self) -> None:
        """Remove the lock object if it is still this writer's (never another's)."""
        found = read_lock(self.fs, self.path)
        if found is not None and found.token == self.info.token:
            self.fs.rm_file(self.path)


def create(fs: AbstractFileSystem, path: str, data: bytes) -> None:
    """Write ``data`` at ``path`` only if nothing is there (FileExistsError otherwise): on a
    local disk an ``O_EXCL`` open (fsspec's own local ``pipe_file`` checks, then writes)."""
    from fsspec.implementations.local import LocalFileSystem

    if isinstance(fs, LocalFileSystem):
        fs.makedirs(path.rsplit("/", 1)[0], exist_ok=True)
        with fs.open(path, "xb") as handle:
            handle.write(data)
    else:
        fs.pipe_file(path, data, mode="create")


def require_exclusive_write(fs: AbstractFileSystem, url: str) -> None:
    """Raise StoreError (exit code 2) when ``fs`` does not implement the exclusive write itself.

    fsspec's default ``pipe_file(mode="create")`` checks for the file, then writes it: two
    writers can both pass the check. A file system that implements the write (``pipe_file``,
    or ``_pipe_file`` for an asynchronous one) is trusted to make it one request; the second
    write in :meth:`RemoteLock.acquire` checks it does refuse.
    """
    from fsspec.asyn import AsyncFileSystem
    from fsspec.implementations.local import LocalFileSystem
    from fsspec.spec import AbstractFileSystem

    cls = type(fs)
    if isinstance(fs, LocalFileSystem):
        own = True  # O_EXCL (see create)
    elif isinstance(fs, AsyncFileSystem):
        own = cls._pipe_file is not AsyncFileSystem._pipe_file
    else:
        own = cls.pipe_file is not AbstractFileSystem.pipe_file
    if not own:
        raise StoreError(
            f"store {url}: its file system ({cls.__module__}.{cls.__name__}) cannot create an "
            "object only if it is absent (fsspec's exclusive write, pipe_file(mode='create')), "
            "which geo-service needs to keep a second writer out; write the store in a local "
            "folder and copy it there, or use a file system that has it (local, memory, s3fs, "
            "gcsfs, adlfs)"
        )


def read_lock(fs: AbstractFileSystem, path: str) -> LockInfo | None:
    """The lock object at ``path`` (None: absent; an unreadable one: holder unknown)."""
    try:
        data: Any = json.loads(fs.cat_file(path))
        return LockInfo(str(data["holder"]), str(data["since"]), str(data["token"]))
    except FileNotFoundError:
        return None
    except (ValueError, KeyError, TypeError):
        return LockInfo("an unknown writer", "", "")


def busy_message(url: str, found: LockInfo | None) -> str:
    """The one-line refusal of a second writer."""
    held = "another writer" if found is None else found.describe()
    return (
        f"store {url} is being written by {held}; try again when it has finished. If that "
        f"writer is gone (killed, its machine lost): `geo-service --store {url} unlock "
        f"{found.token if found else 'TOKEN'}` removes its lock (its unpublished files are "
        "removed by the next write)"
    )


def break_lock(fs: AbstractFileSystem, root: str, token: str, *, url: str) -> LockInfo:
    """Remove the lock of the store at ``root`` if it holds ``token``; returns what it held.

    Raises
    ------
    StoreError
        No lock is held, or it holds another token (a writer that took it since: nothing is
        removed).
    """
    path = f"{root}/{LOCK}"
    found = read_lock(fs, path)
    if found is None:
        raise StoreError(f"store {url} has no writer lock; nothing to remove")
    if found.token != token:
        raise StoreError(
            f"store {url}: the writer lock is held by {found.describe()}, not token {token}; "
            "nothing was removed"
        )
    fs.rm_file(path)
    return found


def _age(seconds: float) -> str:
    if seconds < 120:
        return f"{seconds:.0f} s"
    if seconds < 7200:
        return f"{seconds / 60:.0f} min"
    return f"{seconds / 3600:.1f} h"
