"""Overlaps and gaps between the areas of a standard area layer (reported, not refused).

Generalised boundary files (ONS "BGC", "BSC") leave slivers where neighbours do not quite meet or
overlap a little; both are reported with their area so that a user can judge them.
"""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import shapely


def find_overlaps(
    layer: gpd.GeoDataFrame, *, tolerance_m2: float = 1.0
) -> tuple[tuple[str, str, float], ...]:
    """Pairs of areas whose overlap exceeds ``tolerance_m2`` (codes and overlap area in m²)."""
    geometry = layer.geometry.to_numpy()
    left, right = shapely.STRtree(geometry).query(geometry, predicate="intersects")
    keep = left < right
    left, right = left[keep], right[keep]
    overlap_m2 = shapely.area(shapely.intersection(geometry[left], geometry[right]))
    codes = layer["code"].to_numpy(dtype=object)
    return tuple(
        (str(codes[i]), str(codes[j]), float(a))
        for i, j, a in zip(left, right, overlap_m2, strict=True)
        if a > tolerance_m2
    )


def find_gaps(layer: gpd.GeoDataFrame, *, tolerance_m2: float = 1.0) -> tuple[float, ...]:
    """Areas (m²) of the holes in the layer's union that are not holes of any single area."""
    geometry = layer.geometry.to_numpy()
    holes = _holes(shapely.union_all(geometry))
    holes = holes[shapely.area(holes) > tolerance_m2]  # generalised files leave many slivers
    if not len(holes):
        return ()
    own_holes = _holes(geometry)
    own_area = shapely.area(own_holes)
    gaps = []
    for hole in holes:  # the few holes above the tolerance
        x, y = shapely.get_coordinates(hole.point_on_surface())[0]
        same = shapely.contains_xy(own_holes, x, y) & np.isclose(own_area, hole.area, rtol=1e-6)
        if not same.any():
            gaps.append(float(hole.area))
    return tuple(sorted(gaps, reverse=True))


def _holes(geometry: shapely.Geometry | np.ndarray) -> np.ndarray:
    """The interior rings of polygons, as polygons."""
    rings, owner = shapely.get_rings(shapely.get_parts(geometry), return_index=True)
    exterior = np.r_[True, owner[1:] != owner[:-1]] if len(owner) else np.empty(0, dtype=bool)
    return np.asarray(shapely.polygons(rings[~exterior]))
