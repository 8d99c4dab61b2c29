"""The road traffic collisions near a study layer, kept per version and layer beside its manifest.

Repeat-collision sites list their collisions one by one (date, severity, roads, highway
authority), so no count can stand in for the rows. Over a study layer they are found among the
collisions within :data:`~geo_service.analysis.repeat_locations.SITE_REACH_M` of its areas
(:func:`~geo_service.analysis.repeat_locations.within_reach`); this module keeps exactly those
rows, every month, in :data:`NEAR_FILE`, so a page or report of a national store reads its
region's collisions, not the country's.

The file is a derived file, like the cubes (:mod:`geo_service.store.cubes`): trusted only while
its metadata names the layer, the layer file's checksum, the reach and, for every partition of
the collision sources, the checksum the manifest records, and while its pages pass their
checksums and its rows per partition are those written beside them; else it is built again.
Building it reuses the rows of every partition whose checksum the newest other version's file
already read for the same layer (a file passing the same checks), so after an ingest only the
new or changed months are read. The partitions read are filtered by the areas' bounding box as
they are scanned (memory bounded by the region's collisions, not the country's).
"""

from __future__ import annotations

import contextlib
import json
import logging
import os
import threading
from collections.abc import Sequence
from pathlib import Path
from typing import TYPE_CHECKING

import pandas as pd
import pyarrow as pa
import pyarrow.dataset as ds
import pyarrow.parquet as pq

from geo_service import schema
from geo_service.analysis.repeat_locations import SITE_REACH_M, within_reach
from geo_service.errors import StoreDamagedError, StoreError
from geo_service.store.cubes import other_versions_files, partition_checksums
from geo_service.store.layout import conform, version_path
from geo_service.store.manifest import Manifest, Partition

if TYPE_CHECKING:
    import geopandas as gpd

    from geo_service.store.store import Store

logger = logging.getLogger(__name__)

#: The collisions near layer ``{layer}``, kept beside the version's manifest (a derived file:
#: deleting it loses nothing).
NEAR_FILE = "collisions_near_{layer}.parquet"
#: Collision columns kept: what the sites, the severity table, the KSI trend and the map need.
COLUMNS: tuple[str, ...] = (
    "incident_id", "source", "category", "subcategory", "month", "occurred_at", "time_known",
    "x", "y", "severity", "urban_rural", "location_text", "road_1", "road_2", "casualties",
    "ksi_casualties", "pedestrian_casualties", "cyclist_casualties", "motorcyclist_casualties",
    "highway_authority", "adjusted_serious", "adjusted_slight", "location_precision",
)  # fmt: skip
_META_KEY = b"geo_service.near"
#: The rows kept per partition, written beside them: a file whose rows differ is built again.
_ROWS_KEY = b"geo_service.near_rows"
#: Bumped when what the file keeps changes: a file of another format is built again.
_FORMAT = 2


def collisions_near(
    store: Store, *, layer: str, areas: gpd.GeoDataFrame, sources: Sequence[str]
) -> pd.DataFrame:
    """The located road traffic collisions of ``sources`` within reach of ``layer``'s areas.

    Parameters
    ----------
    store
        The store read (its published version).
    layer
        The study layer's name.
    areas
        Its areas, as :meth:`~geo_service.store.Store.layer` reads them (EPSG:27700).
    sources
        The sources supplying road traffic collisions; only their partitions are read.

    Returns
    -------
    pandas.DataFrame
        :data:`COLUMNS` and ``area_<layer>``, canonical dtypes, one row per collision with a
        location within :data:`~geo_service.analysis.repeat_locations.SITE_REACH_M` of an area,
        every month held; sorted by source, month and incident id.

    Raises
    ------
    StoreError
        The store is empty.
    StoreDamagedError
        A partition or the layer that must be read is unreadable.
    """
    version = store.version()
    if version is None:
        raise StoreError(f"store {store.root} is empty")
    store.verify()
    manifest = store.manifest()
    version_dir = version_path(store.root, version)
    meta = _meta(manifest, layer, sources)
    path = version_dir / NEAR_FILE.format(layer=layer)
    kept = _read(path, meta)
    if kept is not None:
        return _typed(kept, layer)
    built = _build(store.root, version, manifest, meta, layer, areas)  # typed as it is built
    _write(path, built, meta)
    return built


def _meta(manifest: Manifest, layer: str, sources: Sequence[str]) -> dict[str, object]:
    """What a kept file must say it was built from to be trusted."""
    tags = partition_checksums(manifest)
    layer_file = manifest.checksums.get(f"layers/{layer}.parquet")
    chosen = set(sources)
    return {
        "format": _FORMAT,
        "layer": layer,
        "layer_sha256": layer_file.sha256 if layer_file is not None else "",
        "reach_m": SITE_REACH_M,
        "partitions": sorted([s, m, tags[(s, m)]] for (s, m) in manifest.partitions if s in chosen),
    }


def _file_meta(path: Path) -> dict[str, object] | None:
    metadata = pq.read_schema(path).metadata or {}
    if _META_KEY not in metadata:
        return None
    found = json.loads(metadata[_META_KEY])
    return found if isinstance(found, dict) else None


def _read(path: Path, meta: dict[str, object]) -> pd.DataFrame | None:
    """The kept rows when the file says it was built from ``meta`` and its rows are whole (page
    checksums verified, rows per partition as recorded), else None."""
    if not path.is_file():
        return None
    try:
        if _file_meta(path) == meta:
            frame = _checked(path)
            if frame is not None:
                return frame
        logger.warning("%s does not match this version and its inputs; reading again", path)
    except (OSError, ValueError, pa.ArrowException):
        logger.warning("%s is unreadable; reading again", path)
    return None


def _checked(path: Path) -> pd.DataFrame | None:
    """The rows of a kept file, its page checksums verified, when their count per partition is
    the one written beside them (None otherwise).

    Raises
    ------
    OSError, pyarrow.ArrowException
        The file is unreadable or a page fails its checksum.
    """
    frame = pq.read_table(path, page_checksum_verification=True).to_pandas()
    recorded = json.loads((pq.read_schema(path).metadata or {}).get(_ROWS_KEY, b"null"))
    return frame if recorded == _rows_of(frame) else None


def _rows_of(frame: pd.DataFrame) -> list[list[object]]:
    """Kept rows per (source, month), sorted: written beside the rows and checked on read."""
    if frame.empty:
        return []
    counts = frame.groupby([frame["source"].astype(str), frame["month"].astype(str)]).size()
    return [[s, m, int(n)] for (s, m), n in sorted(counts.items())]


def _build(
    root: Path,
    version: str,
    manifest: Manifest,
    meta: dict[str, object],
    layer: str,
    areas: gpd.GeoDataFrame,
) -> pd.DataFrame:
    """The rows of ``meta``'s partitions: reused from the newest other version's file of the
    same layer where the partition's checksum is unchanged, read for the others."""
    listed = {(str(s), str(m)): str(c) for s, m, c in meta["partitions"]}  # type: ignore[attr-defined]
    pieces: list[pd.DataFrame] = []
    done: set[tuple[str, str]] = set()
    previous = _previous(root, version, meta)
    if previous is not None:
        frame, read_before = previous
        same = {k for k, c in read_before.items() if c and listed.get(k) == c}
        if same:
            keys = list(zip(frame["source"].astype(str), frame["month"].astype(str), strict=True))
            pieces.append(frame.loc[[k in same for k in keys]])
            done = same
    fresh = [manifest.partitions[k] for k in sorted(listed) if k not in done]
    logger.info(
        "collisions near %s: %d partition(s) reused from an earlier version, %d read",
        layer, len(done), len(fresh),
    )  # fmt: skip
    if fresh:
        pieces.append(_scan(version_path(root, version), fresh, manifest, layer, areas))
    if not pieces:
        return _typed(pd.DataFrame(columns=[*COLUMNS, schema.area_column(layer)]), layer)
    frame = pd.concat([_typed(p, layer) for p in pieces], ignore_index=True)
    return frame.sort_values(["source", "month", "incident_id"], ignore_index=True, kind="stable")


def _previous(
    root: Path, version: str, meta: dict[str, object]
) -> tuple[pd.DataFrame, dict[tuple[str, str], str]] | None:
    """The newest other version's file of the same layer, its rows and the partitions it read
    (with their checksums), when it was built the same way from the same layer file."""
    layer = str(meta["layer"])
    for path in other_versions_files(root, version, NEAR_FILE.format(layer=layer)):
        try:
            found = _file_meta(path)
            if found is None or any(found.get(k) != meta[k] for k in _SAME):
                return None
            frame = _checked(path)
        except (OSError, ValueError, pa.ArrowException):
            continue
        if frame is None:
            continue
        read = {(str(s), str(m)): str(c) for s, m, c in found["partitions"]}  # type: ignore[attr-defined]
        return frame, read
    return None


#: What a previous version's file must share for its rows to be reused.
_SAME = ("format", "layer", "layer_sha256", "reach_m")


def _scan(
    version_dir: Path,
    parts: Sequence[Partition],
    manifest: Manifest,
    layer: str,
    areas: gpd.GeoDataFrame,
) -> pd.DataFrame:
    """The collisions of ``parts`` within reach of ``areas``: the box test is made as the
    partitions are scanned, the exact one on what passes it."""
    from geo_service.store.store import partitions_dataset

    area = schema.area_column(layer)
    wanted = [*COLUMNS, area]
    if areas.empty:
        return pd.DataFrame(columns=wanted)
    minx, miny, maxx, maxy = (float(v) for v in areas.total_bounds)
    x, y = ds.field("x"), ds.field("y")
    near = (
        (ds.field("category") == schema.ROAD_TRAFFIC_COLLISION)
        & (x >= minx - SITE_REACH_M) & (x <= maxx + SITE_REACH_M)
        & (y >= miny - SITE_REACH_M) & (y <= maxy + SITE_REACH_M)
    )  # fmt: skip
    dataset = partitions_dataset(str(version_dir), parts, manifest.layer_names())
    try:
        table = dataset.to_table(columns=wanted, filter=near)
    except (OSError, pa.ArrowException) as exc:
        raise StoreDamagedError(
            f"{version_dir}: a partition file is unreadable ({exc}); `geo-service check` "
            "names the file, `geo-service repair` fixes what can be fixed"
        ) from exc
    frame = table.to_pandas()
    keep = within_reach(frame["x"].to_numpy(float), frame["y"].to_numpy(float), areas)
    return frame.loc[keep]


def _typed(frame: pd.DataFrame, layer: str) -> pd.DataFrame:
    """Canonical dtypes and :data:`COLUMNS` plus the layer's area column, in that order."""
    wanted = [*COLUMNS, schema.area_column(layer)]
    return conform(frame, [layer], columns=list(COLUMNS))[wanted].reset_index(drop=True)


def _write(path: Path, frame: pd.DataFrame, meta: dict[str, object]) -> None:
    """Keep ``frame`` at ``path`` with ``meta`` (a store that cannot be written is only read)."""
    table = pa.Table.from_pandas(frame, preserve_index=False)
    table = table.replace_schema_metadata(
        {
            **(table.schema.metadata or {}),
            _META_KEY: json.dumps(meta).encode(),
            _ROWS_KEY: json.dumps(_rows_of(frame)).encode(),
        }
    )
    staging = path.with_name(f".{path.name}.{os.getpid()}.{threading.get_ident()}.tmp")
    try:
        pq.write_table(table, staging, write_page_checksum=True)
        os.replace(staging, path)
    except OSError:
        with contextlib.suppress(OSError):
            staging.unlink(missing_ok=True)
