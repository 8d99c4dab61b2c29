"""Each point's weight within ``eps``, bounded from a grid of cells and made exact only where a
question needs it: whether it reaches a threshold (DBSCAN's core test) or where a quantile lies.

Points are sorted into square cells of side ``eps / 1.5`` (:class:`PointGrid`): all points of one
cell lie within ``eps`` of each other, and a point's neighbours lie in the 5 x 5 block of cells
around its own (the reasoning is in :mod:`geo_service.analysis.grid_dbscan`). A point's weight is
first bounded by its own cell (wholly within ``eps``) and its block; where that leaves the
question open, by the cells around it, each wholly within, wholly beyond or crossed by the
circle; and only for the cells the circle crosses are distances computed, nearest cells first,
while the question stays open. Distances are compared as scikit-learn's KD-tree does,
``dx * dx + dy * dy <= eps * eps``.
"""

from __future__ import annotations

from collections.abc import Callable

import numpy as np

#: Cell side as a share of ``eps`` (see :mod:`geo_service.analysis.grid_dbscan`).
CELL_SHARE_OF_EPS = 1 / 1.5
#: Points whose exact neighbour weights give the first guess of a quantile.
QUANTILE_SAMPLE = 20_000
#: Cell keys always looked up through a table rather than searched.
DENSE_LOOKUP_KEYS = 1 << 22
#: Largest number of candidate point pairs held at once.
CHUNK_PAIRS = 4_000_000
#: The 5 x 5 block of cell offsets around a cell.
OFFSETS = np.array([(dx, dy) for dx in range(-2, 3) for dy in range(-2, 3)], dtype=np.int64)
#: The block's offsets grouped by distance from the own cell, nearest first.
_RINGS = [
    np.flatnonzero((OFFSETS**2).sum(axis=1) == r) for r in np.unique((OFFSETS**2).sum(axis=1))
]


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
        self.grid = PointGrid(xy, eps)
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


class PointGrid:
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
        self.neighbours = np.full((len(keys), len(OFFSETS)), -1, dtype=np.int64)
        n_keys = int(span[0]) * int(span[1])
        # A table over every key of the (padded) extent when it is small, else a search.
        lookup = None
        if n_keys <= max(16 * len(keys), DENSE_LOOKUP_KEYS):
            lookup = np.full(n_keys, -1, dtype=np.int64)
            lookup[keys] = np.arange(len(keys))
        for k, (dx, dy) in enumerate(OFFSETS):
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
            at = steps if only is None else steps[OFFSETS[only, axis] + 2 : OFFSETS[only, axis] + 3]
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


def cell_pairs(
    grid: PointGrid,
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


def _block_weights(grid: PointGrid, weight: np.ndarray) -> tuple[np.ndarray, np.ndarray]:
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
    grid: PointGrid, weight: np.ndarray, points: np.ndarray
) -> tuple[np.ndarray, np.ndarray]:
    """Lower and upper bounds of the weight within ``eps`` of ``points``, from whole cells."""
    # The extra last entry is the weight of "no cell" (-1 in the neighbour table).
    cell_weight = np.append(np.add.reduceat(weight, grid.start), 0.0)
    lower, upper = np.empty(len(points)), np.empty(len(points))
    step = max(1, CHUNK_PAIRS // len(OFFSETS))
    for first in range(0, len(points), step):
        chunk = points[first : first + step]
        inside, beyond = grid.bounds(chunk)
        around = cell_weight[grid.neighbours[grid.cell_of[chunk]]]
        lower[first : first + step] = np.where(inside, around, 0.0).sum(axis=1)
        upper[first : first + step] = np.where(beyond, 0.0, around).sum(axis=1)
    return lower, upper


def _tighten(
    grid: PointGrid,
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
            for item, p, q in cell_pairs(grid, everyone[at], cells):
                close = grid.within(p, q)
                exact += np.bincount(item[close], weight[q[close]], len(at))
            lower[at] += exact
            upper[at] -= cell_weight[cells] - exact
