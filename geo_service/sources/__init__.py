"""Source loaders: one module per input format, dispatched from :data:`LOADERS`.

Every loader takes files (or folders, or ``-`` for standard input) and returns a
:class:`LoadResult`: canonical incidents (:mod:`geo_service.schema`, x/y in EPSG:27700), rejects
(file, line, column, value, reason), the duplicate rows it found (listed and ``held`` as canonical
rows, so ingest never reads a file twice) and provenance, with
``rows_read == len(incidents) + duplicates + len(rejects)``. Whole-file problems (separator,
decimal mark, spreadsheet-rewritten months, more than half the rows rejected for one reason) are
checked per file before the result is assembled and refuse the load (:mod:`._load`).

========== ====================================== ================================
key        loader                                 input
========== ====================================== ================================
police-uk  :func:`police_uk.load_police_uk`       police.uk street-level CSV
stats19    :func:`stats19.load_stats19`           DfT STATS19 collision CSV
mapped     :func:`mapped_csv.load_mapped`         any CSV + a TOML column mapping
========== ====================================== ================================
"""

from __future__ import annotations

from collections.abc import Callable, Mapping
from types import MappingProxyType

from geo_service.sources._result import REJECT_COLUMNS, LoadResult, SourceFile
from geo_service.sources.mapped_csv import load_mapped
from geo_service.sources.police_uk import load_police_uk
from geo_service.sources.stats19 import load_stats19

#: A loader: ``loader(paths, *, progress=False, **options) -> LoadResult``.
Loader = Callable[..., LoadResult]

#: Format name (as the CLI spells it) -> loader. ``mapped`` also needs ``mapping=<toml path>``.
LOADERS: Mapping[str, Loader] = MappingProxyType(
    {
        "police-uk": load_police_uk,
        "stats19": load_stats19,
        "mapped": load_mapped,
    }
)

__all__ = [
    "LOADERS",
    "REJECT_COLUMNS",
    "LoadResult",
    "Loader",
    "SourceFile",
    "load_mapped",
    "load_police_uk",
    "load_stats19",
]
