"""Steps of :func:`geo_service.ingest.ingest_files`: loader options, file records, held rows.

Private to :mod:`geo_service.ingest`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
import pyproj

from geo_service import join, schema
from geo_service.errors import InputError
from geo_service.projection import transformation_used
from geo_service.sources import LOADERS, LoadResult, SourceFile
from geo_service.sources._mapping import ColumnMapping, read_mapping
from geo_service.store import FileRecord


def loader_options(
    kind: str,
    mapping: Path | None,
    paths: Sequence[Path],
    *,
    exclude_forces: Sequence[str] = (),
) -> dict[str, Any]:
    """The keyword options of the ``kind`` loader; raises for options that kind does not take."""
    if kind not in LOADERS:
        raise InputError(f"unknown input kind {kind!r}; allowed: {', '.join(LOADERS)}")
    if not paths:
        raise InputError(f"ingest {kind}: no files given")
    if exclude_forces and kind != "police-uk":
        raise InputError(f"ingest {kind}: --exclude-force is only for 'police-uk' files")
    if kind == "mapped":
        if mapping is None:
            raise InputError("ingest mapped: --mapping FILE (a TOML column mapping) is required")
        return {"mapping": mapping}
    if mapping is not None:
        raise InputError(f"ingest {kind}: --mapping is only for 'mapped' files")
    return {"exclude_forces": tuple(exclude_forces)} if exclude_forces else {}


def transformation(kind: str, mapping: Path | None) -> str | None:
    """How the loader's coordinates reach EPSG:27700, as recorded with every file."""
    if kind == "police-uk":
        return transformation_used("EPSG:4326")
    if kind == "stats19":
        return (
            "none for easting/northing (EPSG:27700); rows with only longitude/latitude: "
            + transformation_used("EPSG:4326")
        )
    if kind == "mapped" and mapping is not None:
        crs = _mapping_crs(read_mapping(mapping))
        if crs is None:
            return "none (the mapping reads no coordinates)"
        if pyproj.CRS.from_user_input(crs) == pyproj.CRS.from_user_input(schema.CRS):
            return f"none (coordinates in {crs})"
        return f"from {crs}: {transformation_used(crs)}"
    return None


def _mapping_crs(spec: ColumnMapping) -> str | None:
    """The CRS of a mapping's coordinates, as the mapped loader reads them (None: no columns)."""
    if "lon" in spec.columns:
        default = "EPSG:4326"
    elif "x" in spec.columns:
        default = "EPSG:27700"
    else:
        return None
    return str(spec.columns.get("crs", default))


def file_records(loaded: LoadResult, kind: str) -> list[FileRecord]:
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
                rejects=sum(int(rejects.get(name, 0)) for name in _file_names(file)),
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


def _file_names(file: SourceFile) -> set[str]:
    """The distinct names a loader may give ``file`` in its rows (a bare name is one name)."""
    return {file.path.name, str(file.path), file.path.as_posix()}


def _file_key(file: SourceFile, keys: set[str]) -> str:
    """The ``source_file`` value the file's rows carry (its name unless the loader used more)."""
    for candidate in (file.path.name, str(file.path), file.path.as_posix()):
        if candidate in keys:
            return candidate
    return file.path.name


def held_rows(loaded: LoadResult, layers: Mapping[str, gpd.GeoDataFrame]) -> pd.DataFrame:
    """Rows the loader dropped as repeats of an id first read from another file, with areas.

    The loader keeps the first row per incident id across the files read; the store holds the
    repeats from other files back (not stored, already counted as duplicates) so that replacing
    the first file later does not lose the incident. The loader returns those rows
    (:attr:`LoadResult.held`, in the order of :attr:`LoadResult.duplicate_rows`), so no file is
    read again.
    """
    repeats = loaded.duplicate_rows
    other_file = (repeats["file"].astype(str) != repeats["first_file"].astype(str)).to_numpy()
    if not other_file.any():
        return loaded.incidents.iloc[0:0]
    rows = loaded.held.loc[other_file]
    # One row per file and id: a repeat within the repeating file is that file's duplicate.
    rows = rows.loc[~rows.duplicated(["source_file", "incident_id"])].reset_index(drop=True)
    return join.assign_areas(rows, layers)[0]
