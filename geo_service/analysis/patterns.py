"""Time patterns: monthly series, peak and trough months, unusual months and days, weekly and
daily profiles.

Expected levels (documented choices)
------------------------------------
* A **month** is compared with the mean of the same calendar month in the earlier years the data
  covers (basis ``"same month, earlier years"``); when no earlier year is covered, with the mean
  of the 12 months before it (``"previous 12 months"``); with fewer than 3 earlier months covered
  it is not judged. It is *far above expected* when the Poisson upper-tail probability
  ``P(X >= count | expected)`` is below ``alpha`` (0.01 by default).
* A **day** is compared with its month's daily average (month total / days in the month), the
  assessment's "23 incidents on 31 October against a month average of 9.8 a day"; the same
  Poisson upper tail and ``alpha`` apply. Only incidents with a date (``occurred_at``) count.

"Covered" months are the months present anywhere in the frame passed in (any category), so a
month with no incident of the group still counts as a zero when the data covers it.

Every function here takes raw incidents or a *counted* frame (rows standing for several
incidents with equal keys, their number in ``n``; :mod:`geo_service.analysis.counts`): both give
the same figures for the same incidents. A counted frame's ``occurred_at`` need hold only the
day and hour. The store's area cube (:func:`geo_service.store.cubes.counted_incidents`) gives
the day only to incidents in an area of its layer (elsewhere the hour on 2000-01-01): count
days (:func:`daily_exceedances`, :func:`day_of_week_profile`) of those only, as the report does
(its borough).
"""

from __future__ import annotations

import calendar
from collections.abc import Collection, Iterable
from dataclasses import dataclass

import numpy as np
import pandas as pd

from geo_service.analysis.counts import area_codes_column, resolve_group, select, weights
from geo_service.analysis.periods import Period, parse_month, shift_month
from geo_service.analysis.significance import poisson_tails
from geo_service.categories import CategoryGroup

#: Tail probability below which a month or day is reported as far above its expected level.
ALPHA = 0.01
WEEKDAYS = ("Monday", "Tuesday", "Wednesday", "Thursday", "Friday", "Saturday", "Sunday")
BASIS_SAME_MONTH = "same month, earlier years"
BASIS_TRAILING = "previous 12 months"


@dataclass(frozen=True)
class PeakTrough:
    """The highest and lowest months of a series (earliest month on ties) and its mean.

    Attributes
    ----------
    peak_month, trough_month
        Months ``"YYYY-MM"`` of the highest and lowest counts.
    peak_count, trough_count
        Those counts.
    mean_per_month
        Mean count per month of the series.
    """

    peak_month: str
    peak_count: int
    trough_month: str
    trough_count: int
    mean_per_month: float


def monthly_series(
    incidents: pd.DataFrame,
    *,
    group: CategoryGroup | str,
    period: Period,
    layer: str | None = None,
    codes: list[str] | None = None,
    held: Collection[str] | None = None,
) -> pd.DataFrame:
    """Counts per month of ``period`` (zeros included), for the whole frame or per area.

    Parameters
    ----------
    incidents
        Canonical incidents, or a counted frame (module docstring), joined to ``layer`` when it
        is given.
    group
        Category group, or the name of a plain category.
    period
        The months counted.
    layer
        Area layer name: one column per area; None (default): one column ``count``.
    codes
        The area codes wanted, in order; default every code seen in the period.
    held
        The months the group's sources hold (e.g.
        :meth:`geo_service.coverage.Coverage.months_of`); a month not held is missing (``<NA>``,
        nullable ``Int64``): "no data", never 0. None: every month is held.

    Returns
    -------
    pandas.DataFrame
        Indexed by month ``"YYYY-MM"`` (one row per month of ``period``): column ``count``, or
        one column per area code (columns named ``code``); int64, or ``Int64`` with ``held``.

    Raises
    ------
    InputError
        ``layer`` is given and the incidents are not joined to it.
    """
    chosen = select(incidents, group=group, period=period)
    months = pd.Index(period.months, name="month", dtype="str")
    n = pd.Series(weights(chosen), index=chosen.index)
    if layer is None:
        counts = n.groupby(chosen["month"].astype("str")).sum().reindex(months, fill_value=0)
        return _unheld(pd.DataFrame({"count": counts.astype("int64")}, index=months), held)
    area = area_codes_column(chosen, layer)
    wide = (
        n.groupby([chosen["month"].astype("str"), area.astype("str")]).sum().unstack(fill_value=0)
    )
    columns = pd.Index(codes if codes is not None else sorted(wide.columns), dtype="str")
    wide = wide.reindex(index=months, columns=columns, fill_value=0).astype("int64")
    wide.columns.name = "code"
    return _unheld(wide, held)


def _unheld(table: pd.DataFrame, held: Collection[str] | None) -> pd.DataFrame:
    if held is None:
        return table
    out = table.astype("Int64")
    out.loc[~table.index.isin(list(held))] = pd.NA
    return out


def yearly_totals(
    incidents: pd.DataFrame,
    *,
    group: CategoryGroup | str,
    end: str,
    years: int = 5,
    months: int = 12,
    covered_months: Iterable[str] | None = None,
) -> pd.DataFrame:
    """Totals of ``months``-long windows ending at ``end`` and at the same point of earlier years.

    Windows of 12 months are consecutive years; shorter windows are the same months of each
    year (January of each year for a 1-month window), so the trend is free of seasons; longer
    windows are back to back. Only windows whose every month is covered by the data are
    returned.

    Parameters
    ----------
    incidents
        Canonical incidents, or a counted frame (module docstring).
    group
        Category group, or the name of a plain category.
    end
        Last month of the latest window, ``"YYYY-MM"``.
    years
        Number of windows tried, counting back from ``end`` (default 5).
    months
        Length of each window in months (default 12).
    covered_months
        Months ``"YYYY-MM"`` the data covers; default the months present in ``incidents``.

    Returns
    -------
    pandas.DataFrame
        At most ``years`` rows, oldest first: period (label), start, end, count, mean_per_month.

    Raises
    ------
    InputError
        ``end`` is not ``YYYY-MM``.
    """
    if covered_months is None:
        covered = set(incidents["month"].dropna().astype("str").unique())
    else:
        covered = {str(m) for m in covered_months}
    step = max(months, 12)  # a year apart (longer windows: back to back)
    windows = [
        Period(shift_month(end, -(k * step + months - 1)), shift_month(end, -k * step))
        for k in range(years)
    ]
    windows = [w for w in reversed(windows) if set(w.months) <= covered]
    chosen = select(incidents, group=group)
    n = weights(chosen)
    rows = []
    for window in windows:
        count = int(n[np.asarray(window.contains(chosen["month"]), dtype=bool)].sum())
        rows.append((window.label, window.start, window.end, count, count / window.n_months))
    return pd.DataFrame(rows, columns=["period", "start", "end", "count", "mean_per_month"])


def peak_and_trough(series: pd.Series) -> PeakTrough:
    """Peak and trough of a monthly count series indexed by month.

    Parameters
    ----------
    series
        Counts per month (e.g. a column of :func:`monthly_series` without missing values),
        indexed by ``"YYYY-MM"``.

    Returns
    -------
    PeakTrough
        Highest and lowest months (earliest on ties) and the mean per month.
    """
    values = series.astype("int64")
    return PeakTrough(
        peak_month=str(values.idxmax()),
        peak_count=int(values.max()),
        trough_month=str(values.idxmin()),
        trough_count=int(values.min()),
        mean_per_month=float(values.mean()),
    )


def unusual_months(
    incidents: pd.DataFrame,
    *,
    group: CategoryGroup | str,
    period: Period,
    covered_months: Iterable[str] | None = None,
    alpha: float = ALPHA,
) -> pd.DataFrame:
    """Every month of ``period`` with its expected level and whether it is far above it.

    Parameters
    ----------
    incidents
        Canonical incidents of every category, or a counted frame (module docstring); their
        months define coverage by default.
    group
        Category group, or the name of a plain category.
    period
        The months judged.
    covered_months
        Months ``"YYYY-MM"`` the data covers (default: the months present in ``incidents``).
    alpha
        Poisson upper-tail probability below which a month is far above (default 0.01).

    Returns
    -------
    pandas.DataFrame
        One row per month of ``period``: month, count, expected (mean count of the basis
        months; NaN when not judged), basis (:data:`BASIS_SAME_MONTH`, :data:`BASIS_TRAILING`
        or None), p, far_above (bool) (see the module docstring).
    """
    if covered_months is None:
        covered = set(incidents["month"].dropna().astype("str").unique())
    else:
        covered = {str(m) for m in covered_months}
    first = min(covered | set(period.months))
    span = Period(first, period.end)
    counts = monthly_series(incidents, group=group, period=span)["count"]
    rows = [_judge_month(counts, month, covered) for month in period.months]
    table = pd.DataFrame(rows, columns=["month", "count", "expected", "basis", "p"])
    table["far_above"] = table["p"].to_numpy(dtype=float) < alpha
    return table


def _judge_month(counts: pd.Series, month: str, covered: set[str]) -> tuple:
    count = int(counts.get(month, 0))
    same = [shift_month(month, -12 * k) for k in range(1, 20)]
    earlier = [m for m in same if m in covered]
    basis = BASIS_SAME_MONTH
    if not earlier:
        earlier = [
            shift_month(month, -k) for k in range(1, 13) if shift_month(month, -k) in covered
        ]
        basis = BASIS_TRAILING
        if len(earlier) < 3:
            return month, count, np.nan, None, np.nan
    expected = float(np.mean([counts.get(m, 0) for m in earlier]))
    return month, count, expected, basis, _upper_tail(count, expected)


def _upper_tail(count: int, expected: float) -> float:
    """P(X >= count) for X ~ Poisson(expected); 1 when nothing was expected and nothing seen."""
    return poisson_tails(count, max(expected, 0.0))[1]


def daily_exceedances(
    incidents: pd.DataFrame,
    *,
    group: CategoryGroup | str,
    period: Period | str,
    alpha: float = ALPHA,
) -> pd.DataFrame:
    """Days far above their month's daily average, for one month or every month of a period.

    Parameters
    ----------
    incidents
        Canonical incidents, or a counted frame (module docstring), with ``occurred_at``
        (datetime; missing where not known).
    group
        Category group, or the name of a plain category.
    period
        A period, or one month ``"YYYY-MM"``.
    alpha
        Poisson upper-tail probability below which a day is reported (default 0.01).

    Returns
    -------
    pandas.DataFrame
        Columns date (``"YYYY-MM-DD"``), count, daily_mean (the month's dated incidents / days
        in the month), p; one row per day reported, most extreme first. Empty when the
        incidents carry no dates.

    Raises
    ------
    InputError
        ``period`` given as text is not ``YYYY-MM``.
    """
    window = Period(period, period) if isinstance(period, str) else period
    chosen = select(incidents, group=group, period=window)
    dated = chosen.loc[chosen["occurred_at"].notna()]
    days = dated["occurred_at"].dt.strftime("%Y-%m-%d")
    months = dated["month"].astype("str")
    n = pd.Series(weights(dated), index=dated.index)
    per_day = n.groupby([days.rename("date"), months]).sum().rename("count")
    per_month = n.groupby(months).sum()
    table = per_day.reset_index()
    length = np.array([_days_in(m) for m in table["month"]], dtype=float)
    table["daily_mean"] = per_month.reindex(table["month"]).to_numpy(dtype=float) / length
    counts = table["count"].to_numpy(dtype=float)
    table["p"] = [
        _upper_tail(int(c), float(m))
        for c, m in zip(counts, table["daily_mean"].to_numpy(dtype=float), strict=True)
    ]
    table = table.loc[(table["p"] < alpha) & (counts > table["daily_mean"].to_numpy(dtype=float))]
    table = table.sort_values(["p", "date", "month"], kind="stable").reset_index(drop=True)
    return table.loc[:, ["date", "count", "daily_mean", "p"]].astype(
        {"date": "str", "count": "int64"}
    )


def _days_in(month: str) -> int:
    index = parse_month(month)
    return calendar.monthrange(index // 12, index % 12 + 1)[1]


def day_of_week_profile(
    incidents: pd.DataFrame, *, group: CategoryGroup | str, period: Period
) -> pd.DataFrame:
    """Counts and % shares per day of the week (Monday first) of the dated incidents.

    Parameters
    ----------
    incidents
        Canonical incidents, or a counted frame (module docstring), with ``occurred_at``.
    group
        Category group, or the name of a plain category.
    period
        The months counted.

    Returns
    -------
    pandas.DataFrame
        Seven rows: day (name), count, share (percent; NaN when no incident is dated).
    """
    chosen = select(incidents, group=group, period=period)
    dated = chosen["occurred_at"].notna().to_numpy(dtype=bool)
    days = chosen["occurred_at"].dt.day_of_week.to_numpy()[dated].astype(np.int64)
    counts = np.bincount(days, weights=weights(chosen)[dated], minlength=7)
    return _profile("day", list(WEEKDAYS), counts.astype("int64"))


def hour_of_day_profile(
    incidents: pd.DataFrame, *, group: CategoryGroup | str, period: Period
) -> pd.DataFrame:
    """Counts and % shares per hour (0-23) of the incidents whose time of day is known.

    Parameters
    ----------
    incidents
        Canonical incidents, or a counted frame (module docstring), with ``occurred_at`` and
        ``time_known``.
    group
        Category group, or the name of a plain category.
    period
        The months counted.

    Returns
    -------
    pandas.DataFrame
        24 rows: hour (0-23), count, share (percent; NaN when no time is known).
    """
    chosen = select(incidents, group=resolve_group(group), period=period)
    timed = chosen["time_known"].to_numpy(dtype=bool) & chosen["occurred_at"].notna().to_numpy()
    hours = chosen["occurred_at"].dt.hour.to_numpy()[timed].astype(np.int64)
    counts = np.bincount(hours, weights=weights(chosen)[timed], minlength=24)
    return _profile("hour", list(range(24)), counts.astype("int64"))


def _profile(key: str, labels: list, counts: np.ndarray) -> pd.DataFrame:
    total = counts.sum()
    share = 100.0 * counts / total if total else np.full(counts.shape, np.nan)
    return pd.DataFrame({key: labels, "count": counts, "share": share})
