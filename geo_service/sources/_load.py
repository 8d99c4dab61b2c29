"""The per-file loop every loader shares: expand the paths, load each file, check, assemble.

After a file's rows are checked one by one, the file as a whole is checked: when more than
``max_reject_share`` of its rows (default :data:`MAX_REJECT_SHARE`) fail for one reason, or when
it holds rows and every one is rejected, the problem is the file's, not its rows' (a month
column rewritten by a spreadsheet, numbers in another locale, the wrong export), so the whole
load is refused with one :class:`~geo_service.errors.InputError` naming the reason once with a
few examples. Nothing is returned, so nothing is stored and no file is recorded as ingested.
"""

from __future__ import annotations

import os
from collections.abc import Callable, Iterable
from concurrent.futures import ThreadPoolExecutor
from pathlib import Path

import pandas as pd

from geo_service.errors import InputError
from geo_service.sources._checks import assemble
from geo_service.sources._files import expand_paths
from geo_service.sources._progress import progress_over
from geo_service.sources._result import LoadResult, SourceFile

FilePart = tuple[SourceFile, pd.DataFrame, pd.DataFrame]

#: Share of a file's rows rejected for one reason above which the whole file is refused.
MAX_REJECT_SHARE = 0.5
#: Reasons of rows left out on request (not faults): never counted towards refusing a file.
EXCLUDED_PREFIX = "excluded on request"
_EXAMPLES = 3


def load_each(
    paths: str | Path | Iterable[str | Path],
    load_file: Callable[[Path], FilePart],
    *,
    folder_patterns: tuple[str, ...],
    progress: bool,
    what: str,
    max_reject_share: float = MAX_REJECT_SHARE,
    threads: int | None = None,
) -> LoadResult:
    """Load every file of ``paths`` with ``load_file`` (in sorted path order) and assemble.

    Parameters
    ----------
    paths
        Files, and folders searched recursively for ``folder_patterns``; ``-`` is standard input.
    load_file
        One file -> its provenance, canonical rows and rejects.
    folder_patterns
        Glob patterns for files inside folders.
    progress
        Show a progress bar over the files, labelled ``what``.
    what
        What the files are, for the progress bar.
    max_reject_share
        Share of a file's rows (0-1) rejected for one reason above which the file is refused.
    threads
        Files loaded at once, in threads (None: one per core, at most one per file). A Dask
        worker passes 1: its cluster already runs one task per core.

    Raises
    ------
    InputError
        A file is refused as a whole (see the module docstring).
    """
    if not 0.0 <= max_reject_share <= 1.0:
        raise InputError(f"max_reject_share must be between 0 and 1, got {max_reject_share}")
    files = expand_paths(paths, folder_patterns=folder_patterns)
    # Files load in parallel threads: Arrow's CSV parser and PROJ release the GIL (each thread
    # has its own transformer, see geo_service.projection). map() keeps the sorted file order,
    # so the result does not depend on which thread finishes first.
    pool_size = threads or max(1, min(len(files), os.cpu_count() or 1))
    with ThreadPoolExecutor(max_workers=pool_size) as pool:
        loaded = pool.map(load_file, files)
        parts = list(progress_over(loaded, enabled=progress, what=what, total=len(files)))
    for source_file, _, rejected in parts:
        if source_file.rows == 0:
            raise InputError(
                f"{source_file.path}: has a header line but no rows: nothing to store "
                "(an incomplete download or export?)"
            )
        check_file_rejects(source_file, rejected, max_share=max_reject_share)
    return assemble(parts, rows_read=sum(part[0].rows for part in parts))


def check_file_rejects(
    source_file: SourceFile, rejected: pd.DataFrame, *, max_share: float
) -> None:
    """Refuse the file when one reason rejects over ``max_share`` of its rows, or all of them.

    Raises
    ------
    InputError
        Naming the file, the reason (once), how many rows it rejected and a few examples.
    """
    if source_file.rows == 0 or rejected.empty:
        return
    excluded = rejected["reason"].astype(str).str.startswith(EXCLUDED_PREFIX).to_numpy()
    faults = rejected.loc[~excluded]
    if faults.empty:
        return
    counts = faults.groupby(["column", "reason"], sort=False).size().sort_values(ascending=False)
    (column, reason), worst = counts.index[0], int(counts.iloc[0])
    everything = len(faults) == source_file.rows - int(excluded.sum())
    if worst <= max_share * source_file.rows and not everything:
        return
    same = faults.loc[(faults["column"] == column) & (faults["reason"] == reason)]
    examples = "; ".join(
        f"line {row.line} {row.value!r}" for row in same.head(_EXAMPLES).itertuples(index=False)
    )
    share = f"{worst} of {source_file.rows} rows ({100 * worst / source_file.rows:.0f} %)"
    if everything and len(counts) > 1:
        share = f"every row is rejected; {share}"
    others = f"; {len(counts) - 1} other reason(s)" if len(counts) > 1 else ""
    raise InputError(
        f"{source_file.path}: file refused: {share} fail for one reason: column {column}: "
        f"{reason} (e.g. {examples}){others}. The problem is the file's, not some rows'; "
        "nothing was stored"
    )
