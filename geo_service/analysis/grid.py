"""Square and hexagonal analysis grids in British National Grid metres, clipped to a study area.

A :class:`Grid` is the common raster of every hotspot method: kernel density is evaluated at its
cell centres, Getis-Ord Gi* and year-on-year shifts work on its cell counts, and the backtest
scores maps cell by cell. Cells are aligned to whole multiples of ``cell_m`` in EPSG:27700, so two
grids of the same cell size over overlapping areas share their cell edges.

Row 0 is the southernmost row; ``counts[row, col]`` covers
``[x0 + col * cell_m, x0 + (col + 1) * cell_m) x [y0 + row * cell_m, y0 + (row + 1) * cell_m)``.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely
from shapely.geometry.base import BaseGeometry

from geo_service.errors import InputError
from geo_service.schema import CRS

log = logging.getLogger(__name__)

#: Cell sizes the automatic rule chooses from, in metres.
NICE_CELL_SIZES_M: tuple[float, ...] = (25.0, 50.0, 100.0, 250.0, 500.0, 1000.0)
#: The automatic cell size aims at this many cells along the shorter side of the study area.
CELLS_ON_SHORT_SIDE = 100
#: Refuse grids larger than this many cells (a typo in ``cell_m`` should not exhaust memory).
MAX_CELLS = 25_000_000
_INSIDE_RULES = ("centre", "overlap")


@dataclass(frozen=True, eq=False)
class _CellGrid:
    """What square and hexagonal grids share: origin, cell size, shape, study-area mask, counts.

    Subclasses give ``cell_index`` (flat index of each point's cell, -1 outside the grid).
    """

    x0: float
    y0: float
    cell_m: float
    nx: int
    ny: int
    inside: np.ndarray

    @property
    def shape(self) -> tuple[int, int]:
        """``(ny, nx)``, the shape of every per-cell array."""
        return (self.ny, self.nx)

    def cell_index(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Flat index ``row * nx + col`` of each point's cell; -1 outside the grid."""
        raise NotImplementedError

    def counts(self, x: np.ndarray, y: np.ndarray, weights: np.ndarray | None = None) -> np.ndarray:
        """Number (or summed ``weights``) of points in each cell, shape ``(ny, nx)``.

        Integer counts without weights, floats with them. Points outside the grid are ignored.
        """
        index = self.cell_index(x, y)
        ok = index >= 0
        w = None if weights is None else np.asarray(weights, dtype=float)[ok]
        return np.bincount(index[ok], weights=w, minlength=self.nx * self.ny).reshape(self.shape)


@dataclass(frozen=True, eq=False)
class Grid(_CellGrid):
    """A square grid of ``ny`` rows by ``nx`` columns of ``cell_m`` metres from ``(x0, y0)``.

    ``inside`` is a read-only boolean array of shape ``(ny, nx)``: the cells that belong to the
    study area (see :func:`grid_for`). Cells outside it are still part of the raster (so kernels
    spread across the boundary) but are left out of tables, tests and maps.

    Parameters
    ----------
    x0, y0
        South-west corner of the grid, EPSG:27700 metres.
    cell_m
        Side of a cell in metres.
    nx, ny
        Number of columns and rows.
    inside
        The study-area mask, shape ``(ny, nx)``.
    """

    @property
    def cell_area_km2(self) -> float:
        """Area of one cell in square kilometres."""
        return self.cell_m * self.cell_m / 1e6

    def cell_index(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Flat cell index ``row * nx + col`` of each point; -1 outside the grid or not finite.

        Points in cells outside the study area keep their index; test ``inside.ravel()[index]``.

        Parameters
        ----------
        x, y
            Eastings and northings in EPSG:27700 metres, one shape.

        Returns
        -------
        numpy.ndarray
            int64 indices, the shape of ``x``.
        """
        col = self._whole_cells(x, self.x0)
        row = self._whole_cells(y, self.y0)
        # Comparisons with NaN are False, so non-finite points fall out here.
        ok = (col >= 0) & (col < self.nx) & (row >= 0) & (row < self.ny)
        index = np.where(ok, row, 0).astype(np.int64) * self.nx
        index += np.where(ok, col, 0).astype(np.int64)
        index[~ok] = -1
        return index

    def _whole_cells(self, values: np.ndarray, origin: float) -> np.ndarray:
        """Whole cells from ``origin`` to each coordinate (float, NaN where not finite).

        On a grid aligned to multiples of ``cell_m`` (every grid :func:`grid_for` builds) this
        is the national cell number :func:`cell_numbers` less the origin's, so a point falls in
        the very cell a grid cube counted it in, whatever the grid's extent.
        """
        first = origin / self.cell_m
        if first == math.floor(first):
            return cell_numbers(values, self.cell_m) - first
        return np.floor((np.asarray(values, dtype=float) - origin) / self.cell_m)

    def padded(self, reach: int) -> Grid:
        """This grid grown by ``reach`` cells on every side (for convolutions); all cells inside.

        The mask is a ``(1, 1)`` placeholder: a padded grid is a raster to count into, not a
        study area.

        Parameters
        ----------
        reach
            Cells added on each side.

        Returns
        -------
        Grid
            Shape ``(ny + 2 * reach, nx + 2 * reach)``, same cell edges.
        """
        return Grid(
            x0=self.x0 - reach * self.cell_m,
            y0=self.y0 - reach * self.cell_m,
            cell_m=self.cell_m,
            nx=self.nx + 2 * reach,
            ny=self.ny + 2 * reach,
            inside=np.ones((1, 1), dtype=bool),
        )

    def centres(self) -> tuple[np.ndarray, np.ndarray]:
        """Cell-centre eastings and northings, each of shape ``(ny, nx)``."""
        xs = self.x0 + (np.arange(self.nx) + 0.5) * self.cell_m
        ys = self.y0 + (np.arange(self.ny) + 0.5) * self.cell_m
        xc, yc = np.meshgrid(xs, ys)
        return xc, yc

    def boxes(self) -> np.ndarray:
        """Shapely square polygons of every cell (inside or not), shape ``(ny, nx)``."""
        xc, yc = self.centres()
        half = self.cell_m / 2
        return shapely.box(xc - half, yc - half, xc + half, yc + half)

    def to_geodataframe(self, values: dict[str, np.ndarray] | None = None) -> gpd.GeoDataFrame:
        """The inside cells as square polygons with ``cell``, ``row``, ``col`` and ``values``.

        Parameters
        ----------
        values
            Column name -> array of shape ``(ny, nx)`` (or ``(ny * nx,)``); None: no value columns.

        Returns
        -------
        geopandas.GeoDataFrame
            One row per inside cell in flat-index order, EPSG:27700: ``cell`` (flat index),
            ``row``, ``col``, one column per ``values`` entry (its values at the inside cells),
            geometry.

        Raises
        ------
        InputError
            An array of ``values`` does not hold one value per cell.
        """
        flat_inside = self.inside.ravel()
        cell = np.flatnonzero(flat_inside)
        row, col = np.divmod(cell, self.nx)
        data: dict[str, np.ndarray] = {"cell": cell, "row": row, "col": col}
        for name, array in (values or {}).items():
            array = np.asarray(array)
            if array.size != self.nx * self.ny:
                raise InputError(
                    f"grid values {name!r}: expected {self.ny}x{self.nx} cells, got {array.shape}"
                )
            data[name] = array.reshape(-1)[cell]
        half = self.cell_m / 2
        xc = self.x0 + (col + 0.5) * self.cell_m
        yc = self.y0 + (row + 0.5) * self.cell_m
        geometry = shapely.box(xc - half, yc - half, xc + half, yc + half)
        return gpd.GeoDataFrame(data, geometry=geometry, crs=CRS)


def cell_numbers(values: np.ndarray, cell_m: float) -> np.ndarray:
    """The number of the ``cell_m`` cell holding each coordinate on the national lattice.

    ``floor(values / cell_m)``: cell ``k`` spans ``[k * cell_m, (k + 1) * cell_m)`` metres. The
    one formula both an aligned :class:`Grid` and the grid cube
    (:mod:`geo_service.store.grid_cube`) bin with, so both put every point in the same cell.

    Parameters
    ----------
    values
        Eastings or northings in EPSG:27700 metres.
    cell_m
        Cell size in metres.

    Returns
    -------
    numpy.ndarray
        float64 whole numbers, the shape of ``values``; NaN where a value is not finite.
    """
    return np.floor(np.asarray(values, dtype=float) / cell_m)


def grid_for(
    boundary: BaseGeometry | gpd.GeoDataFrame | gpd.GeoSeries,
    *,
    cell_m: float | None = None,
    inside: str = "centre",
) -> Grid:
    """A square grid covering ``boundary``, with the cells inside it marked.

    Parameters
    ----------
    boundary
        The study area in EPSG:27700: a (multi)polygon, or a layer whose polygons are unioned.
    cell_m
        Cell size in metres. By default :func:`auto_cell_m`: the shorter side of the study area's
        bounding box divided by 100, rounded down to 25, 50, 100, 250, 500 or 1000 m (Dacorum,
        about 24 x 20 km, gets 100 m cells; Hertfordshire 250 m); 25 m below that.
    inside
        ``"centre"`` (default): a cell is inside when its centre is in the boundary, so each
        stretch of boundary is split between cells without double counting. ``"overlap"``: when
        the cell square intersects the boundary at all (covers the whole area, for maps).

    Returns
    -------
    Grid
        Aligned to multiples of ``cell_m``, just covering the boundary's bounding box.

    Raises
    ------
    InputError
        The boundary layer is not in EPSG:27700, is not a polygon or layer, or is empty;
        ``inside`` is unknown; ``cell_m`` is not a positive number; the grid would exceed
        :data:`MAX_CELLS` cells.
    """
    area = _boundary_geometry(boundary)
    if inside not in _INSIDE_RULES:
        raise InputError(f"unknown inside rule {inside!r}; allowed: {', '.join(_INSIDE_RULES)}")
    size = auto_cell_m(area) if cell_m is None else float(cell_m)
    if not math.isfinite(size) or size <= 0:
        raise InputError(f"cell size must be a positive number of metres, got {cell_m!r}")
    minx, miny, maxx, maxy = area.bounds
    x0 = math.floor(minx / size) * size
    y0 = math.floor(miny / size) * size
    nx = max(1, math.ceil((maxx - x0) / size))
    ny = max(1, math.ceil((maxy - y0) / size))
    if nx * ny > MAX_CELLS:
        raise InputError(
            f"cell size {size:g} m gives {nx} x {ny} cells over the study area; "
            f"expected at most {MAX_CELLS:,} cells (use a larger cell_m)"
        )
    grid = Grid(x0=x0, y0=y0, cell_m=size, nx=nx, ny=ny, inside=np.ones((ny, nx), dtype=bool))
    mask = _inside_mask(grid, area, inside)
    mask.flags.writeable = False
    log.debug("grid %d x %d cells of %g m, %d inside", nx, ny, size, int(mask.sum()))
    return Grid(x0=x0, y0=y0, cell_m=size, nx=nx, ny=ny, inside=mask)


def auto_cell_m(boundary: BaseGeometry | gpd.GeoDataFrame | gpd.GeoSeries) -> float:
    """The automatic cell size for ``boundary`` (see :func:`grid_for`).

    Parameters
    ----------
    boundary
        The study area in EPSG:27700: a (multi)polygon or a layer.

    Returns
    -------
    float
        The largest of :data:`NICE_CELL_SIZES_M` not above the shorter bounding-box side divided
        by :data:`CELLS_ON_SHORT_SIDE`, in metres; the smallest (25 m) when none fits.

    Raises
    ------
    InputError
        The boundary layer is not in EPSG:27700, is not a polygon or layer, or is empty.
    """
    minx, miny, maxx, maxy = _boundary_geometry(boundary).bounds
    raw = min(maxx - minx, maxy - miny) / CELLS_ON_SHORT_SIDE
    fitting = [size for size in NICE_CELL_SIZES_M if size <= raw]
    return fitting[-1] if fitting else NICE_CELL_SIZES_M[0]


def _boundary_geometry(boundary: BaseGeometry | gpd.GeoDataFrame | gpd.GeoSeries) -> BaseGeometry:
    if isinstance(boundary, gpd.GeoDataFrame | gpd.GeoSeries):
        if boundary.crs is None or not boundary.crs.equals(CRS):
            raise InputError(
                f"boundary layer CRS is {boundary.crs}; expected {CRS} (reproject it first)"
            )
        geometry = boundary.geometry.union_all()
    elif isinstance(boundary, BaseGeometry):
        geometry = boundary
    else:
        raise InputError(
            f"boundary must be a polygon or a GeoDataFrame, got {type(boundary).__name__}"
        )
    if geometry.is_empty or geometry.area <= 0:
        raise InputError("boundary is empty; expected at least one polygon with an area")
    return geometry


def _inside_mask(grid: Grid, area: BaseGeometry, rule: str) -> np.ndarray:
    shapely.prepare(area)
    if rule == "centre":
        xc, yc = grid.centres()
        return np.asarray(shapely.intersects_xy(area, xc, yc))
    return np.asarray(shapely.intersects(area, grid.boxes()))


@dataclass(frozen=True, eq=False)
class HexGrid(_CellGrid):
    """Pointy-top hexagons ``cell_m`` metres across the flats, in ``ny`` rows of ``nx``.

    Row r's centres are at ``y0 + 1.5 * side * r`` and ``x0 + cell_m * (c + 0.5 * (r % 2))``
    (odd rows shifted half a cell east), with ``side = cell_m / sqrt(3)``. Each hexagon has the
    area ``sqrt(3) / 2 * cell_m^2`` and six neighbours at ``cell_m``. Flat indices, ``inside``,
    ``counts`` and ``to_geodataframe`` work as for :class:`Grid`; kernel density needs the square
    :class:`Grid` (its FFT works on a raster).

    Parameters
    ----------
    x0, y0
        Centre of the hexagon in row 0, column 0, EPSG:27700 metres.
    cell_m
        Distance across the flats (between neighbouring centres) in metres.
    nx, ny
        Number of columns and rows.
    inside
        The study-area mask, shape ``(ny, nx)``.
    """

    @property
    def side_m(self) -> float:
        """Length of a hexagon's side in metres."""
        return self.cell_m / math.sqrt(3.0)

    def cell_index(self, x: np.ndarray, y: np.ndarray) -> np.ndarray:
        """Flat index ``row * nx + col`` of the hexagon holding each point; -1 outside.

        Parameters
        ----------
        x, y
            Eastings and northings in EPSG:27700 metres, one shape; non-finite points get -1.

        Returns
        -------
        numpy.ndarray
            int64 indices, the shape of ``x``.
        """
        px = np.asarray(x, dtype=float) - self.x0
        py = np.asarray(y, dtype=float) - self.y0
        q = (math.sqrt(3.0) / 3.0 * px - py / 3.0) / self.side_m  # axial coordinates
        r = 2.0 / 3.0 * py / self.side_m
        finite = np.isfinite(q) & np.isfinite(r)
        q, r = np.where(finite, q, 0.0), np.where(finite, r, 0.0)
        rq, rr, rs = np.rint(q), np.rint(r), np.rint(-q - r)  # cube rounding
        dq, dr, ds = np.abs(rq - q), np.abs(rr - r), np.abs(rs + q + r)
        fix_q = (dq > dr) & (dq > ds)
        fix_r = ~fix_q & (dr > ds)
        rq = np.where(fix_q, -rr - rs, rq)
        rr = np.where(fix_r, -rq - rs, rr)
        row = rr.astype(np.int64)
        col = rq.astype(np.int64) + (row - (row & 1)) // 2
        ok = finite & (col >= 0) & (col < self.nx) & (row >= 0) & (row < self.ny)
        return np.where(ok, row * self.nx + col, -1)

    def centres(self) -> tuple[np.ndarray, np.ndarray]:
        """Hexagon-centre eastings and northings, each of shape ``(ny, nx)``."""
        row, col = np.mgrid[0 : self.ny, 0 : self.nx]
        xc = self.x0 + self.cell_m * (col + 0.5 * (row % 2))
        yc = self.y0 + 1.5 * self.side_m * row
        return xc.astype(float), yc.astype(float)

    def neighbours(self) -> np.ndarray:
        """Flat indices of each cell's six neighbours.

        Returns
        -------
        numpy.ndarray
            int64, shape ``(nx * ny, 6)``; -1 for a neighbour beyond the grid.
        """
        row, col = np.divmod(np.arange(self.nx * self.ny), self.nx)
        odd = row % 2
        steps = [(0, -1), (0, 1), (-1, -1), (-1, 0), (1, -1), (1, 0)]
        out = np.full((row.size, 6), -1, dtype=np.int64)
        for k, (dr, dc) in enumerate(steps):
            r, c = row + dr, col + dc + (odd if dr else 0)
            ok = (r >= 0) & (r < self.ny) & (c >= 0) & (c < self.nx)
            out[ok, k] = r[ok] * self.nx + c[ok]
        return out

    def to_geodataframe(self, values: dict[str, np.ndarray] | None = None) -> gpd.GeoDataFrame:
        """The inside hexagons as polygons with ``cell``, ``row``, ``col`` and ``values``.

        Parameters
        ----------
        values
            Column name -> array with one value per cell (shape ``(ny, nx)`` or ``(ny * nx,)``);
            None: no value columns.

        Returns
        -------
        geopandas.GeoDataFrame
            One row per inside hexagon in flat-index order, EPSG:27700: ``cell``, ``row``, ``col``,
            the ``values`` columns, geometry.
        """
        cell = np.flatnonzero(self.inside.ravel())
        row, col = np.divmod(cell, self.nx)
        data: dict[str, np.ndarray] = {"cell": cell, "row": row, "col": col}
        for name, array in (values or {}).items():
            data[name] = np.asarray(array).reshape(-1)[cell]
        xc, yc = (c.ravel()[cell] for c in self.centres())
        angles = np.deg2rad(30.0 + 60.0 * np.arange(7))
        ring = np.stack(
            [
                xc[:, None] + self.side_m * np.cos(angles),
                yc[:, None] + self.side_m * np.sin(angles),
            ],
            axis=-1,
        )
        return gpd.GeoDataFrame(data, geometry=shapely.polygons(ring), crs=CRS)


def hex_grid_for(
    boundary: BaseGeometry | gpd.GeoDataFrame | gpd.GeoSeries, *, cell_m: float | None = None
) -> HexGrid:
    """Hexagons covering ``boundary``; a hexagon is inside when its centre is in the boundary.

    Parameters
    ----------
    boundary
        The study area in EPSG:27700: a (multi)polygon, or a layer whose polygons are unioned.
    cell_m
        Distance across the flats (between neighbouring centres) in metres; by default
        :func:`auto_cell_m`, as for square grids.

    Returns
    -------
    HexGrid
        Covering the boundary's bounding box with a margin of one hexagon.

    Raises
    ------
    InputError
        The boundary layer is not in EPSG:27700, is not a polygon or layer, or is empty;
        ``cell_m`` is not a positive number; the grid would exceed :data:`MAX_CELLS` cells.
    """
    area = _boundary_geometry(boundary)
    size = auto_cell_m(area) if cell_m is None else float(cell_m)
    if not math.isfinite(size) or size <= 0:
        raise InputError(f"cell size must be a positive number of metres, got {cell_m!r}")
    minx, miny, maxx, maxy = area.bounds
    side = size / math.sqrt(3.0)
    nx = math.ceil((maxx - minx) / size) + 2
    ny = math.ceil((maxy - miny) / (1.5 * side)) + 2
    if nx * ny > MAX_CELLS:
        raise InputError(f"cell size {size:g} m gives {nx} x {ny} hexagons; use a larger cell_m")
    grid = HexGrid(minx - size / 2, miny - side, size, nx, ny, np.ones((ny, nx), dtype=bool))
    xc, yc = grid.centres()
    shapely.prepare(area)
    mask = np.asarray(shapely.intersects_xy(area, xc, yc))
    mask.flags.writeable = False
    return HexGrid(grid.x0, grid.y0, size, nx, ny, mask)
