"""Stores the tests read through: a store seen without its cubes, and the kept Hertfordshire
store (a store of the 13 Hertfordshire months built by hand, when one lies beside the checkout)."""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

from geo_service.store import Store

#: A store of the Hertfordshire months built by hand, when one lies beside the checkout.
HERTS_STORE = Path(
    os.environ.get("GEO_SERVICE_HERTS_STORE", Path(__file__).resolve().parents[2] / "herts-store")
)


class RowsOnly:
    """A store that is not a :class:`Store`: the services read its rows (no cube)."""

    def __init__(self, store: Store) -> None:
        self._store = store

    def __getattr__(self, name: str) -> Any:
        return getattr(self._store, name)


def herts_copy(tmp_path: Path) -> Store:
    """A copy of :data:`HERTS_STORE` (its cubes are written beside the copy's manifest); the
    test is skipped when there is none."""
    import shutil

    import pytest

    if not (HERTS_STORE / "CURRENT").is_file():
        pytest.skip(f"no Hertfordshire store at {HERTS_STORE} (set GEO_SERVICE_HERTS_STORE)")
    copy = tmp_path / "herts"
    shutil.copytree(HERTS_STORE, copy)
    return Store(copy)
