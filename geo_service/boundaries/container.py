"""Which layer of a boundary file to read, and what CRS the file itself states.

Many boundary downloads are *containers*: an OS Boundary-Line GeoPackage holds ``county``,
``district_borough_unitary``, ``district_borough_unitary_ward`` and more; a zip can hold several
Shapefiles, a KML one layer per folder, a FileGDB many feature classes. GDAL (and so pyogrio) reads
the first layer when none is named, with only a ``UserWarning``. Here a layer is always chosen
explicitly: the one named by the caller (``--source-layer NAME`` or ``file.gpkg:NAME``), else the
only layer holding geometries; a file with several is refused with the list of its layers and their
feature counts.

What a file says about its CRS is not always what GDAL reports:

- a GeoJSON without a ``crs`` member states nothing; GDAL reports EPSG:4326 because RFC 7946 fixes
  WGS84, so the report says "the file states no CRS; GeoJSON's default WGS84 assumed";
- a TopoJSON keeps its ``crs`` member inside the object (``objects.<name>.crs``, as
  ``martinjc/UK-GeoJSON`` writes ``urn:ogc:def:crs:OGC:1.3:CRS84``), which GDAL ignores;
- KML is WGS84 by definition.
"""

from __future__ import annotations

import json
import logging
import re
import zipfile
from collections.abc import Iterator
from contextlib import contextmanager
from dataclasses import dataclass
from pathlib import Path
from typing import IO, Any

import geopandas as gpd
import pyogrio
import pyproj
import shapely

from geo_service.boundaries.crs_check import crs_text, describe_likely, likely_crs
from geo_service.errors import InputError

logger = logging.getLogger(__name__)

_CRS_KEY = re.compile(rb'"crs"\s*:')
_FEATURES_KEY = re.compile(rb'"features"\s*:')
_PEEK_BYTES = 1 << 20  # the head and tail of a GeoJSON searched for a top-level crs member
_TOPOJSON_MAX_BYTES = 512 << 20  # TopoJSON is parsed whole to find its crs member
#: ``SourceCrs.origin`` of a CRS the file states itself.
STATED = "stated by the file"

_READ_ERROR = "cannot read as a GeoJSON, Shapefile, GeoPackage, KML or other GDAL format"


@dataclass(frozen=True)
class SourceCrs:
    """The CRS a layer's coordinates are read in, and where it came from.

    Attributes
    ----------
    crs : pyproj.CRS
        The CRS of the coordinates.
    origin : str
        Where it came from, for messages: "stated by the file", "given with --crs",
        "the file states no CRS; GeoJSON's default WGS84 assumed", "KML is always WGS84".
    given : bool
        True when the caller gave it (``--crs``).
    """

    crs: pyproj.CRS
    origin: str
    given: bool


def split_layer_suffix(path: Path, source_layer: str | None) -> tuple[Path, str | None]:
    """``file.gpkg:NAME`` -> (``file.gpkg``, ``NAME``); other paths are returned as they are."""
    if path.exists() or ":" not in path.name:
        return path, source_layer
    file_part, _, name = str(path).rpartition(":")
    if not Path(file_part).exists() or not name:
        return path, source_layer
    if source_layer is not None and source_layer != name:
        raise InputError(f"{path}: names layer {name!r} but --source-layer gives {source_layer!r}")
    return Path(file_part), name


def choose_layer(path: Path, source_layer: str | None) -> str:
    """The layer of ``path`` to read: the one named, else the only layer holding geometries."""
    _check_exists(path)
    try:
        layers = [(str(name), geometry) for name, geometry in pyogrio.list_layers(path)]
    except Exception as exc:  # pyogrio raises several GDAL error types
        raise InputError(f"{path}: {_READ_ERROR} ({_gdal_error(exc)})") from exc
    names = [name for name, _ in layers]
    if source_layer is not None:
        if source_layer not in names:
            raise InputError(
                f"{path}: has no layer {source_layer!r}; its layers: {_listing(path, names)}"
            )
        return source_layer
    spatial = [name for name, geometry in layers if geometry is not None]
    if len(spatial) == 1:
        return spatial[0]
    if not spatial:
        raise InputError(f"{path}: holds no layer with geometries; expected area polygons")
    raise InputError(
        f"{path}: holds {len(spatial)} layers: {_listing(path, spatial)}; choose one with "
        f"--source-layer NAME (or {path.name}:NAME)"
    )


def _check_exists(path: Path) -> None:
    if not path.exists():
        raise InputError(f"{path}: no such file")
    if path.is_file() and path.stat().st_size == 0:
        raise InputError(f"{path}: the file is empty; expected a GeoJSON, Shapefile or GeoPackage")
    if path.is_file():
        with path.open("rb") as handle:
            head = handle.read(4)
        if head == b"PAR1":  # GDAL here has no (Geo)Parquet driver: say so, not a library error
            raise InputError(
                f"{path}: is a (Geo)Parquet file, which boundary layers are not read from; "
                f"convert it to GeoPackage or GeoJSON (ogr2ogr {path.stem}.gpkg {path.name})"
            )


def _gdal_error(exc: Exception) -> str:
    """GDAL's message, cut to 200 characters (it can quote the file's content)."""
    text = str(exc)
    return text if len(text) <= 200 else f"{text[:200]}... ({len(text)} characters)"


def _listing(path: Path, names: list[str]) -> str:
    """``name (n features)`` for each layer."""
    shown = []
    for name in names:
        count = pyogrio.read_info(path, layer=name, force_feature_count=True)["features"]
        shown.append(f"{name} ({count} feature{'' if count == 1 else 's'})")
    return ", ".join(shown)


def read_source(path: Path, layer: str) -> gpd.GeoDataFrame:
    """The features of ``layer`` in ``path``, as GDAL reads them (CRS as GDAL reports it)."""
    try:
        frame = pyogrio.read_dataframe(path, layer=layer)
    except Exception as exc:  # pyogrio raises several GDAL error types
        raise InputError(f"{path}: {_READ_ERROR} ({_gdal_error(exc)})") from exc
    if not isinstance(frame, gpd.GeoDataFrame):
        raise InputError(f"{path}: layer {layer!r} holds no geometries; expected area polygons")
    if len(frame) == 0:
        raise InputError(f"{path}: the file holds no features; expected area polygons")
    return frame


def source_crs(frame: gpd.GeoDataFrame, path: Path, layer: str, given: str | None) -> SourceCrs:
    """The CRS to read the coordinates in: ``given`` (``--crs``) else the file's own.

    A file that states no CRS is refused unless ``given``; the message's example CRS is the one
    the coordinates look like (never a fixed EPSG:27700, which would make degrees into specks).
    """
    stated, origin = stated_crs(frame, path, layer)
    if given is None:
        if stated is None:
            raise InputError(f"{path}: {_no_crs_message(origin, frame)}")
        return SourceCrs(stated, origin, given=False)
    try:
        chosen = pyproj.CRS.from_user_input(given)
    except pyproj.exceptions.CRSError as exc:
        raise InputError(f"--crs {given!r} is not a CRS PROJ knows (e.g. EPSG:27700)") from exc
    if stated is None or stated.equals(chosen, ignore_axis_order=True):
        pass
    elif origin == STATED:
        logger.warning("%s: the file states %s; using the given %s", path, crs_text(stated), given)
    else:  # the format's default, not the file's word: worth a note, not a warning
        logger.info("%s: %s; using the given %s", path, origin, given)
    return SourceCrs(chosen, "given with --crs", given=True)


def _no_crs_message(origin: str, frame: gpd.GeoDataFrame) -> str:
    likely = likely_crs(shapely.bounds(frame.geometry.to_numpy()))
    advice = (
        describe_likely(likely, given=False)
        if likely
        else "give the CRS explicitly with --crs (e.g. EPSG:27700 for British National Grid "
        "metres, EPSG:4326 for longitude/latitude degrees)"
    )
    return f"{origin}; {advice}"


def stated_crs(frame: gpd.GeoDataFrame, path: Path, layer: str) -> tuple[pyproj.CRS | None, str]:
    """What the file says about its CRS: (CRS or None, where it came from)."""
    driver = str(pyogrio.read_info(path, layer=layer)["driver"])
    if driver == "GeoJSON" and not _geojson_has_crs_member(path, layer):
        return frame.crs, "the file states no CRS; GeoJSON's default WGS84 assumed"
    if driver == "TopoJSON" and frame.crs is None:
        member = _topojson_crs_member(path, layer)
        if member is None:
            return None, "the file states no coordinate reference system (TopoJSON has no default)"
        return member, STATED
    if driver in ("KML", "LIBKML"):
        return frame.crs, "KML is always WGS84"
    if frame.crs is None:
        return None, (
            "the file states no coordinate reference system (a Shapefile needs a .prj file)"
        )
    return frame.crs, STATED


def _geojson_has_crs_member(path: Path, layer: str) -> bool:
    """A top-level ``crs`` member: searched before ``features`` and after the features array.

    Writers put it first (GDAL, QGIS) or last (Python ``json.dump`` of a dict); the file is not
    parsed whole, as a national GeoJSON can be a gigabyte.
    """
    with _open_json(path, layer) as stream:
        head = stream.read(_PEEK_BYTES)
        features = _FEATURES_KEY.search(head)
        if _CRS_KEY.search(head[: features.start() if features else len(head)]):
            return True
        if features is None:
            return False
        stream.seek(0, 2)
        size = stream.tell()
        stream.seek(max(0, size - _PEEK_BYTES))
        tail = stream.read()
    return _CRS_KEY.search(tail[tail.rfind(b"]") + 1 :]) is not None


def _topojson_crs_member(path: Path, layer: str) -> pyproj.CRS | None:
    """The ``crs`` member of the TopoJSON object ``layer`` (or of the topology)."""
    with _open_json(path, layer) as stream:
        stream.seek(0, 2)
        if stream.tell() > _TOPOJSON_MAX_BYTES:
            return None
        stream.seek(0)
        topology: Any = json.load(stream)
    objects = topology.get("objects", {}) if isinstance(topology, dict) else {}
    member = (objects.get(layer) or {}).get("crs") or topology.get("crs")
    name = (member or {}).get("properties", {}).get("name") if isinstance(member, dict) else None
    if not isinstance(name, str):
        return None
    try:
        return pyproj.CRS.from_user_input(name)
    except pyproj.exceptions.CRSError as exc:
        raise InputError(f"{path}: its crs member {name!r} is not a CRS PROJ knows") from exc


@contextmanager
def _open_json(path: Path, layer: str) -> Iterator[IO[bytes]]:
    """A binary stream of the JSON text of ``layer``: the file itself, or its member in a zip."""
    if path.suffix.lower() != ".zip":
        with path.open("rb") as stream:
            yield stream
        return
    with zipfile.ZipFile(path) as archive:
        members = [m for m in archive.namelist() if Path(m).stem == layer]
        if not members:
            raise InputError(f"{path}: no member of the zip holds layer {layer!r}")
        with archive.open(members[0]) as stream:
            yield stream
