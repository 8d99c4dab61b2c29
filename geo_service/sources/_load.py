"""The per-file loop every loader shares: expand the paths, load each file, assemble."""

from __future__ import annotations

from collections.abc import Callable, Iterable
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
    parts = [load_file(path) for path in progress_over(files, enabled=progress, what=what)]
    return assemble(parts, rows_read=sum(part[0].rows for part in parts))
