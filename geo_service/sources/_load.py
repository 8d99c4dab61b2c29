"""The per-file loop every loader shares: expand the paths, load each file, assemble."""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

from geo_service.sources._checks import assemble
from geo_service.sources._files import expand_paths
from geo_service.sources._progress import progress_over
from geo_service.sources._result import LoadResult, SourceFile

FilePart = tuple[SourceFile, pd.DataFrame, pd.DataFrame]


def load_each(
    paths: str | Path | Iterable[str | Path],
    load_file: Callable[[Path], FilePart],
    *,
    folder_patterns: tuple[str, ...],
    progress: bool,
    what: str,
) -> LoadResult:
    """Load every file of ``paths`` with ``load_file`` (in sorted path order) and assemble.

    Parameters
    ----------
    paths
        Files, and folders searched recursively for ``folder_patterns``.
    load_file
        One file -> its provenance, canonical rows and rejects.
    folder_patterns
        Glob patterns for files inside folders.
    progress
        Show a progress bar over the files, labelled ``what``.
    what
        What the files are, for the progress bar.
    """
    files = expand_paths(paths, folder_patterns=folder_patterns)
    # Files load in parallel threads: Arrow's CSV parser and PROJ release the GIL (each thread
    # has its own transformer, see geo_service.projection). map() keeps the sorted file order,
    # so the result does not depend on which thread finishes first.
    with ThreadPoolExecutor(max_workers=max(1, min(len(files), os.cpu_count() or 1))) as pool:
        loaded = pool.map(load_file, files)
        parts = list(progress_over(loaded, enabled=progress, what=what, total=len(files)))
    return assemble(parts, rows_read=sum(part[0].rows for part in parts))
