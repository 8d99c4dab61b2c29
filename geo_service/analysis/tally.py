"""Every group's change table from one count of the incidents by area.

A page comparing every category group in one area needs each group's whole change table (its
q-values, shares and ranks are taken across all areas), i.e. counts per area for every group and
both periods. Counting the rows again for each group and period costs a pass over the incidents
each time (26 groups x 2 periods on the area page). :func:`area_tally` makes one groupby of the
rows by source, category, subcategory, month, known time, hour of day and area; a group's counts
per area in a period are then a mask over that small table and a weighted ``bincount``
(:meth:`AreaTally.counts`), equal to
:func:`~geo_service.analysis.counts.counts_by_area` of the rows.

:func:`change_tables` builds every group's
:func:`~geo_service.analysis.change.change_table` from those counts at once, as one long table
(groups x areas) split at the end, so its cost hardly grows with the number of groups; it gives
the same tables as calling :func:`~geo_service.analysis.change.change_table` per group
(tests/analysis/test_tally.py).
"""

from __future__ import annotations

import itertools
from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from functools import cached_property

import numpy as np
import pandas as pd

from geo_service.analysis import change, significance
from geo_service.analysis.counts import (
    UNALLOCATED,
    UNALLOCATED_NAME,
    _source_key,
    _sources_within,
    area_codes_column,
    located,
    resolve_group,
    weights,
)
from geo_service.analysis.periods import Period
from geo_service.categories import CategoryGroup
from geo_service.coverage import Coverage

#: Columns a group's selectors and a period's windows read (``occurred_at`` for its hour).
KEY_COLUMNS: tuple[str, ...] = (
    "source", "category", "subcategory", "month", "time_known", "occurred_at",
)  # fmt: skip
# The hour of day stands in for the time: a selector reads only ``occurred_at.dt.hour``.
_EPOCH = pd.Timestamp("2000-01-01")


@dataclass(frozen=True)
class AreaTally:
    """Counts of incidents per distinct combination of :data:`KEY_COLUMNS` and area.

    Attributes
    ----------
    keys
        One row per combination: the :data:`KEY_COLUMNS` (``occurred_at`` at the combination's
        hour of 2000-01-01, NaT where the row had none).
    area
        Per row of ``keys``: position of its area in ``codes``, ``len(codes)`` for the
        unallocated row, -1 for incidents outside the layer's tables.
    n
        Per row of ``keys``: how many incidents it stands for.
    codes
        The layer's area codes, in table order.
    """

    keys: pd.DataFrame
    area: np.ndarray
    n: np.ndarray
    codes: pd.Index

    def counts(
        self,
        group: CategoryGroup | str,
        period: Period,
        windows: Mapping[str, Period] | None = None,
    ) -> pd.Series:
        """Incidents of ``group`` in ``period`` per area, then the unallocated row.

        Parameters
        ----------
        group
            Category group, or the name of a plain category.
        period
            The months counted.
        windows
            Per-source periods (:func:`~geo_service.analysis.counts.period_mask`).

        Returns
        -------
        pandas.Series
            As :func:`~geo_service.analysis.counts.counts_by_area`: int64 counts indexed by
            ``codes`` then :data:`~geo_service.analysis.counts.UNALLOCATED`, index named code.
        """
        return self.counts_of(resolve_group(group).mask(self.keys), period, windows)

    def counts_of(
        self,
        selected: np.ndarray,
        period: Period,
        windows: Mapping[str, Period] | None = None,
    ) -> pd.Series:
        """:meth:`counts` of the rows of :attr:`keys` ``selected`` (a group's mask, taken once
        for both periods)."""
        mask = selected & self._period_mask(period, windows) & (self.area >= 0)
        per_area = np.bincount(
            self.area[mask], weights=self.n[mask], minlength=len(self.codes) + 1
        ).astype(np.int64)
        index = pd.Index([*self.codes, UNALLOCATED], dtype="str", name="code")
        return pd.Series(per_area, index=index)

    def _period_mask(self, period: Period, windows: Mapping[str, Period] | None) -> np.ndarray:
        """As :func:`~geo_service.analysis.counts.period_mask`, on month numbers."""
        inside = _between(self.month_number, period)
        for source, window in (windows or {}).items():
            own = self.source == source
            inside = np.where(own, _between(self.month_number, window), inside)
        return inside

    @cached_property
    def month_number(self) -> np.ndarray:
        """Months of :attr:`keys` as ``12 * year + month - 1`` (-1 where missing)."""
        return _month_numbers(self.keys["month"])

    @cached_property
    def source(self) -> np.ndarray:
        """Sources of :attr:`keys` as an object array (``""`` where missing)."""
        return self.keys["source"].astype("str").fillna("").to_numpy(dtype=object)


def _month_numbers(months: pd.Series) -> np.ndarray:
    text = months.astype("str")
    year = pd.to_numeric(text.str.slice(0, 4), errors="coerce")
    month = pd.to_numeric(text.str.slice(5, 7), errors="coerce")
    number = 12 * year + month - 1
    return number.fillna(-1).to_numpy(dtype=np.int64)


def _between(numbers: np.ndarray, period: Period) -> np.ndarray:
    first, last = (12 * int(m[:4]) + int(m[5:7]) - 1 for m in (period.start, period.end))
    return (numbers >= first) & (numbers <= last) & (numbers >= 0)


def area_tally(incidents: pd.DataFrame, *, layer: str, codes: pd.Index | list[str]) -> AreaTally:
    """Count ``incidents`` once by :data:`KEY_COLUMNS` and area of ``layer``.

    Parameters
    ----------
    incidents
        Canonical incidents joined to ``layer`` (column ``area_<layer>``, ``source``,
        ``category``, ``month``, and those of the other :data:`KEY_COLUMNS` the groups counted
        select on); all the rows a table counts from, force-wide. A counted frame
        (:mod:`geo_service.analysis.counts`) gives the same tally.
    layer
        Area layer name.
    codes
        The layer's area codes (unique), in table order.

    Returns
    -------
    AreaTally
        The counts.

    Raises
    ------
    InputError
        The incidents are not joined to ``layer``.
    """
    index = pd.Index(list(codes), dtype="str")
    area = area_codes_column(incidents, layer)
    position = index.get_indexer(area.astype("str").to_numpy())
    belongs = _source_key(incidents).isin(_sources_within(incidents, layer)).to_numpy(dtype=bool)
    unallocated = (position < 0) & ~located(incidents) & belongs
    position = np.where(unallocated, len(index), position)
    present = [c for c in KEY_COLUMNS if c in incidents.columns]
    frame = pd.DataFrame({c: incidents[c] for c in present if c != "occurred_at"})
    if "occurred_at" in present:
        frame["hour"] = incidents["occurred_at"].dt.hour
    frame["area"] = position
    keys_of = list(frame.columns)
    frame["n"] = weights(incidents)
    counted = frame.groupby(keys_of, dropna=False, sort=False)["n"].sum()
    keys = counted.index.to_frame(index=False)
    if "occurred_at" in present:
        keys["occurred_at"] = _EPOCH + pd.to_timedelta(keys.pop("hour"), unit="h")
    area_of_key = keys.pop("area").to_numpy(dtype=np.int64)
    return AreaTally(
        keys=keys.astype({c: incidents[c].dtype for c in present})[present],
        area=area_of_key,
        n=counted.to_numpy(dtype=np.int64),
        codes=index,
    )


def change_tables(
    incidents: pd.DataFrame,
    *,
    layer: str,
    areas: pd.DataFrame,
    groups: Sequence[CategoryGroup | str],
    previous: Period,
    current: Period,
    coverage: Coverage | None = None,
) -> list[pd.DataFrame]:
    """:func:`~geo_service.analysis.change.change_table` of each group, from one count.

    Parameters
    ----------
    incidents, layer, areas, previous, current, coverage
        As :func:`~geo_service.analysis.change.change_table`.
    groups
        The groups (or plain category names), one table each.

    Returns
    -------
    list of pandas.DataFrame
        One change table per group, in the order given.

    Raises
    ------
    InputError
        ``areas`` lacks ``code`` or ``name`` or repeats a code; the incidents are not joined to
        ``layer``.
    """
    long = _all_groups(incidents, layer, areas, groups, previous, current, coverage)
    return [] if long is None else _split(long, len(groups))


def area_change_rows(
    incidents: pd.DataFrame,
    *,
    layer: str,
    areas: pd.DataFrame,
    groups: Sequence[CategoryGroup | str],
    previous: Period,
    current: Period,
    code: str,
    coverage: Coverage | None = None,
) -> pd.DataFrame:
    """Area ``code``'s row of each group's :func:`change_tables` table, in the groups' order.

    The rows are those the tables hold (q-values, shares and ranks across every area), without
    sorting and splitting every group's whole table to keep one row of each.

    Parameters
    ----------
    incidents, layer, areas, groups, previous, current, coverage
        As :func:`change_tables`.
    code
        An area code of ``areas``.

    Returns
    -------
    pandas.DataFrame
        :data:`~geo_service.analysis.change.CHANGE_COLUMNS`, one row per group; no rows when
        ``code`` is not an area of ``areas``.

    Raises
    ------
    InputError
        As :func:`change_tables`.
    """
    long = _all_groups(incidents, layer, areas, groups, previous, current, coverage)
    if long is None:
        return pd.DataFrame(columns=list(change.CHANGE_COLUMNS))
    rows = long.loc[(long["code"] == code) & ~long["is_unallocated"]]
    return rows[list(change.CHANGE_COLUMNS)].reset_index(drop=True)


def _all_groups(
    incidents: pd.DataFrame,
    layer: str,
    areas: pd.DataFrame,
    groups: Sequence[CategoryGroup | str],
    previous: Period,
    current: Period,
    coverage: Coverage | None,
) -> pd.DataFrame | None:
    """Every group's rows from one count (:func:`_long_table`); None without groups."""
    change._check_areas(areas)
    tally = area_tally(incidents, layer=layer, codes=areas["code"].astype("str"))
    counted = [
        _GroupCounts.of(tally, resolve_group(g), previous, current, coverage) for g in groups
    ]
    if not counted:
        return None
    return _long_table(areas, tally.codes, counted, previous, current)


@dataclass(frozen=True)
class _GroupCounts:
    """One group's counts per area (then unallocated) in both periods, and what it may say."""

    honest: change._Honest
    counted: CategoryGroup
    before: np.ndarray
    after: np.ndarray

    @classmethod
    def of(
        cls,
        tally: AreaTally,
        group: CategoryGroup,
        previous: Period,
        current: Period,
        coverage: Coverage | None,
    ) -> _GroupCounts:
        honest = change._Honest.of(group, coverage, previous, current)
        counted = honest.group or honest.asked
        selected = counted.mask(tally.keys)
        before, after = (
            tally.counts_of(selected, period, honest.windows(which)).to_numpy()
            for period, which in ((previous, "previous"), (current, "current"))
        )
        return cls(honest, counted, before, after)


def _long_table(
    areas: pd.DataFrame,
    codes: pd.Index,
    counted: list[_GroupCounts],
    previous: Period,
    current: Period,
) -> pd.DataFrame:
    """Every group's rows one after the other, with change_table's columns, plus ``gid``."""
    size = len(codes) + 1
    unallocated = np.tile(np.r_[np.zeros(len(codes), dtype=bool), True], len(counted))
    prev = _known_counts([c.before for c in counted], [c.honest.previous_known for c in counted])
    curr = _known_counts([c.after for c in counted], [c.honest.current_known for c in counted])
    names = areas.set_index(areas["code"].astype("str"))["name"].astype("str")
    all_codes = np.array([*codes, UNALLOCATED], dtype=object)
    all_names = np.array([*names.reindex(codes).to_numpy(), UNALLOCATED_NAME], dtype=object)
    texts = np.array([c.honest.texts() for c in counted], dtype=object).reshape(-1, 3)
    table = pd.DataFrame(
        {
            "gid": np.repeat(np.arange(len(counted)), size),
            "code": np.tile(all_codes, len(counted)),
            "name": np.tile(all_names, len(counted)),
            "previous": pd.array(prev, dtype="Int64"),
            "current": pd.array(curr, dtype="Int64"),
            "change": pd.array(curr - prev, dtype="Int64"),
            "coverage": np.repeat(texts[:, 0], size),
            "window": np.repeat(texts[:, 1], size),
            "omitted": np.repeat(texts[:, 2], size),
            "is_unallocated": unallocated,
        }
    ).astype({c: "str" for c in ("code", "name", "coverage", "window", "omitted")})
    _add_change(table, prev, curr)
    _add_share_and_rank(table, curr, unallocated, size)
    _add_rate(table, areas, counted, curr)
    _add_significance(table, counted, prev, curr, previous, current, size)
    return table


def _known_counts(counts: list[np.ndarray], known: list[bool]) -> np.ndarray:
    """Counts as float, NaN (no data) for a group whose period is not held."""
    return np.concatenate(
        [
            c.astype(float) if k else np.full(len(c), np.nan)
            for c, k in zip(counts, known, strict=True)
        ]
    )


def _add_change(table: pd.DataFrame, prev: np.ndarray, curr: np.ndarray) -> None:
    safe = np.where(prev > 0, prev, 1.0)
    table["pct_change"] = np.where(prev > 0, 100.0 * (curr - prev) / safe, np.nan)
    known = np.isfinite(prev) & np.isfinite(curr)
    note = np.where(~known | (prev > 0), "", np.where(curr > 0, change.NOTE_NEW, change.NOTE_NONE))
    table["note"] = pd.array(note, dtype="str")


def _add_share_and_rank(
    table: pd.DataFrame, curr: np.ndarray, unallocated: np.ndarray, size: int
) -> None:
    allocated = np.where(unallocated, np.nan, curr)
    totals = np.nansum(allocated.reshape(-1, size), axis=1)
    whole = np.repeat(totals, size)
    usable = (whole != 0) & np.isfinite(whole)
    with np.errstate(divide="ignore", invalid="ignore"):
        share = np.where(usable, 100.0 * curr / np.where(usable, whole, 1.0), np.nan)
    table["share"] = np.where(unallocated, np.nan, share)
    ranks = (
        pd.Series(allocated).groupby(table["gid"].to_numpy()).rank(method="min", ascending=False)
    )
    table["rank"] = ranks.astype("Int64")


def _add_rate(
    table: pd.DataFrame, areas: pd.DataFrame, counted: list[_GroupCounts], curr: np.ndarray
) -> None:
    by_code = areas.set_index(areas["code"].astype("str"))
    size = len(table) // len(counted)
    codes = table["code"].to_numpy()[:size]
    rate = np.full(len(table), np.nan)
    per = np.full(len(table), None, dtype=object)
    for i, group in enumerate(counted):
        column = change.denominator_for(group.counted)
        if column not in areas.columns or areas[column].isna().all():
            column = "population"
        if column not in areas.columns:
            continue
        denominator = by_code[column].astype("float64").reindex(codes).to_numpy()
        rows = slice(i * size, (i + 1) * size)
        with np.errstate(divide="ignore", invalid="ignore"):
            rate[rows] = np.where(denominator > 0, 1000.0 * curr[rows] / denominator, np.nan)
        label = change.PER_HOUSEHOLDS if column == "households" else change.PER_RESIDENTS
        per[rows][np.isfinite(rate[rows])] = label
    table["rate"] = rate
    table["rate_per"] = pd.array(per, dtype="str")


def _add_significance(
    table: pd.DataFrame,
    counted: list[_GroupCounts],
    prev: np.ndarray,
    curr: np.ndarray,
    previous: Period,
    current: Period,
    size: int,
) -> None:
    unallocated = table["is_unallocated"].to_numpy()
    known = np.isfinite(prev) & np.isfinite(curr) & ~unallocated
    p = np.full(len(table), np.nan)
    if known.any():
        p[known] = significance.poisson_change_pvalues(
            prev[known].astype("int64"),
            curr[known].astype("int64"),
            exposure_previous=previous.n_months,
            exposure_current=current.n_months,
        )
    q = np.concatenate([significance.bh_qvalues(p[i : i + size]) for i in range(0, len(p), size)])
    labels = significance.change_labels(
        np.nan_to_num(prev, nan=0.0), np.nan_to_num(curr, nan=0.0), np.nan_to_num(q, nan=1.0)
    )
    for i, group in enumerate(counted):
        own = group.honest.label()
        if own:
            labels[i * size : (i + 1) * size] = own
    labels[unallocated] = None
    table["p"], table["q"] = p, q
    table["label"] = pd.array(labels, dtype="str")


def _split(table: pd.DataFrame, n_groups: int) -> list[pd.DataFrame]:
    """Per group, change_table's order and rows: areas by rank then code, then unallocated
    when it holds any incident."""
    ordered = table.sort_values(["gid", "is_unallocated", "rank", "code"], kind="stable")
    seen = ordered["previous"].fillna(0) + ordered["current"].fillna(0)
    ordered = ordered.loc[(~ordered["is_unallocated"]) | (seen > 0)]
    bounds = np.searchsorted(ordered["gid"].to_numpy(), np.arange(n_groups + 1))
    columns = list(change.CHANGE_COLUMNS)
    return [
        ordered.iloc[start:end][columns].reset_index(drop=True)
        for start, end in itertools.pairwise(bounds)
    ]
