"""Change tables: per area of a layer, or per category group, two periods side by side.

:func:`change_table` is the beat table behind every "Local context" paragraph of a strategic
assessment; :func:`looking_back` is its "Looking back" table of category groups; :func:`top_movers`
and :func:`top_five_persistence` pick out what the text talks about.

Conventions
-----------
* ``change = current - previous``; ``pct_change = 100 * change / previous``, left missing (with a
  ``note``) when ``previous`` is 0 - it is never divided by zero.
* ``share`` is the area's percentage of the borough total in the current period: the incidents
  allocated to the layer's areas. Unallocated incidents (no location, no area) are reported in
  their own row but not in the total, because a force-wide extract's unlocated rows cannot be
  attributed to one borough.
* ``rank`` orders areas by current count, highest = 1; ties share the best rank ("min" method:
  1, 2, 2, 4). The unallocated row has no rank.
* ``rate`` is the current-period count per 1,000 of the denominator named in ``rate_per``:
  households for dwelling burglary (when the layer has them), residents otherwise; missing when the
  area has no denominator. Rates are per period, not annualised.
* ``p`` is the exact conditional Poisson test of the two counts, weighted by period lengths;
  ``q`` its Benjamini-Hochberg adjustment across the areas of the table; ``label`` reads q.

Coverage (when a :class:`~geo_service.coverage.Coverage` is given)
-------------------------------------------------------------------
* Each row's sources are checked against the months they hold. A period not fully held has
  ``previous``/``current`` missing (``<NA>``: "no data", never 0), ``coverage`` says what is held
  ("Feb 20 to Jan 21: 1 of 12 months held"), ``label`` says so ("no data for the earlier
  period", "earlier period partly covered (1 of 12 months)"), change, p and q are missing, and
  share, rank and rate are given only when the current period is held: nothing is called
  significant.
* A source whose data ends before the period (at most
  :data:`~geo_service.coverage.MAX_LAG_MONTHS` earlier) is counted over its own latest months;
  ``window`` names it ("stats19: Jul 12 to Jun 13 (its data ends Jun 13)").
* A group whose parts need detail a source lacks (sub-types, times) is counted from what can be
  formed and ``omitted`` names the rest; when nothing can be formed every count is missing and
  ``label`` is ``"not available"`` (``omitted``: "not available from police_uk data (no Burglary
  sub-types)"), never "no incidents".
* Without a coverage (``coverage=None``) every period is taken as held: pure tables for tests.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from geo_service.analysis import significance
from geo_service.analysis.counts import (
    UNALLOCATED,
    UNALLOCATED_NAME,
    counts_by_area,
    resolve_group,
    total_count,
)
from geo_service.analysis.periods import Period
from geo_service.categories import CategoryGroup
from geo_service.coverage import Coverage, PeriodCoverage
from geo_service.errors import InputError

CHANGE_COLUMNS = (
    "code",
    "name",
    "previous",
    "current",
    "change",
    "pct_change",
    "note",
    "share",
    "rank",
    "rate",
    "rate_per",
    "p",
    "q",
    "label",
    "coverage",
    "window",
    "omitted",
)
LOOKING_BACK_COLUMNS = (
    "group",
    "previous",
    "current",
    "change",
    "pct_change",
    "p",
    "label",
    "note",
    "coverage",
    "window",
    "omitted",
)

#: Label of a row whose group the data cannot form at all.
NOT_AVAILABLE = "not available"

NOTE_NEW = "none in the previous period: % change undefined"
NOTE_NONE = "none in either period"
PER_RESIDENTS = "1,000 residents"
PER_HOUSEHOLDS = "1,000 households"


def change_table(
    incidents: pd.DataFrame,
    *,
    layer: str,
    areas: pd.DataFrame,
    group: CategoryGroup | str,
    previous: Period,
    current: Period,
    coverage: Coverage | None = None,
) -> pd.DataFrame:
    """One row per area of ``layer`` (zeros included) comparing two periods for ``group``.

    Parameters
    ----------
    incidents
        Canonical incidents joined to ``layer`` (column ``area_<layer>``).
    layer
        Area layer name, e.g. ``"beat"`` or ``"ward"``.
    areas
        The layer's standard frame (``code``, ``name``, and optionally ``population`` and
        ``households`` as residents and households, the denominators of ``rate``).
    group
        Category group, or the name of a plain category (see
        :func:`~geo_service.analysis.counts.resolve_group`).
    previous, current
        The periods compared (whole months); they may differ in length, the test weights the
        counts by their months.
    coverage
        The months and detail the store's sources hold (see the module docstring); None
        (default) takes every month as held.

    Returns
    -------
    pandas.DataFrame
        Columns :data:`CHANGE_COLUMNS`: counts as nullable ``Int64`` (missing means no data),
        ``pct_change`` and ``share`` in percent, ``rate`` per 1,000 residents or households
        (named in ``rate_per``) for the current period, ``p`` and its Benjamini-Hochberg ``q``.
        Areas ordered by rank, then an ``"Unallocated"`` row when any incident of either period
        has no location and no area but belongs to the layer (see
        :mod:`geo_service.analysis.counts`).

    Raises
    ------
    InputError
        ``areas`` lacks ``code`` or ``name`` or repeats a code; the incidents are not joined to
        ``layer``.
    """
    _check_areas(areas)
    plan = counting_plan(group, previous, current, coverage=coverage)
    codes = areas["code"].astype("str")
    before, after = (
        counts_by_area(
            incidents, layer=layer, codes=codes, group=plan.group, period=period, windows=windows,
        )
        for period, windows in ((previous, plan.previous_windows), (current, plan.current_windows))
    )  # fmt: skip
    return table_from_counts(
        before, after, areas=areas, group=group, previous=previous, current=current,
        coverage=coverage,
    )  # fmt: skip


@dataclass(frozen=True)
class CountingPlan:
    """What a change table of one group counts: which incidents, over which months per source.

    Attributes
    ----------
    group
        The group counted: the part of the group asked for that the sources can form (the whole
        group without a coverage, or when nothing can be formed).
    previous_windows, current_windows
        Per-source periods of each period (:func:`~geo_service.analysis.counts.period_mask`);
        None: the period itself for every source.
    """

    group: CategoryGroup
    previous_windows: dict[str, Period] | None
    current_windows: dict[str, Period] | None


def counting_plan(
    group: CategoryGroup | str,
    previous: Period,
    current: Period,
    *,
    coverage: Coverage | None = None,
) -> CountingPlan:
    """What to count per area for :func:`table_from_counts` of ``group`` (module docstring).

    Parameters
    ----------
    group
        Category group, or the name of a plain category.
    previous, current
        The periods compared.
    coverage
        The months and detail the store's sources hold; None takes every month as held.

    Returns
    -------
    CountingPlan
        The group and per-source windows to count with
        :func:`~geo_service.analysis.counts.counts_by_area` (or any engine counting the same).
    """
    honest = _Honest.of(resolve_group(group), coverage, previous, current)
    return CountingPlan(
        honest.group or honest.asked, honest.windows("previous"), honest.windows("current")
    )


def table_from_counts(
    before: pd.Series,
    after: pd.Series,
    *,
    areas: pd.DataFrame,
    group: CategoryGroup | str,
    previous: Period,
    current: Period,
    coverage: Coverage | None = None,
) -> pd.DataFrame:
    """:func:`change_table` from counts per area already made, whoever counted them.

    The counting (a pass over rows, a cube, a cluster) is kept apart from the table, so any
    engine that counts :func:`counting_plan`'s group over its windows gets the same table.

    Parameters
    ----------
    before, after
        Incidents per area in ``previous`` and ``current``: int64 indexed by the layer's codes
        (every area, zeros included) then :data:`~geo_service.analysis.counts.UNALLOCATED`, as
        :func:`~geo_service.analysis.counts.counts_by_area` gives for :func:`counting_plan`.
    areas, group, previous, current, coverage
        As :func:`change_table`.

    Returns
    -------
    pandas.DataFrame
        As :func:`change_table`.

    Raises
    ------
    InputError
        ``areas`` lacks ``code`` or ``name`` or repeats a code; the counts' index is not the
        layer's codes then the unallocated row.
    """
    _check_areas(areas)
    expected = [*areas["code"].astype("str"), UNALLOCATED]
    for counts in (before, after):
        if [str(c) for c in counts.index] != expected:
            raise InputError(
                "counts per area: index must be the layer's codes in order then "
                f"{UNALLOCATED!r}; got {len(counts)} entries for {len(expected)} expected"
            )
    honest = _Honest.of(resolve_group(group), coverage, previous, current)
    counted = honest.group or honest.asked
    table = _base_table(areas, before, after, honest)
    table = _add_change(table)
    table = _add_rate(table, areas, counted)
    table = _add_significance(table, previous, current, honest)
    table = table.sort_values(["is_unallocated", "rank", "code"], kind="stable")
    seen = table["previous"].fillna(0) + table["current"].fillna(0)
    keep = (~table["is_unallocated"]) | (seen > 0)
    return table.loc[keep, list(CHANGE_COLUMNS)].reset_index(drop=True)


def looking_back(
    incidents: pd.DataFrame,
    groups: Sequence[CategoryGroup],
    previous: Period,
    current: Period,
    *,
    coverage: Coverage | None = None,
) -> pd.DataFrame:
    """The "Looking back" table: one row per group, in the given order, for the whole borough.

    ``p`` is the exact Poisson test of the two totals (one test per row, so ``label`` reads ``p``
    at :data:`~geo_service.analysis.significance.ALPHA`; groups overlap, so no FDR adjustment).

    Parameters
    ----------
    incidents
        Canonical incidents of the borough (e.g. after
        :func:`~geo_service.analysis.counts.within_layer`).
    groups
        The category groups, one row each, in the order given.
    previous, current
        The periods compared; the test weights the counts by their months.
    coverage
        With a coverage, each row is compared over its own sources' months and says what it
        could not know (module docstring); None (default) takes every month as held.

    Returns
    -------
    pandas.DataFrame
        One row per group, columns :data:`LOOKING_BACK_COLUMNS`; counts are nullable ``Int64``
        (missing: no data), ``pct_change`` in percent.
    """
    rows = []
    honesty = [_Honest.of(g, coverage, previous, current) for g in groups]
    for g, honest in zip(groups, honesty, strict=True):
        counted = honest.group or honest.asked
        before, after = (
            total_count(incidents, group=counted, period=period, windows=honest.windows(which))
            for period, which in ((previous, "previous"), (current, "current"))
        )
        rows.append((g.name, *honest.mask_counts(before, after), *honest.texts()))
    table = pd.DataFrame(
        rows, columns=["group", "previous", "current", "coverage", "window", "omitted"]
    )
    table = table.astype({"previous": "Int64", "current": "Int64"})
    table = _add_change(table)
    p = _pvalues(table, previous, current)
    table["p"] = p
    labels = significance.change_labels(
        table["previous"].fillna(0), table["current"].fillna(0), np.nan_to_num(p, nan=1.0)
    )
    own = [h.label() for h in honesty]
    table["label"] = pd.array([o or lab for o, lab in zip(own, labels, strict=True)], dtype="str")
    return table.loc[:, list(LOOKING_BACK_COLUMNS)]


@dataclass(frozen=True)
class _Honest:
    """What one row can honestly say: the group it can form and the periods it holds."""

    asked: CategoryGroup
    group: CategoryGroup | None
    omitted: str
    held: PeriodCoverage | None

    @classmethod
    def of(
        cls, group: CategoryGroup, coverage: Coverage | None, previous: Period, current: Period
    ) -> _Honest:
        if coverage is None:
            return cls(asked=group, group=group, omitted="", held=None)
        formed = coverage.formable(group)
        held = coverage.for_group(formed.group or group, previous, current)
        return cls(asked=group, group=formed.group, omitted=formed.note(), held=held)

    @property
    def previous_known(self) -> bool:
        return self.group is not None and (self.held is None or self.held.previous_covered)

    @property
    def current_known(self) -> bool:
        return self.group is not None and (self.held is None or self.held.current_covered)

    def windows(self, which: str) -> dict[str, Period] | None:
        return None if self.held is None else self.held.source_periods(which)

    def mask_counts(self, before: int, after: int) -> tuple[object, object]:
        return (before if self.previous_known else pd.NA, after if self.current_known else pd.NA)

    def texts(self) -> tuple[str, str, str]:
        if self.held is None or self.group is None:  # nothing formed: its months are moot
            return "", "", self.omitted
        return self.held.text(), self.held.window_text(), self.omitted

    def label(self) -> str:
        """The row's label when no change can be stated, else ""."""
        if self.group is None:
            return NOT_AVAILABLE
        return "" if self.held is None else self.held.label()


def top_movers(table: pd.DataFrame, *, n: int = 3) -> tuple[pd.DataFrame, pd.DataFrame]:
    """The ``n`` areas with the greatest increase and the ``n`` with the greatest decrease.

    Only areas that changed are listed; ties are broken by the larger current count, then code.

    Parameters
    ----------
    table
        A :func:`change_table` (the ``"Unallocated"`` row is ignored).
    n
        How many areas of each direction, default 3.

    Returns
    -------
    tuple of pandas.DataFrame
        ``(increases, decreases)``: at most ``n`` rows each, the columns of ``table``, ordered
        from the largest change.
    """
    areas = table.loc[table["code"] != UNALLOCATED]
    up = areas.loc[areas["change"] > 0].sort_values(
        ["change", "current", "code"], ascending=[False, False, True], kind="stable"
    )
    down = areas.loc[areas["change"] < 0].sort_values(
        ["change", "current", "code"], ascending=[True, False, True], kind="stable"
    )
    return up.head(n).reset_index(drop=True), down.head(n).reset_index(drop=True)


def top_five_persistence(table: pd.DataFrame, *, n: int = 5) -> pd.DataFrame:
    """Areas in the top ``n`` (by count) in either period, and whether they stayed.

    An area with no incidents in a period is never in that period's top ``n``, and nor is a
    group of tied areas that straddles the boundary (their "max" rank beyond ``n``): six areas
    tied for 5th with one incident each are not "in the top five".

    Parameters
    ----------
    table
        A :func:`change_table` (the ``"Unallocated"`` row is ignored).
    n
        Size of the top, default 5.

    Returns
    -------
    pandas.DataFrame
        One row per area in either top: columns code, name, previous, current, previous_rank,
        rank, in_previous_top, in_current_top, persisted (bool); ordered by current rank.
    """
    areas = table.loc[table["code"] != UNALLOCATED].copy()
    areas["previous_rank"] = areas["previous"].rank(method="min", ascending=False).astype("Int64")
    lowest_previous = areas["previous"].rank(method="max", ascending=False)
    lowest_current = areas["current"].rank(method="max", ascending=False)
    areas["in_previous_top"] = (lowest_previous <= n) & (areas["previous"] > 0)
    areas["in_current_top"] = (lowest_current <= n) & (areas["current"] > 0)
    areas["persisted"] = areas["in_previous_top"] & areas["in_current_top"]
    chosen = areas.loc[areas["in_previous_top"] | areas["in_current_top"]]
    columns = ["code", "name", "previous", "current", "previous_rank", "rank"]
    columns += ["in_previous_top", "in_current_top", "persisted"]
    return chosen.sort_values(["rank", "previous_rank"], kind="stable")[columns].reset_index(
        drop=True
    )


def rounded(table: pd.DataFrame) -> pd.DataFrame:
    """A copy for display: percentages to 1 decimal, rates to 2, p and q to 4.

    Parameters
    ----------
    table
        Any table with some of the columns ``pct_change``, ``share``, ``rate``, ``p``, ``q``;
        it is not changed.

    Returns
    -------
    pandas.DataFrame
        The copy, those columns as rounded ``float64``, other columns unchanged.
    """
    out = table.copy()
    for column, digits in (("pct_change", 1), ("share", 1), ("rate", 2), ("p", 4), ("q", 4)):
        if column in out.columns:
            out[column] = out[column].astype("float64").round(digits)
    return out


def _check_areas(areas: pd.DataFrame) -> None:
    missing = [c for c in ("code", "name") if c not in areas.columns]
    if missing:
        raise InputError(f"area layer: missing column(s) {missing}; expected code and name")
    codes = areas["code"].astype("str")
    repeated = sorted(set(codes[codes.duplicated()]))
    if repeated:
        raise InputError(
            f"area layer: column 'code' repeats {', '.join(repeated[:5])}; expected unique codes"
        )


def _base_table(
    areas: pd.DataFrame, before: pd.Series, after: pd.Series, honest: _Honest
) -> pd.DataFrame:
    names = pd.concat(
        [
            areas.set_index(areas["code"].astype("str"))["name"].astype("str"),
            pd.Series({UNALLOCATED: UNALLOCATED_NAME}, dtype="str"),
        ]
    )
    missing = pd.array([pd.NA] * len(before), dtype="Int64")
    table = pd.DataFrame(
        {
            "code": before.index.astype("str"),
            "name": names.reindex(before.index).to_numpy(),
            "previous": pd.array(before.to_numpy(), dtype="Int64")
            if honest.previous_known
            else missing,
            "current": pd.array(after.reindex(before.index).to_numpy(), dtype="Int64")
            if honest.current_known
            else missing,
        }
    )
    coverage, window, omitted = honest.texts()
    table["coverage"], table["window"], table["omitted"] = coverage, window, omitted
    table["is_unallocated"] = table["code"] == UNALLOCATED
    current = table["current"].astype("float64")
    total = current[~table["is_unallocated"]].sum()
    table["share"] = np.where(table["is_unallocated"], np.nan, _percent(current, total))
    ranks = current[~table["is_unallocated"]].rank(method="min", ascending=False)
    table["rank"] = ranks.reindex(table.index).astype("Int64")
    return table


def _percent(part: pd.Series, whole: float) -> np.ndarray:
    values = part.to_numpy(dtype=float, na_value=np.nan)
    if whole == 0 or not np.isfinite(whole):
        return np.full(values.shape, np.nan)
    return 100.0 * values / whole


def _add_change(table: pd.DataFrame) -> pd.DataFrame:
    out = table.copy()
    prev = out["previous"].to_numpy(dtype=float, na_value=np.nan)
    curr = out["current"].to_numpy(dtype=float, na_value=np.nan)
    out["change"] = (out["current"] - out["previous"]).astype("Int64")
    safe = np.where(prev > 0, prev, 1.0)
    out["pct_change"] = np.where(prev > 0, 100.0 * (curr - prev) / safe, np.nan)
    known = np.isfinite(prev) & np.isfinite(curr)
    note = np.where(~known | (prev > 0), "", np.where(curr > 0, NOTE_NEW, NOTE_NONE))
    out["note"] = pd.array(note, dtype="str")
    return out


def denominator_for(group: CategoryGroup) -> str:
    """The denominator of a group's rates: households for dwelling burglary, else residents.

    Parameters
    ----------
    group
        The category group.

    Returns
    -------
    str
        ``"households"`` when every selector of the group is Burglary limited to dwelling (or
        distraction) sub-types, else ``"population"``.
    """
    dwelling = all(
        s.category == "Burglary"
        and s.subcategories is not None
        and all(
            "dwelling" in sub.casefold() or "distraction" in sub.casefold()
            for sub in s.subcategories
        )
        for s in group.include
    )
    return "households" if dwelling else "population"


def _add_rate(table: pd.DataFrame, areas: pd.DataFrame, group: CategoryGroup) -> pd.DataFrame:
    out = table.copy()
    wanted = denominator_for(group)
    column = wanted
    if column not in areas.columns or areas[column].isna().all():
        column = "population"
    if column not in areas.columns:
        out["rate"] = np.nan
        out["rate_per"] = pd.array([None] * len(out), dtype="str")
        return out
    denominators = areas.set_index(areas["code"].astype("str"))[column].astype("float64")
    denominator = denominators.reindex(out["code"]).to_numpy()
    current = out["current"].to_numpy(dtype=float, na_value=np.nan)
    with np.errstate(divide="ignore", invalid="ignore"):
        rate = np.where(denominator > 0, 1000.0 * current / denominator, np.nan)
    out["rate"] = rate
    per = PER_HOUSEHOLDS if column == "households" else PER_RESIDENTS
    named = np.full(len(rate), None, dtype=object)
    named[np.isfinite(rate)] = per
    out["rate_per"] = pd.array(named, dtype="str")
    return out


def _pvalues(table: pd.DataFrame, previous: Period, current: Period) -> np.ndarray:
    """Poisson p-values; missing where either count is unknown (nothing is tested then)."""
    before = table["previous"].to_numpy(dtype=float, na_value=np.nan)
    after = table["current"].to_numpy(dtype=float, na_value=np.nan)
    known = np.isfinite(before) & np.isfinite(after)
    p = np.full(len(table), np.nan)
    if known.any():
        p[known] = significance.poisson_change_pvalues(
            before[known].astype("int64"),
            after[known].astype("int64"),
            exposure_previous=previous.n_months,
            exposure_current=current.n_months,
        )
    return p


def _add_significance(
    table: pd.DataFrame, previous: Period, current: Period, honest: _Honest
) -> pd.DataFrame:
    out = table.copy()
    p = _pvalues(out, previous, current)
    p[out["is_unallocated"].to_numpy()] = np.nan
    q = significance.bh_qvalues(p)
    out["p"] = p
    out["q"] = q
    labels = significance.change_labels(
        out["previous"].fillna(0), out["current"].fillna(0), np.nan_to_num(q, nan=1.0)
    )
    own = honest.label()
    if own:
        labels[:] = own
    labels[out["is_unallocated"].to_numpy()] = None
    out["label"] = pd.array(labels, dtype="str")
    return out
