"""Steps of :func:`geo_service.ingest.ingest_files`: loader options, checksums taken before any
parse, batches, the work on one batch (:func:`load_batch`), file records, held rows.

:func:`load_batch` is the whole per-partition work of an ingest (parse, validate, project, join
to the areas, the batch's tallies): a pure function of its files and the stored layers, which the
single process calls directly and a Dask worker runs the same way (:mod:`geo_service.engine`).
On a Dask worker :func:`stage_batch` follows it with the store's merge of the batch's month
partitions into the staging version, so only file records, tallies and rejects travel back.

Private to :mod:`geo_service.ingest`.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from itertools import groupby
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pyproj

from geo_service import join, schema
from geo_service.errors import InputError
from geo_service.projection import transformation_used
from geo_service.sources import LOADERS, LoadResult, SourceFile, mapped_csv, police_uk, stats19
from geo_service.sources._dates import month_from_name
from geo_service.sources._files import STDIN, expand_paths, file_sha256
from geo_service.sources._mapping import ColumnMapping, read_mapping
from geo_service.sources._stats19_tables import COLLISION, table_kind
from geo_service.store import FileRecord, Manifest
from geo_service.store.write import BATCHES, IngestBatch, StagedBatch, stage_alone

#: Where each loader looks inside folders (the loaders' own patterns).
_FOLDER_PATTERNS: Mapping[str, tuple[str, ...]] = {
    "police-uk": police_uk.FOLDER_PATTERNS,
    "stats19": stats19.FOLDER_PATTERNS,
    "mapped": mapped_csv.FOLDER_PATTERNS,
}
_CHUNK_BYTES = 1 << 20


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


@dataclass(frozen=True)
class CheckedFiles:
    """The files of an ingest, sorted by their checksums before any is parsed.

    ``unchanged`` are files whose checksum the store holds already for the same source (their
    stored records, with the path as given now): they are not read again. ``to_load`` are the
    others, in batches the loader reads one at a time (see :func:`batches`). ``order`` is every
    file, in the order the loader would read them.
    """

    unchanged: tuple[FileRecord, ...]
    to_load: tuple[tuple[Path, ...], ...]
    order: tuple[Path, ...]


def check_files(
    manifest: Manifest,
    kind: str,
    mapping: Path | None,
    paths: Sequence[Path],
    *,
    excluded: Sequence[str] = (),
) -> CheckedFiles:
    """Checksum every input file (streamed, no parse) and set aside those already stored.

    A file is already stored when a stored file has its checksum and was ingested with the same
    forces left out (``excluded``, police.uk's ``--exclude-force``); with others it is read
    again and replaces the stored file of its name.

    police.uk and mapped files are each a whole: an unchanged one is skipped. A STATS19 load is
    skipped only when every collision table is unchanged (casualty and vehicle tables add to the
    collisions loaded with them, and the store records the collision tables). Standard input is
    always read.

    Raises
    ------
    InputError
        Two files have one name but different content (the store tells files apart by name).
    """
    found = expand_paths(paths, folder_patterns=_FOLDER_PATTERNS[kind])
    source = stored_source(kind, mapping)
    digests = {path: sha256_of(path) for path in found if path != STDIN}
    _check_distinct_contents(source, digests)
    left_out = tuple(sorted(set(excluded)))
    stored = {r.content: r for r in manifest.live_files()}
    same = {
        p: stored[(source, d, left_out)]
        for p, d in digests.items()
        if (source, d, left_out) in stored
    }
    loaded = [p for p in found if p not in same]
    if kind == "stats19":
        collisions = [p for p in digests if table_kind(p) == COLLISION]
        every = bool(collisions) and STDIN not in found and set(collisions) <= set(same)
        same = {p: same[p] for p in collisions} if every else {}
        loaded = [] if every else list(found)
    unchanged = tuple(_as_given(same[p], p) for p in found if p in same)
    return CheckedFiles(unchanged, batches(kind, loaded), tuple(found))


def stored_source(kind: str, mapping: Path | None) -> str:
    """The ``source`` value the store records for files of ``kind``."""
    if kind == "mapped" and mapping is not None:
        return read_mapping(mapping).source
    return kind.replace("-", "_")


def sha256_of(path: Path) -> str:
    """Hex SHA-256 of a file's bytes as stored (compressed when gzipped), read in chunks and
    remembered for the parse that follows (:func:`geo_service.sources._files.file_sha256`)."""
    try:
        return file_sha256(path)
    except OSError as exc:
        raise InputError(f"{path}: cannot read file ({exc.strerror})") from exc


def batches(kind: str, paths: Sequence[Path]) -> tuple[tuple[Path, ...], ...]:
    """The files of one ingest in the groups loaded together, in order.

    police.uk files are grouped by the month their name starts with (all forces' files of one
    month together, so an incident id repeated between them is found as before): memory then
    grows with the largest month, not with the history. Names without a month form one group,
    first. Other kinds are loaded in one group (a STATS19 casualty table belongs with its
    collisions; a mapped extract spans many months).
    """
    if not paths:
        return ()
    if kind != "police-uk":
        return (tuple(paths),)
    ordered = sorted(paths, key=lambda p: (month_from_name(p) or "", str(p)))
    return tuple(
        tuple(group) for _, group in groupby(ordered, key=lambda p: month_from_name(p) or "")
    )


@dataclass(frozen=True)
class BatchCounts:
    """What one batch read, for the ingest's summary (added up over the batches).

    ``without_location`` and ``outside_every_area`` count rows of files the store does not hold
    yet; ``outside_every_area`` is None without layers. ``layers`` is the join's report per
    layer (:meth:`geo_service.join.JoinReport.as_dict`).
    """

    rows_read: int
    duplicates_in_files: int
    rejected: int
    located_by_fallback: int
    without_location: int
    outside_every_area: int | None
    layers: Mapping[str, Mapping[str, int]]


@dataclass(frozen=True)
class LoadedBatch:
    """One batch loaded and joined: what the store writes, and what the summary counts.

    ``batch`` is a :class:`StagedBatch` when a worker merged it into the staging version itself.
    """

    batch: IngestBatch | StagedBatch
    counts: BatchCounts


def load_batch(
    paths: Sequence[Path],
    *,
    kind: str,
    layers: Mapping[str, gpd.GeoDataFrame],
    options: Mapping[str, Any],
    stored: frozenset[tuple[str, str, tuple[str, ...]]],
    threads: int | None = None,
    progress: bool = False,
) -> LoadedBatch:
    """Load, validate, project and join one batch of files; count what it read.

    The same function runs in the single process and on a Dask worker; it reads only ``paths``
    and writes nothing, so batches may run anywhere and in any order.

    Parameters
    ----------
    paths
        The batch's files (police.uk: one month's, see :func:`batches`).
    kind
        A key of :data:`geo_service.sources.LOADERS`.
    layers
        The stored area layers, by name (EPSG:27700).
    options
        The loader's options (:func:`loader_options`).
    stored
        :attr:`~geo_service.store.FileRecord.content` of the files the store holds: their rows
        are not counted as new.
    threads
        Threads of the loader's own pool (None: one per core; 1 on a Dask worker).
    progress
        Show the loader's progress bar over the files.

    Raises
    ------
    InputError
        A file of the batch is refused as a whole (nothing of the ingest is stored).
    """
    loaded = LOADERS[kind](list(paths), progress=progress, threads=threads, **options)
    incidents, report = join.assign_areas(carried(loaded.incidents), layers)
    records = file_records(loaded, kind, excluded=options.get("exclude_forces", ()))
    held = carried(held_rows(loaded, layers))
    counts = _batch_counts(loaded, incidents, records, report.as_dict(), stored)
    return LoadedBatch(IngestBatch(incidents, tuple(records), loaded.rejects, held), counts)


def stage_batch(
    item: tuple[int, Sequence[Path]],
    *,
    staging: Path,
    current: Path | None,
    manifest: Manifest,
    **load: Any,
) -> LoadedBatch:
    """:func:`load_batch`, then merge the batch into the staging version here (on a worker).

    ``item`` is the batch's position in the ingest and its files (police.uk: one month's, the
    month their names start with). The batch's partitions are written into its own folder of
    ``staging`` (:func:`geo_service.store.write.stage_alone`), and the result carries no rows.
    Files without a month in their name, or a batch touching another month than its files'
    names, come back with their rows, merged in order by the writer.
    ``load`` are :func:`load_batch`'s keyword arguments.
    """
    index, paths = item
    done = load_batch(paths, **load)
    month = month_from_name(paths[0]) if paths else None
    if month is None or not isinstance(done.batch, IngestBatch):
        return done
    staged = stage_alone(
        current, staging, manifest, done.batch, month=month, folder=f"{BATCHES}/{index:06d}"
    )
    return done if staged is None else LoadedBatch(staged, done.counts)


def _batch_counts(
    loaded: LoadResult,
    incidents: pd.DataFrame,
    records: Sequence[FileRecord],
    layers: Mapping[str, Mapping[str, int]],
    stored: frozenset[tuple[str, str, tuple[str, ...]]],
) -> BatchCounts:
    """The summary's figures of one joined batch (rows of files the store holds left out)."""
    unchanged = [r.key for r in records if r.content in stored]
    fresh = incidents.loc[~incidents["source_file"].isin(unchanged).to_numpy()]
    return BatchCounts(
        rows_read=loaded.rows_read,
        duplicates_in_files=loaded.duplicates,
        rejected=len(loaded.rejects),
        located_by_fallback=loaded.located_by_fallback,
        without_location=int((~schema.has_location(fresh)).sum()),
        outside_every_area=_outside_every_area(fresh, list(layers)),
        layers={name: {k: int(v) for k, v in counts.items()} for name, counts in layers.items()},
    )


def _outside_every_area(frame: pd.DataFrame, layers: Sequence[str]) -> int | None:
    """Located rows of ``frame`` in no area of any of ``layers`` (None without layers)."""
    if not layers:
        return None
    located = schema.has_location(frame)
    inside = np.zeros(len(frame), dtype=bool)
    for name in layers:
        inside |= frame[schema.area_column(name)].notna().to_numpy()
    return int((located & ~inside).sum())


def _as_given(stored: FileRecord, path: Path) -> FileRecord:
    """The stored record of an unchanged file, named by the path given now."""
    return FileRecord(
        path=str(path), key=stored.key, source=stored.source, sha256=stored.sha256,
        rows=stored.rows, rejects=stored.rejects, duplicates=stored.duplicates,
        months=tuple(stored.months), excluded_forces=stored.excluded_forces,
    )  # fmt: skip


def _check_distinct_contents(source: str, digests: Mapping[Path, str]) -> None:
    records = [FileRecord(str(p), p.name, source, d, 0, 0, 0, ()) for p, d in digests.items()]
    _check_distinct_names(records)


def file_records(
    loaded: LoadResult, kind: str, *, excluded: Sequence[str] = ()
) -> list[FileRecord]:
    """The manifest's records of the files ``loaded`` read (``excluded``: forces left out)."""
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
                excluded_forces=tuple(sorted(set(excluded))),
            )
        )
    _check_distinct_names(records)
    return records


def _check_distinct_names(records: Sequence[FileRecord]) -> None:
    """Two different files with one name cannot be told apart later (rows carry the name)."""
    seen: dict[tuple[str, str], FileRecord] = {}
    for record in records:
        other = seen.setdefault(record.identity, record)
        if other.sha256 != record.sha256 and other.key != record.key:
            raise InputError(
                f"{other.path} and {record.path} are one file name, one of them gzipped: the "
                "store tells files apart by name (a .gz by the name inside), so give only one"
            )
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


#: Columns every stored row needs, carried whatever the source.
_ALWAYS = frozenset({"incident_id", "source", "category", "month", "x", "y", "time_known",
                     "source_file", "source_line"})  # fmt: skip


def carried(incidents: pd.DataFrame) -> pd.DataFrame:
    """``incidents`` without the canonical columns missing in every row (a source's absent ones).

    police.uk rows carry 13 of the 36 canonical columns; the store writes the others as nulls
    without materialising them (a shallow selection: nothing is copied).
    """
    empty = [
        name for name in schema.INCIDENT_COLUMNS
        if name not in _ALWAYS and name in incidents and not incidents[name].notna().any()
    ]  # fmt: skip
    return incidents.drop(columns=empty) if empty else incidents


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
