"""Exact grid DBSCAN for 2-D Euclidean points, labels identical to scikit-learn's.

Grid DBSCAN after Gunawan (2013) and de Berg, Gunawan & Roeloffzen (2017): points are sorted into
square cells small enough that all points of one cell lie within ``eps`` of each other, so

- a point is a core point when the (weighted) points within ``eps`` number at least
  ``min_samples``; a neighbouring cell lying wholly within ``eps`` of the point adds its whole
  weight and one wholly beyond adds nothing, so distances are computed only for points near the
  circle's edge, and only for points these bounds leave undecided;
- all core points of one cell belong to one cluster, and two neighbouring cells' cores join when
  any pair of them is within ``eps`` (first tried on each cell's core furthest towards the other,
  then exhaustively for the cell pairs still apart);
- a non-core point within ``eps`` of a core point is a border point.

scikit-learn's DBSCAN visits points by index and starts a cluster at each unlabelled core point,
so its clusters are numbered by their lowest-index core point, and a border point within reach
of several clusters takes the lowest-numbered one (the first to expand over it). Both are
reproduced here, so the labels equal ``sklearn.cluster.DBSCAN(eps, min_samples).fit(xy,
sample_weight=w).labels_`` point for point. Distances are compared as scikit-learn's KD-tree
does, ``dx * dx + dy * dy <= eps * eps``.

The cell side is ``eps / 1.5`` rather than the textbook ``eps / sqrt(2)``: a cell's diagonal is
then 0.94 ``eps``, so floating-point rounding can never put two points of one cell beyond
``eps``, while a point's neighbours still lie within two cells (the 5 x 5 block around it).
The cost grows with the points and the cells they occupy, and with the neighbours of only the
points whose count lies near ``min_samples``, not with all neighbour pairs, which is what made
scikit-learn's DBSCAN super-linear as the points grow denser. :class:`NeighbourWeights` keeps
the bounds, so choosing ``min_samples`` as a quantile of the counts and then testing the cores
counts each neighbourhood once. The grid and the bounded neighbour weights live in
:mod:`geo_service.analysis.neighbour_weights`; this module joins the cores into clusters and
numbers them as scikit-learn does.
"""

from __future__ import annotations

import numpy as np

from geo_service.analysis.neighbour_weights import (
    CHUNK_PAIRS,
    OFFSETS,
    NeighbourWeights,
    PointGrid,
    cell_pairs,
    neighbour_weight_quantile,
)

__all__ = ["NeighbourWeights", "grid_dbscan", "neighbour_weight_quantile"]


def grid_dbscan(
    xy: np.ndarray,
    *,
    eps: float,
    min_samples: float,
    sample_weight: np.ndarray | None = None,
    neighbours: NeighbourWeights | None = None,
) -> np.ndarray:
    """DBSCAN labels of 2-D points, identical to scikit-learn's, -1 for noise.

    Parameters
    ----------
    xy
        Finite points, shape ``(n, 2)``, in any planar unit (metres here).
    eps
        Neighbourhood radius, in the unit of ``xy``; positive.
    min_samples
        Weight within ``eps`` (the point's own included) that makes a core point.
    sample_weight
        Weight of each point, shape ``(n,)``; default 1 each.
    neighbours
        The :class:`NeighbourWeights` of these very points, weights and ``eps`` (for example
        from choosing ``min_samples`` as a quantile), whose exact weights are reused.

    Returns
    -------
    numpy.ndarray
        int64 label per point in scikit-learn's numbering.
    """
    xy = np.asarray(xy, dtype=float)
    n = len(xy)
    if n == 0:
        return np.zeros(0, dtype=np.int64)
    if neighbours is None or neighbours.eps != eps or len(neighbours.weight) != n:
        neighbours = NeighbourWeights(xy, eps=eps, sample_weight=sample_weight)
    grid = neighbours.grid
    if grid.too_fine:
        from sklearn.cluster import DBSCAN

        model = DBSCAN(eps=eps, min_samples=min_samples, algorithm="kd_tree")
        return np.asarray(model.fit(xy, sample_weight=sample_weight).labels_, dtype=np.int64)
    core = neighbours.at_least(min_samples)
    component = _core_components(grid, core)
    sorted_labels = _labels(grid, core, component)
    labels = np.empty(n, dtype=np.int64)
    labels[grid.order] = sorted_labels
    return labels


def _core_components(grid: PointGrid, core: np.ndarray) -> np.ndarray:
    """Component number per core cell (-1 for cells without cores)."""
    m = len(grid.start)
    core_cell = np.zeros(m, dtype=bool)
    core_cell[grid.cell_of[core]] = True
    core_points = np.flatnonzero(core)
    owner = grid.cell_of[core_points]
    c_start = np.searchsorted(owner, np.arange(m))
    c_count = np.bincount(owner, minlength=m)
    members = (core_points, c_start, c_count)
    half = [k for k, (dx, dy) in enumerate(OFFSETS) if (dx, dy) > (0, 0)]
    a_all, b_all, pa_all, pb_all = [], [], [], []
    with_cores = np.flatnonzero(core_cell)
    for k in half:
        b = grid.neighbours[with_cores, k]
        ok = b >= 0
        a, b = with_cores[ok], b[ok]
        ok = core_cell[b]
        a, b = a[ok], b[ok]
        a_all.append(a)
        b_all.append(b)
        # Each cell's core furthest towards the other cell (b lies at offset k from a).
        direction = OFFSETS[k].astype(float)
        pa_all.append(_extremes(grid, core_points, owner, direction, m)[a])
        pb_all.append(_extremes(grid, core_points, owner, -direction, m)[b])
    a = np.concatenate(a_all)
    b = np.concatenate(b_all)
    pa = np.concatenate(pa_all)
    pb = np.concatenate(pb_all)
    linked = grid.within(pa, pb)
    component = _components(m, a[linked], b[linked])
    todo = ~linked & (component[a] != component[b])
    extra_a, extra_b = [], []
    if todo.any():
        # Every core of one cell against every core of the other, for the pairs still apart.
        ta, tb = a[todo], b[todo]
        size = c_count[ta]
        pair_of = np.repeat(np.arange(len(ta)), size)
        left = core_points[
            np.repeat(c_start[ta], size) + np.arange(int(size.sum()))
            - np.repeat(np.cumsum(size) - size, size)
        ]  # fmt: skip
        for item, p, q in cell_pairs(grid, left, tb[pair_of], members):
            close = grid.within(p, q)
            extra_a.append(ta[pair_of[item[close]]])
            extra_b.append(tb[pair_of[item[close]]])
    edges_a = np.concatenate([a[linked], *extra_a])
    edges_b = np.concatenate([b[linked], *extra_b])
    component = _components(m, edges_a, edges_b)
    return np.where(core_cell, component, -1)


def _extremes(
    grid: PointGrid, core_points: np.ndarray, owner: np.ndarray, direction: np.ndarray, m: int
) -> np.ndarray:
    """Per cell, its core point furthest along ``direction`` (the first in the grid's order
    among equals), -1 for cells without cores; ``owner`` is each core point's cell (sorted)."""
    out = np.full(m, -1, dtype=np.int64)
    if len(core_points) == 0:
        return out
    proj = grid.xy[core_points, 0] * direction[0] + grid.xy[core_points, 1] * direction[1]
    firsts = np.flatnonzero(np.r_[True, owner[1:] != owner[:-1]])
    top = np.maximum.reduceat(proj, firsts)
    at_top = np.flatnonzero(proj == np.repeat(top, np.diff(np.r_[firsts, len(owner)])))
    first = at_top[np.r_[True, owner[at_top][1:] != owner[at_top][:-1]]]
    out[owner[first]] = core_points[first]
    return out


def _components(m: int, a: np.ndarray, b: np.ndarray) -> np.ndarray:
    # Imported here: every command imports the clusters module, few of them cluster.
    import scipy.sparse as sp
    from scipy.sparse.csgraph import connected_components

    graph = sp.coo_array((np.ones(len(a), dtype=np.int8), (a, b)), shape=(m, m))
    return connected_components(graph, directed=False)[1]


def _labels(grid: PointGrid, core: np.ndarray, cell_component: np.ndarray) -> np.ndarray:
    """scikit-learn's numbering: clusters by lowest-index core, borders to the lowest cluster."""
    n = len(core)
    core_points = np.flatnonzero(core)
    labels = np.full(n, -1, dtype=np.int64)
    if len(core_points) == 0:
        return labels
    components = cell_component[grid.cell_of[core_points]]
    first = np.full(int(cell_component.max()) + 1, np.iinfo(np.int64).max)
    np.minimum.at(first, components, grid.order[core_points])
    present = np.flatnonzero(first < np.iinfo(np.int64).max)
    cluster = np.full(len(first), -1, dtype=np.int64)
    cluster[present[np.argsort(first[present])]] = np.arange(len(present))
    labels[core_points] = cluster[components]
    cell_label = np.where(cell_component >= 0, cluster[cell_component], -1)
    _borders(grid, core, cell_label, labels)
    return labels


def _borders(grid: PointGrid, core: np.ndarray, cell_label: np.ndarray, labels: np.ndarray) -> None:
    """Give each non-core point within ``eps`` of a core the lowest such cluster (in place)."""
    core_points = np.flatnonzero(core)
    m = len(grid.start)
    owner = grid.cell_of[core_points]
    members = (core_points, np.searchsorted(owner, np.arange(m)), np.bincount(owner, minlength=m))
    # The extra last entry is the label of "no cell" (-1 in the neighbour table).
    label_of = np.append(cell_label, -1)
    none = np.iinfo(np.int64).max
    block_label = label_of[grid.neighbours]
    loose_all = np.flatnonzero(~core & (block_label[grid.cell_of] >= 0).any(axis=1))
    step = max(1, CHUNK_PAIRS // len(OFFSETS))
    for first in range(0, len(loose_all), step):
        chunk = loose_all[first : first + step]
        cells = grid.neighbours[grid.cell_of[chunk]]
        around = np.where(cells >= 0, label_of[cells], -1)
        inside, beyond = grid.bounds(chunk)
        best = np.where(inside & (around >= 0), around, none).min(axis=1)
        # A cell can only lower a point's label if its own label is lower than the best so far.
        edge = ~inside & ~beyond & (around >= 0) & (around < best[:, None])
        row, col = np.nonzero(edge)
        for item, _, q in cell_pairs(grid, row, cells[row, col], members):
            close = grid.within(chunk[row[item]], q)
            np.minimum.at(best, row[item[close]], labels[q[close]])
        found = best < none
        labels[chunk[found]] = best[found]
