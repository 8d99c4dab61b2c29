"""Point clusters (DBSCAN and HDBSCAN) returned as polygons with their size, shape and areas.

police.uk snaps every incident to one of a fixed set of anonymous map points, so a force's year of
crime (about 100k incidents) sits on about 12k distinct locations. :func:`dbscan_labels` runs
DBSCAN once per distinct location with the number of incidents there as ``sample_weight``: a
location is a core point when the incidents within ``eps_m`` (its own included) number at least
``min_samples``, exactly as for the expanded points, so the clusters are the same and 1M snapped
points take well under a second instead of ~20 s and 4.5 GB. (DBSCAN's only order dependence
remains: a border point within reach of two clusters joins one of them.) The DBSCAN itself is an
exact grid DBSCAN (:mod:`geo_service.analysis.grid_dbscan`) whose labels equal scikit-learn's
and whose cost grows with the points, not with their neighbour pairs: unsnapped points (fire,
STATS19), each incident its own location, grow denser as the period lengthens, and scikit-learn's
cost grew with the density.

A cluster is a place to patrol, so its size is bounded: by default a cluster whose convex hull
exceeds :data:`MAX_HOTSPOT_AREA_M2` (1 km^2) is split by running DBSCAN on its incidents alone at
half the radius (DBSCAN's own ``min_samples``; for HDBSCAN, 250 m, 5 incidents, and parts below
``min_cluster_size`` left out), halving again for any part still too large, down to
:data:`SPLIT_EPS_FLOOR_M`; a part still too large there is dropped (a spread-out area, not a
hotspot). Without that bound HDBSCAN's defaults made one 29 km^2 "hotspot" of 18 of Dacorum's 25
wards.

Fixed parameters do not survive a change of scale: an ``eps_m``/``min_samples`` that finds
estates in one month of a district merges a whole county's year into one cluster. The default
rule (:func:`auto_dbscan_params`) therefore scales with the number of points and the study area.
"""

from __future__ import annotations

import logging
import math
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import shapely

from geo_service.analysis.grid import Grid
from geo_service.analysis.grid_dbscan import NeighbourWeights, grid_dbscan
from geo_service.analysis.locations import distinct_locations
from geo_service.errors import InputError
from geo_service.schema import CRS

log = logging.getLogger(__name__)

HULLS = ("convex", "concave")
#: Share of incidents (the densest) that are DBSCAN core points under the automatic rule.
CORE_SHARE = 0.20
#: Bounds on the automatic ``eps_m`` (below 100 m only police.uk's snapping would be clustered).
EPS_RANGE_M = (100.0, 400.0)
#: Smallest automatic ``min_samples`` / HDBSCAN ``min_cluster_size``.
MIN_SAMPLES_FLOOR = 5
#: Shape parameter of :func:`shapely.concave_hull` (0 = tightest, 1 = convex).
CONCAVE_RATIO = 0.3
#: Without an area layer, the study area is the number of occupied squares of this side (m).
OCCUPIED_SQUARE_M = 1000.0
#: HDBSCAN runs on every incident; above this many it is refused (use DBSCAN).
HDBSCAN_MAX_POINTS = 60_000
#: Largest hotspot a patrol can cover, in m^2 (convex hull): 1 km^2. Larger clusters are split.
MAX_HOTSPOT_AREA_M2 = 1e6
#: Splitting halves the radius down to this many metres; parts still too large are dropped.
SPLIT_EPS_FLOOR_M = 25.0


@dataclass(frozen=True)
class DbscanParams:
    """The parameters a DBSCAN run used, and what they were derived from.

    Attributes
    ----------
    eps_m
        Neighbourhood radius in metres.
    min_samples
        Incidents (own location included) within ``eps_m`` that make a core point.
    study_area_m2
        The study area in square metres the automatic rule used.
    n_points
        Located incidents counted.
    """

    eps_m: float
    min_samples: int
    study_area_m2: float
    n_points: int


def auto_dbscan_params(
    x: np.ndarray,
    y: np.ndarray,
    *,
    study_area_m2: float | None = None,
    eps_m: float | None = None,
    min_samples: int | None = None,
) -> DbscanParams:
    """DBSCAN parameters scaled to the points and the study area (given values are kept).

    ``eps_m = clip(sqrt(A / n), 100, 400)``: the spacing of ``n`` points spread evenly over the
    study area ``A``, kept above police.uk's snapping and below street-block scale. ``min_samples``
    is the 80th percentile, over incidents, of the number of incidents within ``eps_m`` (own
    location included), at least 5: the densest fifth of incidents are the cluster cores, at any
    scale. (A fixed ``min_samples`` tuned on a district's month is exceeded almost everywhere in a
    force's year and merges whole towns into one cluster.)

    Parameters
    ----------
    x, y
        Points in EPSG:27700 metres, 1-D, one length (non-finite ones are ignored).
    study_area_m2
        Study area ``A`` in square metres; default the area of the 1 km squares holding at least
        one point.
    eps_m
        Radius in metres to keep instead of the rule's.
    min_samples
        Core size in incidents to keep instead of the rule's.

    Returns
    -------
    DbscanParams
        The parameters and what they were derived from.

    Raises
    ------
    InputError
        ``x`` and ``y`` are not 1-D of one length; the study area, ``eps_m`` or ``min_samples``
        is not positive.
    """
    xy = _points(x, y)
    unique, _, counts = _collapse(xy[np.isfinite(xy).all(axis=1)])
    area = _study_area_m2(unique, None) if study_area_m2 is None else float(study_area_m2)
    return _auto_params(unique, counts, area, eps_m, min_samples)[0]


def _auto_params(
    unique: np.ndarray,
    counts: np.ndarray,
    study_area_m2: float,
    eps_m: float | None,
    min_samples: int | None,
) -> tuple[DbscanParams, NeighbourWeights | None]:
    """The parameters, and the neighbour weights the rule counted (None if it counted none)."""
    if study_area_m2 <= 0:
        raise InputError(f"study area must be positive, got {study_area_m2} m2")
    n = int(counts.sum())
    if eps_m is None:
        spacing = math.sqrt(study_area_m2 / max(n, 1))
        eps_m = min(max(spacing, EPS_RANGE_M[0]), EPS_RANGE_M[1])
    if not eps_m > 0:
        raise InputError(f"eps_m must be a positive number of metres, got {eps_m}")
    neighbours = None
    if min_samples is None:
        min_samples = MIN_SAMPLES_FLOOR
        if n > 0:
            neighbours = NeighbourWeights(unique, eps=eps_m, sample_weight=counts)
            at = neighbours.quantile(1.0 - CORE_SHARE)
            min_samples = max(MIN_SAMPLES_FLOOR, math.ceil(at))
    if min_samples < 1:
        raise InputError(f"min_samples must be at least 1, got {min_samples}")
    return DbscanParams(float(eps_m), int(min_samples), float(study_area_m2), n), neighbours


def dbscan_labels(x: np.ndarray, y: np.ndarray, *, eps_m: float, min_samples: int) -> np.ndarray:
    """DBSCAN cluster label of every point (-1 = noise or no location), ties collapsed and weighted.

    DBSCAN after Ester, Kriegel, Sander & Xu (1996), run once per distinct location with its
    number of incidents as ``sample_weight`` by the exact grid DBSCAN of
    :mod:`geo_service.analysis.grid_dbscan` (scikit-learn's labels; module docstring).

    Parameters
    ----------
    x, y
        Points in EPSG:27700 metres, 1-D, one length; non-finite points get label -1.
    eps_m
        Neighbourhood radius in metres.
    min_samples
        Incidents within ``eps_m`` (own location included) that make a core point.

    Returns
    -------
    numpy.ndarray
        int64 label per point, shape ``(len(x),)``; clusters numbered by size, 0 the largest
        (most incidents).

    Raises
    ------
    InputError
        ``x`` and ``y`` are not 1-D arrays of one length.
    """
    xy = _points(x, y)
    located = np.isfinite(xy).all(axis=1)
    unique, inverse, counts = _collapse(xy[located])
    unique_labels = _weighted_dbscan(unique, counts, eps_m, min_samples)
    labels = np.full(len(xy), -1, dtype=np.int64)
    labels[located] = unique_labels[inverse]
    return labels


def dbscan_clusters(
    x: np.ndarray,
    y: np.ndarray,
    *,
    eps_m: float | None = None,
    min_samples: int | None = None,
    areas: gpd.GeoDataFrame | None = None,
    study_area_m2: float | None = None,
    hull: str = "convex",
    max_area_m2: float | None = MAX_HOTSPOT_AREA_M2,
    weights: np.ndarray | None = None,
) -> gpd.GeoDataFrame:
    """DBSCAN clusters of the points as polygons (see :func:`cluster_polygons` for columns).

    DBSCAN after Ester, Kriegel, Sander & Xu (1996), weighted by incidents per distinct location.

    Parameters
    ----------
    x, y
        Points in EPSG:27700 metres (non-finite ones are ignored).
    eps_m, min_samples
        DBSCAN radius in metres and core size in incidents; by default :func:`auto_dbscan_params`.
    areas
        A standard area layer in EPSG:27700; each cluster lists the codes of the areas it
        touches, and its total area is the study area of the automatic rule.
    study_area_m2
        Study area in square metres for the automatic rule (default: the area of ``areas``, or
        without them of the 1 km squares holding at least one point, robust to a few far-off
        geocoding errors).
    hull
        ``"convex"`` (default) or ``"concave"`` (:func:`shapely.concave_hull`, ratio 0.3).
    max_area_m2
        Largest convex hull of a cluster in m^2 (default 1 km^2); larger ones are split (module
        docstring). None: no bound.
    weights
        Incidents each point stands for (whole numbers >= 1, shape ``(len(x),)``), e.g. counted
        cell centres; None: one each. A point of weight ``k`` clusters as ``k`` points at one
        place (DBSCAN's ``sample_weight``).

    Returns
    -------
    geopandas.GeoDataFrame
        One row per cluster, EPSG:27700, columns as :func:`cluster_polygons`; ``attrs`` hold
        ``method``, ``eps_m``, ``min_samples``, ``max_area_m2``, ``split`` (clusters split for
        size) and ``dropped`` (incidents left out as parts too spread out).

    Raises
    ------
    InputError
        ``x`` and ``y`` are not 1-D of one length; a parameter is not positive; ``hull`` is
        unknown; ``areas`` is not in EPSG:27700; ``weights`` is not of the points' length or
        holds a value that is not a whole number >= 1.
    """
    xy = _points(x, y)
    located = np.isfinite(xy).all(axis=1)
    unique, _, counts = _collapse(
        xy[located], None if weights is None else _weights(weights, xy)[located]
    )
    if study_area_m2 is None:
        study_area_m2 = _study_area_m2(unique, areas)
    params, neighbours = _auto_params(unique, counts, study_area_m2, eps_m, min_samples)
    # The rule's exact neighbour counts near min_samples are the core test's: counted once.
    labels = _weighted_dbscan(
        unique, counts, params.eps_m, params.min_samples, neighbours=neighbours
    )
    labels, split, dropped = _bounded(
        unique, counts, labels, max_area_m2, eps_m=params.eps_m / 2,
        min_samples=params.min_samples, min_size=1,
    )  # fmt: skip
    frame = cluster_polygons(
        unique[:, 0],
        unique[:, 1],
        labels,
        counts=counts,
        hull=hull,
        areas=areas,
        pad_m=params.eps_m,
    )
    frame.attrs.update(
        method="dbscan", eps_m=params.eps_m, min_samples=params.min_samples,
        max_area_m2=max_area_m2, split=split, dropped=dropped,
    )  # fmt: skip
    log.debug(
        "DBSCAN eps %.0f m, min_samples %d: %d clusters",
        params.eps_m,
        params.min_samples,
        len(frame),
    )
    return frame


def hdbscan_clusters(
    x: np.ndarray,
    y: np.ndarray,
    *,
    min_cluster_size: int | None = None,
    min_samples: int | None = None,
    areas: gpd.GeoDataFrame | None = None,
    hull: str = "convex",
    max_points: int = HDBSCAN_MAX_POINTS,
    max_area_m2: float | None = MAX_HOTSPOT_AREA_M2,
    weights: np.ndarray | None = None,
) -> gpd.GeoDataFrame:
    """HDBSCAN clusters of the points as polygons (see :func:`cluster_polygons` for columns).

    HDBSCAN after Campello, Moulavi & Sander (2013), as in scikit-learn. scikit-learn's HDBSCAN
    takes no ``sample_weight``, and collapsing ties would turn "many incidents at one map point"
    into "one point", losing exactly what makes a hotspot. So it runs on every incident, ties
    included: a map point holding at least ``min_samples`` incidents gets core distance 0
    (infinitely dense), so it is always a cluster core, which is the right reading of a repeat
    location. The cost grows fast, hence ``max_points``.

    The incidents go to scikit-learn sorted by x then y (each location repeated once per
    incident, :func:`~geo_service.analysis.locations.distinct_locations`): the same array
    however they come, as rows or as a cube's counted locations (``weights``), so the same
    clusters (HDBSCAN's tree can depend on the order of tied distances).

    Parameters
    ----------
    x, y
        Points in EPSG:27700 metres (non-finite ones are ignored).
    min_cluster_size
        Smallest cluster in incidents; default ``max(10, round(sqrt(n)))`` (smaller values
        split a busy estate whose map points each hold a few incidents into fragments and
        noise).
    min_samples
        HDBSCAN's ``min_samples``; None (default) lets scikit-learn use ``min_cluster_size``.
    areas
        A standard area layer in EPSG:27700; each cluster lists the codes of the areas it touches.
    hull
        ``"convex"`` (default) or ``"concave"``.
    max_points
        Largest number of located points accepted (default :data:`HDBSCAN_MAX_POINTS`).
    max_area_m2
        Largest convex hull of a cluster in m^2 (default 1 km^2); larger ones are split (module
        docstring). None: no bound.
    weights
        Incidents at each point (whole numbers, at least 1; shape ``(n,)``), e.g. a density
        cube's counted locations; None: one each.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per cluster, EPSG:27700, columns as :func:`cluster_polygons`; ``attrs`` hold
        ``method``, ``min_cluster_size``, ``max_area_m2``, ``split`` and ``dropped`` (as for
        :func:`dbscan_clusters`). No clusters when there are fewer incidents than
        ``min_cluster_size``.

    Raises
    ------
    InputError
        More than ``max_points`` located incidents; ``x`` and ``y`` are not 1-D of one length;
        ``weights`` are not whole numbers of the points' length; ``hull`` is unknown; ``areas``
        is not in EPSG:27700.
    """
    xy = _points(x, y)
    located = np.isfinite(xy).all(axis=1)
    unique, _, counts = _collapse(
        xy[located], None if weights is None else _weights(weights, xy)[located]
    )
    if int(counts.sum()) > max_points:
        raise InputError(
            f"HDBSCAN on {int(counts.sum()):,} points would take too long; expected at most "
            f"{max_points:,} (narrow the period or area, or use dbscan)"
        )
    xy = np.repeat(unique, counts, axis=0)
    if min_cluster_size is None:
        min_cluster_size = max(2 * MIN_SAMPLES_FLOOR, round(math.sqrt(len(xy))))
    if len(xy) < max(min_cluster_size, 2):
        labels = np.full(len(xy), -1, dtype=np.int64)
    else:
        # Imported here: scikit-learn takes over a second to import, and every geo-service
        # command imports this module; only HDBSCAN should pay for it.
        from sklearn.cluster import HDBSCAN

        model = HDBSCAN(min_cluster_size=min_cluster_size, min_samples=min_samples, copy=True)
        labels = _by_size(model.fit(xy).labels_, xy=xy)
    labels, split, dropped = _bounded(
        xy, np.ones(len(xy), dtype=np.int64), labels, max_area_m2,
        eps_m=math.sqrt(MAX_HOTSPOT_AREA_M2) / 4, min_samples=MIN_SAMPLES_FLOOR,
        min_size=min_cluster_size,
    )  # fmt: skip
    frame = cluster_polygons(xy[:, 0], xy[:, 1], labels, hull=hull, areas=areas, pad_m=50.0)
    frame.attrs.update(
        method="hdbscan", min_cluster_size=min_cluster_size, max_area_m2=max_area_m2,
        split=split, dropped=dropped,
    )  # fmt: skip
    return frame


def cluster_polygons(
    x: np.ndarray,
    y: np.ndarray,
    labels: np.ndarray,
    *,
    hull: str = "convex",
    areas: gpd.GeoDataFrame | None = None,
    counts: np.ndarray | None = None,
    pad_m: float = 50.0,
) -> gpd.GeoDataFrame:
    """One polygon per cluster label >= 0, with its incidents, size and shape.

    A cluster whose points are all on one spot or one line has no hull area; it is drawn as that
    spot or line buffered by ``pad_m / 2``.

    Parameters
    ----------
    x, y
        Points in EPSG:27700 metres, 1-D, one length.
    labels
        Cluster label per point; negative labels (noise) are left out.
    hull
        ``"convex"`` (default) or ``"concave"`` (:func:`shapely.concave_hull`, ratio 0.3).
    areas
        A standard area layer in EPSG:27700 whose touched codes are listed; None: ``areas`` empty.
    counts
        Number of incidents at each point (default 1 each).
    pad_m
        Width in metres of the buffer drawn around a flat cluster (default 50).

    Returns
    -------
    geopandas.GeoDataFrame
        One row per cluster, EPSG:27700: ``cluster``, ``count`` (incidents), ``locations``
        (distinct points), ``area_m2``, ``perimeter_m``, ``area_perimeter_m`` (metres; area /
        perimeter: compact clusters score high, strings along a road low), ``areas`` (codes of
        the touched areas joined by ``;``, empty without ``areas``) and ``geometry``.

    Raises
    ------
    InputError
        ``hull`` is unknown; ``x`` and ``y`` are not 1-D of one length; ``areas`` is not in
        EPSG:27700.
    """
    if hull not in HULLS:
        raise InputError(f"unknown hull {hull!r}; allowed: {', '.join(HULLS)}")
    labels = np.asarray(labels)
    keep = labels >= 0
    ids, position_all = np.unique(labels[keep], return_inverse=True)
    weight = np.ones(keep.sum()) if counts is None else np.asarray(counts, dtype=float)[keep]
    incidents = np.bincount(position_all, weights=weight, minlength=len(ids))
    label_of, xy_of = _distinct_points(_points(x, y)[keep], labels[keep])
    position = np.searchsorted(ids, label_of)
    distinct = np.bincount(position, minlength=len(ids)).astype(np.int64)
    points = shapely.multipoints(xy_of, indices=position)
    shapes = shapely.convex_hull(points) if hull == "convex" else _concave(points)
    flat = shapely.area(shapes) <= 0
    shapes = np.where(flat, shapely.buffer(shapes, pad_m / 2), shapes)
    area = shapely.area(shapes)
    perimeter = shapely.length(shapes)
    frame = gpd.GeoDataFrame(
        {
            "cluster": ids.astype(np.int64),
            "count": np.rint(incidents).astype(np.int64),
            "locations": distinct,
            "area_m2": area,
            "perimeter_m": perimeter,
            "area_perimeter_m": np.divide(
                area, perimeter, out=np.zeros_like(area), where=perimeter > 0
            ),
            "areas": _touched_areas(shapes, areas),
        },
        geometry=shapes,
        crs=CRS,
    )
    return frame


def cluster_cells(grid: Grid, clusters: gpd.GeoDataFrame) -> np.ndarray:
    """Rasterise cluster polygons into a score per grid cell.

    Each cell scores the density (incidents per km^2) of the densest cluster holding its centre,
    0 elsewhere. This turns a cluster map into a ranking of cells, so it can be scored like any
    hotspot map.

    Parameters
    ----------
    grid
        The square grid, EPSG:27700.
    clusters
        Cluster polygons with ``count`` and ``area_m2`` (:func:`cluster_polygons`).

    Returns
    -------
    numpy.ndarray
        float scores, shape ``grid.shape`` (rows, columns), outside cells included.
    """
    score = np.zeros(grid.nx * grid.ny)
    if len(clusters) == 0:
        return score.reshape(grid.shape)
    xc, yc = grid.centres()
    centres = shapely.points(xc.ravel(), yc.ravel())
    shapes = clusters.geometry.to_numpy()
    shape_i, cell_i = shapely.STRtree(centres).query(shapes, predicate="contains")
    density = clusters["count"].to_numpy(float) / (clusters["area_m2"].to_numpy(float) / 1e6)
    np.maximum.at(score, cell_i, density[shape_i])
    return score.reshape(grid.shape)


def snapped_cluster_cells(
    grid: Grid,
    counts: np.ndarray,
    *,
    eps_m: float,
    min_samples: int,
    max_area_m2: float | None = MAX_HOTSPOT_AREA_M2,
) -> np.ndarray:
    """DBSCAN of the incidents moved to their grid cell's centre, as a score per cell.

    The backtest's cheap stand-in for :func:`dbscan_clusters` + :func:`cluster_cells`: its cost
    is bounded by the occupied cells, not the incidents (3M unsnapped incidents over a district
    cost what its 30k occupied cells cost), at the price of moving each incident up to half a
    cell diagonal. Clusters are scored as in :func:`cluster_cells` (incidents per km^2 of the
    cluster's hull, the cells of a flat cluster scoring over a cell's area).

    Parameters
    ----------
    grid
        The square grid.
    counts
        Incidents per cell, shape ``grid.shape``.
    eps_m, min_samples
        DBSCAN radius in metres and core size in incidents.
    max_area_m2
        Clusters larger than this are split as in :func:`dbscan_clusters`; None: no bound.

    Returns
    -------
    numpy.ndarray
        float scores, shape ``grid.shape``; 0 outside every cluster.
    """
    flat = np.asarray(counts, dtype=float).ravel()
    occupied = np.flatnonzero(flat > 0)
    score = np.zeros(flat.size)
    if occupied.size == 0:
        return score.reshape(grid.shape)
    xc, yc = grid.centres()
    xy = np.column_stack([xc.ravel()[occupied], yc.ravel()[occupied]])
    labels = _weighted_dbscan(xy, flat[occupied], eps_m, min_samples)
    labels, _, _ = _bounded(
        xy, flat[occupied], labels, max_area_m2, eps_m=eps_m / 2, min_samples=min_samples,
        min_size=1,
    )  # fmt: skip
    keep = labels >= 0
    if not keep.any():
        return score.reshape(grid.shape)
    incidents = np.bincount(labels[keep], weights=flat[occupied][keep])
    order = np.argsort(labels[keep], kind="stable")
    hulls = shapely.convex_hull(shapely.multipoints(xy[keep][order], indices=labels[keep][order]))
    # A hull through cell centres misses half a cell all round; a flat one has no area at all.
    area_m2 = np.maximum(shapely.area(shapely.buffer(hulls, grid.cell_m / 2)), grid.cell_m**2)
    score[occupied[keep]] = (incidents / (area_m2 / 1e6))[labels[keep]]
    return score.reshape(grid.shape)


def _points(x: np.ndarray, y: np.ndarray) -> np.ndarray:
    x = np.asarray(x, dtype=float)
    y = np.asarray(y, dtype=float)
    if x.shape != y.shape or x.ndim != 1:
        raise InputError(f"x and y must be 1-D arrays of one length, got {x.shape} and {y.shape}")
    return np.column_stack([x, y])


def _weights(weights: np.ndarray, xy: np.ndarray) -> np.ndarray:
    """``weights`` as int64 incidents per point, checked against the points ``xy``."""
    w = np.asarray(weights, dtype=float)
    if w.shape != (len(xy),):
        raise InputError(f"weights must have one value per point ({len(xy)}), got {w.shape}")
    if len(w) and not (np.all(w >= 1) and np.all(w == np.floor(w))):
        raise InputError("weights must be whole numbers of incidents, at least 1 each")
    return w.astype(np.int64)


def _collapse(
    xy: np.ndarray, weights: np.ndarray | None = None
) -> tuple[np.ndarray, np.ndarray, np.ndarray]:
    """Distinct locations sorted by x then y, each point's location index, and incidents per
    location (points, or the sum of their int64 ``weights``).

    Sorted, the locations are the same array in the same order however the points come (rows,
    or a cube's counted locations): DBSCAN gives a border location to the first cluster that
    reaches it, so the order decides, and it must not depend on how the points were read.
    """
    unique, inverse, totals = distinct_locations(xy[:, 0], xy[:, 1], weights)
    # whole numbers below 2**53 sum exactly in float64
    return unique, inverse, totals.astype(np.int64)


def _weighted_dbscan(
    unique: np.ndarray,
    counts: np.ndarray,
    eps_m: float,
    min_samples: int,
    *,
    neighbours: NeighbourWeights | None = None,
) -> np.ndarray:
    # Labels identical to scikit-learn's DBSCAN with the counts as sample_weight, at a cost
    # linear in the locations (analysis.grid_dbscan).
    labels = grid_dbscan(
        unique, eps=eps_m, min_samples=min_samples, sample_weight=counts, neighbours=neighbours
    )
    return _by_size(labels, counts, unique)


def _bounded(
    xy: np.ndarray,
    counts: np.ndarray,
    labels: np.ndarray,
    max_area_m2: float | None,
    *,
    eps_m: float,
    min_samples: int,
    min_size: int,
) -> tuple[np.ndarray, int, int]:
    """Split clusters whose convex hull exceeds ``max_area_m2`` (module docstring).

    Returns the labels renumbered by size, the number of clusters split and the incidents
    dropped (in parts still too large at the radius floor or smaller than ``min_size``).
    """
    if max_area_m2 is None or not (labels >= 0).any():
        return labels, 0, 0
    out = labels.copy()
    next_id = int(out.max()) + 1
    queue = [(int(label), eps_m) for label in np.unique(out[out >= 0])]
    split = dropped = 0
    while queue:
        label, eps = queue.pop()
        members = np.flatnonzero(out == label)
        if shapely.convex_hull(shapely.multipoints(xy[members])).area <= max_area_m2:
            continue
        split += int(label < labels.max() + 1)  # an original cluster, not a part
        if eps < SPLIT_EPS_FLOOR_M:
            out[members] = -1
            dropped += int(counts[members].sum())
            continue
        parts = _weighted_dbscan(xy[members], counts[members], eps, min_samples)
        weight = np.bincount(parts[parts >= 0], weights=counts[members][parts >= 0])
        for part in range(len(weight)):
            chosen = members[parts == part]
            if weight[part] < min_size:
                out[chosen] = -1
                dropped += int(counts[chosen].sum())
                continue
            out[chosen] = next_id
            queue.append((next_id, eps / 2))
            next_id += 1
        out[members[parts < 0]] = -1
        dropped += int(counts[members[parts < 0]].sum())
    return _by_size(out, counts, xy), split, dropped


def _by_size(
    labels: np.ndarray, weights: np.ndarray | None = None, xy: np.ndarray | None = None
) -> np.ndarray:
    """Renumber cluster labels 0, 1, ... from the most (weighted) points down; ties by the
    cluster's least x, then least y, of ``xy`` (so the numbering does not depend on the
    points' order), then by label."""
    out = np.full(labels.shape, -1, dtype=np.int64)
    keep = labels >= 0
    if not keep.any():
        return out
    ids, position = np.unique(labels[keep], return_inverse=True)
    w = None if weights is None else np.asarray(weights, dtype=float)[keep]
    size = np.bincount(position, weights=w, minlength=len(ids))
    west = np.zeros(len(ids))
    south = np.zeros(len(ids))
    if xy is not None:
        west[:] = south[:] = np.inf
        np.minimum.at(west, position, xy[keep, 0])
        np.minimum.at(south, position, xy[keep, 1])
    order = np.lexsort((ids, south, west, -size))
    rank = np.empty(len(ids), dtype=np.int64)
    rank[order] = np.arange(len(ids))
    out[keep] = rank[position]
    return out


def _distinct_points(xy: np.ndarray, labels: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """The distinct (label, point) pairs, sorted by label."""
    order = np.lexsort((xy[:, 1], xy[:, 0], labels))
    lab, pts = labels[order], xy[order]
    new = np.ones(len(lab), dtype=bool)
    new[1:] = (lab[1:] != lab[:-1]) | (pts[1:] != pts[:-1]).any(axis=1)
    return lab[new], pts[new]


def _concave(points: np.ndarray) -> np.ndarray:
    return np.asarray(shapely.concave_hull(points, ratio=CONCAVE_RATIO))


def _touched_areas(shapes: np.ndarray, areas: gpd.GeoDataFrame | None) -> list[str]:
    if areas is None or len(shapes) == 0:
        return [""] * len(shapes)
    if areas.crs is None or not areas.crs.equals(CRS):
        raise InputError(f"area layer CRS is {areas.crs}; expected {CRS}")
    shape_i, area_i = areas.sindex.query(shapes, predicate="intersects")
    codes = areas["code"].astype(str).to_numpy()
    touched: list[list[str]] = [[] for _ in shapes]
    for s, a in zip(shape_i, area_i, strict=True):
        touched[s].append(codes[a])
    return [";".join(sorted(c)) for c in touched]


def _study_area_m2(xy: np.ndarray, areas: gpd.GeoDataFrame | None) -> float:
    if areas is not None:
        return float(areas.geometry.union_all().area)
    located = xy[np.isfinite(xy).all(axis=1)]
    # Occupied 1 km squares: unlike a convex hull, not inflated by a few stray far-off points.
    squares = np.unique(np.floor(located / OCCUPIED_SQUARE_M), axis=0)
    return max(len(squares), 1) * OCCUPIED_SQUARE_M**2
