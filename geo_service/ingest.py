"""The ingest pipeline: load files, assign them to the stored areas, write them to the store.

These are the service functions the CLI (and later the web layer) call::

    ingest_files(store, kind, paths)   load (LOADERS[kind]) -> assign_areas -> Store.write_incidents
    add_layer(store, layer, path)      read_layer -> Store.write_layer (re-assigns every incident)
    add_denominators(store, layer, csv)

Every row read is accounted for: ``rows_read == stored + duplicates + rejected``, where duplicates
are rows repeated within the files read and rows already in the store (a file ingested before, or
an incident id the month's partition already holds).
"""

from __future__ import annotations

import logging
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import asdict, dataclass
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geo_service import boundaries, join, schema
from geo_service.errors import InputError
from geo_service.projection import transformation_used
from geo_service.sources import LOADERS, LoadResult, SourceFile
from geo_service.store import FileRecord, Store, WriteResult

logger = logging.getLogger(__name__)

#: How each loader's coordinates reach EPSG:27700, recorded with every file (None: mapping says).
_SOURCE_CRS: Mapping[str, str | None] = {"police-uk": "EPSG:4326", "stats19": None, "mapped": None}


@dataclass(frozen=True)
class FileSummary:
    """What happened to one input file."""

    path: str
    rows: int
    stored: int
    duplicates: int
    rejected: int
    months: tuple[str, ...]
    status: str  # "new", "unchanged" (same checksum already stored) or "replaced earlier version"

    def line(self) -> str:
        """One human-readable line."""
        span = f"{self.months[0]}..{self.months[-1]}" if self.months else "no months"
        return (
            f"{self.path}: {self.status}; {self.rows} rows ({span}): stored {self.stored}, "
            f"duplicates {self.duplicates}, rejected {self.rejected}"
        )


@dataclass(frozen=True)
class IngestSummary:
    """The outcome of one ingest. Invariant: ``rows_read == stored + duplicates + rejected``.

    ``without_location`` and ``outside_every_area`` count the rows of new or changed files:
    incidents with no coordinates, and located incidents in no area of any stored layer
    (None when the store has no layers).
    """

    kind: str
    ingest_id: str | None
    rows_read: int
    stored: int
    duplicates: int
    duplicates_in_files: int
    duplicates_in_store: int
    rejected: int
    without_location: int
    outside_every_area: int | None
    files: tuple[FileSummary, ...]
    rejects_path: Path | None
    layers: Mapping[str, Mapping[str, int]]

    @property
    def changed(self) -> bool:
        """Whether the store changed."""
        return self.ingest_id is not None

    def lines(self) -> list[str]:
        """The summary as lines of text, one per file then the totals."""
        out = [f.line() for f in self.files]
        outside = "no area layers" if self.outside_every_area is None else self.outside_every_area
        out.append(
            f"read {self.rows_read}: stored {self.stored}, duplicates {self.duplicates} "
            f"({self.duplicates_in_files} within the files, {self.duplicates_in_store} already "
            f"stored), rejected {self.rejected}; without location {self.without_location}, "
            f"outside every area {outside}"
        )
        if not self.changed:
            out.append("nothing new: every file was already in the store; the store is unchanged")
        return out

    def as_dict(self) -> dict[str, Any]:
        """JSON-ready form."""
        out = asdict(self)
        out["rejects_path"] = str(self.rejects_path) if self.rejects_path else None
        return out


def ingest_files(
    store: Store,
    kind: str,
    paths: Iterable[str | Path],
    *,
    mapping: Path | None = None,
    progress: bool = False,
) -> IngestSummary:
    """Load ``paths`` with the ``kind`` loader, assign areas for every stored layer, store them.

    Parameters
    ----------
    store
        The store written to (its writer lock is held throughout).
    kind
        A key of :data:`geo_service.sources.LOADERS`: ``police-uk``, ``stats19`` or ``mapped``.
    paths
        Files or folders, as the loader accepts them.
    mapping
        The TOML column mapping; required for ``mapped``, refused otherwise.
    progress
        Show progress bars (stderr).
    """
    files = [Path(p) for p in paths]
    options = _loader_options(kind, mapping, files)
    with store.locked():
        loaded = LOADERS[kind](files, progress=progress, **options)
        layers = {name: store.layer(name) for name in store.layer_names()}
        incidents, report = join.assign_areas(loaded.incidents, layers)
        records = _file_records(loaded, kind)
        written = store.write_incidents(
            incidents,
            records,
            rejects=loaded.rejects,
            kind=kind,
            transformation=_transformation(kind),
        )
    return _summary(kind, loaded, incidents, records, written, layers=report.as_dict())


def add_layer(
    store: Store,
    layer: str,
    path: Path,
    *,
    code_col: str | None = None,
    name_col: str | None = None,
    crs: str | None = None,
) -> boundaries.LayerReport:
    """Read an area layer file, store it as ``layer`` and assign every stored incident to it.

    Replacing an existing layer re-assigns every incident to the new polygons. Denominators of
    the old layer are not carried over; add them again with :func:`add_denominators`.
    """
    frame, report = boundaries.read_layer(path, code_col=code_col, name_col=name_col, crs=crs)
    info = {"report": _plain(asdict(report)), "path": str(path), "denominators": None}
    store.write_layer(layer, frame, info=info, assign=_assign)
    return report


def add_denominators(store: Store, layer: str, csv_path: Path) -> gpd.GeoDataFrame:
    """Fill population, households and parent of stored ``layer`` from a CSV; returns the layer."""
    with store.locked():
        filled = boundaries.read_denominators(store.layer(layer), csv_path)
        info = {
            "denominators": {
                "path": str(csv_path),
                "with_population": int(filled["population"].notna().sum()),
                "with_households": int(filled["households"].notna().sum()),
                "with_parent": int(filled["parent"].notna().sum()),
            }
        }
        store.write_layer(layer, filled, info=info)
    return filled


# --------------------------------------------------------------------------------- steps
def _loader_options(kind: str, mapping: Path | None, paths: Sequence[Path]) -> dict[str, Any]:
    if kind not in LOADERS:
        raise InputError(f"unknown input kind {kind!r}; allowed: {', '.join(LOADERS)}")
    if not paths:
        raise InputError(f"ingest {kind}: no files given")
    if kind == "mapped":
        if mapping is None:
            raise InputError("ingest mapped: --mapping FILE (a TOML column mapping) is required")
        return {"mapping": mapping}
    if mapping is not None:
        raise InputError(f"ingest {kind}: --mapping is only for 'mapped' files")
    return {}


def _assign(incidents: pd.DataFrame, layers: Mapping[str, gpd.GeoDataFrame]) -> pd.DataFrame:
    return join.assign_areas(incidents, layers)[0]


def _transformation(kind: str) -> str | None:
    crs = _SOURCE_CRS.get(kind)
    return transformation_used(crs) if crs else None


def _file_records(loaded: LoadResult, kind: str) -> list[FileRecord]:
    incidents = loaded.incidents
    keys = set(incidents["source_file"].dropna().unique().tolist())
    sources = incidents.groupby("source_file")["source"].first().to_dict() if len(keys) else {}
    rejects = loaded.rejects["file"].astype(str).value_counts().to_dict()
    duplicates = loaded.duplicate_rows["file"].astype(str).value_counts().to_dict()
    records = []
    for file in loaded.files:
        key = _file_key(file, keys)
        records.append(
            FileRecord(
                path=str(file.path),
                key=key,
                source=str(sources.get(key, kind.replace("-", "_"))),
                sha256=file.sha256,
                rows=file.rows,
                rejects=int(rejects.get(str(file.path), 0) + rejects.get(file.path.name, 0)),
                duplicates=int(duplicates.get(key, 0)),
                months=tuple(file.months),
            )
        )
    _check_distinct_names(records)
    return records


def _check_distinct_names(records: Sequence[FileRecord]) -> None:
    """Two different files with one name cannot be told apart later (rows carry the name)."""
    seen: dict[tuple[str, str], FileRecord] = {}
    for record in records:
        other = seen.setdefault((record.source, record.key), record)
        if other.sha256 != record.sha256:
            raise InputError(
                f"{record.path} and {other.path} have the same name ({record.key}) but different "
                "content; the store tells files apart by name, so ingest them separately, "
                "renaming one"
            )


def _file_key(file: SourceFile, keys: set[str]) -> str:
    """The ``source_file`` value the file's rows carry (its name unless the loader used more)."""
    for candidate in (file.path.name, str(file.path), file.path.as_posix()):
        if candidate in keys:
            return candidate
    return file.path.name


def _summary(
    kind: str,
    loaded: LoadResult,
    incidents: pd.DataFrame,
    records: Sequence[FileRecord],
    written: WriteResult,
    *,
    layers: Mapping[str, Mapping[str, int]],
) -> IngestSummary:
    unchanged = set(written.unchanged_files)
    superseded = set(written.superseded_files)
    unchanged_keys = [r.key for r in records if r.path in unchanged]
    fresh = (
        incidents.loc[~incidents["source_file"].isin(unchanged_keys).to_numpy()]
        if unchanged_keys
        else incidents
    )
    files = tuple(
        FileSummary(
            path=r.path,
            rows=r.rows,
            stored=int(written.stored_by_file.get(r.path, 0)),
            duplicates=r.rows - r.rejects - int(written.stored_by_file.get(r.path, 0)),
            rejected=r.rejects,
            months=r.months,
            status="unchanged"
            if r.path in unchanged
            else ("replaced earlier version" if r.path in superseded else "new"),
        )
        for r in records
    )
    return IngestSummary(
        kind=kind,
        ingest_id=written.ingest_id,
        rows_read=loaded.rows_read,
        stored=written.stored,
        duplicates=loaded.duplicates + written.duplicates_in_store,
        duplicates_in_files=loaded.duplicates,
        duplicates_in_store=written.duplicates_in_store,
        rejected=len(loaded.rejects),
        without_location=int((~schema.has_location(fresh)).sum()),
        outside_every_area=_outside_every_area(fresh, list(layers)),
        files=files,
        rejects_path=written.rejects_path,
        layers=layers,
    )


def _outside_every_area(frame: pd.DataFrame, layers: Sequence[str]) -> int | None:
    if not layers:
        return None
    located = schema.has_location(frame)
    inside = np.zeros(len(frame), dtype=bool)
    for name in layers:
        inside |= frame[schema.area_column(name)].notna().to_numpy()
    return int((located & ~inside).sum())


def _plain(value: Any) -> Any:
    """Tuples to lists, recursively, so a report survives JSON unchanged."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
