"""Session fixtures: the demo input set written once, and ingested into two temporary stores."""

from __future__ import annotations

import pytest

from geo_service.demo import DEFAULT_SEED
from geo_service.demo.build import DemoFiles, ingest_demo, write_demo
from geo_service.ingest import IngestSummary
from geo_service.store import Store


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
