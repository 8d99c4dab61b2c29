"""The embedded store: incidents and area layers in a data directory, the only writer of it.

Layout of a store directory::

    CURRENT                          name of the published version, replaced atomically
    .lock                            fcntl lock held by the one writer
    versions/v000007/manifest.json   ingested files, ingests, layers, partitions
    versions/v000007/incidents/source=police_uk/month=2021-01/part.parquet
    versions/v000007/layers/ward.parquet       (GeoParquet, EPSG:27700)
    rejects/<ingest-id>.csv          rows each ingest could not use

Incidents are plain Parquet partitioned by source and month (Hive style, values URL-quoted), with
x/y as float columns in EPSG:27700 and one ``area_<layer>`` column per stored layer. A write builds
a complete new version beside the current one (unchanged partition files are hard links, so a
version costs only what changed), then publishes it by renaming the version directory into place
and atomically replacing ``CURRENT``. A process killed at any point leaves the previous version
published and readable; staging left behind is removed by the next writer.

Files are identified by source and file name: re-ingesting a file whose checksum is already stored
changes nothing; a file with the same name but new content supersedes the old one, whose rows are
removed from every month it covered. Each (source, month) partition holds the rows of the live files
covering it; an incident id already stored in that partition by another file is a duplicate.
"""

from __future__ import annotations

import contextlib
import fcntl
import json
import logging
import os
import re
import shutil
from collections.abc import Callable, Iterator, Mapping, Sequence
from concurrent.futures import ThreadPoolExecutor
from dataclasses import asdict, dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from geo_service import schema
from geo_service.errors import InputError, NotFoundError, StoreError

logger = logging.getLogger(__name__)

#: ``assign(incidents, layers)`` returns ``incidents`` with an ``area_<layer>`` column per layer.
AssignAreas = Callable[[pd.DataFrame, Mapping[str, gpd.GeoDataFrame]], pd.DataFrame]

_KEEP_VERSIONS = 3
_PARTITION_KEYS = ("source", "month")
_LAYER_COLUMNS = ("code", "name", "parent", "population", "households", "geometry")
_ARROW_TYPES: Mapping[str, pa.DataType] = {
    "str": pa.large_string(),
    "datetime64[us]": pa.timestamp("us"),
    "bool": pa.bool_(),
    "float64": pa.float64(),
    "Int64": pa.int64(),
    "int64": pa.int64(),
}


@dataclass(frozen=True)
class FileRecord:
    """One input file of an ingest, as the manifest records it."""

    path: str
    key: str  # the ``source_file`` value its rows carry (normally the file name)
    source: str
    sha256: str
    rows: int
    rejects: int
    duplicates: int
    months: tuple[str, ...]


@dataclass(frozen=True)
class WriteResult:
    """What a write of incidents changed."""

    ingest_id: str | None
    stored: int
    duplicates_in_store: int
    stored_by_file: Mapping[str, int]
    unchanged_files: tuple[str, ...]
    superseded_files: tuple[str, ...]
    rejects_path: Path | None


class Store:
    """A store directory; reading is always safe, writing takes an exclusive lock."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        self._lock_depth = 0
        self._lock_fd: int | None = None

    # ----------------------------------------------------------------------------- reading
    def version(self) -> str | None:
        """Name of the published version, or None for an empty store."""
        try:
            name = (self.root / "CURRENT").read_text("utf-8").strip()
        except FileNotFoundError:
            return None
        return name or None

    def manifest(self) -> dict[str, Any]:
        """The published manifest (an empty one when nothing is stored)."""
        version = self.version()
        if version is None:
            return _empty_manifest()
        path = self.root / "versions" / version / "manifest.json"
        try:
            return dict(json.loads(path.read_text("utf-8")))
        except (OSError, ValueError) as exc:
            raise StoreError(f"{path}: store manifest unreadable ({exc})") from exc

    def months(self) -> list[str]:
        """Every month with stored incidents, sorted."""
        return sorted({p["month"] for p in self.manifest()["partitions"].values()})

    def layer_names(self) -> list[str]:
        """Names of the stored area layers, sorted."""
        return sorted(self.manifest()["layers"])

    def layer(self, name: str) -> gpd.GeoDataFrame:
        """The stored area layer ``name`` (standard layer columns, EPSG:27700)."""
        names = self.layer_names()
        if name not in names:
            available = ", ".join(names) or "none (add one with `geo-service boundaries add`)"
            raise NotFoundError(
                f"no area layer {name!r} in store {self.root}; available: {available}"
            )
        return gpd.read_parquet(self._version_dir() / "layers" / f"{name}.parquet")

    def incidents(
        self,
        *,
        sources: Sequence[str] | None = None,
        categories: Sequence[str] | None = None,
        month_from: str | None = None,
        month_to: str | None = None,
        columns: Sequence[str] | None = None,
    ) -> pd.DataFrame:
        """Stored incidents (canonical columns then area columns), filtered.

        Source and month filters prune whole partitions; ``month_from``/``month_to`` are
        inclusive "YYYY-MM" bounds. ``columns`` selects a subset. An empty store gives an empty
        canonical frame.
        """
        manifest = self.manifest()
        layers = sorted(manifest["layers"])
        allowed = [*schema.INCIDENT_COLUMNS, *(schema.area_column(n) for n in layers)]
        wanted = _check_columns(columns, allowed)
        for bound in (month_from, month_to):
            if bound is not None and not re.fullmatch(r"\d{4}-(0[1-9]|1[0-2])", bound):
                raise InputError(f"month {bound!r} is not a month; expected YYYY-MM")
        if not manifest["partitions"]:
            return _conform(schema.empty_incidents(), layers)[wanted]
        expression = _filter(sources, categories, month_from, month_to)
        try:
            table = self._dataset(layers).to_table(columns=wanted, filter=expression)
        except (OSError, pa.ArrowException) as exc:
            raise StoreError(f"store {self.root} unreadable ({exc})") from exc
        return _conform(table.to_pandas(), layers)[wanted]

    def status(self) -> dict[str, Any]:
        """What the store holds: counts per source/category/month, layers, files, rejects."""
        return _status(self)

    # ----------------------------------------------------------------------------- writing
    @contextlib.contextmanager
    def locked(self) -> Iterator[None]:
        """Hold the store's writer lock (re-entrant for this object); StoreError when taken."""
        if self._lock_depth == 0:
            try:
                self.root.mkdir(parents=True, exist_ok=True)
                fd = os.open(self.root / ".lock", os.O_RDWR | os.O_CREAT, 0o644)
            except OSError as exc:
                raise StoreError(f"cannot write store {self.root} ({exc.strerror})") from exc
            try:
                fcntl.flock(fd, fcntl.LOCK_EX | fcntl.LOCK_NB)
            except BlockingIOError:
                holder = os.pread(fd, 200, 0).decode("utf-8", "replace").strip() or "unknown"
                os.close(fd)
                raise StoreError(
                    f"store {self.root} is being written by another process ({holder}); "
                    "try again when it has finished"
                ) from None
            os.ftruncate(fd, 0)
            os.pwrite(fd, f"pid {os.getpid()}".encode(), 0)
            self._lock_fd = fd
        self._lock_depth += 1
        try:
            yield
        finally:
            self._lock_depth -= 1
            if self._lock_depth == 0 and self._lock_fd is not None:
                fcntl.flock(self._lock_fd, fcntl.LOCK_UN)
                os.close(self._lock_fd)
                self._lock_fd = None

    def write_incidents(
        self,
        incidents: pd.DataFrame,
        files: Sequence[FileRecord],
        *,
        rejects: pd.DataFrame,
        kind: str,
        transformation: str | None = None,
    ) -> WriteResult:
        """Store the incidents of one ingest (with an area column per stored layer).

        Rows of files already stored (same checksum) are counted as duplicates and not written;
        a file with a known name but new content supersedes the stored one.
        """
        with self.locked():
            manifest = self.manifest()
            _check_incidents(incidents, sorted(manifest["layers"]))
            plan = _plan_ingest(manifest, incidents, files)
            if not plan.new_files:
                return plan.unchanged_result()
            staging = self._staging()
            ingest_id = _ingest_id(files)
            result = _write_ingest(
                self, staging, manifest, plan, ingest_id=ingest_id, kind=kind,
                transformation=transformation, rejects=rejects,
            )  # fmt: skip
            self._publish(staging, manifest)
            return result

    def write_layer(
        self,
        name: str,
        layer: gpd.GeoDataFrame,
        *,
        info: Mapping[str, Any],
        assign: AssignAreas | None = None,
    ) -> None:
        """Store area layer ``name`` with ``info`` (its report, origin) merged into the manifest.

        With ``assign``, every stored incident is re-assigned to all layers (needed when the
        layer is new or its polygons changed); without it the partitions are kept as they are.
        """
        _check_layer(name, layer)
        with self.locked():
            manifest = self.manifest()
            staging = self._staging()
            _write_layer(self, staging, manifest, name, layer, info=info, assign=assign)
            self._publish(staging, manifest)

    # ----------------------------------------------------------------------------- internals
    def _version_dir(self) -> Path:
        version = self.version()
        if version is None:
            raise StoreError(f"store {self.root} is empty")
        return self.root / "versions" / version

    def _dataset(self, layers: Sequence[str]) -> ds.Dataset:
        partitioning = ds.partitioning(
            pa.schema([(k, pa.large_string()) for k in _PARTITION_KEYS]), flavor="hive"
        )
        full = _file_schema(layers)
        for key in _PARTITION_KEYS:
            full = full.append(pa.field(key, pa.large_string()))
        return ds.dataset(
            self._version_dir() / "incidents", format="parquet", partitioning=partitioning,
            schema=full,
        )  # fmt: skip

    def _staging(self) -> Path:
        """A fresh staging directory; leftovers of killed writers are removed first."""
        versions = self.root / "versions"
        versions.mkdir(parents=True, exist_ok=True)
        current = self.version()
        for entry in versions.iterdir():
            if entry.name.startswith(".staging") or (
                entry.name > (current or "") and entry.name.startswith("v")
            ):
                logger.info("removing unpublished %s left by an interrupted write", entry.name)
                shutil.rmtree(entry, ignore_errors=True)
        staging = versions / f".staging-{os.getpid()}"
        staging.mkdir()
        return staging

    def _publish(self, staging: Path, manifest: Mapping[str, Any]) -> None:
        """Make ``staging`` the published version: rename into place, then replace CURRENT."""
        versions = self.root / "versions"
        name = f"v{int(manifest.get('version', 0)) + 1:06d}"
        target = versions / name
        staging.rename(target)
        pointer = self.root / "CURRENT.tmp"
        with open(pointer, "w", encoding="utf-8") as handle:
            handle.write(name + "\n")
            handle.flush()
            os.fsync(handle.fileno())
        os.replace(pointer, self.root / "CURRENT")
        _fsync_dir(self.root)
        old = sorted(p for p in versions.iterdir() if p.name.startswith("v") and p.name < name)
        for stale in old[: max(0, len(old) - (_KEEP_VERSIONS - 1))]:
            shutil.rmtree(stale, ignore_errors=True)
        logger.debug("published %s", target)


# --------------------------------------------------------------------------------- helpers
def _empty_manifest() -> dict[str, Any]:
    return {"version": 0, "files": [], "ingests": [], "layers": {}, "partitions": {}}


def partition_dir(source: str, month: str) -> str:
    """Relative directory of the (source, month) partition."""
    return f"incidents/source={quote(source, safe='')}/month={quote(month, safe='')}"


def _check_columns(columns: Sequence[str] | None, allowed: Sequence[str]) -> list[str]:
    if columns is None:
        return list(allowed)
    unknown = [c for c in columns if c not in allowed]
    if unknown:
        raise InputError(f"unknown column(s) {unknown}; allowed: {', '.join(allowed)}")
    return list(columns)


def _check_incidents(incidents: pd.DataFrame, layers: Sequence[str]) -> None:
    """What the loaders guarantee; a failure here is a bug upstream, not bad user input."""
    missing = [schema.area_column(n) for n in layers if schema.area_column(n) not in incidents]
    if missing:
        raise StoreError(f"incidents lack area column(s) {missing} for the stored layers")
    for key in _PARTITION_KEYS:
        if key not in incidents or incidents[key].isna().any():
            raise StoreError(f"incidents without a {key} cannot be stored")


def _filter(
    sources: Sequence[str] | None,
    categories: Sequence[str] | None,
    month_from: str | None,
    month_to: str | None,
) -> ds.Expression | None:
    parts: list[ds.Expression] = []
    if sources is not None:
        parts.append(ds.field("source").isin(list(sources)))
    if month_from is not None:
        parts.append(ds.field("month") >= month_from)
    if month_to is not None:
        parts.append(ds.field("month") <= month_to)
    if categories is not None:
        parts.append(ds.field("category").isin(list(categories)))
    if not parts:
        return None
    expression = parts[0]
    for part in parts[1:]:
        expression = expression & part
    return expression


def _conform(frame: pd.DataFrame, layers: Sequence[str]) -> pd.DataFrame:
    """Canonical dtypes and column order, with an area column for every layer."""
    out = schema.conform(frame)
    for name in layers:
        column = schema.area_column(name)
        if column not in out:
            out[column] = pd.Series(pd.array([None] * len(out), dtype="str"), index=out.index)
    return out


def _ingest_id(files: Sequence[FileRecord]) -> str:
    stamp = datetime.now(UTC).strftime("%Y%m%dT%H%M%S%fZ")
    digest = files[0].sha256[:8] if files else "empty"
    return f"{stamp}-{digest}"


def _fsync_dir(path: Path) -> None:
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def read_partition(path: Path) -> pa.Table:
    """One partition file as an Arrow table."""
    return pq.read_table(path)


def write_table(table: pa.Table, path: Path) -> None:
    """Write a partition file (parent directories created).

    Dictionary encoding is kept for the repetitive text columns and skipped for the unique or
    numeric ones, where it only costs time (about twice as fast, and smaller files).
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    plain = {"incident_id", "x", "y", "source_line", "occurred_at", "casualties", "speed_limit"}
    dictionary = [name for name in table.column_names if name not in plain]
    pq.write_table(table, path, compression="snappy", use_dictionary=dictionary)


def ids_in(table: pa.Table, ids: pa.Array) -> pa.Array:
    """Mask of rows of ``table`` whose non-missing incident_id is in ``ids``."""
    return pc.fill_null(pc.is_in(table["incident_id"], value_set=ids), False)


def now_iso() -> str:
    """The current UTC time, ISO 8601, to the second."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def record_dict(record: FileRecord) -> dict[str, Any]:
    """A FileRecord as a JSON-ready dict."""
    out = asdict(record)
    out["months"] = list(record.months)
    return out


def _file_schema(layers: Sequence[str]) -> pa.Schema:
    """Arrow schema of a partition file: canonical columns minus the partition keys, then areas."""
    fields = [
        pa.field(name, _ARROW_TYPES[dtype])
        for name, dtype in schema.INCIDENT_COLUMNS.items()
        if name not in _PARTITION_KEYS
    ]
    fields += [pa.field(schema.area_column(n), pa.large_string()) for n in layers]
    return pa.schema(fields)


def _to_arrow(frame: pd.DataFrame, layers: Sequence[str]) -> pa.Table:
    target = _file_schema(layers)
    expected = dict(schema.INCIDENT_COLUMNS) | {schema.area_column(n): "str" for n in layers}
    if any(name not in frame or str(frame[name].dtype) != d for name, d in expected.items()):
        frame = _conform(frame, layers)
    return pa.Table.from_pandas(frame[target.names], schema=target, preserve_index=False)


def _partition_slices(
    rows: pd.DataFrame, table: pa.Table
) -> tuple[pa.Table, dict[tuple[str, str], tuple[int, int]]]:
    """``table`` ordered by (source, month) and the row range of each partition in it."""
    if not len(rows):
        return table, {}
    source_codes, sources = pd.factorize(rows["source"], sort=True)
    month_codes, months = pd.factorize(rows["month"], sort=True)
    key = source_codes.astype(np.int64) * len(months) + month_codes
    order = np.argsort(key, kind="stable")
    if (order != np.arange(len(order))).any():  # loaders give files in order: usually sorted
        table, key = table.take(pa.array(order)), key[order]
    starts = np.flatnonzero(np.r_[True, key[1:] != key[:-1]])
    ends = np.r_[starts[1:], len(key)]
    return table, {
        (str(sources[key[a] // len(months)]), str(months[key[a] % len(months)])): (int(a), int(b))
        for a, b in zip(starts, ends, strict=True)
    }


def _check_layer(name: str, layer: gpd.GeoDataFrame) -> None:
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", name) or name == "hint":
        raise InputError(
            f"layer name {name!r} is not usable; expected lower-case letters, digits and '_', "
            "starting with a letter (e.g. ward, beat, lsoa), and not 'hint'"
        )
    missing = [c for c in _LAYER_COLUMNS if c not in layer.columns]
    if missing:
        raise InputError(f"layer {name!r} lacks column(s) {missing}; expected {_LAYER_COLUMNS}")
    if layer.crs is None or layer.crs.to_epsg() != 27700:
        raise InputError(f"layer {name!r} is in {layer.crs}; expected EPSG:27700")


def _link_layers(store: Store, staging: Path, names: Sequence[str]) -> None:
    for name in names:
        relative = Path("layers") / f"{name}.parquet"
        _link(store._version_dir() / relative, staging / relative)


def _value_counts(column: pd.Series) -> dict[str, int]:
    return {str(k): int(v) for k, v in column.value_counts().sort_index().items()}


def _link(source: Path, target: Path) -> None:
    """Hard-link an immutable file into a new version (copy where links are unsupported)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


# ------------------------------------------------------------------------ ingest writes
@dataclass(frozen=True)
class _IngestPlan:
    rows: pd.DataFrame  # rows of new or changed files
    new_files: tuple[FileRecord, ...]
    unchanged: tuple[FileRecord, ...]
    unchanged_rows: int
    superseded: tuple[Mapping[str, Any], ...]

    def unchanged_result(self) -> WriteResult:
        return WriteResult(
            ingest_id=None,
            stored=0,
            duplicates_in_store=self.unchanged_rows,
            stored_by_file={f.path: 0 for f in self.unchanged},
            unchanged_files=tuple(f.path for f in self.unchanged),
            superseded_files=(),
            rejects_path=None,
        )


def _plan_ingest(
    manifest: Mapping[str, Any], incidents: pd.DataFrame, files: Sequence[FileRecord]
) -> _IngestPlan:
    live = [r for r in manifest["files"] if not r.get("superseded_by")]
    stored_sha = {(r["source"], r["sha256"]) for r in live}
    unchanged = tuple(f for f in files if (f.source, f.sha256) in stored_sha)
    new_files = tuple(f for f in files if (f.source, f.sha256) not in stored_sha)
    superseded = tuple(
        r for r in live if any(r["source"] == f.source and r["key"] == f.key for f in new_files)
    )
    from_unchanged = incidents["source_file"].isin([f.key for f in unchanged]).to_numpy()
    return _IngestPlan(
        rows=incidents.loc[~from_unchanged],
        new_files=new_files,
        unchanged=unchanged,
        unchanged_rows=int(from_unchanged.sum()),
        superseded=superseded,
    )


def _write_ingest(
    store: Store,
    staging: Path,
    manifest: dict[str, Any],
    plan: _IngestPlan,
    *,
    ingest_id: str,
    kind: str,
    transformation: str | None,
    rejects: pd.DataFrame,
) -> WriteResult:
    layers = sorted(manifest["layers"])
    table, groups = _partition_slices(plan.rows, _to_arrow(plan.rows, layers))
    affected = set(groups) | {(r["source"], m) for r in plan.superseded for m in r["months"]}
    old_parts = {(p["source"], p["month"]): p for p in manifest["partitions"].values()}
    partitions: dict[str, Any] = {}
    duplicates, stored_keys, jobs = 0, [], []
    for key in sorted(set(old_parts) | affected):
        path = partition_dir(*key) + "/part.parquet"
        if key not in affected:
            _link(store._version_dir() / path, staging / path)
            partitions["/".join(key)] = old_parts[key]
            continue
        existing = _existing_rows(store, old_parts.get(key), plan.superseded, key[0], layers)
        start, end = groups.get(key, (0, 0))
        new, repeated = _without_stored_ids(table.slice(start, end - start), existing)
        duplicates += repeated
        stored_keys.append(new["source_file"])
        combined = pa.concat_tables([existing, new])
        if combined.num_rows:
            jobs.append((combined, staging / path))
            partitions["/".join(key)] = {
                "source": key[0], "month": key[1], "rows": combined.num_rows, "path": path,
            }  # fmt: skip
    _write_tables(jobs)
    _link_layers(store, staging, layers)
    stored_by_key = _count_keys(stored_keys)
    rejects_path = _write_rejects(store.root, ingest_id, rejects)
    _write_manifest(
        staging, manifest, plan, partitions, stored_by_key, ingest_id=ingest_id, kind=kind,
        transformation=transformation, rejects_path=rejects_path,
    )  # fmt: skip
    return WriteResult(
        ingest_id=ingest_id,
        stored=sum(stored_by_key.values()),
        duplicates_in_store=plan.unchanged_rows + duplicates,
        stored_by_file={f.path: stored_by_key.get(f.key, 0) for f in plan.new_files}
        | {f.path: 0 for f in plan.unchanged},
        unchanged_files=tuple(f.path for f in plan.unchanged),
        superseded_files=tuple(r["path"] for r in plan.superseded),
        rejects_path=rejects_path,
    )


def _without_stored_ids(new: pa.Table, existing: pa.Table) -> tuple[pa.Table, int]:
    """``new`` minus rows whose incident id ``existing`` holds, and how many were removed."""
    if not existing.num_rows or not new.num_rows:
        return new, 0
    repeated = ids_in(new, pc.drop_null(existing["incident_id"]))
    return new.filter(pc.invert(repeated)), int(pc.sum(repeated).as_py() or 0)


def _write_tables(jobs: Sequence[tuple[pa.Table, Path]]) -> None:
    """Write partition files, several at once (Parquet encoding releases the GIL)."""
    with ThreadPoolExecutor(max_workers=max(1, min(4, os.cpu_count() or 1))) as pool:
        list(pool.map(lambda job: write_table(*job), jobs))


def _existing_rows(
    store: Store,
    part: Mapping[str, Any] | None,
    superseded: Sequence[Mapping[str, Any]],
    source: str,
    layers: Sequence[str],
) -> pa.Table:
    """A partition's stored rows, minus those of superseded files."""
    target = _file_schema(layers)
    if part is None:
        return target.empty_table()
    table = read_partition(store._version_dir() / part["path"]).select(target.names).cast(target)
    gone = [r["key"] for r in superseded if r["source"] == source]
    if gone:
        keep = pc.invert(pc.fill_null(pc.is_in(table["source_file"], pa.array(gone)), False))
        table = table.filter(keep)
    return table


def _count_keys(columns: Sequence[pa.ChunkedArray]) -> dict[str, int]:
    counts: dict[str, int] = {}
    for column in columns:
        for item in pc.value_counts(column).to_pylist():
            key = item["values"] if item["values"] is not None else ""
            counts[key] = counts.get(key, 0) + int(item["counts"])
    return counts


def _write_rejects(root: Path, ingest_id: str, rejects: pd.DataFrame) -> Path | None:
    if rejects.empty:
        return None
    folder = root / "rejects"
    folder.mkdir(parents=True, exist_ok=True)
    path = folder / f"{ingest_id}.csv"
    temporary = folder / f".{ingest_id}.csv.tmp"
    rejects.to_csv(temporary, index=False, lineterminator="\n")
    os.replace(temporary, path)
    return path


def _write_manifest(
    staging: Path,
    manifest: Mapping[str, Any],
    plan: _IngestPlan,
    partitions: Mapping[str, Any],
    stored_by_key: Mapping[str, int],
    *,
    ingest_id: str,
    kind: str,
    transformation: str | None,
    rejects_path: Path | None,
) -> None:
    when = now_iso()
    gone = {(r["source"], r["key"], r["sha256"]) for r in plan.superseded}
    files = [
        {**r, "superseded_by": ingest_id} if (r["source"], r["key"], r["sha256"]) in gone else r
        for r in manifest["files"]
    ]
    for record in plan.new_files:
        files.append(
            record_dict(record)
            | {"stored": stored_by_key.get(record.key, 0), "ingest_id": ingest_id,
               "ingested_at": when, "transformation": transformation, "superseded_by": None}
        )  # fmt: skip
    ingest = {
        "id": ingest_id, "time": when, "kind": kind,
        "files": [f.path for f in (*plan.new_files, *plan.unchanged)],
        "unchanged_files": [f.path for f in plan.unchanged],
        "stored": sum(stored_by_key.values()),
        "rejected": sum(f.rejects for f in (*plan.new_files, *plan.unchanged)),
        "rejects_file": str(rejects_path) if rejects_path else None,
    }  # fmt: skip
    updated = dict(manifest) | {
        "version": int(manifest["version"]) + 1,
        "files": files,
        "ingests": [*manifest["ingests"], ingest],
        "partitions": dict(partitions),
        "published_at": when,
    }
    (staging / "manifest.json").write_text(json.dumps(updated, indent=1), "utf-8")


# ------------------------------------------------------------------------ layer writes
def _write_layer(
    store: Store,
    staging: Path,
    manifest: dict[str, Any],
    name: str,
    layer: gpd.GeoDataFrame,
    *,
    info: Mapping[str, Any],
    assign: AssignAreas | None,
) -> None:
    names = sorted(set(manifest["layers"]) | {name})
    if assign is None and name not in manifest["layers"] and manifest["partitions"]:
        raise StoreError(f"new layer {name!r} needs its incidents assigned")
    (staging / "layers").mkdir(parents=True, exist_ok=True)
    layer.to_parquet(staging / "layers" / f"{name}.parquet")
    for other in names:
        if other != name:
            _link(
                store._version_dir() / "layers" / f"{other}.parquet",
                staging / "layers" / f"{other}.parquet",
            )
    all_layers = {n: layer if n == name else store.layer(n) for n in names} if assign else {}
    for part in manifest["partitions"].values():
        source = store._version_dir() / part["path"]
        if assign is None:
            _link(source, staging / part["path"])
            continue
        frame = _conform(read_partition(source).to_pandas(), [])
        frame = frame.assign(source=part["source"], month=part["month"])
        write_table(_to_arrow(assign(frame, all_layers), names), staging / part["path"])
    entry = dict(manifest["layers"].get(name, {})) | dict(info)
    entry |= {"features": len(layer), "updated_at": now_iso()}
    updated = dict(manifest) | {
        "version": int(manifest["version"]) + 1,
        "layers": dict(manifest["layers"]) | {name: entry},
        "published_at": now_iso(),
    }
    (staging / "manifest.json").write_text(json.dumps(updated, indent=1, default=str), "utf-8")


# ------------------------------------------------------------------------------ status
def _status(store: Store) -> dict[str, Any]:
    manifest = store.manifest()
    layers = sorted(manifest["layers"])
    columns = ["source", "category", "month", "x", *(schema.area_column(n) for n in layers)]
    frame = store.incidents(columns=columns)
    counts = (
        frame.groupby(["source", "category", "month"], sort=True).size().rename("incidents")
    ).reset_index()
    located = frame["x"].notna()
    sources = {}
    for source, rows in frame.groupby("source", sort=True):
        sources[str(source)] = {
            "incidents": len(rows),
            "without_location": int(rows["x"].isna().sum()),
            "months": {
                str(k): int(v) for k, v in rows["month"].value_counts().sort_index().items()
            },
            "categories": {
                str(k): int(v) for k, v in rows["category"].value_counts().sort_index().items()
            },
        }
    live = [r for r in manifest["files"] if not r.get("superseded_by")]
    return {
        "store": str(store.root),
        "version": store.version(),
        "incidents": len(frame),
        "without_location": int((~located).sum()),
        "sources": sources,
        "counts": [
            {
                "source": r.source,
                "category": r.category,
                "month": r.month,
                "incidents": int(r.incidents),
            }
            for r in counts.itertuples()
        ],
        "layers": {n: _layer_status(store, n, manifest["layers"][n], frame) for n in layers},
        "files": manifest["files"],
        "ingests": manifest["ingests"],
        "rejects": {
            "live_files": sum(int(r["rejects"]) for r in live),
            "files": [i["rejects_file"] for i in manifest["ingests"] if i.get("rejects_file")],
        },
    }


def _layer_status(
    store: Store, name: str, entry: Mapping[str, Any], frame: pd.DataFrame
) -> dict[str, Any]:
    layer = store.layer(name)
    area = frame[schema.area_column(name)]
    located = frame["x"].notna()
    return dict(entry) | {
        "areas": len(layer),
        "with_population": int(layer["population"].notna().sum()),
        "with_households": int(layer["households"].notna().sum()),
        "incidents_in_an_area": int(area.notna().sum()),
        "located_outside_every_area": int((located & area.isna()).sum()),
        "incidents_by_area": {
            str(code): int(n)
            for code, n in area.value_counts().reindex(sorted(layer["code"]), fill_value=0).items()
        },
    }
