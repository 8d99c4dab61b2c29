"""Pre-aggregated counts of a version's incidents per grid cell (the grid cube), by its manifest.

Getis-Ord Gi* and emerging hot-spot maps, and their backtests, need of each incident only the
square cell of the study grid holding it, its month and what the category group, the forces
left out and the study layer select on. A study grid (:func:`geo_service.analysis.grid.grid_for`)
is aligned to multiples of its cell size in EPSG:27700, so counting the incidents once per
national cell ``floor(x / cell_m)``, ``floor(y / cell_m)`` (:func:`~geo_service.analysis.grid.
cell_numbers`, the formula the grid bins with) serves every study grid of that cell size
exactly.

* A *lattice* is a (layer, cell size) pair: the cube keeps, for each stored layer, the cells of
  its automatic cell size (:func:`lattices`, what a hotspot map of that layer uses unless told
  otherwise), with the incident's area code in that layer.
* :func:`count_partition` is pure: one partition's Arrow table -> its cube rows, one block per
  lattice. An engine can map it over partitions; :func:`combine` joins the blocks.
* :func:`stored_grid_cube` keeps the cube in :data:`GRID_CUBE_FILE` (trusted only while each
  lattice's counts per source and month equal the manifest's partition rows and its checksums
  theirs), reusing the rows of partitions whose checksum the newest other version's cube
  counted over the same lattices. :func:`build_after_publish` counts it when a version is
  published; :func:`counted_cells` is what the hotspot services read in place of the rows.
* The density cube (:func:`density_kind`) counts a layer's incidents by their own location
  instead of a cell (:data:`DENSITY_CELL_M`), for the maps that need the points (kernel
  density, DBSCAN): their maps from it are the rows' maps.
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Callable, Iterator, Mapping, Sequence
from dataclasses import dataclass
from pathlib import Path
from typing import TYPE_CHECKING, cast

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyarrow.parquet as pq

from geo_service import schema
from geo_service.analysis.grid import auto_cell_m, cell_numbers
from geo_service.errors import StoreDamagedError, StoreError
from geo_service.store.cubes import (
    counted_keys,
    current_manifest,
    other_versions_files,
    partition_checksums,
    repeated,
    selector_keys,
    text_columns,
)
from geo_service.store.layout import version_path
from geo_service.store.manifest import Manifest, Partition
from geo_service.store.status import read_checked

if TYPE_CHECKING:
    from geo_service.store.store import Store

logger = logging.getLogger(__name__)

#: The grid cube of a version, kept beside its manifest (derived: deleting it loses nothing).
GRID_CUBE_FILE = "cube_grid.parquet"
#: The density cube of a version and layer (``{layer}``): the same counts by each incident's
#: own location, for kernel density and DBSCAN; one file per layer, counted when a map of that
#: layer first needs it.
DENSITY_CUBE_FILE = "cube_density_{layer}.parquet"
#: The density cube's lattice "cell size": 0 stands for no lattice, each row keeping the
#: stored x and y of the incidents it counts (``col`` = x, ``row`` = y). The maps it serves
#: are then the rows' maps, and it is hardly larger than a lattice's: police.uk snaps every
#: incident to a map point (Hertfordshire ward layer: 75,952 rows for 108,461 incidents;
#: 75,951 on a 5 m lattice; 77,105 with the location text), and a source of unsnapped points
#: keeps about a row per incident, as its rows do.
DENSITY_CELL_M = 0.0
#: What the cube counts by: the lattice, the area, the cell and a hotspot map's selectors;
#: on the density cube also the location's text (police.uk "On or near High Street", nearly
#: one per map point: 1.5 % more rows on the Hertfordshire ward layer), which patrol zones
#: name their streets by (null on the grid cube's lattices).
KEY_COLUMNS = (
    "layer", "cell_m", "code", "col", "row", "source", "month", "category", "subcategory",
    "time_known", "hour", "reported_by", "approximate", "location_text",
)  # fmt: skip
#: Columns of the cube: its keys, the incidents counted (``n``) and the partition's SHA-256.
CUBE_COLUMNS = (*KEY_COLUMNS, "n", "checksum")
#: The partition columns read (besides the area columns): what the grid cube counts, and the
#: severity, which the area cube counted from the same read keys on. A count of the density
#: cube reads :data:`TEXT_COLUMN` too.
READ_COLUMNS = (
    "category", "subcategory", "occurred_at", "time_known", "reported_by", "x", "y",
    "location_precision", "severity",
)  # fmt: skip
#: The location text, read and counted by for the density cube only (the costly column: the
#: grid cube counted at each ingest does not read it).
TEXT_COLUMN = "location_text"
#: A stated location precision that is not approximate (as the hotspot maps count them).
EXACT = "exact"
_STR = (
    "layer", "code", "source", "month", "category", "subcategory", "reported_by",
    "location_text", "checksum",
)  # fmt: skip
_LATTICES_KEY = b"geo_service.lattices"
#: Text of a kept cube: dictionary-encoded, as counted (written without hashing every value
#: again; a cube's text is a few distinct values).
_TEXT = pa.dictionary(pa.int32(), pa.large_string())
#: The Arrow types of a kept cube.
_SCHEMA = pa.schema(
    [
        ("layer", _TEXT), ("cell_m", pa.float64()), ("code", _TEXT), ("col", pa.float64()),
        ("row", pa.float64()),
        *((c, _TEXT) for c in ("source", "month", "category", "subcategory")),
        ("time_known", pa.bool_()), ("hour", pa.int8()), ("reported_by", _TEXT),
        ("approximate", pa.bool_()), ("location_text", _TEXT), ("n", pa.int64()),
        ("checksum", _TEXT),
    ]
)  # fmt: skip

Lattice = tuple[str, float]


@dataclass(frozen=True)
class _Kind:
    """A kept cube of counted cells: its file and how a version's lattices are chosen."""

    file: str
    lattices: Callable[[Path, Manifest], list[Lattice]]


#: Given each partition the cube counts, with its rows read (:data:`READ_COLUMNS` and every
#: stored layer's area column), so another count (the area cube's) needs no read of its own.
Also = Callable[[Partition, pa.Table], None]


# --------------------------------------------------------------------------- counting
def lattices(layers: Mapping[str, tuple[float, float, float, float]]) -> list[Lattice]:
    """The lattices the cube keeps: each layer at its automatic cell size.

    Parameters
    ----------
    layers
        Layer name -> its total bounds ``(minx, miny, maxx, maxy)``, EPSG:27700 metres.

    Returns
    -------
    list of (str, float)
        ``(layer, cell_m)`` sorted by layer; ``cell_m`` one of
        :data:`~geo_service.analysis.grid.NICE_CELL_SIZES_M`, as
        :func:`~geo_service.analysis.grid.auto_cell_m` picks it for the layer.
    """
    from shapely.geometry import box

    return [(name, auto_cell_m(box(*layers[name]))) for name in sorted(layers)]


def count_partition(
    table: pa.Table, *, source: str, month: str, lattices: Sequence[Lattice], checksum: str = ""
) -> pa.Table:
    """One partition's cube rows: incidents per lattice, area, cell and selector keys.

    Parameters
    ----------
    table
        The partition's rows: :data:`READ_COLUMNS` and ``area_<layer>`` of each lattice's layer,
        and :data:`TEXT_COLUMN` when a lattice is the density cube's.
    source, month
        The partition's source and month ``"YYYY-MM"``.
    lattices
        ``(layer, cell_m)`` pairs counted (:func:`lattices`).
    checksum
        The partition file's SHA-256 (``""``: not recorded), kept on each row for reuse.

    Returns
    -------
    pyarrow.Table
        :data:`CUBE_COLUMNS`; per lattice the counts sum to the partition's rows. Incidents
        without a finite x and y, or in none of the layer's areas (null ``code``), have a null
        ``col`` and ``row``: hotspot maps of the layer never count them.
    """
    x = pc.fill_null(table["x"].cast(pa.float64()), np.nan).to_numpy()
    y = pc.fill_null(table["y"].cast(pa.float64()), np.nan).to_numpy()
    located = np.isfinite(x) & np.isfinite(y)
    precision = table["location_precision"].cast(pa.large_string())
    keys = {
        **selector_keys(table),
        "approximate": pc.fill_null(pc.not_equal(precision, EXACT), False),
    }
    text = table[TEXT_COLUMN] if TEXT_COLUMN in table.column_names else None
    blocks = []
    for layer, cell_m in lattices:
        keyed = _with_text(keys, text if cell_m == DENSITY_CELL_M else None)
        blocks.append(
            _lattice_block(table, x, y, located, keyed, layer, cell_m, source, month, checksum)
        )
    if not blocks:
        return _SCHEMA.empty_table()
    return pa.concat_tables(blocks)


def _with_text(
    keys: Mapping[str, pa.ChunkedArray | pa.Array], text: pa.ChunkedArray | pa.Array | None
) -> dict[str, pa.ChunkedArray | pa.Array]:
    """``keys`` with the location text (null for every row when ``text`` is None)."""
    length = len(next(iter(keys.values())))
    value = pa.nulls(length, pa.large_string()) if text is None else text
    return {**keys, TEXT_COLUMN: value}


def _lattice_block(
    table: pa.Table,
    x: np.ndarray,
    y: np.ndarray,
    located: np.ndarray,
    keys: Mapping[str, pa.ChunkedArray | pa.Array],
    layer: str,
    cell_m: float,
    source: str,
    month: str,
    checksum: str,
) -> pa.Table:
    code = table[schema.area_column(layer)]
    # A hotspot map of the layer counts only incidents in its areas: the cell of any other is
    # never read, so it is left out (a national store over one borough's layer keeps the
    # borough's cells). NaN would not group with NaN: a cell left out is null.
    away = ~(located & pc.is_valid(code).to_numpy(zero_copy_only=False))
    col = pa.array(_cells(x, cell_m), mask=away)
    row = pa.array(_cells(y, cell_m), mask=away)
    grouped = counted_keys({"code": code, "col": col, "row": row, **keys}, text=_TEXT)
    k = grouped.num_rows
    return pa.table(
        {
            "layer": repeated(layer, k, _TEXT),
            "cell_m": pa.array(np.full(k, cell_m), pa.float64()),
            "code": grouped["code"],
            "col": grouped["col"],
            "row": grouped["row"],
            "source": repeated(source, k, _TEXT),
            "month": repeated(month, k, _TEXT),
            **{c: grouped[c] for c in keys},
            "n": grouped["n"],
            "checksum": repeated(checksum, k, _TEXT),
        }
    )


def _cells(values: np.ndarray, cell_m: float) -> np.ndarray:
    """The national cell numbers of ``values`` (:func:`~geo_service.analysis.grid.cell_numbers`),
    or the values themselves on the density cube's :data:`DENSITY_CELL_M` (no lattice)."""
    return values if cell_m == DENSITY_CELL_M else cell_numbers(values, cell_m)


def combine(pieces: Sequence[pa.Table]) -> pa.Table:
    """Cube rows of several partitions as one table, each lattice's rows together (so a read
    of one lattice skips the others' row groups), in the order of ``pieces`` within it."""
    runs: dict[Lattice, list[pa.Table]] = {}
    for piece in pieces:
        for key, run in lattice_runs(piece):
            runs.setdefault(key, []).append(run)
    if not runs:
        return _SCHEMA.empty_table()
    return pa.concat_tables([t for key in sorted(runs) for t in runs[key]])


def lattice_runs(piece: pa.Table) -> Iterator[tuple[Lattice, pa.Table]]:
    """The runs of consecutive rows of one lattice in cube rows ``piece`` (typed as kept), each
    a zero-copy slice (a sort would move every text value)."""
    if not piece.num_rows:
        return
    piece = piece.select(list(CUBE_COLUMNS)).cast(_SCHEMA)
    layer = pc.dictionary_encode(piece["layer"].combine_chunks())
    cell = piece["cell_m"].to_numpy()
    codes = np.asarray(layer.indices)
    starts = np.flatnonzero(np.r_[True, (codes[1:] != codes[:-1]) | (cell[1:] != cell[:-1])])
    for start, stop in zip(starts, [*starts[1:], piece.num_rows], strict=True):
        key = (str(layer.dictionary[codes[start]]), float(cell[start]))
        yield key, piece.slice(start, stop - start)


def typed(frame: pd.DataFrame) -> pd.DataFrame:
    """A cube frame (built or read back from Parquet) with its column order and dtypes."""
    return frame[list(CUBE_COLUMNS)].astype(
        {**dict.fromkeys(_STR, "str"), "cell_m": "float64", "col": "float64", "row": "float64",
         "time_known": "bool", "hour": "int8", "approximate": "bool", "n": "int64"}
    )  # fmt: skip


# --------------------------------------------------------------------------- keeping
def stored_grid_cube(root: Path, version: str, manifest: Manifest) -> pd.DataFrame:
    """The grid cube of ``version``, read from :data:`GRID_CUBE_FILE` while it agrees with
    ``manifest`` and counts the version's :func:`lattices`, else counted (reusing the newest
    other version's rows of unchanged partitions) and kept there.

    Parameters
    ----------
    root
        The store's folder.
    version
        The version's name.
    manifest
        The version's manifest.

    Returns
    -------
    pandas.DataFrame
        :data:`CUBE_COLUMNS`.

    Raises
    ------
    StoreDamagedError
        A partition or layer that must be read is unreadable.
    """
    table = _stored_table(root, version, manifest)
    # text decoded in Arrow (a take on each small dictionary) rather than by pandas from
    # categoricals, which costs about five times as much
    plain = {c: pa.large_string() for c in _STR}
    decoded = pa.table({c: table[c].cast(plain.get(c, table[c].type)) for c in table.column_names})
    return typed(decoded.to_pandas())


def _stored_table(
    root: Path, version: str, manifest: Manifest, kind: _Kind | None = None
) -> pa.Table:
    """:func:`stored_grid_cube` in Arrow (counting and keeping never go through pandas)."""
    return cast(pa.Table, _kept(root, version, manifest, read_back=True, kind=kind or GRID))


def _kept(
    root: Path,
    version: str,
    manifest: Manifest,
    *,
    read_back: bool,
    also: Also | None = None,
    kind: _Kind | None = None,
) -> pa.Table | None:
    """The cube as :func:`_stored_table` gives it; with ``read_back=False``, None once a cube
    that agrees is kept (a cube counted and written is not read into memory). ``also`` is
    given each partition read to be counted, with its rows (:data:`Also`). ``kind``: the
    grid cube (default) or the density cube."""
    kind = kind or GRID
    version_dir = version_path(root, version)
    kept = kind.lattices(version_dir, manifest)
    path = version_dir / kind.file
    if path.is_file():
        try:
            if _file_lattices(path) == kept:
                table = pq.read_table(path)
                if _table_agrees(table, manifest, kept):
                    return table if read_back else None
            logger.warning("%s disagrees with the manifest; counting the partitions again", path)
        except (OSError, KeyError, ValueError, pa.ArrowException):
            pass  # an unreadable copy is counted again below
    previous = _previous_path(root, version, kept, kind.file)
    if _write(path, version_dir, manifest, kept, previous, also):
        return pq.read_table(path) if read_back else None
    # a store that cannot be written is only read: counted in memory
    try:
        return combine(list(_runs(version_dir, manifest, kept, previous, also)))
    except _PreviousUnreadableError:
        return combine(list(_runs(version_dir, manifest, kept, None, also)))


def _write(
    path: Path,
    version_dir: Path,
    manifest: Manifest,
    kept: Sequence[Lattice],
    previous: Path | None,
    also: Also | None = None,
) -> bool:
    """Count the cube into ``path`` one partition at a time (memory bounded by a partition, not
    the history): first the rows of the previous cube's partitions with an unchanged checksum,
    one row group at a time, then each partition left. Each row group holds one lattice, so a
    read of one lattice skips the others by their statistics. False when ``path`` cannot be
    written; a previous cube found unreadable midway is left out and everything counted."""
    schema = _SCHEMA.with_metadata({_LATTICES_KEY: json.dumps([[a, c] for a, c in kept])})
    staging = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        with pq.ParquetWriter(staging, schema) as writer:
            for run in _runs(version_dir, manifest, kept, previous, also):
                writer.write_table(run)
        os.replace(staging, path)
        return True
    except _PreviousUnreadableError:
        staging.unlink(missing_ok=True)
        return _write(path, version_dir, manifest, kept, None, also)
    except OSError:
        with contextlib.suppress(OSError):
            staging.unlink(missing_ok=True)
        return False
    except BaseException:  # a partition unreadable, or interrupted: no staging file left
        with contextlib.suppress(OSError):
            staging.unlink(missing_ok=True)
        raise


def _runs(
    version_dir: Path,
    manifest: Manifest,
    kept: Sequence[Lattice],
    previous: Path | None,
    also: Also | None = None,
) -> Iterator[pa.Table]:
    """The cube's rows, one lattice per piece, one partition (or one row group of the previous
    cube) at a time: first the rows of ``previous`` whose partition the manifest still lists
    under the same checksum, then the counts of every other partition.

    Raises
    ------
    _PreviousUnreadableError
        ``previous`` could not be read to the end (pieces already yielded are then void).
    """
    tags = partition_checksums(manifest)
    counted: set[tuple[str, str]] = set()
    if previous is not None:
        for rows in _reused(previous, tags):
            pairs = rows.group_by(["source", "month"]).aggregate([]).to_pylist()
            counted |= {(str(r["source"]), str(r["month"])) for r in pairs}
            for _key, run in lattice_runs(rows):
                yield run
    fresh = [p for key, p in manifest.partitions.items() if key not in counted] if kept else []
    if fresh:
        logger.info("counting %d partition(s) into the grid cube", len(fresh))
    for part in fresh:
        counted = _count_file(
            version_dir, part, kept, tags[part.key], also=also, layers=manifest.layer_names()
        )
        for _key, run in lattice_runs(counted):
            yield run


class _PreviousUnreadableError(Exception):
    """The previous cube could not be read to the end (its rows are counted again)."""


def _reused(previous: Path, tags: Mapping[tuple[str, str], str]) -> Iterator[pa.Table]:
    """The rows of ``previous`` whose (source, month, checksum) the manifest still lists, one
    row group at a time.

    Raises
    ------
    _PreviousUnreadableError
        ``previous`` could not be read to the end.
    """
    wanted = pa.array([f"{s}\x1f{m}\x1f{c}" for (s, m), c in tags.items() if c], pa.large_string())
    try:
        source = pq.ParquetFile(previous)
        groups = source.num_row_groups
    except (OSError, ValueError, pa.ArrowException) as exc:
        raise _PreviousUnreadableError from exc
    for group in range(groups):
        try:
            rows = source.read_row_group(group, columns=list(CUBE_COLUMNS)).cast(_SCHEMA)
        except (OSError, KeyError, ValueError, pa.ArrowException) as exc:
            raise _PreviousUnreadableError from exc
        yield _listed_rows(rows, wanted)


def _listed_rows(rows: pa.Table, wanted: pa.Array) -> pa.Table:
    """``rows`` whose ``source``, ``month`` and ``checksum`` joined by U+001F are in ``wanted``.

    A row group of a kept cube holds one partition's rows (one source, month and checksum),
    so its few distinct triples are tested, not every row: the group is kept or left whole,
    and rows are filtered one by one only in a group that mixes partitions.
    """
    distinct = rows.select(list(_PARTITION_KEY)).unify_dictionaries()
    listed = _is_listed(distinct.group_by(list(_PARTITION_KEY)).aggregate([]), wanted)
    if all(listed.to_pylist()):
        return rows
    if not pc.any(listed).as_py():
        return rows.slice(0, 0)
    return rows.filter(_is_listed(rows, wanted))


#: What names a partition's rows in a cube: joined by U+001F, the key of ``wanted``.
_PARTITION_KEY = ("source", "month", "checksum")


def _is_listed(table: pa.Table, wanted: pa.Array) -> pa.ChunkedArray | pa.Array:
    """Whether each row's :data:`_PARTITION_KEY` joined by U+001F is in ``wanted``."""
    text = (pc.cast(table[c], pa.large_string()) for c in _PARTITION_KEY)
    joined = pc.binary_join_element_wise(*text, pa.scalar("\x1f", pa.large_string()))
    return pc.is_in(joined, value_set=wanted)


def lattice_rows(
    root: Path, version: str, manifest: Manifest, lattice: Lattice, *, density: bool = False
) -> pa.Table | None:
    """The cube rows of one lattice (Arrow), or None when the cube does not keep that lattice.

    Only that lattice's rows are read and checked against the manifest (its counts per source
    and month, its checksums); a missing, unreadable or disagreeing file is counted again
    (:func:`stored_grid_cube`). ``density``: the layer's density cube (:func:`density_kind`).
    """
    kind = density_kind(lattice[0]) if density else GRID
    path = version_path(root, version) / kind.file
    if path.is_file():
        try:
            listed = _file_lattices(path)
            if listed is not None and lattice not in listed:
                return None
            layer, cell_m = lattice
            table = pq.read_table(
                path,
                filters=[("layer", "=", layer), ("cell_m", "=", cell_m)],
                read_dictionary=list(_STR),  # a cube's text is a few distinct values
            )
            table = table.unify_dictionaries().combine_chunks()
            if _table_agrees(table, manifest, [lattice]):
                return table
        except (OSError, KeyError, ValueError, pa.ArrowException):
            pass  # counted again below
    cube = _stored_table(root, version, manifest, kind)
    chosen = cube.filter(
        pc.and_(pc.equal(cube["layer"], lattice[0]), pc.equal(cube["cell_m"], lattice[1]))
    )
    return chosen if chosen.num_rows else None


def _table_agrees(table: pa.Table, manifest: Manifest, kept: Sequence[Lattice]) -> bool:
    """Whether cube rows count exactly the manifest's partitions on each of ``kept`` (and on
    no other lattice), each partition's rows carrying its checksum."""
    if table.column_names != list(CUBE_COLUMNS):
        return False
    # each row group of a kept file has its own dictionaries; a group-by needs one per column
    table = table.select(["layer", "cell_m", "source", "month", "checksum", "n"])
    table = table.unify_dictionaries()
    sums = table.group_by(["layer", "cell_m", "source", "month"]).aggregate([("n", "sum")])
    found = {
        (str(r["layer"]), float(r["cell_m"]), str(r["source"]), str(r["month"])): int(r["n_sum"])
        for r in sums.to_pylist()
    }
    listed = {(a, c, s, m): p.rows for a, c in kept for (s, m), p in manifest.partitions.items()}
    if found != listed:
        return False
    tags = table.group_by(["source", "month", "checksum"]).aggregate([]).to_pylist()
    named = {(str(r["source"]), str(r["month"])): str(r["checksum"]) for r in tags}
    return len(tags) == len(named) and named == partition_checksums(manifest)


def _file_lattices(path: Path) -> list[Lattice] | None:
    """The lattices a kept cube file says it counts (None when it does not say)."""
    metadata = pq.read_schema(path).metadata or {}
    if _LATTICES_KEY not in metadata:
        return None
    return [(str(a), float(c)) for a, c in json.loads(metadata[_LATTICES_KEY])]


def _version_lattices(version_dir: Path, manifest: Manifest) -> list[Lattice]:
    """:func:`lattices` of the version's stored layers (their bounds read from the layer files)."""
    import geopandas as gpd

    bounds: dict[str, tuple[float, float, float, float]] = {}
    for name in manifest.layer_names():
        path = version_dir / "layers" / f"{name}.parquet"
        try:
            layer = gpd.read_parquet(path, columns=["geometry"])
        except (OSError, ValueError, pa.ArrowException) as exc:
            raise StoreDamagedError(f"{path}: stored layer {name!r} unreadable ({exc})") from exc
        if len(layer):
            minx, miny, maxx, maxy = (float(v) for v in layer.total_bounds)
            bounds[name] = (minx, miny, maxx, maxy)
    return lattices(bounds)


#: The grid cube: each layer at its automatic cell size, counted when a version is published.
GRID = _Kind(GRID_CUBE_FILE, _version_lattices)


def density_kind(layer: str) -> _Kind:
    """The density cube of ``layer``: the layer's incidents counted by location
    (:data:`DENSITY_CELL_M`), counted when a kernel density or DBSCAN map of the layer first
    reads it, reusing the previous version's counts of unchanged partitions. Kept per layer: it
    holds a row per map point and month (police.uk), so only layers mapped are counted."""
    return _Kind(DENSITY_CUBE_FILE.format(layer=layer), lambda _d, _m: [(layer, DENSITY_CELL_M)])


def _previous_path(
    root: Path, version: str, kept: Sequence[Lattice], file: str = GRID_CUBE_FILE
) -> Path | None:
    """The newest other version's kept cube ``file``, when it counts the same lattices."""
    for path in other_versions_files(root, version, file):
        try:
            if _file_lattices(path) != list(kept):
                return None
            if pq.read_schema(path).names != list(CUBE_COLUMNS):
                return None
            return path
        except (OSError, KeyError, ValueError, pa.ArrowException):
            continue
    return None


def _count_file(
    version_dir: Path,
    part: Partition,
    kept: Sequence[Lattice],
    tag: str,
    *,
    also: Also | None = None,
    layers: Sequence[str] = (),
) -> pa.Table:
    """One partition's cube rows, read from its file (with ``also``: every one of ``layers``'
    area columns read too, and ``also`` given the rows)."""
    read = sorted({layer for layer, _ in kept} | (set(layers) if also else set()))
    text = [TEXT_COLUMN] if any(cell_m == DENSITY_CELL_M for _, cell_m in kept) else []
    columns = [*READ_COLUMNS, *text, *(schema.area_column(n) for n in read)]
    table = read_checked(version_dir / part.path, columns, dictionary=[*text_columns(read), *text])
    if also is not None:
        also(part, table)
    return count_partition(table, source=part.source, month=part.month, lattices=kept, checksum=tag)


def build_after_publish(
    root: Path, *, also: Also | None = None, current: tuple[str, Manifest] | None = None
) -> None:
    """Count the grid cube of the version just published at ``root`` (its CURRENT).

    Called by the writer right after publishing, beside the area cube, which ``also`` counts
    from the same reads (:data:`Also`). ``current`` is the published (version, manifest)
    when the caller has read it (else read from CURRENT). The cube is a derived file, so a
    failure is logged, not raised (the next hotspot map counts it).
    """
    try:
        _kept(root, *(current or current_manifest(root)), read_back=False, also=also)
    except (OSError, ValueError, StoreDamagedError, pa.ArrowException) as exc:
        logger.warning("the grid cube of %s was not built (%s); it is built when read", root, exc)


# --------------------------------------------------------------------------- reading
def counted_cells(
    store: Store,
    *,
    layer: str,
    cell_m: float,
    categories: Sequence[str] | None = None,
    month_from: str | None = None,
    month_to: str | None = None,
    density: bool = False,
) -> pd.DataFrame | None:
    """The store's incidents as counted cell centres, in place of the rows a hotspot map reads.

    Each row stands for ``n`` incidents of one national ``cell_m`` cell, placed at the cell's
    centre: a study grid of that cell size (aligned to its multiples) puts the centre in the
    cell it puts each of those incidents in, so every count per cell is the rows' count.

    Parameters
    ----------
    store
        The store read (its published version's grid cube; counted first when missing or stale).
    layer
        The study layer; its area codes fill ``area_<layer>``.
    cell_m
        The study grid's cell size in metres.
    categories
        Keep only these categories; None: all.
    month_from, month_to
        Inclusive ``"YYYY-MM"`` bounds; None: open.
    density
        Read the density cube (incidents by their own location, for kernel density and
        DBSCAN; ``cell_m`` must be :data:`DENSITY_CELL_M`), counted and kept on first read.

    Returns
    -------
    pandas.DataFrame or None
        Columns ``source``, ``category``, ``subcategory``, ``month``, ``time_known``,
        ``occurred_at`` (the hour on 2000-01-01; NaT where unknown), ``reported_by``,
        ``location_precision`` (``"approximate"`` or ``"exact"``), ``area_<layer>``, ``x``,
        ``y`` (the cell centre, or from the density cube the incidents' own location; NaN
        without a location), from the density cube ``location_text``, and ``n``. None when the
        cube does not keep ``(layer, cell_m)``: the caller reads the rows.
    """
    version = store.version()
    if version is None:
        raise StoreError(f"store {store.root} is empty")
    store.verify()
    cube = lattice_rows(
        store.root, version, store.manifest(), (layer, float(cell_m)), density=density
    )
    if cube is None:
        logger.debug("the grid cube keeps no %g m cells of layer %s; reading rows", cell_m, layer)
        return None
    rows = cube.filter(_selected(cube, categories, month_from, month_to))
    # Text stays dictionary-encoded (pandas categoricals, which the selectors read as text)
    # but the month, which every period compares as text.
    month = pc.cast(rows["month"], pa.large_string())
    hour = rows["hour"].to_numpy().astype(np.int64)
    timed = np.datetime64("2000-01-01T00:00:00", "us") + hour.clip(0).astype("timedelta64[h]")
    out = pa.table(
        {
            **{c: rows[c] for c in ("source", "category", "subcategory")},
            "month": month,
            "time_known": rows["time_known"],
            "occurred_at": pa.array(np.where(hour >= 0, timed, np.datetime64("NaT", "us"))),
            "reported_by": rows["reported_by"],
            "location_precision": pc.if_else(rows["approximate"], "approximate", EXACT),
            schema.area_column(layer): rows["code"],
            "x": _centres(rows["col"], cell_m),
            "y": _centres(rows["row"], cell_m),
            **({TEXT_COLUMN: rows[TEXT_COLUMN]} if density else {}),
            "n": rows["n"],
        }
    )
    return out.to_pandas()


def _centres(cells: pa.ChunkedArray, cell_m: float) -> np.ndarray:
    """The coordinate of each counted cell's centre (NaN where null): ``(k + 0.5) * cell_m``,
    exact in float64; on the density cube the stored coordinate itself."""
    numbers = pc.fill_null(cells, np.nan).to_numpy()
    return numbers if cell_m == DENSITY_CELL_M else (numbers + 0.5) * cell_m


def _selected(
    cube: pa.Table,
    categories: Sequence[str] | None,
    month_from: str | None,
    month_to: str | None,
) -> pa.ChunkedArray | pa.Array:
    """Which cube rows hold one of ``categories`` in the months from ``month_from`` to
    ``month_to`` (None: no bound)."""
    keep = pa.array(np.ones(cube.num_rows, dtype=bool))
    if categories is not None:
        wanted = pa.array(list(categories), pa.string())
        keep = pc.and_(keep, pc.is_in(cube["category"], value_set=wanted))
    if month_from is not None:
        keep = pc.and_(keep, pc.greater_equal(cube["month"], month_from))
    if month_to is not None:
        keep = pc.and_(keep, pc.less_equal(cube["month"], month_to))
    return keep
