"""The ingest pipeline: load files, assign them to the stored areas, write them to the store.

These are the ingest use cases the CLI and the demo call::

    ingest_files(store, kind, paths)   per batch: load_batch (load -> assign_areas) -> Store.write
    add_layer(store, layer, paths)     read_layer per file -> Store.write_layer (re-assigns all)
    dissolve_layer(store, layer, from_layer=...)  boundaries.dissolve_layer -> Store.write_layer
    add_denominators(store, layer, csv)
    name_areas(store, layer, csv)

Every row read is accounted for: ``rows_read == stored + duplicates + rejected``, where duplicates
are rows repeated within the files read and rows already in the store (a file ingested before, or
an incident id the month's partition already holds).

The batches are loaded and joined by an engine (:mod:`geo_service.engine`): in this process, or
on a Dask cluster when a scheduler is set. Either way the same function
(:func:`geo_service.ingest.files.load_batch`) does the work, the results come back in the order
of the batches. In a single process the writer merges each batch into the staging version; on
a Dask cluster each police.uk month is merged into the staging version by the worker that
loaded it, and only its file records, tallies and rejects come back. This process then links
the untouched partitions, writes the rejects and the manifest, and publishes once, so the
stored rows, the manifest and the summary are the same whichever engine ran.
"""

from __future__ import annotations

import logging
from collections.abc import Callable, Iterable, Iterator, Mapping, Sequence
from dataclasses import asdict, dataclass, replace
from functools import partial
from pathlib import Path
from typing import Any

import geopandas as gpd
import pandas as pd
from tqdm import tqdm

from geo_service import boundaries, join, schema
from geo_service.engine import Engine, SingleProcess, open_engine
from geo_service.errors import InputError
from geo_service.ingest import files as _ingest_files
from geo_service.ingest import layers as _ingest_layers
from geo_service.sources._files import STDIN
from geo_service.sources._result import empty_rejects
from geo_service.store import Denominators, FileRecord, LayerInfo, Manifest, Store, WriteResult
from geo_service.store.layout import conform
from geo_service.store.write import BatchesInto, IngestBatch, StagedBatch

logger = logging.getLogger(__name__)


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
    located_by_fallback: int = 0  # mapped: rows located by a fall-back coordinate pair

    @property
    def changed(self) -> bool:
        """Whether the store changed."""
        return self.ingest_id is not None

    def lines(self) -> list[str]:
        """The summary as lines of text, one per file then the totals."""
        out = [f.line() for f in self.files]
        outside = (
            ": not known (no area layers stored)"
            if self.outside_every_area is None
            else f" {self.outside_every_area}"
        )
        out.append(
            f"read {self.rows_read}: stored {self.stored}, duplicates {self.duplicates} "
            f"({self.duplicates_in_files} within the files, {self.duplicates_in_store} already "
            f"stored), rejected {self.rejected}; without location {self.without_location}, "
            f"outside every area{outside}"
        )
        if self.located_by_fallback:
            out.append(f"located by a fall-back coordinate pair: {self.located_by_fallback}")
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
    exclude_forces: Sequence[str] = (),
    progress: bool = False,
    scheduler: str | None = None,
) -> IngestSummary:
    """Load ``paths`` with the ``kind`` loader, assign areas for every stored layer, store them.

    Incremental and bounded: every file is checksummed (streamed) before any is parsed, and
    files whose checksum the store holds already are not read again; the others are loaded,
    joined and merged into the new version one batch at a time (police.uk: one month of files;
    see :func:`geo_service.ingest.files.batches`), so memory is bounded by the largest month.
    The store publishes one new version at the end, or none when any batch fails.

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
    exclude_forces
        police.uk ``Reported by`` values whose rows are left out (counted as rejected).
    progress
        Show progress bars (stderr).
    scheduler
        Where batches are loaded and joined (:func:`geo_service.engine.open_engine`): None in
        this process; ``local`` or ``tcp://host:port`` on a Dask cluster, whose workers must
        read the input files and the store at the same paths. The result is the same either
        way: batches come back in order; police.uk months are merged into the staging version
        by the workers, and this process alone publishes.
    """
    files = [Path(p) for p in paths]
    options = _ingest_files.loader_options(kind, mapping, files, exclude_forces=exclude_forces)
    with store.locked():
        checked = _ingest_files.check_files(
            store.manifest(), kind, mapping, files, excluded=exclude_forces
        )
        layers = (
            {name: store.layer(name) for name in store.layer_names()} if checked.to_load else {}
        )
        tally = _Tally(kind, store.manifest().live_files(), checked.unchanged)
        with open_engine(_scheduler_for(checked, scheduler)) as engine:
            batches = partial(
                _batches, engine, kind, checked, layers, options, tally,
                names=store.layer_names(), progress=progress,
            )  # fmt: skip
            written = store.write_incident_batches(
                _staged_on_workers(batches, store.manifest())
                if _workers_stage(engine, kind) else batches(),
                kind=kind, transformation=_ingest_files.transformation(kind, mapping),
            )  # fmt: skip
    return tally.summary(written, checked.order, layers=store.layer_names())


def _batches(
    engine: Engine,
    kind: str,
    checked: _ingest_files.CheckedFiles,
    layers: Mapping[str, gpd.GeoDataFrame],
    options: Mapping[str, Any],
    tally: _Tally,
    *,
    names: Sequence[str],
    progress: bool,
    into: tuple[Path, Path | None, Manifest] | None = None,
) -> Iterator[IngestBatch | StagedBatch]:
    """The ingest's batches in order, each loaded and joined by ``engine`` when it comes.

    ``names`` are the stored layers' names (``layers`` is empty when no file is to be read).
    With ``into`` (the staging folder, the published folder and the published manifest) each
    batch is also merged into the staging version where it is loaded
    (:func:`geo_service.ingest.files.stage_batch`) and comes back without rows.
    """
    if checked.unchanged:
        empty = conform(schema.empty_incidents(), names)
        yield IngestBatch(empty, checked.unchanged, empty_rejects())
    several = len(checked.to_load) > 1
    work = partial(
        _ingest_files.load_batch, kind=kind, options=options, threads=engine.task_threads,
        stored=frozenset(r.content for r in tally.stored),
        progress=progress and not several and isinstance(engine, SingleProcess),
    )  # fmt: skip
    if into is None:
        loaded = engine.map(work, checked.to_load, layers=layers)
    else:
        staging, current, manifest = into
        stage = partial(
            _ingest_files.stage_batch, staging=staging, current=current, **work.keywords
        )
        loaded = engine.map(stage, enumerate(checked.to_load), layers=layers, manifest=manifest)
    for paths, done in tqdm(
        zip(checked.to_load, loaded, strict=True), desc="ingesting", unit="batch",
        total=len(checked.to_load), disable=not (progress and several),
    ):  # fmt: skip
        tally.add(done.batch.files, done.counts)
        batch = done.batch
        if isinstance(batch, StagedBatch):
            batch = replace(batch, reload=partial(_reloaded, work, paths, layers))
        # Only this batch's rows (none when a worker staged it) are held while the store merges.
        yield batch
        del done, batch


def _reloaded(
    work: Callable[..., _ingest_files.LoadedBatch],
    paths: Sequence[Path],
    layers: Mapping[str, gpd.GeoDataFrame],
) -> IngestBatch:
    """A batch loaded again in this process (its partitions overlap a batch merged here)."""
    batch = work(paths, layers=layers).batch
    if not isinstance(batch, IngestBatch):  # load_batch never stages
        raise TypeError(f"expected the rows of {paths[0]}")
    return batch


def _workers_stage(engine: Engine, kind: str) -> bool:
    """Whether each batch is merged into the staging version where it is loaded: on a Dask
    cluster, for police.uk, whose batches are months and so touch partitions no other batch
    does (other kinds are one batch, or may share a month: this process merges them)."""
    return not isinstance(engine, SingleProcess) and kind == "police-uk"


def _staged_on_workers(
    batches: Callable[..., Iterator[IngestBatch | StagedBatch]], manifest: Manifest
) -> BatchesInto:
    """``batches`` as the store's writer asks for them when workers stage them: given the
    staging version's folder and the published version's."""

    def into(staging: Path, current: Path | None) -> Iterator[IngestBatch | StagedBatch]:
        return batches(into=(staging, current, manifest))

    return into


def _scheduler_for(checked: _ingest_files.CheckedFiles, scheduler: str | None) -> str | None:
    """``scheduler``, or None (this process) when there is nothing to load or the input is
    standard input, which only this process can read."""
    if scheduler is None or not checked.to_load:
        return None
    if any(path == STDIN for group in checked.to_load for path in group):
        logger.info("standard input is read in this process, not on the Dask cluster")
        return None
    return scheduler


class _Tally:
    """What the batches of one ingest read, added up for its summary."""

    def __init__(
        self, kind: str, stored: Sequence[FileRecord], unchanged: Sequence[FileRecord]
    ) -> None:
        self.kind, self.stored = kind, stored
        self.records: list[FileRecord] = list(unchanged)
        # Files set aside by checksum: their rows were read before; count them as then.
        self.rows_read = sum(r.rows for r in unchanged)
        self.duplicates_in_files = sum(r.duplicates for r in unchanged)
        self.skipped_in_store = sum(r.rows - r.rejects - r.duplicates for r in unchanged)
        self.rejected = sum(r.rejects for r in unchanged)
        self.without_location = 0
        self.outside: int | None = None
        self.located_by_fallback = 0
        self.layers: dict[str, dict[str, int]] = {}

    def add(self, records: Sequence[FileRecord], counts: _ingest_files.BatchCounts) -> None:
        """Count one loaded and joined batch (its counts leave out files the store holds)."""
        self.records += records
        self.rows_read += counts.rows_read
        self.duplicates_in_files += counts.duplicates_in_files
        self.rejected += counts.rejected
        self.located_by_fallback += counts.located_by_fallback
        self.without_location += counts.without_location
        if counts.outside_every_area is not None:
            self.outside = (self.outside or 0) + counts.outside_every_area
        for name, by_key in counts.layers.items():
            into = self.layers.setdefault(name, {})
            for key, value in by_key.items():
                into[key] = into.get(key, 0) + int(value)

    def summary(
        self, written: WriteResult, order: Sequence[Path], *, layers: Sequence[str]
    ) -> IngestSummary:
        """The ingest's summary, files in the order they were given (as the loader sorts them)."""
        position = {str(p): k for k, p in enumerate(order)}
        records = sorted(self.records, key=lambda r: position.get(r.path, len(position)))
        in_store = self.skipped_in_store + written.duplicates_in_store
        outside = self.outside if self.outside is not None or not layers else 0
        return IngestSummary(
            kind=self.kind,
            ingest_id=written.ingest_id,
            rows_read=self.rows_read,
            stored=written.stored,
            duplicates=self.duplicates_in_files + in_store,
            duplicates_in_files=self.duplicates_in_files,
            duplicates_in_store=in_store,
            rejected=self.rejected,
            without_location=self.without_location,
            outside_every_area=outside,
            files=tuple(_file_summary(r, written) for r in records),
            rejects_path=written.rejects_path,
            layers=self.layers,
            located_by_fallback=self.located_by_fallback,
        )


def add_layer(
    store: Store,
    layer: str,
    path: Path | Sequence[Path],
    *,
    code_col: str | None = None,
    name_col: str | None = None,
    crs: str | None = None,
    source_layer: str | None = None,
    code_from_filename: bool = False,
    parent_from_filename: bool = False,
    names_csv: Path | None = None,
    synthetic: bool = False,
    progress: bool = False,
) -> boundaries.LayerReport:
    """Read area layer file(s), store them as ``layer`` and assign every stored incident to it.

    Several files are concatenated into one layer (codes must be unique across them). With
    ``parent_from_filename`` each area's ``parent`` is its file's name up to the first ``_``
    (``E07000096_wards.geojson`` -> ``E07000096``): per-district ward files then dissolve into
    districts (:func:`dissolve_layer`). Replacing an existing layer re-assigns every incident to
    the new polygons. Denominators of the old layer are not carried over; add them again with
    :func:`add_denominators`. ``synthetic`` records the layer as invented areas (the demo's),
    which makes :meth:`Store.is_demo` true. ``progress`` shows progress bars over the files and
    the months. ``source_layer``, ``code_from_filename`` and ``names_csv``: see
    :func:`geo_service.ingest.layers.read_layers`.
    """
    paths = [Path(path)] if isinstance(path, (str, Path)) else [Path(p) for p in path]
    frame, report = _ingest_layers.read_layers(
        paths, code_col=code_col, name_col=name_col, crs=crs, source_layer=source_layer,
        code_from_filename=code_from_filename, parent_from_name=parent_from_filename,
        names_csv=names_csv, progress=progress,
    )  # fmt: skip
    info = LayerInfo(
        path="; ".join(str(p) for p in paths),
        report=_plain(asdict(report)),
        parent_from_filename=parent_from_filename,
        synthetic=synthetic,
        names=str(names_csv) if names_csv is not None else None,
    )
    store.write_layer(layer, frame, info=info, assign=_assign, progress=progress)
    return report


def dissolve_layer(
    store: Store,
    layer: str,
    *,
    from_layer: str,
    names_csv: Path | None = None,
    progress: bool = False,
) -> gpd.GeoDataFrame:
    """Store ``layer`` made of the parents of stored ``from_layer`` and assign every incident.

    Areas of ``from_layer`` are merged by their ``parent`` (wards -> districts, beats ->
    sectors) with :func:`geo_service.boundaries.dissolve_layer`; population and households are
    summed (NaN when any member's is unknown). ``names_csv`` (columns ``code,name``) names the
    new areas; unnamed ones are named by their code. The new layer is synthetic when
    ``from_layer`` is. Returns the stored layer.
    """
    if layer == from_layer:
        raise InputError(f"dissolve: the new layer must not replace {from_layer!r} itself")
    with store.locked():
        source = store.layer(from_layer)
        _ingest_layers.check_parents(source, from_layer)
        codes = source["parent"].dropna().astype(str).unique().tolist()
        names = _ingest_layers.read_names(names_csv, codes) if names_csv is not None else None
        dissolved = boundaries.dissolve_layer(source, names=names)
        info = LayerInfo(
            dissolved_from=from_layer,
            names=str(names_csv) if names_csv is not None else None,
            area_m2=float(dissolved.geometry.area.sum()),
            synthetic=store.manifest().layers[from_layer].synthetic,
        )
        store.write_layer(layer, dissolved, info=info, assign=_assign, progress=progress)
    return dissolved


def name_areas(store: Store, layer: str, csv_path: Path) -> gpd.GeoDataFrame:
    """Rename areas of stored ``layer`` from a ``code,name`` CSV; returns the layer.

    Areas the CSV does not list keep their names; polygons, and so the incidents' areas, do not
    change.
    """
    with store.locked():
        stored = store.layer(layer)
        names = _ingest_layers.read_names(csv_path, stored["code"].astype(str))
        named = boundaries.named_areas(stored, names)
        info = replace(store.manifest().layers[layer], names=str(csv_path))
        store.write_layer(layer, named, info=info)
    return named


@dataclass(frozen=True)
class RemovedFile:
    """A stored input file removed from the store, as it was stored."""

    name: str
    source: str
    months: tuple[str, ...]
    stored: int  # its rows that were stored (the others were duplicates of other files')

    def line(self) -> str:
        """One human-readable line."""
        span = f"{self.months[0]}..{self.months[-1]}" if self.months else "no months"
        return f"{self.name}: removed ({self.source}, {span}; {self.stored} rows were stored)"


def remove_files(store: Store, names: Sequence[str]) -> tuple[RemovedFile, ...]:
    """Remove stored input files, as when a file is replaced but with nothing in its place.

    Their rows go from every month they covered; where another stored file holds the same
    incident (held aside as a duplicate), that file's row is stored instead, so only what the
    removed files alone provided is gone. The store publishes one new version.

    Parameters
    ----------
    store
        The store written.
    names
        Stored files' names as ``status`` lists them (a gzipped file's also without ``.gz``),
        or the paths they were ingested from.

    Returns
    -------
    tuple of RemovedFile
        What was removed, in ingest order.

    Raises
    ------
    NotFoundError
        A name is no stored file's (the message lists the stored files).
    InputError
        No name, or a name of files of two sources.
    """
    gone = store.remove_files(names)
    return tuple(RemovedFile(f.key, f.source, tuple(f.months), f.stored) for f in gone)


def add_denominators(store: Store, layer: str, csv_path: Path) -> gpd.GeoDataFrame:
    """Fill population, households and parent of stored ``layer`` from a CSV; returns the layer."""
    with store.locked():
        filled = boundaries.read_denominators(store.layer(layer), csv_path)
        denominators = Denominators(
            path=str(csv_path),
            with_population=int(filled["population"].notna().sum()),
            with_households=int(filled["households"].notna().sum()),
            with_parent=int(filled["parent"].notna().sum()),
        )
        info = replace(store.manifest().layers[layer], denominators=denominators)
        store.write_layer(layer, filled, info=info)
    return filled


# --------------------------------------------------------------------------------- steps
def _assign(incidents: pd.DataFrame, layers: Mapping[str, gpd.GeoDataFrame]) -> pd.DataFrame:
    return join.assign_areas(incidents, layers)[0]


def _file_summary(record: FileRecord, written: WriteResult) -> FileSummary:
    """What happened to one file; a superseded file is matched by its identity, as stored."""
    stored = int(written.stored_by_file.get(record.path, 0))
    if record.path in written.unchanged_files:
        status = "unchanged"
    elif record.identity in written.superseded_keys:
        status = "replaced earlier version"
    else:
        status = "new"
    return FileSummary(
        path=record.path,
        rows=record.rows,
        stored=stored,
        duplicates=record.rows - record.rejects - stored,
        rejected=record.rejects,
        months=record.months,
        status=status,
    )


def _plain(value: Any) -> Any:
    """Tuples to lists, recursively, so a report survives JSON unchanged."""
    if isinstance(value, dict):
        return {k: _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    return value
