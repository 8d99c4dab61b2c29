"""``geo-service unlock TOKEN``: remove the writer lock a killed writer left on a store at a URL.

Only parses and prints; the work is :func:`geo_service.store.lock_remote.break_lock`. The token
is the one the refusal of the next writer printed, so a lock taken since by another writer is
never removed (the refusal names the holder and its age: make sure that writer is gone).
"""

from __future__ import annotations

import argparse

from geo_service.config import Settings

_HELP = """\
Remove the writer lock of a store at a URL (--store s3://..., memory://...) that a killed
writer left: the next writer's refusal names the holder, its age and the lock's TOKEN. Only a
lock holding TOKEN is removed. A writer still running whose lock is removed publishes nothing.
Stores in a local folder need no unlock (their lock ends with the process)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``unlock`` command."""
    unlock = subparsers.add_parser(
        "unlock", help="remove the writer lock a killed writer left at a URL", description=_HELP
    )
    unlock.add_argument("token", help="the lock's token, as the refusal printed it")
    unlock.set_defaults(handler=_unlock)


def _unlock(args: argparse.Namespace, settings: Settings) -> int:
    from geo_service.errors import InputError
    from geo_service.store.lock_remote import break_lock
    from geo_service.store.remote_write import Origin

    origin = Origin.read(settings.store)
    if origin is None:
        raise InputError(
            f"store {settings.store} is a local folder: its lock ends with the process that "
            "held it; nothing to unlock"
        )
    fs, root = origin.filesystem()
    found = break_lock(fs, root, args.token, url=origin.url)
    print(f"removed the writer lock of {origin.url} held by {found.describe()}")
    return 0
