"""Loader for any CSV export described by a TOML column mapping (in progress)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from geo_service.sources._result import LoadResult


def load_mapped(
    paths: str | Path | Iterable[str | Path], *, mapping: Path, progress: bool = False
) -> LoadResult:
    """Load CSV files whose columns ``mapping`` (a TOML file) describes."""
    raise NotImplementedError("mapped CSV loader not written yet")
