"""Pre-aggregated counts of a version's incidents (the area cube), kept beside its manifest.

The change tables (``change``, ``summary``, ``area``) need, of every incident, only its source,
month, category, sub-type, hour of day (when known), reporting force, whether it has a location
and its area in the study layer; the strategic-assessment report needs besides the day of the
incidents in its borough that have a date (its weekday profile and unusual days). Counting the
incidents once per distinct combination of those keys gives a table far smaller than the rows
(area x month x category, for a national store thousands of times smaller) from which every
figure of those tables follows exactly: the counting functions of
:mod:`geo_service.analysis.counts` (and the report's, :mod:`geo_service.analysis.patterns` and
:mod:`~geo_service.analysis.breakdowns`) take its rows, each with its count ``n`` and
``located`` flag, as they take raw incidents.
police.uk rows carry a month only (no date), so the day adds rows only for dated sources (fire,
STATS19, force extracts), and only for their incidents inside a layer's areas.

* :func:`count_partition` is pure: one partition's Arrow table -> its cube rows, one block per
  layer and one for the whole store (layer ``""``, no area). An engine can map it over
  partitions; :func:`combine` joins the blocks.
* :func:`stored_cube` keeps the cube in :data:`CUBE_FILE` beside the version's manifest (like
  ``summary.parquet``: a derived file, trusted only while its columns are :data:`CUBE_COLUMNS`,
  its rows per layer, source and month equal the manifest's partitions and its checksums
  theirs: a cube kept by an earlier version of this code, lacking a key, is counted again).
  Building it reuses the rows of every partition whose checksum the newest other version's
  cube already counted, so a no-op ingest counts nothing and adding one month counts one month.
* :func:`build_after_publish` is called when a version is published, so commands find the cube
  ready; :func:`counted_incidents` is what the services read in place of the rows.
"""

from __future__ import annotations

import logging
import threading
from collections import OrderedDict
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from geo_service import schema
from geo_service.errors import StoreDamagedError, StoreError
from geo_service.store.layout import OLD_VERSIONS, VERSIONS, version_path
from geo_service.store.manifest import Manifest, Partition
from geo_service.store.status import kept_table, read_checked

if TYPE_CHECKING:
    from geo_service.store.store import Store

logger = logging.getLogger(__name__)

#: The cube of a version, kept beside its manifest (a derived file: deleting it loses nothing).
CUBE_FILE = "cube_areas.parquet"
#: The ``layer`` of the cube's rows counting the whole store (``code`` always null).
WHOLE_STORE = ""
#: What the cube counts by: the keys of a change table's selectors, the area, the location, a
#: collision's severity (the report's severity tables; null for other incidents) and the day of
#: the incidents that have a date and an area of the layer (``day``; null for the others and in
#: the whole store's block).
KEY_COLUMNS = (
    "layer", "code", "source", "month", "category", "subcategory", "time_known", "hour", "day",
    "reported_by", "located", "severity",
)  # fmt: skip
#: Columns of the cube: its keys, the incidents counted (``n``) and the SHA-256 of the
#: partition they were counted from (``""`` where the manifest records none).
CUBE_COLUMNS = (*KEY_COLUMNS, "n", "checksum")
#: The partition columns counted (besides the area columns).
READ_COLUMNS = (
    "category", "subcategory", "occurred_at", "time_known", "reported_by", "x", "y", "severity",
)  # fmt: skip
# A selector reads only the hour of ``occurred_at`` and the report the date of those in its
# borough: the day and hour stand in for the time (the hour alone, on this day, for a cube row
# with an hour and no day).
_EPOCH = np.datetime64("2000-01-01", "us")
_HOUR = np.timedelta64(1, "h")
_STR = (
    "layer", "code", "source", "month", "category", "subcategory", "reported_by", "severity",
    "checksum",
)  # fmt: skip
#: Layers' checked cube rows held by :func:`layer_rows` (most recently used last).
_READ: OrderedDict[tuple[object, ...], pd.DataFrame] = OrderedDict()
_READ_MAX = 4
_READ_LOCK = threading.Lock()


# --------------------------------------------------------------------------- counting
def count_partition(
    table: pa.Table, *, source: str, month: str, layers: Sequence[str], checksum: str = ""
) -> pa.Table:
    """One partition's cube rows: incidents per layer, area and :data:`KEY_COLUMNS`.

    Parameters
    ----------
    table
        The partition's rows: :data:`READ_COLUMNS` and ``area_<layer>`` of each of ``layers``.
    source, month
        The partition's source and month ``"YYYY-MM"``.
    layers
        The stored layers; the block of :data:`WHOLE_STORE` is always added.
    checksum
        The partition file's SHA-256 (``""``: not recorded), kept on each row for reuse.

    Returns
    -------
    pyarrow.Table
        :data:`CUBE_COLUMNS`; per layer the counts sum to the partition's rows. ``day`` is
        given only to incidents that have a date and an area of the block's layer (the
        report reads days in its borough alone): null elsewhere and in the whole store's block.
    """
    keys = {
        **selector_keys(table),
        "located": pc.and_(
            pc.fill_null(pc.is_finite(table["x"]), False),
            pc.fill_null(pc.is_finite(table["y"]), False),
        ),
        "severity": _encoded(table["severity"]),
    }
    day = day_of(table["occurred_at"])
    counted = {}
    for layer in layers:
        code = table[schema.area_column(layer)]
        counted[layer] = counted_keys({"code": code, **keys, "day": _where_placed(code, day)})
    if layers:  # every row is in one row of a layer's counts: sum those, not the rows again
        first = counted[layers[0]]
        summed = first.group_by(list(keys)).aggregate([("n", "sum")])
        whole = pa.table({**{c: summed[c] for c in keys}, "n": summed["n_sum"]})
    else:
        whole = counted_keys(keys)
    whole = whole.append_column("day", pa.nulls(whole.num_rows, pa.date32()))
    blocks = []
    for layer, grouped in ((WHOLE_STORE, whole), *counted.items()):
        k = grouped.num_rows
        code = grouped["code"] if layer != WHOLE_STORE else pa.nulls(k, pa.large_string())
        columns = {
            "layer": repeated(layer, k),
            "code": code,
            "source": repeated(source, k),
            "month": repeated(month, k),
            **{c: grouped[c] for c in (*keys, "day")},
            "n": grouped["n"],
            "checksum": repeated(checksum, k),
        }
        blocks.append(pa.table({c: columns[c] for c in CUBE_COLUMNS}))
    return pa.concat_tables(blocks)


def counted_keys(
    columns: Mapping[str, pa.Array | pa.ChunkedArray], *, text: pa.DataType | None = None
) -> pa.Table:
    """How many rows hold each distinct combination of ``columns`` (Arrow's hash group-by).

    Text columns are grouped by their dictionary codes: the same groups, several times
    cheaper than hashing the strings of every row.

    Parameters
    ----------
    columns
        Name -> values, all of one length; nulls form a group of their own.
    text
        The type text columns are given back as (default ``large_string``; a dictionary type
        keeps them encoded).

    Returns
    -------
    pyarrow.Table
        One row per distinct combination: ``columns`` (text as ``text``) and ``n`` (int64, the
        rows holding it).
    """
    encoded = {}
    for name, values in columns.items():
        if isinstance(values, pa.ChunkedArray):
            values = values.combine_chunks()
        if pa.types.is_string(values.type) or pa.types.is_large_string(values.type):
            values = pc.dictionary_encode(values)
        encoded[name] = values
    grouped = pa.table(encoded).group_by(list(encoded)).aggregate([([], "count_all")])
    out = {
        name: _defined(grouped[name]).cast(text or pa.large_string())
        if pa.types.is_dictionary(grouped[name].type)
        else grouped[name]
        for name in columns
    }
    return pa.table({**out, "n": grouped["count_all"].cast(pa.int64())})


def _defined(values: pa.ChunkedArray) -> pa.ChunkedArray:
    """Dictionary-encoded ``values`` whose null slots hold index 0.

    Arrow's group-by leaves whatever was in memory under the null slots of a dictionary key's
    indices; pyarrow's dictionary unification (and any other code reading every slot) would
    then index far outside the dictionary (a segmentation fault, measured with pyarrow 26).
    """
    chunks = []
    for chunk in values.chunks:
        indices = chunk.indices
        if indices.null_count:
            filled = np.asarray(pc.fill_null(indices, 0).to_numpy(zero_copy_only=False))
            missing = np.asarray(indices.is_null().to_numpy(zero_copy_only=False), dtype=bool)
            indices = pa.array(filled, type=indices.type, mask=missing)
        chunks.append(pa.DictionaryArray.from_arrays(indices, chunk.dictionary))
    return pa.chunked_array(chunks, type=values.type)


def text_columns(layers: Sequence[str]) -> list[str]:
    """The text columns a cube groups by (read dictionary-encoded): the selectors', the
    location precision and the area columns of ``layers``."""
    selectors = ["category", "subcategory", "reported_by", "location_precision", "severity"]
    return [*selectors, *(schema.area_column(n) for n in layers)]


def repeated(value: str, k: int, text: pa.DataType | None = None) -> pa.Array:
    """``value`` ``k`` times (a block's layer, source, month or checksum), as large strings or
    as ``text``, a dictionary type."""
    if text is None:
        return pa.repeat(pa.scalar(value, pa.large_string()), k)
    return pa.DictionaryArray.from_arrays(
        pa.array(np.zeros(k, dtype=np.int32)), pa.array([value], text.value_type)
    )


def selector_keys(table: pa.Table) -> dict[str, pa.Array | pa.ChunkedArray]:
    """What the selectors of a change table or hotspot map read of each incident of a partition.

    Parameters
    ----------
    table
        A partition's rows with ``category``, ``subcategory``, ``time_known``, ``occurred_at``
        and ``reported_by``.

    Returns
    -------
    dict of str to pyarrow.Array or pyarrow.ChunkedArray
        ``category``, ``subcategory``, ``reported_by`` (dictionary-encoded large strings),
        ``time_known`` (null: False) and ``hour`` (int8 hour of day of ``occurred_at``; -1
        where it is null), each of ``table.num_rows``.
    """
    return {
        "category": _encoded(table["category"]),
        "subcategory": _encoded(table["subcategory"]),
        "time_known": pc.fill_null(table["time_known"], False),
        "hour": pc.fill_null(pc.hour(table["occurred_at"]), -1).cast(pa.int8()),
        "reported_by": _encoded(table["reported_by"]),
    }


def _where_placed(
    code: pa.ChunkedArray | pa.Array, day: pa.ChunkedArray | pa.Array
) -> pa.ChunkedArray | pa.Array:
    """``day`` where ``code`` (an area column) holds an area, else null: only the incidents in
    an area of a layer (the report's borough) are counted by day."""
    return pc.if_else(pc.is_valid(code), day, pa.scalar(None, pa.date32()))


def day_of(occurred_at: pa.ChunkedArray | pa.Array) -> pa.ChunkedArray | pa.Array:
    """The date of each timestamp (``date32``; null where it is null).

    Parameters
    ----------
    occurred_at
        Timestamps without a time zone (a partition's ``occurred_at``).

    Returns
    -------
    pyarrow.Array or pyarrow.ChunkedArray
        ``date32`` days, one per value: the day holding the timestamp (floored, so a time
        before 1970 is on its own day too).
    """
    return pc.floor_temporal(occurred_at, unit="day").cast(pa.date32())


def _encoded(values: pa.ChunkedArray | pa.Array) -> pa.Array:
    """Text values dictionary-encoded (as :func:`counted_keys` groups them), once for every
    block of a partition's counts."""
    if isinstance(values, pa.ChunkedArray):
        values = values.combine_chunks()
    if pa.types.is_dictionary(values.type):
        return values
    return pc.dictionary_encode(values.cast(pa.large_string()))


def combine(pieces: Sequence[pa.Table | pd.DataFrame]) -> pd.DataFrame:
    """Cube rows of several partitions as one typed frame sorted by layer, source and month."""
    frames = [p.to_pandas() if isinstance(p, pa.Table) else p for p in pieces]
    if not frames:
        return typed(pd.DataFrame({c: [] for c in CUBE_COLUMNS}))
    frame = typed(pd.concat(frames, ignore_index=True))
    return frame.sort_values(["layer", "source", "month"], kind="stable", ignore_index=True)


def typed(frame: pd.DataFrame) -> pd.DataFrame:
    """A cube frame (built or read back from Parquet) with its column order and dtypes."""
    return frame[list(CUBE_COLUMNS)].astype(
        {**dict.fromkeys(_STR, "str"), "time_known": "bool", "hour": "int8",
         "day": "datetime64[us]", "located": "bool", "n": "int64"}
    )  # fmt: skip


# --------------------------------------------------------------------------- keeping
def stored_cube(
    root: Path,
    version: str,
    manifest: Manifest,
    *,
    counted: Mapping[tuple[str, str], pa.Table] | None = None,
) -> pd.DataFrame:
    """The cube of ``version``, read from its :data:`CUBE_FILE` while it agrees with
    ``manifest``, else built (reusing the newest other version's rows of unchanged partitions)
    and kept there.

    Parameters
    ----------
    root
        The store's folder.
    version
        The version's name (its folder under ``versions``).
    manifest
        The version's manifest.
    counted
        Cube rows (:func:`count_partition`) of this version's partitions already counted, by
        (source, month): used in place of reading those partitions.

    Returns
    -------
    pandas.DataFrame
        :data:`CUBE_COLUMNS`.

    Raises
    ------
    StoreDamagedError
        A partition that must be counted is unreadable.
    """
    version_dir = version_path(root, version)
    return kept_table(
        version_dir / CUBE_FILE,
        lambda frame: _agrees(frame, manifest),
        lambda: _build(version_dir, manifest, _previous(root, version, manifest), counted or {}),
        read=typed,
    )


def layer_rows(root: Path, version: str, manifest: Manifest, layer: str) -> pd.DataFrame:
    """The cube rows of one layer (:data:`WHOLE_STORE`: the store's), as :func:`stored_cube`.

    Only that layer's rows are read from :data:`CUBE_FILE` and checked against the manifest
    (its counts per source and month, its checksums); a slice that disagrees, or a missing or
    unreadable file, goes through :func:`stored_cube`, which counts the cube again. Rows read
    and checked are held for the process (the last :data:`_READ_MAX` layers, by file and
    manifest): the frame returned is shared, and its callers do not modify it.
    """
    path = version_path(root, version) / CUBE_FILE
    try:
        stat = path.stat()
    except OSError:
        stat = None
    if stat is not None:
        # A kept cube changes only by being replaced (a new stat); the manifest's partitions
        # are in the key, so rows read and checked once in this process are the rows.
        key = (
            str(path), stat.st_ino, stat.st_mtime_ns, stat.st_size, layer,
            frozenset((k, p.rows) for k, p in manifest.partitions.items()),
            frozenset(partition_checksums(manifest).items()),
        )  # fmt: skip
        with _READ_LOCK:
            if key in _READ:
                _READ.move_to_end(key)
                return _READ[key]
        try:
            table = pq.read_table(path, filters=[("layer", "=", layer)])
            frame = typed(table.to_pandas())
            if _agrees(frame, manifest, layers=[layer]):
                with _READ_LOCK:
                    _READ[key] = frame
                    while len(_READ) > _READ_MAX:
                        _READ.popitem(last=False)
                return frame
        except (OSError, KeyError, ValueError, pa.ArrowException):
            pass  # counted again below
    cube = stored_cube(root, version, manifest)
    return cube.loc[cube["layer"] == layer].reset_index(drop=True)


def partition_checksums(manifest: Manifest) -> dict[tuple[str, str], str]:
    """(source, month) -> the SHA-256 the manifest records of its partition file (``""``: none);
    the checksum a cube's rows of that partition carry."""
    return {
        key: (c.sha256 if (c := manifest.checksums.get(p.path)) is not None else "")
        for key, p in manifest.partitions.items()
    }


def other_versions_files(root: Path, version: str, name: str) -> list[Path]:
    """The derived file ``name`` of every version of the store at ``root`` but ``version``
    (current and old versions), newest version first: where a cube's rows of unchanged
    partitions can be reused from."""
    found = (p for d in (VERSIONS, OLD_VERSIONS) for p in (root / d).glob(f"*/{name}"))
    return sorted(
        (p for p in found if p.parent.name != version), key=lambda p: p.parent.name, reverse=True
    )


def current_manifest(root: Path) -> tuple[str, Manifest]:
    """(version, manifest) named by the store's ``CURRENT``.

    Raises
    ------
    OSError
        ``CURRENT`` or the manifest cannot be read.
    ValueError
        The manifest is not a manifest.
    """
    version = (root / "CURRENT").read_text("utf-8").strip()
    manifest_path = version_path(root, version) / "manifest.json"
    return version, Manifest.from_json(manifest_path.read_text("utf-8"))


def _agrees(
    frame: pd.DataFrame, manifest: Manifest, *, layers: Sequence[str] | None = None
) -> bool:
    """Whether a kept cube counts exactly the manifest's partitions, for every layer (or for
    ``layers``, when ``frame`` holds only their rows)."""
    if list(frame.columns) != list(CUBE_COLUMNS):
        return False
    if layers is None:
        layers = [WHOLE_STORE, *manifest.layer_names()]
    listed = {
        (layer, s, m): p.rows for layer in layers for (s, m), p in manifest.partitions.items()
    }
    kept = frame.groupby(["layer", "source", "month"])["n"].sum()
    if {(str(a), str(s), str(m)): int(n) for (a, s, m), n in kept.items()} != listed:
        return False
    tags = frame.drop_duplicates(["source", "month", "checksum"])
    found = {(str(s), str(m)): str(c) for s, m, c in tags[["source", "month", "checksum"]].values}
    return len(tags) == len(found) and found == partition_checksums(manifest)


def _previous(root: Path, version: str, manifest: Manifest) -> pd.DataFrame | None:
    """The newest other version's kept cube over the same layers, when one is readable."""
    layers = {WHOLE_STORE, *manifest.layer_names()}
    for path in other_versions_files(root, version, CUBE_FILE):
        try:
            frame = typed(pq.read_table(path).to_pandas())
        except (OSError, KeyError, ValueError, pa.ArrowException):
            continue
        return frame if set(frame["layer"].unique()) == layers else None
    return None


def _build(
    version_dir: Path,
    manifest: Manifest,
    previous: pd.DataFrame | None,
    precounted: Mapping[tuple[str, str], pa.Table],
) -> pd.DataFrame:
    """Count the partitions the previous cube has not counted under the same checksum (or take
    their rows from ``precounted``)."""
    tags = partition_checksums(manifest)
    reused: list[pd.DataFrame] = []
    counted: set[tuple[str, str]] = set()
    if previous is not None and len(previous):
        keys = pd.MultiIndex.from_frame(previous[["source", "month", "checksum"]])
        wanted = {(s, m, c) for (s, m), c in tags.items() if c}
        keep = keys.isin(list(wanted))
        reused.append(previous.loc[keep])
        counted = {(str(s), str(m)) for s, m in previous.loc[keep, ["source", "month"]].values}
    fresh = [p for key, p in manifest.partitions.items() if key not in counted]
    if fresh:
        logger.info("counting %d partition(s) into the cube", len(fresh))
    layers = manifest.layer_names()
    pieces = [
        precounted[p.key]
        if p.key in precounted
        else _count_file(version_dir, p, layers, tags[p.key])
        for p in fresh
    ]
    return combine([*reused, *pieces])


def _count_file(version_dir: Path, part: Partition, layers: Sequence[str], tag: str) -> pa.Table:
    path = version_dir / part.path
    columns = [*READ_COLUMNS, *(schema.area_column(n) for n in layers)]
    table = read_checked(path, columns, dictionary=text_columns(layers))
    return count_partition(table, source=part.source, month=part.month, layers=layers, checksum=tag)


def build_after_publish(root: Path) -> None:
    """Build the cubes (area and grid) of the version just published at ``root`` (its CURRENT).

    Called by the writer right after publishing, so no command pays for the counting. Each
    partition to count is read once: the grid cube's read also counts the area cube's rows.
    The version's files were sealed a moment ago and are not checked again here; the cubes
    are derived files, so a failure is logged, not raised (the next read builds them).
    """
    # here: the grid cube imports the analysis grid (and geopandas), which a command reading
    # the store need not pay for
    from geo_service.store import grid_cube

    counted: dict[tuple[str, str], pa.Table] = {}

    def also(part: Partition, table: pa.Table) -> None:  # the grid cube's read, counted here
        tag = checksums.get(part.key, "")
        counted[part.key] = count_partition(
            table, source=part.source, month=part.month, layers=layers, checksum=tag
        )

    try:
        version, manifest = current_manifest(root)
        layers, checksums = manifest.layer_names(), partition_checksums(manifest)
    except (OSError, ValueError) as exc:
        logger.warning("the cubes of %s were not built (%s); they are built when read", root, exc)
        return
    # one version for both cubes: the rows counted here are that version's partitions
    try:
        grid_cube.build_after_publish(root, also=also, current=(version, manifest))
    finally:  # the area cube is built whatever became of the grid cube (partitions not counted
        # by the grid cube's reads are read here)
        try:
            stored_cube(root, version, manifest, counted=counted)
        except (OSError, ValueError, StoreDamagedError, pa.ArrowException) as exc:
            logger.warning("the cube of %s was not built (%s); it is built when read", root, exc)


# --------------------------------------------------------------------------- reading
def counted_incidents(
    store: Store,
    *,
    layer: str | None,
    categories: Sequence[str] | None = None,
    month_from: str | None = None,
    month_to: str | None = None,
) -> pd.DataFrame:
    """The store's incidents as counted rows, for the counting functions of
    :mod:`geo_service.analysis.counts` (their module docstring).

    Parameters
    ----------
    store
        The store read (its published version's cube; built first when missing or stale).
    layer
        The layer whose areas fill ``area_<layer>``; None: no area column.
    categories
        Keep only these categories; None: all.
    month_from, month_to
        Inclusive ``"YYYY-MM"`` bounds; None: open.

    Returns
    -------
    pandas.DataFrame
        Columns ``source``, ``category``, ``subcategory``, ``month``, ``time_known``,
        ``occurred_at``, ``reported_by``, ``area_<layer>`` (with a layer), ``located``,
        ``severity`` (collisions' ``"Fatal"``, ``"Serious"`` or ``"Slight"``; null for others)
        and ``n``. ``occurred_at`` is the incidents' date and hour (minutes cut) where they have a
        date and an area of ``layer``; for the others the hour on 2000-01-01 (the selectors
        read only the hour); NaT where they have no date.
    """
    version = store.version()
    if version is None:
        raise StoreError(f"store {store.root} is empty")
    store.verify()
    cube = layer_rows(store.root, version, store.manifest(), layer or WHOLE_STORE)
    keep = np.ones(len(cube), dtype=bool)
    if categories is not None:
        keep &= cube["category"].isin(list(categories)).to_numpy()
    if month_from is not None:
        keep &= (cube["month"] >= month_from).to_numpy()
    if month_to is not None:
        keep &= (cube["month"] <= month_to).to_numpy()
    rows = cube.loc[keep]
    hour = rows["hour"].to_numpy()
    day = rows["day"].to_numpy(dtype="datetime64[us]")
    occurred = np.where(np.isnat(day), _EPOCH, day) + hour.clip(0).astype(np.int64) * _HOUR
    occurred[hour < 0] = np.datetime64("NaT")
    out = pd.DataFrame(
        {
            "source": rows["source"],
            "category": rows["category"],
            "subcategory": rows["subcategory"],
            "month": rows["month"],
            "time_known": rows["time_known"],
            "occurred_at": pd.Series(occurred, index=rows.index, dtype="datetime64[us]"),
            "reported_by": rows["reported_by"],
            "located": rows["located"],
            "severity": rows["severity"],
            "n": rows["n"],
        }
    )
    if layer:
        out[schema.area_column(layer)] = rows["code"]
    return out.reset_index(drop=True)
