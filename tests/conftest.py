"""Shared test fixtures: the real public data (skipped when absent) and the demo borough.

The demo input set is written once per session and ingested into temporary stores; every test
package that needs the demo uses these fixtures rather than building its own.
"""

from __future__ import annotations

import os
from pathlib import Path
from typing import Any

import pytest

from geo_service.demo import DEFAULT_SEED
from geo_service.demo.build import DemoFiles, ingest_demo, write_demo
from geo_service.ingest import IngestSummary
from geo_service.store import Store

#: Real public data beside the checkout (../shared/data), or GEO_SERVICE_SHARED_DATA.
_BESIDE_CHECKOUT = Path(__file__).resolve().parents[2] / "shared" / "data"
SHARED_DATA = Path(os.environ.get("GEO_SERVICE_SHARED_DATA", _BESIDE_CHECKOUT))


@pytest.fixture(scope="session")
def shared_data() -> Path:
    """The shared real-data folder; skips the test when it is not there."""
    if not SHARED_DATA.is_dir():
        pytest.skip(f"real public data not found at {SHARED_DATA} (set GEO_SERVICE_SHARED_DATA)")
    return SHARED_DATA


@pytest.fixture(scope="session")
def demo_files(tmp_path_factory: pytest.TempPathFactory) -> DemoFiles:
    """The default demo input set."""
    return write_demo(tmp_path_factory.mktemp("demo") / "input", seed=DEFAULT_SEED)


@pytest.fixture(scope="session")
def demo_ingest(
    demo_files: DemoFiles, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Store, tuple[IngestSummary, ...]]:
    """A store holding the demo (force extract + ASB), and the ingest summaries."""
    root = tmp_path_factory.mktemp("demo-store") / "store"
    summaries = ingest_demo(root, demo_files)
    return Store(root), summaries


@pytest.fixture(scope="session")
def demo_store(demo_ingest: tuple[Store, tuple[IngestSummary, ...]]) -> Store:
    return demo_ingest[0]


@pytest.fixture(scope="session")
def public_ingest(
    demo_files: DemoFiles, tmp_path_factory: pytest.TempPathFactory
) -> tuple[Store, tuple[IngestSummary, ...]]:
    """A store holding the police.uk version of the demo."""
    root = tmp_path_factory.mktemp("demo-public") / "store"
    summaries = ingest_demo(root, demo_files, public_only=True)
    return Store(root), summaries


@pytest.fixture(scope="session")
def demo_app(demo_store: Store) -> Any:
    """One web app on the demo store for the session, so its cache computes each result once
    for every test package that asks the demo's pages (parity, rates page, browser users).

    The demo store is read-only to its users; a cached answer is the bytes the page would
    compute again, so sharing the app changes no answer.
    """
    from geo_service.config import Settings
    from geo_service.web import create_app

    app = create_app(Settings(store=demo_store.root, tiles="none"), store=demo_store)
    app.config.update(TESTING=True)
    return app
