"""How well a hotspot map predicts: a rolling-origin backtest with hit rate and PAI.

For each origin month t, each method builds a score per grid cell from the incidents of months
up to t only; the cells of the study area are ranked by score and the incidents of the next
``horizon_months`` months that fall in the top 1 / 5 / 10 % of the area are counted:

- hit rate = target incidents in the selected cells / target incidents in the study area;
- area share = selected cells / study-area cells (cells are equal, so this is the area share);
- PAI (predictive accuracy index, Chainey et al. 2008) = hit rate / area share;
- oracle hit rate = the best hit rate any map could reach at that coverage (the target period's
  own busiest cells).

The number of cells selected at coverage c % is ``floor(c / 100 * cells)``, at least one; the
table reports the area share actually used. Cells with equal scores are neither favoured by their
position nor broken at random: when a group of tied cells straddles the cut-off, the selection
takes the expected hits of a uniformly random choice among them (the tied group's hits times the
fraction of it selected), so hits can be fractional and results are deterministic. Incidents
outside the grid's study area are not in the totals.

A method is any function from a :class:`History` (what is known at the origin) to a score per
cell; :func:`default_methods` gives kernel density at several bandwidths (:mod:`.kde`), the naive
baselines (last month's and last 12 months' counts per cell), prospective hotspotting and Gi*
hot cells (:mod:`.gistar`). The methods live in :mod:`.hotspot_methods`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping, Sequence
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from geo_service.analysis.grid import Grid
from geo_service.analysis.hotspot_methods import (
    History,
    Method,
    default_methods,
    gistar_method,
    recent_counts_method,
)
from geo_service.analysis.periods import format_month, parse_month
from geo_service.errors import InputError
from geo_service.progress import Progress, quiet
from geo_service.schema import has_location

__all__ = [
    "BACKTEST_COLUMNS",
    "BASELINE_LABELS",
    "MAP_KIND_COLUMNS",
    "NAIVE_BASELINES",
    "Accuracy",
    "accuracy_for",
    "backtest",
    "best_method",
    "cell_areas",
    "coverage_curve",
    "hit_rate_curve",
    "hit_rate_table",
    "map_accuracy_for",
    "map_kind_backtest",
    "map_kinds",
    "selection_hits",
    "summarise_backtest",
    "summarise_map_kinds",
]

log = logging.getLogger(__name__)

#: The naive baselines stated beside every map's accuracy.
NAIVE_BASELINES: tuple[str, ...] = ("previous-12-months", "previous-month")
#: Baseline name -> words for a page.
BASELINE_LABELS: dict[str, str] = {
    "previous-12-months": "previous 12 months' counts per cell",
    "previous-month": "previous month's counts per cell",
}

BACKTEST_COLUMNS = (
    "method",
    "origin",
    "coverage",
    "hits",
    "total",
    "hit_rate",
    "area_share",
    "pai",
    "oracle_hit_rate",
)


#: Scores within this fraction of the largest score are tied when cells are ranked
#: (:func:`selection_hits`): float64 sums of the same terms in another order differ by
#: about 1e-16 of their size, and no map's figures mean anything at 1e-12.
TIE_TOLERANCE = 1e-12


def selection_hits(
    scores: np.ndarray, target: np.ndarray, inside: np.ndarray, *, cells: np.ndarray
) -> np.ndarray:
    """Expected target hits in the ``cells`` top-scoring inside cells, for each count in ``cells``.

    Ties straddling a cut-off contribute their hits in proportion to the share selected; missing
    scores rank last. Scores closer than :data:`TIE_TOLERANCE` of the largest are tied: such a
    difference is the rounding of a sum taken in another order (a kernel density from rows or
    from counted locations), not a difference of the map, so it must not pick a cell.

    Parameters
    ----------
    scores
        Score per grid cell (higher: selected first).
    target
        Incidents per grid cell in the target period, same shape as ``scores``.
    inside
        Boolean mask of the study area's cells, same shape; only these are ranked.
    cells
        Numbers of cells selected, e.g. ``[1, 5, 10]``.

    Returns
    -------
    numpy.ndarray
        Expected (possibly fractional) hits, one per element of ``cells``.
    """
    score = np.nan_to_num(np.asarray(scores, dtype=float)[inside], nan=-np.inf)
    hits = np.asarray(target, dtype=float)[inside]
    order = np.argsort(-score, kind="stable")
    score, hits = score[order], hits[order]
    finite = score[np.isfinite(score)]
    tolerance = TIE_TOLERANCE * float(np.abs(finite).max()) if len(finite) else 0.0
    with np.errstate(invalid="ignore"):  # -inf - -inf: equal scores, no new group
        apart = (score[1:] != score[:-1]) & ~(score[:-1] - score[1:] <= tolerance)
    starts = np.flatnonzero(np.r_[True, apart])
    group_hits = np.add.reduceat(hits, starts) if len(hits) else np.zeros(0)
    group_size = np.diff(np.r_[starts, len(score)])
    cells_before = np.r_[0, np.cumsum(group_size)]
    hits_before = np.r_[0.0, np.cumsum(group_hits)]
    k = np.asarray(cells)
    group = np.clip(np.searchsorted(cells_before, k, side="right") - 1, 0, len(group_size) - 1)
    within = (k - cells_before[group]) / np.maximum(group_size[group], 1)
    return hits_before[group] + np.clip(within, 0.0, 1.0) * group_hits[group]


def _cells_for(coverage_pct: np.ndarray, n_inside: int) -> np.ndarray:
    k = np.floor(np.asarray(coverage_pct, dtype=float) / 100.0 * n_inside + 1e-9).astype(int)
    return np.where(np.asarray(coverage_pct) > 0, np.maximum(k, 1), 0)


def _oracle_hits(target: np.ndarray, inside: np.ndarray, cells: np.ndarray) -> np.ndarray:
    best = np.sort(np.asarray(target, dtype=float)[inside])[::-1]
    return np.r_[0.0, np.cumsum(best)][np.asarray(cells)]


def hit_rate_table(
    scores: np.ndarray,
    target: np.ndarray,
    inside: np.ndarray,
    *,
    coverages: Sequence[float] = (1, 5, 10),
) -> pd.DataFrame:
    """Hit rate, area share, PAI and oracle hit rate of one map against one target count grid.

    PAI after Chainey, Tompson & Uhlig (2008).

    Parameters
    ----------
    scores
        Score per grid cell of the map tested.
    target
        Incidents per cell in the target period, same shape as ``scores``.
    inside
        Boolean mask of the study area's cells, same shape.
    coverages
        Percentages (0..100) of the study area's cells to select; default 1, 5 and 10.

    Returns
    -------
    pandas.DataFrame
        One row per coverage: ``coverage`` (percent asked), ``hits`` (expected, may be
        fractional), ``total`` (target incidents inside), ``hit_rate`` and ``area_share``
        (fractions 0..1), ``pai`` and ``oracle_hit_rate`` (fraction); rates are NaN when there
        is no target incident.

    Raises
    ------
    InputError
        A coverage outside 0..100 or none given; no cell inside the study area.
    """
    covers = np.asarray(coverages, dtype=float)
    if covers.size == 0 or np.any((covers < 0) | (covers > 100)):
        raise InputError(f"coverages must be percentages in 0..100, got {list(coverages)}")
    n_inside = int(np.count_nonzero(inside))
    if n_inside == 0:
        raise InputError("the grid has no cells inside the study area")
    cells = _cells_for(covers, n_inside)
    total = float(np.asarray(target, dtype=float)[inside].sum())
    hits = selection_hits(scores, target, inside, cells=cells)
    share = cells / n_inside
    with np.errstate(invalid="ignore", divide="ignore"):
        rate = np.where(total > 0, hits / total, np.nan)
        pai = np.where(share > 0, rate / share, np.nan)
        oracle = np.where(total > 0, _oracle_hits(target, inside, cells) / total, np.nan)
    return pd.DataFrame(
        {
            "coverage": covers,
            "hits": hits,
            "total": total,
            "hit_rate": rate,
            "area_share": share,
            "pai": pai,
            "oracle_hit_rate": oracle,
        }
    )


def coverage_curve(
    scores: np.ndarray, target: np.ndarray, inside: np.ndarray, *, step_pct: float = 1.0
) -> pd.DataFrame:
    """Hit rate and oracle hit rate against coverage from 0 to 100 % in steps of ``step_pct``.

    Parameters
    ----------
    scores, target, inside
        As for :func:`hit_rate_table`.
    step_pct
        Step of coverage in percent, in (0, 100]; default 1.

    Returns
    -------
    pandas.DataFrame
        :func:`hit_rate_table` at coverages 0, ``step_pct``, ... and 100.

    Raises
    ------
    InputError
        ``step_pct`` outside (0, 100]; no cell inside the study area.
    """
    if not 0 < step_pct <= 100:
        raise InputError(f"step_pct must be in (0, 100], got {step_pct!r}")
    covers = np.unique(np.r_[np.arange(0.0, 100.0, step_pct), 100.0])
    return hit_rate_table(scores, target, inside, coverages=covers.tolist())


@dataclass(frozen=True, eq=False)
class _Series:
    """Located incidents sorted by month, with the per-month count cube over the grid."""

    months: tuple[str, ...]
    cube: np.ndarray
    x: np.ndarray
    y: np.ndarray
    month_index: np.ndarray
    weights: np.ndarray | None = None

    def history(self, grid: Grid, origin: int) -> History:
        end = int(np.searchsorted(self.month_index, origin, side="right"))
        return History(
            grid=grid,
            months=self.months[: origin + 1],
            monthly_counts=self.cube[: origin + 1],
            x=self.x[:end],
            y=self.y[:end],
            month_index=self.month_index[:end],
            weights=None if self.weights is None else self.weights[:end],
        )


def _series(incidents: pd.DataFrame, grid: Grid, *, first: int, last: int) -> _Series:
    """Month-sorted located incidents of months ``first..last`` (month indexes) and their cube.

    Counted rows (a column ``n``: each standing for ``n`` incidents) give the same cube as
    their rows, and ``n`` is kept as their weights: from the grid cube their ``x``, ``y`` are
    cell centres (exact for methods that read the counts per study cell), from the density
    cube the incidents' own locations (exact for the methods that weigh points: kernel
    density).
    """
    counted = "n" in incidents.columns
    located = incidents.loc[has_location(incidents), ["month", "x", "y", *(["n"] * counted)]]
    month = _month_indexes(located["month"])
    keep = (month >= first) & (month <= last)
    month_index = month[keep] - first
    order = np.argsort(month_index, kind="stable")
    x = located["x"].to_numpy(dtype=float)[keep][order]
    y = located["y"].to_numpy(dtype=float)[keep][order]
    month_index = month_index[order]
    n_months = last - first + 1
    cell = grid.cell_index(x, y)
    on_grid = cell >= 0
    every = located["n"].to_numpy(dtype=float)[keep][order] if counted else None
    flat = np.bincount(
        month_index[on_grid] * grid.nx * grid.ny + cell[on_grid],
        weights=None if every is None else every[on_grid],
        minlength=n_months * grid.nx * grid.ny,
    ).astype(np.int64)  # whole-number float sums are exact
    cube = flat.reshape(n_months, grid.ny, grid.nx)
    cube.flags.writeable = False
    months = tuple(format_month(first + i) for i in range(n_months))
    return _Series(months=months, cube=cube, x=x, y=y, month_index=month_index, weights=every)


def incident_history(
    incidents: pd.DataFrame, grid: Grid, *, first_month: str, last_month: str
) -> History:
    """What is known at ``last_month``: the located incidents of ``first_month..last_month``
    sorted by month, and their count per month and cell.

    Parameters
    ----------
    incidents
        Canonical incidents (``month``, ``x``, ``y`` in EPSG:27700 metres), or counted rows with
        ``n`` (kept as the history's weights); unlocated ones are left out.
    grid
        The study grid the months are counted on.
    first_month, last_month
        Inclusive ``"YYYY-MM"`` bounds.

    Returns
    -------
    History
        ``monthly_counts`` of shape ``(months, ny, nx)``, int64.
    """
    first = parse_month(first_month, what="first month")
    last = parse_month(last_month, what="last month")
    return _series(incidents, grid, first=first, last=last).history(grid, last - first)


def _month_indexes(months: pd.Series) -> np.ndarray:
    """``parse_month`` of every value, parsing each distinct month once."""
    codes, uniques = pd.factorize(months.astype("str"), use_na_sentinel=False)
    parsed = np.array([parse_month(str(u), what="incident month") for u in uniques], dtype=int)
    return parsed[codes]


def backtest(
    incidents: pd.DataFrame,
    grid: Grid,
    *,
    methods: Mapping[str, Method],
    first_origin: str,
    last_origin: str,
    horizon_months: int = 1,
    coverages: Sequence[float] = (1, 5, 10),
    progress: Progress | None = None,
) -> pd.DataFrame:
    """Rolling-origin backtest of each method over origins ``first_origin..last_origin``.

    Parameters
    ----------
    incidents
        Canonical incidents of one category (or group); only located ones are used (``x``, ``y``
        in EPSG:27700 metres). History starts at the earliest month present.
    grid
        The grid; ``grid.inside`` is the study area.
    methods
        Name -> method, e.g. :func:`default_methods`; each returns scores of shape
        ``grid.shape``.
    first_origin, last_origin
        The first and last origin month "YYYY-MM"; each origin is scored on the
        ``horizon_months`` months after it.
    horizon_months
        Months after each origin whose incidents are the target (whole number >= 1, default 1).
    coverages
        Percentages of the study area to select (default 1, 5 and 10).
    progress
        Shows progress over the origins (:mod:`geo_service.progress`); none by default.

    Returns
    -------
    pandas.DataFrame
        :data:`BACKTEST_COLUMNS`, one row per method, origin and coverage (columns as
        :func:`hit_rate_table`, with ``method`` and ``origin`` "YYYY-MM").

    Raises
    ------
    InputError
        An origin or incident month is not ``YYYY-MM``; ``last_origin`` before
        ``first_origin``; ``horizon_months`` not a whole number >= 1; no methods; a method's
        scores not of the grid's shape; a coverage outside 0..100; no cell inside the study area.
    """
    first = parse_month(first_origin, what="first origin")
    last = parse_month(last_origin, what="last origin")
    if last < first:
        raise InputError(f"last origin {last_origin} is before first origin {first_origin}")
    if int(horizon_months) != horizon_months or horizon_months < 1:
        raise InputError(f"horizon_months must be a whole number >= 1, got {horizon_months!r}")
    if not methods:
        raise InputError("no methods to evaluate; expected at least one, e.g. default_methods()")
    start = _first_month(incidents, default=first)
    series = _series(incidents, grid, first=min(start, first), last=last + horizon_months)
    offset = min(start, first)
    rows = []
    shown = progress or quiet
    origins = range(first - offset, last - offset + 1)
    for origin in shown(origins, what="backtest", total=len(origins), unit="origin"):
        history = series.history(grid, origin)
        target = series.cube[origin + 1 : origin + 1 + horizon_months].sum(axis=0)
        for name, method in methods.items():
            table = _score_one(name, method, history, target, coverages)
            rows.append((name, series.months[origin], table))
        log.debug("backtest origin %s done", series.months[origin])
    # One frame at the end: inserting columns into one small frame per map costs more than
    # the maps themselves.
    out = pd.concat([table for _, _, table in rows], ignore_index=True)
    sizes = [len(table) for _, _, table in rows]
    out.insert(0, "origin", np.repeat([origin for _, origin, _ in rows], sizes))
    out.insert(0, "method", np.repeat([name for name, _, _ in rows], sizes))
    return out[list(BACKTEST_COLUMNS)]


def _score_one(
    name: str, method: Method, history: History, target: np.ndarray, coverages: Sequence[float]
) -> pd.DataFrame:
    """The hit-rate table of one method's map at one origin."""
    grid = history.grid
    scores = np.asarray(method(history), dtype=float)
    if scores.shape != grid.shape:
        raise InputError(
            f"method {name!r} returned scores of shape {scores.shape}; "
            f"expected the grid's {grid.shape}"
        )
    return hit_rate_table(scores, target, grid.inside, coverages=coverages)


def _first_month(incidents: pd.DataFrame, *, default: int) -> int:
    months = incidents["month"].dropna()
    return parse_month(str(months.min()), what="incident month") if len(months) else default


def summarise_backtest(table: pd.DataFrame) -> pd.DataFrame:
    """Mean hit rate, PAI and oracle hit rate per method and coverage over the origins.

    Parameters
    ----------
    table
        A :func:`backtest` table.

    Returns
    -------
    pandas.DataFrame
        One row per method and coverage: method, coverage, origins (number), hit_rate, pai,
        area_share, oracle_hit_rate (means over origins) and ``pooled_hit_rate`` (all hits over
        all target incidents). Rows are ordered by coverage, then best mean hit rate first.
    """
    grouped = table.groupby(["method", "coverage"], sort=False)
    summary = grouped.agg(
        origins=("origin", "nunique"),
        hit_rate=("hit_rate", "mean"),
        pai=("pai", "mean"),
        area_share=("area_share", "mean"),
        oracle_hit_rate=("oracle_hit_rate", "mean"),
        hits=("hits", "sum"),
        total=("total", "sum"),
    ).reset_index()
    summary["pooled_hit_rate"] = summary["hits"] / summary["total"].where(summary["total"] > 0)
    summary = summary.drop(columns=["hits", "total"])
    return summary.sort_values(
        ["coverage", "hit_rate", "method"], ascending=[True, False, True]
    ).reset_index(drop=True)


def hit_rate_curve(summary: pd.DataFrame) -> pd.DataFrame:
    """Mean hit rate by coverage (rows) and method (columns), plus the ``oracle`` column.

    Parameters
    ----------
    summary
        :func:`summarise_backtest` of a backtest run at many coverages, e.g.
        ``coverages=range(0, 101)`` for the curve from 0 to 100 % of the area.

    Returns
    -------
    pandas.DataFrame
        One row per coverage: ``coverage`` (percent), one column per method and ``oracle``
        (mean hit rates, fractions 0..1).
    """
    curve = summary.pivot(index="coverage", columns="method", values="hit_rate")
    curve["oracle"] = summary.groupby("coverage")["oracle_hit_rate"].mean()
    curve.columns.name = None
    return curve.reset_index()


def best_method(summary: pd.DataFrame, *, coverage: float = 5) -> str:
    """The method with the highest mean hit rate at ``coverage`` (ties: the first name).

    Parameters
    ----------
    summary
        A :func:`summarise_backtest` table.
    coverage
        Percentage of the study area (default 5).

    Returns
    -------
    str
        The method's name.

    Raises
    ------
    InputError
        The summary has no hit rate at that coverage; the message lists those it has.
    """
    rows = summary[np.isclose(summary["coverage"].to_numpy(dtype=float), coverage)]
    rows = rows.dropna(subset=["hit_rate"])
    if rows.empty:
        allowed = sorted(summary["coverage"].unique().tolist())
        raise InputError(f"no backtest results at coverage {coverage:g} %; have {allowed}")
    ranked = rows.sort_values(["hit_rate", "method"], ascending=[False, True])
    return str(ranked["method"].iloc[0])


@dataclass(frozen=True)
class Accuracy:
    """The accuracy figures stated beside a hotspot map.

    Attributes
    ----------
    method
        Name of the method backtested.
    coverage
        Percentage of the study area selected.
    hit_rate, oracle_hit_rate
        Mean hit rates over the origins (fractions 0..1); oracle: the best any map could reach.
    pai
        Mean predictive accuracy index (Chainey, Tompson & Uhlig 2008).
    origins
        Number of origin months.
    first_origin, last_origin
        First and last origin month, "YYYY-MM".
    baseline
        The naive baseline (:data:`NAIVE_BASELINES`) with the higher mean hit rate on the same
        origins at the same area share; "" when not computed.
    baseline_hit_rate, baseline_pai
        That baseline's mean hit rate (fraction) and PAI; NaN when not computed.
    """

    method: str
    coverage: float
    hit_rate: float
    pai: float
    oracle_hit_rate: float
    origins: int
    first_origin: str
    last_origin: str
    baseline: str = ""
    baseline_hit_rate: float = float("nan")
    baseline_pai: float = float("nan")

    def with_baseline(self) -> str:
        """The hit rate beside the best naive baseline's, in words.

        Returns
        -------
        str
            E.g. "hit rate 82 % (best naive baseline, previous 12 months' counts: 78 %)"; the
            plain hit rate when no baseline was computed.
        """
        text = f"hit rate {100 * self.hit_rate:.0f} %"
        if not self.baseline or np.isnan(self.baseline_hit_rate):
            return text
        label = BASELINE_LABELS.get(self.baseline, self.baseline)
        return f"{text} (best naive baseline, {label}: {100 * self.baseline_hit_rate:.0f} %)"

    def statement(self) -> str:
        """The figures in words.

        Returns
        -------
        str
            E.g. "kde: hit rate 23 % and PAI 4.6 at 5 % of area over the last 12 months (best
            possible 41 %); best naive baseline (previous 12 months' counts) on the same area:
            19 %"; without the best possible when not known, without the baseline when not
            computed.
        """
        best = (
            ""
            if np.isnan(self.oracle_hit_rate)
            else f" (best possible {100 * self.oracle_hit_rate:.0f} %)"
        )
        baseline = ""
        if self.baseline and not np.isnan(self.baseline_hit_rate):
            label = BASELINE_LABELS.get(self.baseline, self.baseline)
            baseline = (
                f"; best naive baseline ({label}) on the same area: "
                f"{100 * self.baseline_hit_rate:.0f} %"
            )
        return (
            f"{self.method}: hit rate {100 * self.hit_rate:.0f} % and PAI {self.pai:.1f} "
            f"at {self.coverage:.3g} % of area over the last {self.origins} months{best}{baseline}"
        )


def accuracy_for(
    incidents: pd.DataFrame,
    grid: Grid,
    *,
    method: str,
    methods: Mapping[str, Method] | None = None,
    last_month: str,
    months: int = 12,
    coverage: float = 5,
    horizon_months: int = 1,
    progress: Progress | None = None,
) -> Accuracy:
    """Backtest ``method`` on the last ``months`` target months ending ``last_month``.

    Parameters
    ----------
    incidents
        Canonical incidents of one category (or group); only located ones are used.
    grid
        The grid; ``grid.inside`` is the study area.
    method
        Name of the method, a key of ``methods``.
    methods
        Name -> method; default :func:`default_methods` for the grid's cell size.
    last_month
        Last target month, "YYYY-MM"; the last origin is ``horizon_months`` before it.
    months
        Number of origins (target months), default 12.
    coverage
        Percentage of the study area selected (default 5).
    horizon_months
        Months after each origin that are its target (default 1).
    progress
        As in :func:`backtest`.

    Returns
    -------
    Accuracy
        The method's mean figures over the origins.

    Raises
    ------
    InputError
        ``method`` is unknown (the message lists the allowed ones), or :func:`backtest` refuses
        its arguments.
    """
    available = dict(methods) if methods is not None else default_methods(cell_m=grid.cell_m)
    if method not in available:
        raise InputError(f"unknown method {method!r}; allowed: {', '.join(sorted(available))}")
    last = parse_month(last_month, what="last month") - horizon_months
    first = last - int(months) + 1
    scored = {method: available[method]}
    for name in NAIVE_BASELINES:
        scored.setdefault(name, _baseline(name))
    table = backtest(
        incidents,
        grid,
        methods=scored,
        first_origin=format_month(first),
        last_origin=format_month(last),
        horizon_months=horizon_months,
        coverages=(coverage,),
        progress=progress,
    )
    summary = summarise_backtest(table).set_index("method")
    row = summary.loc[method]
    base = summary.loc[list(NAIVE_BASELINES)].sort_values("hit_rate", ascending=False)
    return Accuracy(
        method=method,
        coverage=float(coverage),
        hit_rate=float(row["hit_rate"]),
        pai=float(row["pai"]),
        oracle_hit_rate=float(row["oracle_hit_rate"]),
        origins=int(row["origins"]),
        first_origin=format_month(first),
        last_origin=format_month(last),
        baseline=str(base.index[0]),
        baseline_hit_rate=float(base["hit_rate"].iloc[0]),
        baseline_pai=float(base["pai"].iloc[0]),
    )


MAP_KIND_COLUMNS = (
    "map_kind",
    "origin",
    "cells",
    "area_share",
    "hits",
    "total",
    "hit_rate",
    "pai",
    *(f"{name}_hit_rate" for name in NAIVE_BASELINES),
)


def map_kind_backtest(
    incidents: pd.DataFrame,
    grid: Grid,
    *,
    kinds: Mapping[str, Method],
    first_origin: str,
    last_origin: str,
    horizon_months: int = 1,
    kde_coverage: float = 5,
) -> pd.DataFrame:
    """Rolling-origin accuracy of maps that mark an area rather than rank every cell.

    Each kind returns a score per cell at each origin; its predicted area is the cells scoring
    above 0 (Gi* hot cells and areas, cluster cells, emerging hot cells), or for a kind named
    ``"kde"`` the top ``kde_coverage`` % of the study area. The naive baselines are scored on
    the same origins at the same number of cells, so the comparison is at the same area share.

    Parameters
    ----------
    incidents, grid, first_origin, last_origin, horizon_months
        As for :func:`backtest`.
    kinds
        Map kind -> method (score per cell; > 0 marks the predicted area).
    kde_coverage
        Percentage of the area the ``"kde"`` kind selects (default 5).

    Returns
    -------
    pandas.DataFrame
        :data:`MAP_KIND_COLUMNS`: one row per kind and origin; ``cells`` and ``area_share`` of
        the predicted area, hits and rates as :func:`hit_rate_table`, and each baseline's hit
        rate over the same number of its top cells (NaN rates when nothing was predicted).
    """
    first = parse_month(first_origin, what="first origin")
    last = parse_month(last_origin, what="last origin")
    start = min(_first_month(incidents, default=first), first)
    series = _series(incidents, grid, first=start, last=last + horizon_months)
    inside = grid.inside
    n_inside = int(np.count_nonzero(inside))
    baselines = {name: _baseline(name) for name in NAIVE_BASELINES}
    rows = []
    for origin in range(first - start, last - start + 1):
        history = series.history(grid, origin)
        target = series.cube[origin + 1 : origin + 1 + horizon_months].sum(axis=0)
        total = float(target[inside].sum())
        base_scores = {name: method(history) for name, method in baselines.items()}
        for kind, method in kinds.items():
            scores = np.asarray(method(history), dtype=float)
            if kind == "kde":
                cells = int(_cells_for(np.array([kde_coverage]), n_inside)[0])
            else:
                cells = int(np.count_nonzero((scores > 0) & inside))
            row = _kind_row(kind, series.months[origin], scores, target, inside, cells, total)
            for name, base in base_scores.items():
                hits = selection_hits(base, target, inside, cells=np.array([cells]))[0]
                row[f"{name}_hit_rate"] = hits / total if total > 0 and cells > 0 else np.nan
            rows.append(row)
    return pd.DataFrame(rows, columns=list(MAP_KIND_COLUMNS))


def _baseline(name: str) -> Method:
    return recent_counts_method(months=12 if name == "previous-12-months" else 1)


def _kind_row(
    kind: str,
    origin: str,
    scores: np.ndarray,
    target: np.ndarray,
    inside: np.ndarray,
    cells: int,
    total: float,
) -> dict[str, object]:
    n_inside = int(np.count_nonzero(inside))
    hits = float(selection_hits(scores, target, inside, cells=np.array([cells]))[0])
    share = cells / n_inside
    rate = hits / total if total > 0 and cells > 0 else np.nan
    return {
        "map_kind": kind,
        "origin": origin,
        "cells": cells,
        "area_share": share,
        "hits": hits,
        "total": total,
        "hit_rate": rate,
        "pai": rate / share if share > 0 else np.nan,
    }


def summarise_map_kinds(table: pd.DataFrame) -> pd.DataFrame:
    """Mean accuracy per map kind beside the better naive baseline at the same area share.

    Parameters
    ----------
    table
        A :func:`map_kind_backtest` table (or rows of the same columns).

    Returns
    -------
    pandas.DataFrame
        One row per kind: ``map_kind``, ``origins`` (with a prediction), ``area_share``,
        ``hit_rate`` and ``pai`` (means), ``baseline`` (the naive baseline with the higher mean
        hit rate), ``baseline_hit_rate`` and ``baseline_pai`` (its means at the same cells),
        and ``beats_baseline``.
    """
    rows = []
    for kind, group in table.groupby("map_kind", sort=False):
        scored = group.dropna(subset=["hit_rate"])
        means = {name: float(scored[f"{name}_hit_rate"].mean()) for name in NAIVE_BASELINES}
        best = max(means, key=lambda name: -np.inf if np.isnan(means[name]) else means[name])
        share = scored["area_share"]
        with np.errstate(invalid="ignore", divide="ignore"):
            base_pai = float((scored[f"{best}_hit_rate"] / share).mean())
        rate = float(scored["hit_rate"].mean())
        rows.append(
            {
                "map_kind": kind,
                "origins": len(scored),
                "area_share": float(group["area_share"].mean()),
                "hit_rate": rate,
                "pai": float(scored["pai"].mean()),
                "baseline": best,
                "baseline_hit_rate": means[best],
                "baseline_pai": base_pai,
                "beats_baseline": bool(rate > means[best]),
            }
        )
    return pd.DataFrame(rows)


def map_kinds(
    grid: Grid, *, areas: gpd.GeoDataFrame | None = None, months: int = 12
) -> dict[str, Method]:
    """The hotspot map kinds a page draws, as methods for :func:`map_kind_backtest`.

    Each is built from the last ``months`` months at the origin with the hotspot functions'
    own defaults: ``kde`` (quartic, automatic bandwidth; top cells), ``gistar-cells`` (Gi* hot
    cells, 90 % or more), ``gistar-areas`` (cells of the areas Gi* finds hot, with ``areas``),
    ``dbscan`` and ``hdbscan`` (cells whose centre lies in a cluster polygon) and ``emerging``
    (cells hot at the origin month in the emerging hot-spot classes of the monthly Gi*: new,
    consecutive, intensifying, persistent, diminishing, sporadic, oscillating).

    Parameters
    ----------
    grid
        The grid scored.
    areas
        The study layer (EPSG:27700) for ``gistar-areas``; left out without it.
    months
        Months of history each map uses (default 12).

    Returns
    -------
    dict
        Map kind -> method.
    """
    kinds: dict[str, Method] = {
        "kde": _kde_kind(months),
        "gistar-cells": gistar_method(months=months),
    }
    if areas is not None and len(areas) > 1:
        kinds["gistar-areas"] = _gistar_areas_kind(grid, areas, months)
    kinds["dbscan"] = _cluster_kind("dbscan", areas, months)
    kinds["hdbscan"] = _cluster_kind("hdbscan", areas, months)
    kinds["emerging"] = _emerging_kind(grid, months)
    return kinds


def _kde_kind(months: int) -> Method:
    from geo_service.analysis.kde import kde_surface

    def score(history: History) -> np.ndarray:
        x, y, _ = history.recent(months)
        if len(x) == 0:
            return np.zeros(history.grid.shape)
        return kde_surface(x, y, history.grid, weights=history.recent_weights(months))

    return score


def _gistar_areas_kind(grid: Grid, areas: gpd.GeoDataFrame, months: int) -> Method:
    from geo_service.analysis.gistar import gi_star_areas

    cell_area = cell_areas(grid, areas)
    on_area = cell_area >= 0

    def score(history: History) -> np.ndarray:
        counts = history.monthly_counts[-months:].sum(axis=0).ravel()
        per_area = np.bincount(cell_area[on_area], counts[on_area], minlength=len(areas))
        bins = gi_star_areas(areas, per_area, permutations=0)["bin"].to_numpy(dtype=float)
        flat = np.where(on_area, np.maximum(bins[np.maximum(cell_area, 0)], 0.0), 0.0)
        return flat.reshape(grid.shape)

    return score


def cell_areas(grid: Grid, areas: gpd.GeoDataFrame) -> np.ndarray:
    """Row of ``areas`` holding each grid cell's centre (flat order), -1 for none.

    Parameters
    ----------
    grid
        The grid.
    areas
        Polygons in the grid's CRS (EPSG:27700).

    Returns
    -------
    numpy.ndarray
        int64, one per cell (``nx * ny``); the first area in row order where two hold a centre.
    """
    import shapely

    xc, yc = grid.centres()
    centres = shapely.points(xc.ravel(), yc.ravel())
    area_i, cell_i = shapely.STRtree(centres).query(areas.geometry.to_numpy(), predicate="covers")
    index = np.full(grid.nx * grid.ny, -1, dtype=np.int64)
    order = np.argsort(-area_i, kind="stable")  # lower rows written last, so they win
    index[cell_i[order]] = area_i[order]
    return index


def _cluster_kind(kind: str, areas: gpd.GeoDataFrame | None, months: int) -> Method:
    from geo_service.analysis.clusters import cluster_cells, dbscan_clusters, hdbscan_clusters

    def score(history: History) -> np.ndarray:
        x, y, _ = history.recent(months)
        weights = history.recent_weights(months)  # counted locations: incidents at each
        if (len(x) if weights is None else weights.sum()) < 10:
            return np.zeros(history.grid.shape)
        if kind == "dbscan":
            clusters = dbscan_clusters(x, y, areas=areas, weights=weights)
        else:
            clusters = hdbscan_clusters(x, y, areas=areas, weights=weights)
        return cluster_cells(history.grid, clusters)

    return score


def _emerging_kind(grid: Grid, months: int) -> Method:
    from geo_service.analysis.emerging import emerging_hotspots
    from geo_service.analysis.weights import grid_weights

    weights = grid_weights(grid)
    inside = grid.inside.ravel()

    def score(history: History) -> np.ndarray:
        counts = history.monthly_counts[-months:].reshape(-1, grid.nx * grid.ny)[:, inside]
        flat = np.zeros(grid.nx * grid.ny)
        if counts.shape[0] < 3:
            return flat.reshape(grid.shape)
        classes = emerging_hotspots(counts.astype(float), weights)
        hot_now = classes["final_bin"].to_numpy() > 0
        flat[inside] = np.where(hot_now, classes["final_bin"].to_numpy(dtype=float), 0.0)
        return flat.reshape(grid.shape)

    return score


def map_accuracy_for(
    incidents: pd.DataFrame,
    grid: Grid,
    *,
    kind: str,
    method: Method,
    last_month: str,
    months: int = 12,
    horizon_months: int = 1,
) -> Accuracy:
    """:func:`accuracy_for` of a map that marks an area (Gi* areas, clusters, emerging classes).

    The coverage reported is the mean share of the study area the map marked (percent); the
    baseline is scored at the same number of cells at each origin (:func:`map_kind_backtest`).

    Parameters
    ----------
    incidents, grid, last_month, months, horizon_months
        As for :func:`accuracy_for`.
    kind
        The map kind's name (e.g. a key of :func:`map_kinds`; ``"kde"`` selects 5 %).
    method
        Its method: a score per cell, > 0 on the marked area.

    Returns
    -------
    Accuracy
        Mean figures over the origins where the map marked some cells (``oracle_hit_rate`` NaN).
    """
    last = parse_month(last_month, what="last month") - horizon_months
    first = last - int(months) + 1
    table = map_kind_backtest(
        incidents, grid, kinds={kind: method}, first_origin=format_month(first),
        last_origin=format_month(last), horizon_months=horizon_months,
    )  # fmt: skip
    row = summarise_map_kinds(table).iloc[0]
    return Accuracy(
        method=kind,
        coverage=100.0 * float(row["area_share"]),
        hit_rate=float(row["hit_rate"]),
        pai=float(row["pai"]),
        oracle_hit_rate=float("nan"),
        origins=int(row["origins"]),
        first_origin=format_month(first),
        last_origin=format_month(last),
        baseline=str(row["baseline"]),
        baseline_hit_rate=float(row["baseline_hit_rate"]),
        baseline_pai=float(row["baseline_pai"]),
    )
