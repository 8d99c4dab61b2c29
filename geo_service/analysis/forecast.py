"""Forecast maps that use both history and place, and their choice by the rolling-origin backtest.

Three families of methods (each a :data:`~.hotspot_methods.Method`, a score per grid cell from
what is known at an origin month):

- **time-weighted counts** (:func:`ewma_counts_method`): each cell's incidents of the last
  ``window`` months, a month of lag ``l`` (0 = the origin month) weighted ``0.5 ** (l / h)`` for
  a half-life of ``h`` months. It keeps the fixed police.uk map points that make last year's
  counts a strong map, and lets recent months count for more.
- **counts blended with a narrow kernel** (:func:`blend_method`): ``(1 - a) c + a (K * c)``, with
  ``c`` the time-weighted counts, ``K`` a quartic kernel of a narrow bandwidth normalised to sum
  1 over the cells (so both terms are incidents per cell) and ``a`` the share of the kernel. The
  kernel spreads a cell's history to its neighbours and orders the many cells that counts
  alone leave tied.
- **local empirical-Bayes Poisson rates** (:func:`eb_method`): Marshall's (1991) local
  empirical-Bayes smoother. A cell's rate ``r = c / T`` (``T`` the summed month weights) is
  shrunk towards its neighbourhood's mean ``m`` (the kernel-weighted rate of the cells around
  it) by ``w = v / (v + m / T)``, with ``v`` the neighbourhood's between-cell variance less the
  Poisson part (floored at 0): ``m + w (r - m)``. Cells whose own history is noisy next to
  their neighbourhood's spread are pulled towards it.

:func:`forecast_candidates` gives the candidates (half-lives, blend shares, neighbourhood
bandwidths) that the backtest chooses among, the naive baselines included;
:func:`select_per_origin` makes the nested choice without look-ahead (at each origin, the
candidate with the best mean hit rate on the origins whose target months are all before or at
it); :func:`choose_default` names the default map of a category: the nested choice when it beats
both naive baselines, otherwise the better baseline itself; :func:`describe` says a candidate in
words.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from geo_service.analysis.grid import Grid
from geo_service.analysis.hotspot_methods import History, Method, recent_counts_method
from geo_service.analysis.kde import convolve_same, kernel_stencil
from geo_service.errors import InputError

__all__ = [
    "BASELINES",
    "FORECAST",
    "DefaultChoice",
    "bandwidth_of",
    "blend_method",
    "choose_default",
    "describe",
    "eb_method",
    "ewma_counts_method",
    "forecast_candidates",
    "select_per_origin",
    "time_weighted_counts",
]

#: The naive baselines every forecast is compared with.
BASELINES: tuple[str, ...] = ("previous-12-months", "previous-month")
#: Name of the nested-choice method in backtest tables.
FORECAST = "forecast"
#: Candidate used at origins before any earlier origin has been scored.
_FIRST_CHOICE = "blend-h6-a0.2"


def time_weighted_counts(
    monthly_counts: np.ndarray, *, half_life_months: float, window_months: int = 12
) -> tuple[np.ndarray, float]:
    """Incidents per cell over the last ``window_months`` months, weighted by age.

    Parameters
    ----------
    monthly_counts
        Counts per month and cell, shape ``(months, ny, nx)``, oldest first.
    half_life_months
        Half-life of a month's weight, in months (> 0); ``inf`` weights every month 1.
    window_months
        Months used, up to and including the last (default 12).

    Returns
    -------
    tuple
        ``(counts, weight_sum)``: weighted counts of shape ``(ny, nx)`` and the sum of the
        month weights used (months of exposure).
    """
    if not half_life_months > 0:
        raise InputError(f"half_life_months must be > 0, got {half_life_months!r}")
    recent = np.asarray(monthly_counts[-window_months:], dtype=float)
    lag = np.arange(recent.shape[0])[::-1]
    weights = 0.5 ** (lag / half_life_months)
    return np.tensordot(weights, recent, axes=1), float(weights.sum())


def _smooth(counts: np.ndarray, grid: Grid, bandwidth_m: float) -> np.ndarray:
    """``counts`` convolved with the quartic kernel scaled to sum 1 (incidents per cell)."""
    stencil = kernel_stencil(bandwidth_m, grid.cell_m)
    stencil = stencil / stencil.sum()
    # numpy's FFT: importing scipy.signal (and scipy.stats with it) costs ~1 s CPU, more than
    # the page that draws this forecast
    smooth = convolve_same(counts, stencil)
    # FFT round-off would otherwise break ties between cells that should score exactly 0.
    return np.where(smooth < 1e-9, 0.0, np.round(smooth, 9))


class _SharedCounts:
    """The time-weighted counts of the last history seen, per half-life.

    The candidates share half-lives; at each origin each half-life's counts are summed once.
    """

    def __init__(self) -> None:
        # The history itself is held (not its id), so a later one can never be mistaken for it.
        self._history: History | None = None
        self._counts: dict[tuple[float, int], tuple[np.ndarray, float]] = {}

    def __call__(
        self, history: History, half_life_months: float, window_months: int
    ) -> tuple[np.ndarray, float]:
        if history is not self._history:
            self._history, self._counts = history, {}
        if (half_life_months, window_months) not in self._counts:
            self._counts[half_life_months, window_months] = time_weighted_counts(
                history.monthly_counts,
                half_life_months=half_life_months,
                window_months=window_months,
            )
        return self._counts[half_life_months, window_months]


def _own_counts(
    history: History, half_life_months: float, window_months: int
) -> tuple[np.ndarray, float]:
    return time_weighted_counts(
        history.monthly_counts, half_life_months=half_life_months, window_months=window_months
    )


def ewma_counts_method(
    *, half_life_months: float, window_months: int = 12, shared: _SharedCounts | None = None
) -> Method:
    """Time-weighted counts per cell (see :func:`time_weighted_counts`).

    Parameters
    ----------
    half_life_months
        Half-life in months.
    window_months
        Months of history used (default 12).
    shared
        Counts shared between methods of one backtest (:func:`forecast_candidates`); none by
        default.

    Returns
    -------
    Method
        Weighted incident counts per cell.
    """
    counts_of = shared or _own_counts

    def score(history: History) -> np.ndarray:
        counts, _ = counts_of(history, half_life_months, window_months)
        return counts

    return score


def blend_method(
    *,
    half_life_months: float,
    kernel_share: float,
    bandwidth_m: float,
    window_months: int = 12,
    shared: _SharedCounts | None = None,
) -> Method:
    """``(1 - a) c + a (K * c)``: time-weighted counts blended with their narrow-kernel smooth.

    Parameters
    ----------
    half_life_months
        Half-life of the counts in months.
    kernel_share
        ``a`` in [0, 1], the kernel's share.
    bandwidth_m
        Quartic kernel radius in metres (at least the cell size).
    window_months
        Months of history used (default 12).
    shared
        Counts shared between methods of one backtest (:func:`forecast_candidates`); none by
        default.

    Returns
    -------
    Method
        Blended incidents per cell.
    """
    if not 0.0 <= kernel_share <= 1.0:
        raise InputError(f"kernel_share must be in [0, 1], got {kernel_share!r}")
    counts_of = shared or _own_counts

    def score(history: History) -> np.ndarray:
        counts, _ = counts_of(history, half_life_months, window_months)
        smooth = _smooth(counts, history.grid, bandwidth_m)
        return (1.0 - kernel_share) * counts + kernel_share * smooth

    return score


def eb_rates(counts: np.ndarray, exposure: float, grid: Grid, *, bandwidth_m: float) -> np.ndarray:
    """Marshall's (1991) local empirical-Bayes rate per cell, incidents per month.

    Parameters
    ----------
    counts
        (Weighted) incidents per cell, shape ``grid.shape``.
    exposure
        Months of exposure behind ``counts`` (> 0), the same for every cell.
    grid
        The grid (for the cell size).
    bandwidth_m
        Quartic radius of the neighbourhood in metres.

    Returns
    -------
    numpy.ndarray
        ``m + w (r - m)`` with ``r = counts / exposure``, ``m`` the neighbourhood's
        kernel-weighted mean rate, ``v`` its kernel-weighted variance of ``r`` less ``m /
        exposure`` (floored at 0) and ``w = v / (v + m / exposure)`` (0 where both are 0).
    """
    rate = np.asarray(counts, dtype=float) / exposure
    mean = _smooth(rate, grid, bandwidth_m)
    second = _smooth(rate * rate, grid, bandwidth_m)
    variance = np.maximum(second - mean * mean - mean / exposure, 0.0)
    denominator = variance + mean / exposure
    with np.errstate(invalid="ignore", divide="ignore"):
        weight = np.where(denominator > 0, variance / denominator, 0.0)
    return np.round(mean + weight * (rate - mean), 12)


def eb_method(
    *,
    half_life_months: float,
    bandwidth_m: float,
    window_months: int = 12,
    shared: _SharedCounts | None = None,
) -> Method:
    """Local empirical-Bayes Poisson rates of the time-weighted counts (:func:`eb_rates`).

    Parameters
    ----------
    half_life_months
        Half-life of the counts in months.
    bandwidth_m
        Quartic radius of each cell's neighbourhood in metres.
    window_months
        Months of history used (default 12).
    shared
        Counts shared between methods of one backtest (:func:`forecast_candidates`); none by
        default.

    Returns
    -------
    Method
        Smoothed incidents per month per cell.
    """
    counts_of = shared or _own_counts

    def score(history: History) -> np.ndarray:
        counts, exposure = counts_of(history, half_life_months, window_months)
        return eb_rates(counts, exposure, history.grid, bandwidth_m=bandwidth_m)

    return score


def forecast_candidates(*, cell_m: float) -> dict[str, Method]:
    """The candidates the backtest chooses among, the naive baselines first.

    Half-lives 3, 6 and 12 months; kernel shares 0.2 and 0.5; narrow bandwidth
    ``max(250 m, 2 cells)``, neighbourhood for the empirical-Bayes rates ``max(500 m, 4 cells)``.

    Parameters
    ----------
    cell_m
        Grid cell size in metres.

    Returns
    -------
    dict
        Name -> method: the :data:`BASELINES`, ``"ewma-h<h>"``, ``"blend-h<h>-a<a>"`` and
        ``"eb-h<h>"``.
    """
    narrow_m = max(250.0, 2.0 * cell_m)
    wide_m = max(500.0, 4.0 * cell_m)
    shared = _SharedCounts()
    methods: dict[str, Method] = {
        "previous-12-months": recent_counts_method(months=12),
        "previous-month": recent_counts_method(months=1),
    }
    for h in (3, 6, 12):
        methods[f"ewma-h{h}"] = ewma_counts_method(half_life_months=h, shared=shared)
    for h in (3, 6, 12):
        for share in (0.2, 0.5):
            methods[f"blend-h{h}-a{share:g}"] = blend_method(
                half_life_months=h, kernel_share=share, bandwidth_m=narrow_m, shared=shared
            )
    for h in (6, 12):
        methods[f"eb-h{h}"] = eb_method(half_life_months=h, bandwidth_m=wide_m, shared=shared)
    return methods


def select_per_origin(
    table: pd.DataFrame,
    *,
    coverage: float = 5,
    horizon_months: int = 1,
    first_choice: str = _FIRST_CHOICE,
) -> pd.DataFrame:
    """The nested choice: at each origin, the candidate best on the origins already scored.

    At origin ``t`` the candidates' mean hit rates at ``coverage`` over the origins ``s`` with
    ``s + horizon_months <= t`` (their targets are known at ``t``) rank them; the best (ties: the
    first name) is the map used at ``t``. At origins with no such earlier origin,
    ``first_choice`` is used (or the first candidate when it is not in the table).

    Parameters
    ----------
    table
        A :func:`~.evaluation.backtest` table of the candidates.
    coverage
        Percentage of the area whose hit rate ranks the candidates (default 5).
    horizon_months
        The backtest's horizon in months.
    first_choice
        The candidate used before any origin has been scored.

    Returns
    -------
    pandas.DataFrame
        The rows of the chosen candidate at each origin, ``method`` set to :data:`FORECAST`, plus
        a ``chosen`` column naming the candidate.
    """
    origins = sorted(table["origin"].unique())
    names = list(dict.fromkeys(table["method"]))
    at = table[np.isclose(table["coverage"].to_numpy(dtype=float), coverage)]
    rates = at.pivot(index="origin", columns="method", values="hit_rate")[names]
    fallback = first_choice if first_choice in names else names[0]
    pieces = []
    for i, origin in enumerate(origins):
        known = origins[: max(i - horizon_months + 1, 0)]
        chosen = fallback
        if known:
            means = rates.loc[known].mean(axis=0, skipna=True)
            if means.notna().any():
                chosen = str(means.fillna(-np.inf).idxmax())
        rows = table[(table["origin"] == origin) & (table["method"] == chosen)].copy()
        rows["chosen"] = chosen
        rows["method"] = FORECAST
        pieces.append(rows)
    return pd.concat(pieces, ignore_index=True)


@dataclass(frozen=True)
class DefaultChoice:
    """The default map of one category and the figures it was chosen on.

    Attributes
    ----------
    method
        ``"forecast"`` (the nested choice) or the name of the better naive baseline.
    map_method
        The candidate whose map is drawn from now on: the one best over every origin (for the
        forecast), or the baseline itself.
    coverage
        Percentage of area compared.
    hit_rate
        Mean hit rate of the default at ``coverage`` over the origins (fraction 0..1).
    baseline_hit_rates
        Baseline name -> mean hit rate at ``coverage``.
    forecast_hit_rate
        Mean hit rate of the nested choice (whether or not it won).
    """

    method: str
    map_method: str
    coverage: float
    hit_rate: float
    baseline_hit_rates: dict[str, float]
    forecast_hit_rate: float

    @property
    def best_baseline(self) -> str:
        """Name of the better naive baseline."""
        return max(self.baseline_hit_rates, key=lambda name: self.baseline_hit_rates[name])


def choose_default(
    candidates: pd.DataFrame,
    forecast: pd.DataFrame,
    *,
    coverage: float = 5,
    baselines: Sequence[str] = BASELINES,
) -> DefaultChoice:
    """The forecast when it beats every naive baseline at ``coverage``, else the best baseline.

    Parameters
    ----------
    candidates
        Backtest table of the candidates (baselines included).
    forecast
        :func:`select_per_origin` of it (rows of other methods are ignored).
    coverage
        Percentage of area (default 5).
    baselines
        Names of the naive baselines in ``candidates``.

    Returns
    -------
    DefaultChoice
    """

    def mean_at(frame: pd.DataFrame) -> pd.Series:
        rows = frame[np.isclose(frame["coverage"].to_numpy(dtype=float), coverage)]
        return rows.groupby("method")["hit_rate"].mean()

    by_method = mean_at(candidates)
    missing = [name for name in baselines if name not in by_method.index]
    if missing:
        raise InputError(f"backtest has no rows for the baselines {missing} at {coverage:g} %")
    base = {name: float(by_method[name]) for name in baselines}
    nested = float(mean_at(forecast[forecast["method"] == FORECAST]).loc[FORECAST])
    best_base = max(base, key=lambda name: base[name])
    if nested > base[best_base]:
        overall = by_method.drop(index=list(baselines), errors="ignore")
        map_method = str(overall.idxmax()) if len(overall) else best_base
        return DefaultChoice(FORECAST, map_method, float(coverage), nested, base, nested)
    return DefaultChoice(best_base, best_base, float(coverage), base[best_base], base, nested)


def _bandwidths_m(cell_m: float) -> tuple[float, float]:
    """The narrow blend kernel and the empirical-Bayes neighbourhood, in metres, as
    :func:`forecast_candidates` sets them."""
    return max(250.0, 2.0 * cell_m), max(500.0, 4.0 * cell_m)


def describe(method_name: str, *, cell_m: float) -> str:
    """A forecast candidate or baseline in words, for people who read the map.

    Parameters
    ----------
    method_name
        A name of :func:`forecast_candidates` (``"ewma-h6"``, ``"blend-h6-a0.2"``, ``"eb-h12"``,
        a baseline) or :data:`FORECAST`.
    cell_m
        Grid cell size in metres (the kernel and neighbourhood widths follow from it).

    Returns
    -------
    str
        E.g. ``"counts per 250 m cell over the past 12 months, recent months weighted more
        (half-life 6 months), blended with a 500 m kernel (kernel share 20 %)"``; an unknown
        name is returned as it is.
    """
    narrow_m, wide_m = _bandwidths_m(cell_m)
    cell = f"{cell_m:,.0f} m cell"
    baselines = {
        "previous-12-months": f"last 12 months' counts per {cell}",
        "previous-month": f"last month's counts per {cell}",
        FORECAST: "each month, the candidate that had predicted best on the months before",
    }
    if method_name in baselines:
        return baselines[method_name]
    family, _, rest = method_name.partition("-h")
    half_life, _, share = rest.partition("-a")
    if not half_life.isdigit():
        return method_name
    counts = (
        f"counts per {cell} over the past 12 months, recent months weighted more "
        f"(half-life {int(half_life)} months)"
    )
    if family == "ewma" and not share:
        return counts
    if family == "blend" and share:
        return (
            f"{counts}, blended with a {narrow_m:,.0f} m kernel "
            f"(kernel share {100 * float(share):.0f} %)"
        )
    if family == "eb" and not share:
        return (
            f"empirical-Bayes smoothed rates: {counts}, each cell's rate pulled towards its "
            f"neighbours' within {wide_m:,.0f} m as far as its own history is thin"
        )
    return method_name


def bandwidth_of(method_name: str, *, cell_m: float) -> float | None:
    """The kernel (blend) or neighbourhood (empirical Bayes) width in metres of a candidate,
    None for counts and baselines."""
    narrow_m, wide_m = _bandwidths_m(cell_m)
    if method_name.startswith("blend-h"):
        return narrow_m
    if method_name.startswith("eb-h"):
        return wide_m
    return None
