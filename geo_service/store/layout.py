"""The on-disk format of the embedded store: partition layout, Arrow schema, file records.

Private to the store (:mod:`geo_service.store` reads it, :mod:`geo_service.store.write` writes
it). Incidents are GeoParquet 1.1 partitioned by source and month (Hive style, values
URL-quoted): canonical columns minus the partition keys, then one ``area_<layer>`` column per
stored layer, then a WKB point ``geometry`` (null for rows without a location) and its ``bbox``
covering column, both derived from x/y in EPSG:27700 when a file is written
(:func:`with_geometry`). The store's own reads never read those two (:func:`read_partition`,
:func:`file_schema` lists the others); they are there for GIS tools.
"""

from __future__ import annotations

import functools
import json
import os
import re
import shutil
from collections.abc import Callable, Mapping, Sequence
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import TYPE_CHECKING
from urllib.parse import quote

import numpy as np
import pyarrow as pa
import pyarrow.parquet as pq

from geo_service import schema
from geo_service.errors import InputError, StoreError

if TYPE_CHECKING:
    import geopandas as gpd
    import pandas as pd

#: ``assign(incidents, layers)`` returns ``incidents`` with an ``area_<layer>`` column per layer.
AssignAreas = Callable[["pd.DataFrame", Mapping[str, "gpd.GeoDataFrame"]], "pd.DataFrame"]

PARTITION_KEYS = ("source", "month")
#: Where versions are kept: a folder that Arrow, Dask and Spark skip when they are pointed at
#: the store (a leading ``_``), so only the published version shows (through :data:`VIEW`).
VERSIONS = "_versions"
#: Where stores written before the open layout keep them; read, and moved by the next write.
OLD_VERSIONS = "versions"
#: A symbolic link to the published version, replaced atomically just after ``CURRENT``.
VIEW = "_current"
#: Fixed links at the top of the store into :data:`VIEW`: what a GIS tool opens.
VIEW_LINKS = ("incidents", "layers")

#: The point geometry (WKB) and its bbox covering column of a partition file, GeoParquet 1.1.
GEOMETRY, COVERING = "geometry", "bbox"
GEO_COLUMNS = (GEOMETRY, COVERING)
#: One little-endian WKB point: byte order 1, geometry type 1 (Point), x, y as float64.
_WKB_POINT = np.dtype([("order", "u1"), ("type", "<u4"), ("x", "<f8"), ("y", "<f8")])
LAYER_COLUMNS = ("code", "name", "parent", "population", "households", "geometry")
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
    #: police.uk forces whose rows were left out on request (``--exclude-force``), sorted.
    excluded_forces: tuple[str, ...] = field(default=(), kw_only=True)

    @property
    def content(self) -> tuple[str, str, tuple[str, ...]]:
        """What the file's stored rows are: its source, checksum and the forces left out. A
        file ingested again with the same content is unchanged; with other forces left out,
        it replaces the stored one."""
        return self.source, self.sha256, self.excluded_forces

    @property
    def identity(self) -> tuple[str, str]:
        """(source, name) the store tells files apart by: a gzipped file is the file inside
        (``2021-05-x-street.csv.gz`` is ``2021-05-x-street.csv``)."""
        return self.source, self.key.removesuffix(".gz")


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
    superseded_keys: tuple[tuple[str, str], ...] = ()  # identities of the superseded files


def version_path(root: Path, name: str) -> Path:
    """The folder of version ``name``: in :data:`VERSIONS`, or in :data:`OLD_VERSIONS` for one
    written before the open layout and not yet moved."""
    new, old = root / VERSIONS / name, root / OLD_VERSIONS / name
    return old if not new.exists() and old.exists() else new


def view_target(root: Path) -> str | None:
    """The version the open view shows (None: no view)."""
    try:
        return Path(os.readlink(root / VIEW)).name
    except OSError:
        return None


def partition_dir(source: str, month: str) -> str:
    """Relative directory of the (source, month) partition."""
    return f"incidents/source={quote(source, safe='')}/month={quote(month, safe='')}"


def held_dir(source: str, month: str) -> str:
    """Relative directory of the (source, month) rows held back as duplicates of stored ones."""
    return "held/" + partition_dir(source, month).removeprefix("incidents/")


def file_schema(layers: Sequence[str]) -> pa.Schema:
    """Arrow schema of a partition file: canonical columns minus the partition keys, then areas."""
    fields = [
        pa.field(name, _ARROW_TYPES[dtype])
        for name, dtype in schema.INCIDENT_COLUMNS.items()
        if name not in PARTITION_KEYS
    ]
    fields += [pa.field(schema.area_column(n), pa.large_string()) for n in layers]
    return pa.schema(fields)


def conform(
    frame: pd.DataFrame, layers: Sequence[str], *, columns: Sequence[str] | None = None
) -> pd.DataFrame:
    """Canonical dtypes and column order, with an area column for every layer (only the
    canonical columns in ``columns`` when given)."""
    import pandas as pd  # here: reading a store's manifest (``status``) needs no pandas

    out = schema.conform(frame, columns=columns)
    for name in layers:
        column = schema.area_column(name)
        if column not in out:
            out[column] = pd.Series(pd.array([None] * len(out), dtype="str"), index=out.index)
    return out


def to_arrow(frame: pd.DataFrame, layers: Sequence[str]) -> pa.Table:
    """``frame`` as a table of the partition file schema."""
    target = file_schema(layers)
    expected = dict(schema.INCIDENT_COLUMNS) | {schema.area_column(n): "str" for n in layers}
    if any(name not in frame or str(frame[name].dtype) != d for name, d in expected.items()):
        frame = conform(frame, layers)
    return pa.Table.from_pandas(frame[target.names], schema=target, preserve_index=False)


def partition_slices(
    rows: pd.DataFrame, table: pa.Table
) -> tuple[pa.Table, dict[tuple[str, str], tuple[int, int]]]:
    """``table`` ordered by (source, month) and the row range of each partition in it."""
    if not len(rows):
        return table, {}
    import pandas as pd  # here: reading a store's manifest (``status``) needs no pandas

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


def read_partition(path: Path) -> pa.Table:
    """One partition file's columns but its geometry, each page checked against its CRC.

    The geometry and bbox columns are derived from x/y, so the store never reads them back
    (files written before they existed simply lack them).
    """
    handle = pq.ParquetFile(path, page_checksum_verification=True)
    columns = [name for name in handle.schema_arrow.names if name not in GEO_COLUMNS]
    return handle.read(columns=columns)


def write_table(table: pa.Table, path: Path) -> None:
    """Write a partition file (parent directories created), as GeoParquet when it has x/y.

    Dictionary encoding is kept for the repetitive text columns and skipped for the unique or
    numeric ones, where it only costs time (about twice as fast, and smaller files). Each page
    carries a CRC-32, so a byte changed on disk is an error on reading, never a wrong value.
    """
    path.parent.mkdir(parents=True, exist_ok=True)
    if "x" in table.column_names and "y" in table.column_names:
        table = with_geometry(
            table.drop_columns([c for c in GEO_COLUMNS if c in table.column_names])
        )
    plain = {"incident_id", "x", "y", "source_line", "occurred_at", "casualties", "speed_limit"}
    dictionary = [n for n in table.column_names if n not in plain and n not in GEO_COLUMNS]
    pq.write_table(
        table, path, compression="snappy", use_dictionary=dictionary, write_page_checksum=True
    )


def with_geometry(table: pa.Table) -> pa.Table:
    """``table`` with a WKB point ``geometry`` and a ``bbox`` covering column from its x/y
    (EPSG:27700 metres), and the GeoParquet 1.1 ``geo`` metadata describing them.

    A row without a finite x and y gets a null geometry and a null bbox. The WKB is laid out
    with numpy (21 bytes a point), byte for byte what ``shapely.to_wkb`` gives but 0.02 s of
    CPU a million points against 0.9 s (measured), which matters because every ingest writes
    every row's point; both columns cost 0.09 s a million rows to build.
    """
    x = np.asarray(table["x"].to_numpy(), dtype=np.float64)
    y = np.asarray(table["y"].to_numpy(), dtype=np.float64)
    located = np.isfinite(x) & np.isfinite(y)
    points = np.empty(int(located.sum()), dtype=_WKB_POINT)
    points["order"], points["type"], points["x"], points["y"] = 1, 1, x[located], y[located]
    offsets = np.zeros(len(x) + 1, dtype=np.int64)
    np.cumsum(located * _WKB_POINT.itemsize, out=offsets[1:])
    kind, width = (pa.binary(), np.int32) if offsets[-1] < 2**31 else (pa.large_binary(), np.int64)
    validity = None if located.all() else pa.py_buffer(np.packbits(located, bitorder="little"))
    wkb = pa.Array.from_buffers(
        kind,
        len(x),
        [validity, pa.py_buffer(offsets.astype(width)), pa.py_buffer(points.tobytes())],
    )
    corner_x, corner_y = pa.array(x, mask=~located), pa.array(y, mask=~located)
    bbox = pa.StructArray.from_arrays(
        [corner_x, corner_y, corner_x, corner_y], names=["xmin", "ymin", "xmax", "ymax"],
        mask=pa.array(~located),
    )  # fmt: skip
    bounds = (
        [float(x[located].min()), float(y[located].min()),
         float(x[located].max()), float(y[located].max())] if located.any() else None
    )  # fmt: skip
    out = table.append_column(GEOMETRY, wkb).append_column(COVERING, bbox)
    metadata = dict(table.schema.metadata or {})
    metadata[b"geo"] = json.dumps(_geo_metadata(bounds)).encode("utf-8")
    return out.replace_schema_metadata(metadata)


def _geo_metadata(bounds: list[float] | None) -> dict[str, object]:
    """The GeoParquet 1.1 ``geo`` metadata of a partition file's point column."""
    column: dict[str, object] = {
        "encoding": "WKB",
        "geometry_types": ["Point"] if bounds is not None else [],
        "crs": json.loads(_crs_projjson()),
        "edges": "planar",
        "covering": {"bbox": {k: [COVERING, k] for k in ("xmin", "ymin", "xmax", "ymax")}},
    }
    if bounds is not None:
        column["bbox"] = bounds
    return {"version": "1.1.0", "primary_column": GEOMETRY, "columns": {GEOMETRY: column}}


@functools.cache
def _crs_projjson() -> str:
    """EPSG:27700 (British National Grid) as PROJJSON text, as GeoParquet records a CRS."""
    from pyproj import CRS

    return str(CRS.from_epsg(27700).to_json())


def link(source: Path, target: Path) -> None:
    """Hard-link an immutable file into a new version (copy where links are unsupported)."""
    target.parent.mkdir(parents=True, exist_ok=True)
    try:
        os.link(source, target)
    except OSError:
        shutil.copy2(source, target)


def carry(source: Path, target: Path) -> None:
    """Bring an unchanged partition (or held) file into a new version: a hard link, or, for a
    file written before partitions were GeoParquet, a rewrite with its geometry, so the
    store's first write after an upgrade makes every month openable in a GIS (once)."""
    if is_geoparquet(source):
        link(source, target)
    else:
        write_table(read_partition(source), target)


def is_geoparquet(path: Path) -> bool:
    """Whether the partition file at ``path`` carries its geometry (one footer read)."""
    return GEOMETRY in pq.read_schema(path).names


def ids_in(table: pa.Table, ids: pa.Array) -> pa.Array:
    """Mask of rows of ``table`` whose non-missing incident_id is in ``ids``."""
    import pyarrow.compute as pc  # here: 0.1 s to import, and ``status`` never needs it

    return pc.fill_null(pc.is_in(table["incident_id"], value_set=ids), False)


def now_iso() -> str:
    """The current UTC time, ISO 8601, to the second."""
    return datetime.now(UTC).replace(microsecond=0).isoformat()


def check_incidents(incidents: pd.DataFrame, layers: Sequence[str]) -> None:
    """What the loaders guarantee; a failure here is a bug upstream, not bad user input."""
    missing = [schema.area_column(n) for n in layers if schema.area_column(n) not in incidents]
    if missing:
        raise StoreError(f"incidents lack area column(s) {missing} for the stored layers")
    for key in PARTITION_KEYS:
        if key not in incidents or incidents[key].isna().any():
            raise StoreError(f"incidents without a {key} cannot be stored")


def check_layer(name: str, layer: gpd.GeoDataFrame) -> None:
    """Refuse an unusable layer name, missing standard columns or a CRS other than 27700."""
    if not re.fullmatch(r"[a-z][a-z0-9_]{0,39}", name) or name == "hint":
        raise InputError(
            f"layer name {name!r} is not usable; expected lower-case letters, digits and '_', "
            "starting with a letter (e.g. ward, beat, lsoa), and not 'hint'"
        )
    missing = [c for c in LAYER_COLUMNS if c not in layer.columns]
    if missing:
        raise InputError(f"layer {name!r} lacks column(s) {missing}; expected {LAYER_COLUMNS}")
    if layer.crs is None or layer.crs.to_epsg() != 27700:
        raise InputError(f"layer {name!r} is in {layer.crs}; expected EPSG:27700")
