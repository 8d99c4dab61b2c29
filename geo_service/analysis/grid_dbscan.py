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
counts each neighbourhood once.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: Cell side as a share of ``eps`` (see the module docstring).
CELL_SHARE_OF_EPS = 1 / 1.5
#: Points whose exact neighbour weights give the first guess of a quantile.
QUANTILE_SAMPLE = 20_000
#: Cell keys always looked up through a table rather than searched.
DENSE_LOOKUP_KEYS = 1 << 22
#: Largest number of candidate point pairs held at once.
CHUNK_PAIRS = 4_000_000
_OFFSETS = np.array([(dx, dy) for dx in range(-2, 3) for dy in range(-2, 3)], dtype=np.int64)
#: The block's offsets grouped by distance from the own cell, nearest first.
_RINGS = [
    np.flatnonzero((_OFFSETS**2).sum(axis=1) == r) for r in np.unique((_OFFSETS**2).sum(axis=1))
]


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


def neighbour_weight_quantile(
    xy: np.ndarray,
    *,
    eps: float,
    share: float,
    sample_weight: np.ndarray | None = None,
) -> float:
    """The weighted ``share`` quantile over points of the weight within ``eps`` of each point.

    With ``w(i)`` the weight within ``eps`` of point ``i`` (its own included), the smallest
    ``w(i)`` such that points whose value is at most it hold at least ``share`` of the weight;
    the same value as sorting every point's exact ``w(i)``. A guess from the exact weights of
    :data:`QUANTILE_SAMPLE` points sets a band; only points whose cell bounds straddle it get
    exact distances, and the band widens until it holds the quantile, so the guess never
    changes the result.

    Parameters
    ----------
    xy
        Finite points, shape ``(n, 2)``, ``n >= 1``.
    eps
        Radius, in the unit of ``xy``; positive.
    share
        Quantile in ``[0, 1)``.
    sample_weight
        Weight of each point; default 1 each.

    Returns
    -------
    float
        The quantile.
    """
    return NeighbourWeights(xy, eps=eps, sample_weight=sample_weight).quantile(share)


class NeighbourWeights:
    """Bounds on each point's weight within ``eps``, made exact only where a question needs it.

    Parameters
    ----------
    xy
        Finite points, shape ``(n, 2)``.
    eps
        Radius, in the unit of ``xy``; positive.
    sample_weight
        Weight of each point; default 1 each.
    """

    def __init__(
        self, xy: np.ndarray, *, eps: float, sample_weight: np.ndarray | None = None
    ) -> None:
        xy = np.asarray(xy, dtype=float)
        self.eps = eps
        weight = np.ones(len(xy)) if sample_weight is None else np.asarray(sample_weight, float)
        self.grid = _Grid(xy, eps)
        if self.grid.too_fine:
            from scipy.spatial import cKDTree

            tree = cKDTree(xy)
            pairs = tree.sparse_distance_matrix(tree, eps, output_type="coo_matrix")
            self.weight = weight
            self.lower = np.bincount(pairs.row, weights=weight[pairs.col], minlength=len(xy))
            self.upper = self.lower.copy()
        else:
            self.weight = weight[self.grid.order]  # in the grid's order
            self.lower, self.upper = _block_weights(self.grid, self.weight)
        # Whether a point's bounds come from the cells around it, not from its block alone.
        self.placed = np.zeros(len(xy), dtype=bool)
        self.rings_done = np.zeros(len(xy), dtype=np.int8)

    def _tighten(self, undecided: Callable[[np.ndarray, np.ndarray], np.ndarray]) -> None:
        if not self.grid.too_fine:
            # Points the block bounds leave undecided get the bounds of the cells around them.
            need = np.flatnonzero(~self.placed & undecided(self.lower, self.upper))
            self.lower[need], self.upper[need] = _bounded_weights(self.grid, self.weight, need)
            self.placed[need] = True
            _tighten(
                self.grid, self.weight, self.lower, self.upper, undecided,
                rings_done=self.rings_done,
            )  # fmt: skip

    def at_least(self, threshold: float) -> np.ndarray:
        """Whether each point (in the grid's order) has at least ``threshold`` within ``eps``."""
        self._tighten(lambda lo, hi: (lo < threshold) & (hi >= threshold))
        return self.lower >= threshold

    def quantile(self, share: float) -> float:
        """The weighted ``share`` quantile (see :func:`neighbour_weight_quantile`)."""
        lower, upper, weight = self.lower, self.upper, self.weight
        if self.grid.too_fine:
            return _quantile(lower, weight, share)
        # A guess from the exact weights of a fixed sample of points; then only points whose
        # bounds straddle a band around it get exact weights, the band widened until it holds
        # the quantile (so the result never depends on the guess).
        sample = np.random.default_rng(0).permutation(len(lower))[:QUANTILE_SAMPLE]
        low, high = _bounded_weights(self.grid, weight, sample)
        _tighten(self.grid, weight, low, high, lambda lo, hi: lo < hi, points=sample)
        guess = _quantile(low, weight[sample], share)
        half_width = max(1.0, 0.02 * guess)
        while True:
            band = guess - half_width, guess + half_width
            self._tighten(lambda lo, hi: (lo < hi) & (hi >= band[0]) & (lo <= band[1]))  # noqa: B023
            # Points surely below (above) the band keep their rank at -inf (+inf).
            value = np.where(lower == upper, lower, np.where(upper < band[0], -np.inf, np.inf))
            found = _quantile(value, weight, share)
            if band[0] <= found <= band[1]:
                return found
            half_width *= 4


def _quantile(values: np.ndarray, weight: np.ndarray, share: float) -> float:
    # The stable sort of all values, sorting only the finite ones: the band leaves most
    # points at -inf or +inf, which keep their index order.
    finite = np.flatnonzero(np.isfinite(values))
    order = np.concatenate(
        [
            np.flatnonzero(values == -np.inf),
            finite[np.argsort(values[finite], kind="stable")],
            np.flatnonzero(values == np.inf),
        ]
    )
    cumulative = np.cumsum(weight[order]) / weight.sum()
    at = min(int(np.searchsorted(cumulative, share)), len(values) - 1)
    return float(values[order][at])


class _Grid:
    """Points sorted by cell, each cell's range, weight and neighbour cells."""

    def __init__(self, xy: np.ndarray, eps: float) -> None:
        self.eps = float(eps)
        self.eps2 = self.eps * self.eps
        self.side = self.eps * CELL_SHARE_OF_EPS
        self.origin = xy.min(axis=0)
        ij = np.floor((xy - self.origin) / self.side).astype(np.int64)
        span = ij.max(axis=0) + 5
        self.too_fine = float(span[0]) * float(span[1]) > 2.0**62
        if self.too_fine:
            return
        self.stride = int(span[1])
        key = (ij[:, 0] + 2) * self.stride + (ij[:, 1] + 2)
        self.order = np.argsort(key, kind="stable")
        self.xy = xy[self.order]
        # Contiguous coordinates: the pair tests gather from them millions of times.
        self.x, self.y = self.xy[:, 0].copy(), self.xy[:, 1].copy()
        # The keys are sorted already: each cell starts where the key changes.
        sorted_key = key[self.order]
        self.start = np.flatnonzero(np.diff(sorted_key, prepend=sorted_key[0] - 1))
        keys = sorted_key[self.start]
        self.count = np.diff(self.start, append=len(sorted_key))
        self.cell_ij = ij[self.order[self.start]]
        self.cell_of = np.repeat(np.arange(len(keys)), self.count)
        # Rounding may put a point a hair outside its computed cell; bounds allow for it.
        self.slack = 8 * float(np.spacing(np.abs(xy).max() + self.side * span.max()))
        self.neighbours = np.full((len(keys), len(_OFFSETS)), -1, dtype=np.int64)
        n_keys = int(span[0]) * int(span[1])
        # A table over every key of the (padded) extent when it is small, else a search.
        lookup = None
        if n_keys <= max(16 * len(keys), DENSE_LOOKUP_KEYS):
            lookup = np.full(n_keys, -1, dtype=np.int64)
            lookup[keys] = np.arange(len(keys))
        for k, (dx, dy) in enumerate(_OFFSETS):
            wanted = keys + dx * self.stride + dy
            if lookup is not None:
                self.neighbours[:, k] = lookup[wanted]
                continue
            at = np.minimum(np.searchsorted(keys, wanted), len(keys) - 1)
            self.neighbours[:, k] = np.where(keys[at] == wanted, at, -1)

    def bounds(self, points: np.ndarray, only: int | None = None) -> tuple[np.ndarray, np.ndarray]:
        """Whether each cell of each point's 5 x 5 block lies wholly within / beyond ``eps``.

        Two ``(len(points), 25)`` boolean arrays in the order of the block's offsets, or with
        ``only`` two ``(len(points),)`` arrays for that offset alone.
        """
        own = self.origin + self.cell_ij[self.cell_of[points]] * self.side
        offset = self.xy[points] - own
        steps = np.arange(-2, 3) * self.side
        near, far = [], []
        for axis in (0, 1):
            at = (
                steps
                if only is None
                else steps[_OFFSETS[only, axis] + 2 : _OFFSETS[only, axis] + 3]
            )
            low = at[None, :] - offset[:, axis, None] - self.slack
            high = low + self.side + 2 * self.slack
            near.append(np.maximum(np.maximum(low, -high), 0.0) ** 2)
            far.append(np.maximum(np.abs(low), np.abs(high)) ** 2)
        margin = 1e-12 * self.eps2
        shape = (len(points), -1) if only is None else (len(points),)
        inside = (far[0][:, :, None] + far[1][:, None, :]).reshape(shape)
        beyond = (near[0][:, :, None] + near[1][:, None, :]).reshape(shape)
        return inside <= self.eps2 - margin, beyond > self.eps2 + margin

    def within(self, points: np.ndarray, others: np.ndarray) -> np.ndarray:
        """Whether each pair is within ``eps``, computed as scikit-learn's KD-tree does."""
        dx = self.x[points]
        dx -= self.x[others]
        dx *= dx
        dy = self.y[points]
        dy -= self.y[others]
        dy *= dy
        dx += dy
        return dx <= self.eps2


def _pairs(
    grid: _Grid,
    points: np.ndarray,
    cells: np.ndarray,
    members: tuple[np.ndarray, np.ndarray, np.ndarray] | None = None,
) -> list[tuple[np.ndarray, np.ndarray, np.ndarray]]:
    """Every (point, point of its cell) pair as (item, point, other), in bounded chunks.

    ``members`` = ``(index, start, count)`` restricts each cell to a sub-list of its points
    (``index[start[c]:start[c] + count[c]]``); default all of them.
    """
    if members is None:
        index, start, count = None, grid.start, grid.count
    else:
        index, start, count = members
    sizes = count[cells]
    ends = np.cumsum(sizes)
    if len(ends) == 0 or ends[-1] == 0:
        return []
    cuts = np.searchsorted(ends, np.arange(CHUNK_PAIRS, int(ends[-1]), CHUNK_PAIRS)) + 1
    chunks = []
    for first, last in zip(
        np.concatenate([[0], cuts]), np.concatenate([cuts, [len(cells)]]), strict=True
    ):
        size = sizes[first:last]
        total = int(size.sum())
        if total == 0:
            continue
        item = np.repeat(np.arange(first, last), size)
        within = np.arange(total) - np.repeat(np.cumsum(size) - size, size)
        other = np.repeat(start[cells[first:last]], size) + within
        chunks.append((item, points[item], other if index is None else index[other]))
    return chunks


def _block_weights(grid: _Grid, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
    """Bounds of the weight within ``eps`` of each point, from its cell alone: the weight of
    the cell (wholly within ``eps``) and of the 5 x 5 block around it.

    Where the block weighs less than a question's threshold, or the cell alone reaches it (the
    sparse background, the densest cores), the point is decided without looking closer.
    """
    cell_weight = np.add.reduceat(weight, grid.start)
    # The extra last entry is the weight of "no cell" (-1 in the neighbour table).
    block = np.append(cell_weight, 0.0)[grid.neighbours].sum(axis=1)
    return cell_weight[grid.cell_of], block[grid.cell_of]


def _bounded_weights(
    grid: _Grid, weight: np.ndarray, points: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds of the weight within ``eps`` of ``points``, from whole cells."""
    # The extra last entry is the weight of "no cell" (-1 in the neighbour table).
    cell_weight = np.append(np.add.reduceat(weight, grid.start), 0.0)
    lower, upper = np.empty(len(points)), np.empty(len(points))
    step = max(1, CHUNK_PAIRS // len(_OFFSETS))
    for first in range(0, len(points), step):
        chunk = points[first : first + step]
        inside, beyond = grid.bounds(chunk)
        around = cell_weight[grid.neighbours[grid.cell_of[chunk]]]
        lower[first : first + step] = np.where(inside, around, 0.0).sum(axis=1)
        upper[first : first + step] = np.where(beyond, 0.0, around).sum(axis=1)
    return lower, upper


def _tighten(
    grid: _Grid,
    weight: np.ndarray,
    lower: np.ndarray,
    upper: np.ndarray,
    undecided: Callable[[np.ndarray, np.ndarray], np.ndarray],
    *,
    points: np.ndarray | None = None,
    rings_done: np.ndarray | None = None,
) -> None:
    """Replace straddling cells' bounds by exact weights, nearest cells first, while undecided.

    After each ring of cells only the points ``undecided(lower, upper)`` still flags go on; a
    point with every cell resolved has ``lower == upper``, its exact weight (in place).
    ``points`` (default all) are the points the bounds belong to; ``rings_done`` (updated in
    place) counts the rings already resolved per point, for a later call on the same bounds.
    """
    cell_weight = np.add.reduceat(weight, grid.start)
    everyone = np.arange(len(lower)) if points is None else points
    if rings_done is None:
        rings_done = np.zeros(len(lower), dtype=np.int8)
    for r, ring in enumerate(_RINGS):
        wanted = undecided(lower, upper)
        if not wanted.any():
            return
        # A ring resolved by an earlier call is already in the bounds.
        open_at = np.flatnonzero(wanted & (rings_done == r))
        rings_done[open_at] = r + 1
        if r == 0:
            continue  # the own cell lies wholly within eps (its diagonal is 0.94 eps)
        open_ = everyone[open_at]
        for k in ring:
            cells = grid.neighbours[grid.cell_of[open_], k]
            keep = cells >= 0
            at, cells = open_at[keep], cells[keep]
            inside, beyond = grid.bounds(everyone[at], only=int(k))
            edge = ~inside & ~beyond
            at, cells = at[edge], cells[edge]
            exact = np.zeros(len(at))
            for item, p, q in _pairs(grid, everyone[at], cells):
                close = grid.within(p, q)
                exact += np.bincount(item[close], weight[q[close]], len(at))
            lower[at] += exact
            upper[at] -= cell_weight[cells] - exact


def _core_components(grid: _Grid, core: np.ndarray) -> np.ndarray:
    """Component number per core cell (-1 for cells without cores)."""
    m = len(grid.start)
    core_cell = np.zeros(m, dtype=bool)
    core_cell[grid.cell_of[core]] = True
    core_points = np.flatnonzero(core)
    owner = grid.cell_of[core_points]
    c_start = np.searchsorted(owner, np.arange(m))
    c_count = np.bincount(owner, minlength=m)
    members = (core_points, c_start, c_count)
    half = [k for k, (dx, dy) in enumerate(_OFFSETS) if (dx, dy) > (0, 0)]
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
        direction = _OFFSETS[k].astype(float)
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
        for item, p, q in _pairs(grid, left, tb[pair_of], members):
            close = grid.within(p, q)
            extra_a.append(ta[pair_of[item[close]]])
            extra_b.append(tb[pair_of[item[close]]])
    edges_a = np.concatenate([a[linked], *extra_a])
    edges_b = np.concatenate([b[linked], *extra_b])
    component = _components(m, edges_a, edges_b)
    return np.where(core_cell, component, -1)


def _extremes(
    grid: _Grid, core_points: np.ndarray, owner: np.ndarray, direction: np.ndarray, m: int
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


def _labels(grid: _Grid, core: np.ndarray, cell_component: np.ndarray) -> np.ndarray:
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


def _borders(grid: _Grid, core: np.ndarray, cell_label: np.ndarray, labels: np.ndarray) -> None:
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
    step = max(1, CHUNK_PAIRS // len(_OFFSETS))
    for first in range(0, len(loose_all), step):
        chunk = loose_all[first : first + step]
        cells = grid.neighbours[grid.cell_of[chunk]]
        around = np.where(cells >= 0, label_of[cells], -1)
        inside, beyond = grid.bounds(chunk)
        best = np.where(inside & (around >= 0), around, none).min(axis=1)
        # A cell can only lower a point's label if its own label is lower than the best so far.
        edge = ~inside & ~beyond & (around >= 0) & (around < best[:, None])
        row, col = np.nonzero(edge)
        for item, _, q in _pairs(grid, row, cells[row, col], members):
            close = grid.within(chunk[row[item]], q)
            np.minimum.at(best, row[item[close]], labels[q[close]])
        found = best < none
        labels[chunk[found]] = best[found]
