"""Shared test fixtures: where the real public data lives, and a skip when it is absent."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

#: Real public data beside the checkout (../shared/data), or GEO_SERVICE_SHARED_DATA.
_BESIDE_CHECKOUT = Path(__file__).resolve().parents[2] / "shared" / "data"
SHARED_DATA = Path(os.environ.get("GEO_SERVICE_SHARED_DATA", _BESIDE_CHECKOUT))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared real-data folder; skips the test when it is not there."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real public data not found at {SHARED_DATA} (set GEO_SERVICE_SHARED_DATA)")
    return SHARED_DATA
