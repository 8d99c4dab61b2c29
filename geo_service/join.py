"""Incidents to areas: the spatial join that gives every incident one area code per layer.

:func:`assign_areas` adds an ``area_<layer>`` column (:func:`geo_service.schema.area_column`) for
each standard area layer (see :mod:`geo_service.boundaries`). It works on the plain coordinate
arrays of the canonical table; it builds no Point objects and never loops over points:

1. With many points, a grid over the layer answers most of them by a table lookup: a connected
   region of cells that no boundary comes near lies wholly inside one area or outside all of them,
   and one test of one cell centre per region settles every point in it.
2. The remaining points (near a boundary) are tested polygon by polygon (a loop over areas) with
   ``shapely.contains_xy`` on the prepared polygon, taking as candidates the points inside the
   polygon's bounding box: a mask over the points for a few polygons, a binary search in the
   points sorted by x for many (LSOAs).
3. Points still unplaced are tested with ``shapely.intersects_xy``: those on a boundary.

Rules, so that the same data always give the same answer:

- A point strictly inside an area gets that area. Where areas overlap, the lowest code wins.
- A point on the boundary (an edge or vertex shared by two areas, or the outer edge of the layer)
  gets the lowest code among the areas whose closure holds it.
- A point outside every area keeps a missing code and is counted as ``located_outside``; it is never
  dropped.
- An incident without coordinates but with an ``lsoa_code`` is *allocated by LSOA*: in a layer named
  ``lsoa`` it gets that code itself (when the layer holds it); in any other layer it gets the area
  holding the LSOA's representative point (``point_on_surface``), which needs the ``lsoa`` layer
  among ``layers``. Other incidents without coordinates are ``unallocated``.
"""

from __future__ import annotations

import re
from collections.abc import Callable, Mapping
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc
import pyproj
import shapely

from geo_service.analysis.raster import dilated, raster_labels
from geo_service.errors import InputError
from geo_service.schema import CRS, area_column

#: Name of the layer whose codes are the police.uk ``LSOA code`` values.
LSOA_LAYER = "lsoa"
#: Above this many polygons the x-sorted search beats a bounding-box mask over every point.
_SORTED_ABOVE = 64
#: From this many points on, a grid of cells no boundary crosses places most points by lookup.
_GRID_FROM_POINTS = 50_000
#: Grid size: about this many cells per mean area, and never more than this many cells.
_CELLS_PER_AREA = 4096
_MAX_CELLS = 2**20
#: Position of a point not yet placed (-1 is "outside every area").
_UNKNOWN = -2
_LAYER_NAME = re.compile(r"^[a-z][a-z0-9_]*$")


@dataclass(frozen=True)
class LayerJoin:
    """How the incidents of one join were placed in one layer.

    Attributes
    ----------
    layer : str
        The layer name.
    located_inside : int
        Incidents with coordinates that fall in an area (including ``on_boundary``).
    located_outside : int
        Incidents with coordinates outside every area (kept, area missing).
    on_boundary : int
        Located incidents exactly on an area boundary, placed by the lowest-code rule.
    allocated_by_lsoa : int
        Incidents without coordinates placed through their LSOA code.
    unallocated : int
        Incidents without coordinates that could not be placed.
    """

    layer: str
    located_inside: int
    located_outside: int
    on_boundary: int
    allocated_by_lsoa: int
    unallocated: int


@dataclass(frozen=True)
class JoinReport:
    """The :class:`LayerJoin` of every layer of one :func:`assign_areas` call, by layer name."""

    layers: Mapping[str, LayerJoin]

    def __getitem__(self, layer: str) -> LayerJoin:
        return self.layers[layer]

    def as_dict(self) -> dict[str, dict[str, int]]:
        """JSON-ready counts: ``{layer: {"located_inside": n, ...}}``."""
        return {
            name: {k: v for k, v in vars(join).items() if k != "layer"}
            for name, join in self.layers.items()
        }


def assign_areas(
    incidents: pd.DataFrame, layers: Mapping[str, gpd.GeoDataFrame]
) -> tuple[pd.DataFrame, JoinReport]:
    """Add one ``area_<layer>`` column per layer to a shallow copy of ``incidents``.

    The incidents' own columns are shared with the input, not copied (the input is unchanged:
    pandas copies on write).

    Parameters
    ----------
    incidents
        Canonical incidents (columns ``x``, ``y`` in EPSG:27700; ``lsoa_code`` optional).
    layers
        Standard area layers in EPSG:27700 by name (``"ward"``, ``"beat"``, ``"lsoa"``...).

    Returns
    -------
    incidents, report
        The incidents with area columns (missing where no area applies) and the counts per layer.
    """
    _check_inputs(incidents, layers)
    x = incidents["x"].to_numpy(dtype=float)
    y = incidents["y"].to_numpy(dtype=float)
    located = np.isfinite(x) & np.isfinite(y)
    points = _Points(x[located], y[located])
    lsoa_codes = _unlocated_lsoa_codes(incidents, located)
    out = incidents.copy(deep=False)  # new columns only: the input's columns are shared
    reports = {}
    for name, layer in layers.items():
        codes = layer["code"].to_numpy(dtype=object)
        position = np.full(len(incidents), -1, dtype=np.int64)
        position[located], on_boundary = points.locate(layer.geometry.to_numpy(), codes)
        by_lsoa = _allocate_by_lsoa(name, layer, layers, lsoa_codes)
        position[~located] = by_lsoa
        out[area_column(name)] = _codes_at(codes, position)
        inside = int((position[located] >= 0).sum())
        allocated = int((by_lsoa >= 0).sum())
        reports[name] = LayerJoin(
            layer=name,
            located_inside=inside,
            located_outside=int(located.sum()) - inside,
            on_boundary=on_boundary,
            allocated_by_lsoa=allocated,
            unallocated=len(by_lsoa) - allocated,
        )
    return out, JoinReport(layers=reports)


def _codes_at(codes: np.ndarray, position: np.ndarray) -> pd.api.extensions.ExtensionArray:
    """``codes[position]`` as a "str" array, missing where ``position`` is -1 (Arrow: fast)."""
    dictionary = pa.array(list(codes), type=pa.large_string())
    return pd.array(pc.take(dictionary, pa.array(position, mask=position < 0)), dtype="str")


def _check_inputs(incidents: pd.DataFrame, layers: Mapping[str, gpd.GeoDataFrame]) -> None:
    missing = [c for c in ("x", "y") if c not in incidents.columns]
    if missing:
        raise InputError(f"incidents lack column(s) {', '.join(missing)}; expected canonical x, y")
    target = pyproj.CRS.from_user_input(CRS)
    for name, layer in layers.items():
        if not _LAYER_NAME.match(name) or area_column(name) == "area_hint":
            raise InputError(
                f"layer name {name!r} is not usable: expected lower-case letters, digits and "
                "underscores, starting with a letter (and not 'hint')"
            )
        if "code" not in layer.columns:
            raise InputError(f"layer {name!r} has no 'code' column; read it with read_layer")
        if layer.crs is None or pyproj.CRS.from_user_input(layer.crs) != target:
            raise InputError(
                f"layer {name!r} is in {layer.crs}, expected {CRS}; read it with read_layer"
            )


def _unlocated_lsoa_codes(incidents: pd.DataFrame, located: np.ndarray) -> np.ndarray:
    """The LSOA code (or None) of each incident without coordinates."""
    if "lsoa_code" not in incidents.columns:
        return np.full(int((~located).sum()), None, dtype=object)
    # Select first: turning every row's code into a Python object costs ~0.2 s per million.
    codes = incidents["lsoa_code"].iloc[np.flatnonzero(~located)].to_numpy(dtype=object)
    return np.asarray(np.where(pd.isna(codes), None, codes), dtype=object)


def _allocate_by_lsoa(
    name: str,
    layer: gpd.GeoDataFrame,
    layers: Mapping[str, gpd.GeoDataFrame],
    lsoa_codes: np.ndarray,
) -> np.ndarray:
    """Position in ``layer`` (-1: none) of the incidents without coordinates, via their LSOA."""
    codes = pd.Index(layer["code"].to_numpy(dtype=object))
    if name == LSOA_LAYER:
        area_of_lsoa = pd.Series(codes, index=codes)
    elif LSOA_LAYER in layers:
        area_of_lsoa = lsoa_lookup(layers[LSOA_LAYER], layer)
    else:
        return np.full(len(lsoa_codes), -1, dtype=np.int64)
    areas = pd.Series(lsoa_codes, dtype=object).map(area_of_lsoa)
    return np.asarray(codes.get_indexer(areas), dtype=np.int64)


def lsoa_lookup(lsoa: gpd.GeoDataFrame, layer: gpd.GeoDataFrame) -> pd.Series:
    """The area of ``layer`` holding each LSOA's representative point, indexed by LSOA code.

    LSOAs whose point falls in no area are left out.
    """
    xy = shapely.get_coordinates(shapely.point_on_surface(lsoa.geometry.to_numpy()))
    codes = layer["code"].to_numpy(dtype=object)
    position, _ = _Points(xy[:, 0], xy[:, 1]).locate(layer.geometry.to_numpy(), codes)
    found = position >= 0
    return pd.Series(codes[position[found]], index=lsoa["code"].to_numpy(dtype=object)[found])


def locate_xy(
    layer: gpd.GeoDataFrame, x: np.ndarray, y: np.ndarray
) -> pd.api.extensions.ExtensionArray:
    """Area code (missing outside every area) of each EPSG:27700 point, by the join's rules."""
    codes = layer["code"].to_numpy(dtype=object)
    points = _Points(np.asarray(x, dtype=float), np.asarray(y, dtype=float))
    position, _ = points.locate(layer.geometry.to_numpy(), codes)
    return _codes_at(codes, position)


class _Points:
    """Point coordinates; the x-sorted order is built once and reused for every layer."""

    def __init__(self, x: np.ndarray, y: np.ndarray) -> None:
        self.x = x
        self.y = y
        self._sorted: tuple[np.ndarray, np.ndarray] | None = None

    def locate(self, polygons: np.ndarray, codes: np.ndarray) -> tuple[np.ndarray, int]:
        """Position of each point's polygon (-1 outside all) and how many lay on a boundary.

        Polygons are tried in ascending code order and a placed point is never moved, so where
        several areas hold a point the lowest code wins: first among areas holding it strictly
        inside, then (for the points still unplaced) among areas whose boundary it lies on.
        """
        if not len(polygons):
            return np.full(len(self.x), -1, dtype=np.int64), 0
        polygons = np.array(polygons, dtype=object)  # a copy: preparing must not touch the input
        shapely.prepare(polygons)
        bounds = shapely.bounds(polygons)
        by_code = np.argsort(np.asarray(codes, dtype=str), kind="stable")
        if len(self.x) >= max(_GRID_FROM_POINTS, 1):
            grid = _InteriorGrid(polygons, bounds, by_code, max_cells=min(len(self.x), _MAX_CELLS))
            position = grid.lookup(self.x, self.y)
        else:
            position = np.full(len(self.x), _UNKNOWN, dtype=np.int64)
        self._place(shapely.contains_xy, position, polygons, bounds, by_code)
        on_boundary = self._place(shapely.intersects_xy, position, polygons, bounds, by_code)
        position[position == _UNKNOWN] = -1
        return position, on_boundary

    def _place(
        self,
        test: Callable[..., np.ndarray],
        position: np.ndarray,
        polygons: np.ndarray,
        bounds: np.ndarray,
        by_code: np.ndarray,
    ) -> int:
        """Place the unknown points of ``position`` (in place) that pass ``test``; count them."""
        rest = np.flatnonzero(position == _UNKNOWN)
        points = self if len(rest) == len(self.x) else _Points(self.x[rest], self.y[rest])
        found = points._first_hit(test, polygons, bounds, by_code)
        position[rest] = np.where(found >= 0, found, _UNKNOWN)
        return int((found >= 0).sum())

    def _first_hit(
        self,
        test: Callable[..., np.ndarray],
        polygons: np.ndarray,
        bounds: np.ndarray,
        by_code: np.ndarray,
    ) -> np.ndarray:
        """For each point, the first polygon in ``by_code`` order passing ``test`` (or -1)."""
        position = np.full(len(self.x), -1, dtype=np.int64)
        for index in by_code:
            candidates = self._candidates(bounds[index], len(polygons), position)
            hit = test(polygons[index], self.x[candidates], self.y[candidates])
            position[candidates[hit]] = index
        return position

    def _candidates(self, box: np.ndarray, n_polygons: int, position: np.ndarray) -> np.ndarray:
        """Unplaced points inside ``box`` (minx, miny, maxx, maxy)."""
        if n_polygons <= _SORTED_ABOVE:
            x, y = self.x, self.y
            found = np.flatnonzero((x >= box[0]) & (x <= box[2]) & (y >= box[1]) & (y <= box[3]))
        else:
            order, sorted_x = self._x_sorted()
            start = np.searchsorted(sorted_x, box[0], side="left")
            stop = np.searchsorted(sorted_x, box[2], side="right")
            strip = order[start:stop]
            y = self.y[strip]
            found = strip[(y >= box[1]) & (y <= box[3])]
        return found[position[found] < 0]

    def _x_sorted(self) -> tuple[np.ndarray, np.ndarray]:
        if self._sorted is None:
            order = np.argsort(self.x, kind="stable")
            self._sorted = (order, self.x[order])
        return self._sorted


class _InteriorGrid:
    """A regular grid over a layer that places the points of cells no boundary comes near.

    Cells near a boundary (holding a boundary point sampled every half cell, or next to such a
    cell, which absorbs the sampling and rounding at cell edges) answer ``_UNKNOWN``: their points
    are tested against the polygons. A connected region of the other cells is crossed by no
    boundary, so it lies wholly inside or outside each polygon and every point in it has the
    answer of any one of its cell centres: the lowest-code polygon holding it, or -1 (outside
    every area). Points beyond the layer's bounds are outside.
    """

    def __init__(
        self, polygons: np.ndarray, bounds: np.ndarray, by_code: np.ndarray, *, max_cells: int
    ) -> None:
        self.x0, self.y0 = bounds[:, 0].min(), bounds[:, 1].min()
        width, height = bounds[:, 2].max() - self.x0, bounds[:, 3].max() - self.y0
        mean_area = float(np.mean(shapely.area(polygons)))
        self.cell_m = max(
            np.sqrt(mean_area / _CELLS_PER_AREA), np.sqrt(width * height / max_cells), 1e-6
        )
        self.nx, self.ny = int(width // self.cell_m) + 1, int(height // self.cell_m) + 1
        self.owner = self._owners(polygons, bounds, by_code)

    def _owners(self, polygons: np.ndarray, bounds: np.ndarray, by_code: np.ndarray) -> np.ndarray:
        near = self._near_boundary(polygons)
        regions, count = raster_labels(~near, diagonal=False)  # regions free of boundaries
        regions = regions.ravel()
        _, first_cell = np.unique(regions, return_index=True)  # region 0 is the near cells
        cells = first_cell[1:]
        centres = _Points(
            self.x0 + (cells % self.nx + 0.5) * self.cell_m,
            self.y0 + (cells // self.nx + 0.5) * self.cell_m,
        )
        region_owner = np.full(count + 1, _UNKNOWN, dtype=np.int64)
        region_owner[1:] = centres._first_hit(shapely.contains_xy, polygons, bounds, by_code)
        return region_owner[regions]

    def _near_boundary(self, polygons: np.ndarray) -> np.ndarray:
        """(ny, nx) mask of the cells within one cell of a boundary point."""
        lines = shapely.segmentize(shapely.boundary(polygons), self.cell_m / 2)
        xy = shapely.get_coordinates(lines)
        ix = np.clip((xy[:, 0] - self.x0) // self.cell_m, 0, self.nx - 1).astype(np.int64)
        iy = np.clip((xy[:, 1] - self.y0) // self.cell_m, 0, self.ny - 1).astype(np.int64)
        near = np.zeros((self.ny, self.nx), dtype=bool)
        near[iy, ix] = True
        return dilated(near)

    def lookup(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Polygon position, -1 (outside every area) or ``_UNKNOWN`` for each point."""
        fx = (x - self.x0) / self.cell_m
        fy = (y - self.y0) / self.cell_m
        on_grid = (fx >= 0) & (fx < self.nx) & (fy >= 0) & (fy < self.ny)
        ix = np.clip(fx, 0, self.nx - 1).astype(np.int64)
        iy = np.clip(fy, 0, self.ny - 1).astype(np.int64)
        return np.where(on_grid, self.owner[iy * self.nx + ix], -1)
