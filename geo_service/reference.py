"""Reference layers a partnership loads once: roads and place names drawn when map tiles are off,
and address points that place residents for rate maps.

A locked-down police network often blocks web map tiles, and a plain background has no streets.
A *reference layer* is a file of road lines (OS Open Roads, an OpenStreetMap extract) or named
places (OS Open Names) kept beside the store, outside its versioned incident partitions
(``<store>/reference/<kind>.parquet``): it describes the ground, not the incidents, so loading it
makes no new store version. Every map and the printed brief draw it, and patrol zones name the
streets inside them from it.

Columns are normalised on loading to ``name`` (street or place name, may be empty), ``ref`` (road
number such as "A414", may be empty), ``kind`` (road class or place type, may be empty) and
``geometry`` in EPSG:27700. The source's own column names are recognised from a table
(:data:`NAME_COLUMNS`...): OS Open Roads (``name1``, ``roadNumber``, ``roadClassification``),
OS Open Names (``NAME1``, ``LOCAL_TYPE``), OpenStreetMap (``name``, ``ref``, ``highway``) and
the demo's synthetic roads (``name``, ``ref``, ``road_class``).

An ``addresses`` layer (OS Open UPRN, AddressBase, OpenStreetMap address or building points) needs
no name column: it is stored as points (a polygon, e.g. a building footprint, is reduced to a
point inside it) and weights the population surface of the rate maps dasymetrically (see
:func:`geo_service.analysis.population.population_surface`).
"""

from __future__ import annotations

import logging
import os
from dataclasses import dataclass
from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo_service.errors import InputError, StoreDamagedError
from geo_service.schema import CRS

logger = logging.getLogger(__name__)

#: Kinds of reference layer and what each holds.
KINDS: dict[str, str] = {
    "roads": "road lines (OS Open Roads, an OpenStreetMap extract)",
    "places": "named places (OS Open Names)",
    "addresses": "address or building points (OS Open UPRN, AddressBase, OpenStreetMap); "
    "polygons are reduced to a point inside each",
}
#: Source columns read as each normalised column, first match (case-insensitive) wins.
NAME_COLUMNS = ("name1", "name", "name_1", "road_name", "roadname", "distname")
REF_COLUMNS = ("roadnumber", "road_number", "ref", "number", "roadno")
KIND_COLUMNS = (
    "roadclassification",
    "road_class",
    "class",
    "highway",
    "local_type",
    "type",
    "fclass",
)
#: Folder of the reference layers inside the store.
FOLDER = "reference"
_SUFFIXES = (".gpkg", ".shp", ".geojson", ".json", ".zip", ".parquet")


@dataclass(frozen=True)
class ReferenceInfo:
    """What :func:`add_reference` stored.

    Attributes
    ----------
    kind
        ``"roads"``, ``"places"`` or ``"addresses"``.
    path
        The stored file.
    features
        Features kept.
    named
        Features with a name or road number.
    dropped
        Features without geometry, left out.
    """

    kind: str
    path: Path
    features: int
    named: int
    dropped: int


def reference_path(store_root: Path, kind: str) -> Path:
    """Where the reference layer ``kind`` lives in the store at ``store_root``."""
    _check_kind(kind)
    return Path(store_root) / FOLDER / f"{kind}.parquet"


def add_reference(
    store_root: Path, kind: str, path: Path, *, source_layer: str | None = None
) -> ReferenceInfo:
    """Read ``path``, normalise its columns, project it and store it as reference ``kind``.

    The file replaces any earlier one of the same kind; it is written to a temporary file first
    and moved into place, so a refused or interrupted load leaves the earlier layer as it was.

    Parameters
    ----------
    store_root
        The store's folder.
    kind
        One of :data:`KINDS`.
    path
        A GeoPackage, Shapefile (or zipped Shapefile), GeoJSON or GeoParquet file.
    source_layer
        The layer to read from a file holding several (GeoPackage); None: the file's only one.

    Returns
    -------
    ReferenceInfo

    Raises
    ------
    InputError
        Unknown kind; a missing or unreadable file; no CRS; no line (roads), point (places) or
        point or polygon (addresses) geometry; no name or road-number column (roads, places).
    """
    _check_kind(kind)
    frame = _read(Path(path), source_layer)
    normalised, dropped = _normalise(frame, Path(path), kind)
    target = reference_path(store_root, kind)
    target.parent.mkdir(parents=True, exist_ok=True)
    staging = target.with_suffix(".parquet.tmp")
    normalised.to_parquet(staging)
    os.replace(staging, target)
    named = int(((normalised["name"] != "") | (normalised["ref"] != "")).sum())
    logger.info("reference %s: %d features (%d named) from %s", kind, len(normalised), named, path)
    return ReferenceInfo(kind, target, len(normalised), named, dropped)


def read_reference(store_root: Path | None, kind: str) -> gpd.GeoDataFrame | None:
    """The stored reference layer ``kind`` (EPSG:27700), or None when none was loaded."""
    if store_root is None:
        return None
    path = reference_path(store_root, kind)
    if not path.is_file():
        return None
    try:
        return gpd.read_parquet(path)
    except (OSError, ValueError) as exc:  # pyarrow's errors derive from these
        raise StoreDamagedError(reference_damage(path, kind, exc)) from exc


def reference_damage(path: Path, kind: str, exc: BaseException) -> str:
    """The one-line message for a stored reference layer that cannot be read."""
    reason = " ".join(str(exc).split())[:200]
    return (
        f"{path}: the stored {kind} reference layer is unreadable ({reason}); load it again with "
        f"`geo-service reference add {kind} PATH`"
    )


def check_references(store_root: Path) -> list[tuple[Path, str]]:
    """The path and a problem line of each stored reference layer that cannot be read whole.

    Reference layers live beside the versioned store (they are not incident data), so the
    manifests do not list them; ``geo-service check`` reads each of them instead.
    """
    problems = []
    for kind in KINDS:
        path = reference_path(store_root, kind)
        if path.is_file():
            try:
                gpd.read_parquet(path)
            except (OSError, ValueError) as exc:
                problems.append((path, reference_damage(path, kind, exc)))
    return problems


def names_within(
    reference: gpd.GeoDataFrame | None, area: shapely.Geometry, *, most: int = 4
) -> tuple[str, ...]:
    """Distinct street or place names (else road numbers) inside ``area``, longest stretch first.

    Parameters
    ----------
    reference
        A reference layer (columns of this module), or None.
    area
        A polygon in EPSG:27700.
    most
        Most names returned.

    Returns
    -------
    tuple of str
        Names such as "High Street (A4251)"; empty without a reference layer or a named feature.
    """
    if reference is None or reference.empty or area.is_empty:
        return ()
    hits = reference.iloc[reference.sindex.query(area, predicate="intersects")]
    if hits.empty:
        return ()
    inside = shapely.intersection(hits.geometry.to_numpy(), area)
    length = np.where(shapely.get_dimensions(inside) == 0, 1.0, shapely.length(inside))
    labels = [_label(n, r) for n, r in zip(hits["name"], hits["ref"], strict=True)]
    weights = pd.Series(length, index=labels).drop("", errors="ignore")
    ordered = weights.groupby(level=0).sum().sort_values(ascending=False, kind="stable")
    return tuple(str(n) for n in ordered.index[:most])


def names_near(
    reference: gpd.GeoDataFrame | None, places: gpd.GeoSeries, *, radius_m: float, most: int = 2
) -> list[str]:
    """For each place (point or polygon, EPSG:27700), the named roads within ``radius_m``,
    the longest stretch first, joined by " / " ("" when none or no reference layer)."""
    if reference is None or reference.empty:
        return [""] * len(places)
    return [
        " / ".join(names_within(reference, place.buffer(radius_m), most=most))
        if place is not None and not place.is_empty
        else ""
        for place in places
    ]


def _label(name: str, ref: str) -> str:
    if name and ref and ref not in name:
        return f"{name} ({ref})"
    return name or ref


def _check_kind(kind: str) -> None:
    if kind not in KINDS:
        raise InputError(f"reference layer kind {kind!r}: expected one of {', '.join(KINDS)}")


def _read(path: Path, source_layer: str | None) -> gpd.GeoDataFrame:
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.suffix.lower() not in _SUFFIXES:
        raise InputError(
            f"{path}: expected a GeoPackage, Shapefile, GeoJSON or GeoParquet file "
            f"({', '.join(_SUFFIXES)})"
        )
    try:
        if path.suffix.lower() == ".parquet":
            return gpd.read_parquet(path)
        return gpd.read_file(path, layer=source_layer) if source_layer else gpd.read_file(path)
    except (OSError, ValueError, RuntimeError) as exc:
        raise InputError(f"{path}: cannot read it as a map layer ({exc})") from exc


def _normalise(frame: gpd.GeoDataFrame, path: Path, kind: str) -> tuple[gpd.GeoDataFrame, int]:
    if frame.crs is None:
        raise InputError(f"{path}: the file states no coordinate reference system (CRS)")
    present = {str(c).lower(): str(c) for c in frame.columns if c != frame.geometry.name}
    name, ref, sort = (
        next((present[c] for c in names if c in present), None)
        for names in (NAME_COLUMNS, REF_COLUMNS, KIND_COLUMNS)
    )
    if name is None and ref is None and kind != "addresses":
        found = ", ".join(present.values()) or "none"
        raise InputError(
            f"{path}: no name or road-number column; expected one of "
            f"{', '.join(NAME_COLUMNS + REF_COLUMNS)}, found {found}"
        )
    keep = frame.geometry.notna() & ~frame.geometry.is_empty
    dims = shapely.get_dimensions(frame.geometry.to_numpy())
    keep &= np.isin(dims, _DIMENSIONS[kind])
    if not keep.any():
        shape = {"roads": "line", "places": "point", "addresses": "point or polygon"}[kind]
        raise InputError(f"{path}: no {shape} features; a {kind} layer holds {KINDS[kind]}")
    kept = frame.loc[keep]
    geometry = kept.geometry.to_crs(CRS)
    if kind == "addresses":
        # A building footprint stands for the residents at one place: a point inside it.
        geometry = geometry.representative_point()
    out = gpd.GeoDataFrame(
        {
            "name": _text(kept, name),
            "ref": _text(kept, ref),
            "kind": _text(kept, sort),
        },
        geometry=geometry.to_numpy(),
        crs=CRS,
    )
    return out.reset_index(drop=True), int((~keep).sum())


#: Geometry dimensions kept for each kind (0 points, 1 lines, 2 polygons).
_DIMENSIONS: dict[str, tuple[int, ...]] = {"roads": (1,), "places": (0,), "addresses": (0, 2)}


def _text(frame: pd.DataFrame, column: str | None) -> np.ndarray:
    if column is None:
        return np.full(len(frame), "", dtype=object)
    values = frame[column].astype("string").fillna("").str.strip()
    return values.to_numpy(dtype=object)
