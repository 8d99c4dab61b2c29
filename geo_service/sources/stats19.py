"""Loader for DfT STATS19 road collision CSV files (in progress)."""

from __future__ import annotations

from collections.abc import Iterable
from pathlib import Path

from geo_service.sources._result import LoadResult


def load_stats19(paths: str | Path | Iterable[str | Path], *, progress: bool = False) -> LoadResult:
    """Load DfT STATS19 collision CSV files (current lower-case or older CamelCase headers)."""
    raise NotImplementedError("STATS19 loader not written yet")
