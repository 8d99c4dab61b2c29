"""Counting incidents per area, category group and period from the ``area_<layer>`` columns.

An incident belongs to an area of a layer when its ``area_<layer>`` column holds that area's code
(the join fills it from the point, or from the LSOA code when the point is missing). An incident
with no area falls in one of three cases:

* it has a location outside every area of the layer: it is **outside** the layer's extent (a force
  file covers neighbouring districts) and is not part of the layer's tables;
* it has no location, and its source lies within the layer (every located row of that source, in
  the frame given, has an area of the layer): it is **unallocated** - it belongs to the borough
  but to no one area, so tables count it in their "Unallocated" row;
* it has no location and its source reaches beyond the layer (a force-wide police.uk extract):
  nothing places it in the borough, so it is **unlocated outside** - left out of the layer's
  tables and reported apart (:func:`unlocated_summary`: "1,786 rows in the files have no
  location; 0 of them can be placed in Dacorum").

Counting functions take an optional ``windows`` (source -> period) so that a group mixing sources
that end in different months counts each source over its own months
(:meth:`geo_service.coverage.Coverage.comparison`).

Every function here also takes a *counted* frame: rows that each stand for several incidents
with equal keys, their number in :data:`COUNT_COLUMN` and whether they have a location in
:data:`LOCATED_COLUMN` (in place of ``x`` and ``y``), as the store's cubes give
(:mod:`geo_service.store.cubes`). A frame without those columns is one incident per row; both
give the same figures for the same incidents (tests/analysis/test_counts.py).
"""

from __future__ import annotations

import logging
from collections.abc import Collection, Mapping, Sequence
from dataclasses import dataclass

import numpy as np
import pandas as pd

from geo_service.analysis.periods import Period
from geo_service.categories import CategoryGroup, Selector
from geo_service.coverage import month_mask
from geo_service.errors import InputError
from geo_service.schema import area_column, has_location

logger = logging.getLogger(__name__)

#: Column of a counted frame: how many incidents the row stands for (int64, at least 1).
COUNT_COLUMN = "n"
#: Column of a counted frame: whether the row's incidents have a finite x and y (bool).
LOCATED_COLUMN = "located"

#: Code and name of the table row holding incidents with no location and no area.
UNALLOCATED = "Unallocated"
UNALLOCATED_NAME = "Unallocated (no location)"


def weights(frame: pd.DataFrame) -> np.ndarray:
    """How many incidents each row of ``frame`` stands for: :data:`COUNT_COLUMN`, else 1.

    Parameters
    ----------
    frame
        Canonical incidents, or a counted frame.

    Returns
    -------
    numpy.ndarray
        int64, one element per row.
    """
    if COUNT_COLUMN in frame.columns:
        return frame[COUNT_COLUMN].to_numpy(dtype=np.int64)
    return np.ones(len(frame), dtype=np.int64)


def located(frame: pd.DataFrame) -> np.ndarray:
    """Rows whose incidents have usable coordinates: :data:`LOCATED_COLUMN`, else finite x, y.

    Parameters
    ----------
    frame
        Canonical incidents (``x``, ``y``), or a counted frame.

    Returns
    -------
    numpy.ndarray
        Boolean mask, one element per row.
    """
    if LOCATED_COLUMN in frame.columns:
        return frame[LOCATED_COLUMN].to_numpy(dtype=bool)
    return has_location(frame)


def resolve_group(group: CategoryGroup | str) -> CategoryGroup:
    """``group`` itself, or the group of every incident of the plain category ``group``.

    Named groups (``"Dwelling burglary"``) come from the settings' groups file and are passed
    in as :class:`~geo_service.categories.CategoryGroup`; nothing here reads a file.

    Parameters
    ----------
    group
        A category group, or the name of a plain category (e.g. ``"Burglary"``).

    Returns
    -------
    CategoryGroup
        ``group`` unchanged, or a group named ``group`` selecting that whole category.
    """
    if isinstance(group, CategoryGroup):
        return group
    return CategoryGroup(name=group, include=(Selector(category=group),))


def area_codes_column(incidents: pd.DataFrame, layer: str) -> pd.Series:
    """The ``area_<layer>`` column of ``incidents``.

    Parameters
    ----------
    incidents
        Canonical incidents joined to one or more layers.
    layer
        Area layer name, e.g. ``"ward"``.

    Returns
    -------
    pandas.Series
        The area code of each incident (missing where it has no area of the layer).

    Raises
    ------
    InputError
        When the incidents have not been joined to ``layer``; the message lists the layers they
        have been joined to.
    """
    column = area_column(layer)
    if column not in incidents.columns:
        joined = sorted(
            c[5:] for c in incidents.columns if c.startswith("area_") and c != "area_hint"
        )
        raise InputError(
            f"layer {layer!r}: incidents have no column {column!r}; "
            f"joined layers: {', '.join(joined) or 'none'}"
        )
    return incidents[column]


def period_mask(
    incidents: pd.DataFrame, period: Period, windows: Mapping[str, Period] | None = None
) -> np.ndarray:
    """Rows inside ``period``, or, for a source named in ``windows``, inside its own period.

    Parameters
    ----------
    incidents
        Canonical incidents (``month`` "YYYY-MM"; ``source`` when ``windows`` is given).
    period
        The period of every source not named in ``windows``.
    windows
        Source name -> that source's own period; None or empty: ``period`` for all.

    Returns
    -------
    numpy.ndarray
        Boolean mask, one element per row of ``incidents``.
    """
    inside = period.contains(incidents["month"])
    if not windows:
        return inside
    own = incidents["source"].isin(list(windows)).to_numpy(dtype=bool, na_value=False)
    return np.where(own, month_mask(incidents, windows), inside)


def select(
    incidents: pd.DataFrame,
    *,
    group: CategoryGroup | str,
    period: Period | None = None,
    windows: Mapping[str, Period] | None = None,
) -> pd.DataFrame:
    """The incidents of ``group`` (and inside ``period`` when given; see :func:`period_mask`).

    Parameters
    ----------
    incidents
        Canonical incidents.
    group
        Category group, or the name of a plain category (:func:`resolve_group`).
    period
        Keep only its months; None (default): every month.
    windows
        Per-source periods (:func:`period_mask`); used only with ``period``.

    Returns
    -------
    pandas.DataFrame
        The chosen rows of ``incidents`` (same columns and index).
    """
    mask = resolve_group(group).mask(incidents)
    if period is not None:
        mask = mask & period_mask(incidents, period, windows)
    return incidents.loc[mask]


def counts_by_area(
    incidents: pd.DataFrame,
    *,
    layer: str,
    codes: pd.Index | list[str],
    group: CategoryGroup | str,
    period: Period,
    windows: Mapping[str, Period] | None = None,
) -> pd.Series:
    """Incidents of ``group`` in ``period`` per area code of ``layer``.

    Parameters
    ----------
    incidents
        Canonical incidents joined to ``layer`` (column ``area_<layer>``).
    layer
        Area layer name.
    codes
        The layer's area codes, in the order wanted.
    group
        Category group, or the name of a plain category (:func:`resolve_group`).
    period
        The months counted.
    windows
        Per-source periods (:func:`period_mask`); None: ``period`` for every source.

    Returns
    -------
    pandas.Series
        Counts (int64) indexed by ``codes`` (zeros included, in the given order) followed by
        :data:`UNALLOCATED` (incidents with no location and no area whose source lies within the
        layer; see the module docstring). Incidents outside every area, and unlocated incidents
        of sources reaching beyond the layer, are left out and logged.

    Raises
    ------
    InputError
        The incidents are not joined to ``layer``.
    """
    within = _sources_within(incidents, layer)
    chosen = select(incidents, group=group, period=period, windows=windows)
    area = area_codes_column(chosen, layer)
    index = pd.Index(list(codes), dtype="str")
    known = area.isin(index).to_numpy(dtype=bool, na_value=False)
    n = weights(chosen)
    per_area = (
        pd.Series(n[known], dtype="int64")
        .groupby(area[known].astype("str").to_numpy())
        .sum()
        .reindex(index, fill_value=0)
        .astype("int64")
    )
    no_area = ~known & ~located(chosen)
    belongs = _source_key(chosen).isin(within).to_numpy(dtype=bool)
    unallocated = int(n[no_area & belongs].sum())
    apart = int(n.sum() - n[known].sum()) - unallocated
    if apart:
        logger.debug("%d incident(s) lie outside every %s area or cannot be placed", apart, layer)
    result = pd.concat([per_area, pd.Series({UNALLOCATED: unallocated}, dtype="int64")])
    result.index.name = "code"
    return result


def total_count(
    incidents: pd.DataFrame,
    *,
    group: CategoryGroup | str,
    period: Period,
    windows: Mapping[str, Period] | None = None,
) -> int:
    """Number of incidents of ``group`` in ``period``.

    Parameters
    ----------
    incidents
        Canonical incidents.
    group
        Category group, or the name of a plain category (:func:`resolve_group`).
    period
        The months counted.
    windows
        Per-source periods (see :func:`period_mask`); None: ``period`` for every source.

    Returns
    -------
    int
        The count.
    """
    mask = resolve_group(group).mask(incidents) & period_mask(incidents, period, windows)
    return int(weights(incidents)[mask].sum())


def without_area_codes(counted: pd.DataFrame, layer: str) -> pd.DataFrame:
    """A counted frame with every area code of ``layer`` replaced by the layer's name.

    Borough totals ask only whether an incident has an area of the layer (:func:`within_layer`,
    :func:`unlocated_summary`), never which: the same counts in as few rows as that allows.

    Parameters
    ----------
    counted
        A counted frame (module docstring) joined to ``layer``.
    layer
        Area layer name.

    Returns
    -------
    pandas.DataFrame
        The same columns; rows with equal keys once the codes are replaced, their counts summed.

    Raises
    ------
    InputError
        ``counted`` is not joined to ``layer``, or is not a counted frame.
    """
    column = area_codes_column(counted, layer).name
    if COUNT_COLUMN not in counted.columns or LOCATED_COLUMN not in counted.columns:
        raise InputError(f"not a counted frame: expected columns {COUNT_COLUMN!r} and "
                         f"{LOCATED_COLUMN!r}")  # fmt: skip
    keys = [c for c in counted.columns if c != COUNT_COLUMN]
    marked = counted.assign(**{str(column): counted[column].where(counted[column].isna(), layer)})
    out = marked.groupby(keys, dropna=False, sort=False, as_index=False)[COUNT_COLUMN].sum()
    return out.astype(counted.dtypes.to_dict())[list(counted.columns)]


def monthly_counts(
    incidents: pd.DataFrame,
    *,
    group: CategoryGroup | str,
    period: Period,
    held: Collection[str] | None = None,
) -> pd.DataFrame:
    """Incidents of ``group`` per month of ``period`` (zeros included), raw or counted rows.

    The figures of :func:`geo_service.analysis.patterns.monthly_series` without a layer, for a
    frame of either kind (module docstring).

    Parameters
    ----------
    incidents
        Canonical incidents, or a counted frame.
    group
        Category group, or the name of a plain category (:func:`resolve_group`).
    period
        The months counted.
    held
        The months the group's sources hold; a month not held is missing (``<NA>``, nullable
        ``Int64``): "no data", never 0. None: every month is held (int64 counts).

    Returns
    -------
    pandas.DataFrame
        Indexed by month ``"YYYY-MM"`` (one row per month of ``period``), column ``count``.
    """
    months = pd.Index(period.months, name="month", dtype="str")
    counts = monthly_counts_of_groups(incidents, [group], period)[0]
    table = pd.DataFrame({"count": counts}, index=months)
    if held is None:
        return table
    out = table.astype("Int64")
    out.loc[~table.index.isin(list(held))] = pd.NA
    return out


def monthly_counts_of_groups(
    incidents: pd.DataFrame, groups: Sequence[CategoryGroup | str], period: Period
) -> np.ndarray:
    """Each group's incidents per month of ``period``: :func:`monthly_counts` (with every
    month held) of several groups, the months indexed once.

    Parameters
    ----------
    incidents
        Canonical incidents, or a counted frame.
    groups
        Category groups, or names of plain categories (:func:`resolve_group`).
    period
        The months counted.

    Returns
    -------
    numpy.ndarray
        int64, shape ``(len(groups), len(period.months))``: row ``i`` is
        ``monthly_counts(incidents, group=groups[i], period=period)["count"]``.
    """
    months = pd.Index(period.months, dtype="str")
    where = months.get_indexer(pd.Index(incidents["month"].astype("str")))
    inside = where >= 0
    n = weights(incidents)
    out = np.zeros((len(groups), len(months)), dtype=np.int64)
    for i, group in enumerate(groups):
        mask = inside & np.asarray(resolve_group(group).mask(incidents), dtype=bool)
        out[i] = np.bincount(where[mask], weights=n[mask], minlength=len(months))
    return out


def within_layer(incidents: pd.DataFrame, layer: str) -> pd.DataFrame:
    """The incidents placed in one of ``layer``'s areas.

    Used to restrict a force-wide store to one borough before borough totals are taken. An
    unlocated incident is kept only when the join placed it in an area (through its LSOA code);
    other unlocated incidents are left out, since nothing places them in the borough (tables
    count those of sources within the layer in their "Unallocated" row).

    Parameters
    ----------
    incidents
        Canonical incidents joined to ``layer``.
    layer
        Area layer name.

    Returns
    -------
    pandas.DataFrame
        The rows of ``incidents`` with an ``area_<layer>`` code.

    Raises
    ------
    InputError
        The incidents are not joined to ``layer``.
    """
    area = area_codes_column(incidents, layer)
    return incidents.loc[area.notna().to_numpy(dtype=bool)]


@dataclass(frozen=True)
class UnlocatedSummary:
    """Rows with no location, and how many of them the layer could take.

    Attributes
    ----------
    layer
        The area layer name.
    unlocated
        Rows with no usable coordinates.
    placed
        Of those, rows the join placed in an area of the layer (through an LSOA code).
    unallocated
        Of those, rows not placed but from a source lying within the layer (the tables'
        "Unallocated" row).
    """

    layer: str
    unlocated: int
    placed: int
    unallocated: int

    @property
    def outside(self) -> int:
        """Unlocated rows nothing places in the layer (reported apart)."""
        return self.unlocated - self.placed - self.unallocated

    def sentence(self, where: str) -> str:
        """E.g. "1,786 rows in the files have no location; 0 of them can be placed in Dacorum".

        Parameters
        ----------
        where
            The name of the place the layer covers, e.g. ``"Dacorum"``.

        Returns
        -------
        str
            One sentence ending in a full stop; "Every row in the files has a location." when none
            lacks one.
        """
        if not self.unlocated:
            return "Every row in the files has a location."
        rows = (
            "1 row in the files has"
            if self.unlocated == 1
            else (f"{self.unlocated:,} rows in the files have")
        )
        text = f"{rows} no location; {self.placed:,} of them can be placed in {where}"
        if self.unallocated:
            text += f" and {self.unallocated:,} belong to it without an area (unallocated)"
        return text + "."


def unlocated_summary(incidents: pd.DataFrame, layer: str) -> UnlocatedSummary:
    """How the rows of ``incidents`` with no location fall for ``layer`` (see the module docstring).

    Parameters
    ----------
    incidents
        Canonical incidents joined to ``layer``, force-wide (before :func:`within_layer`).
    layer
        Area layer name.

    Returns
    -------
    UnlocatedSummary
        Counts of unlocated, placed and unallocated rows.

    Raises
    ------
    InputError
        The incidents are not joined to ``layer``.
    """
    area = area_codes_column(incidents, layer).notna().to_numpy(dtype=bool)
    unlocated = ~located(incidents)
    belongs = _source_key(incidents).isin(_sources_within(incidents, layer)).to_numpy(dtype=bool)
    n = weights(incidents)
    return UnlocatedSummary(
        layer=layer,
        unlocated=int(n[unlocated].sum()),
        placed=int(n[unlocated & area].sum()),
        unallocated=int(n[unlocated & ~area & belongs].sum()),
    )


def unlocated_outside(incidents: pd.DataFrame, layer: str) -> int:
    """Rows with no location that nothing places in ``layer``.

    Neither an area nor a source lying within the layer places them: they are reported apart,
    never counted for the layer's areas.

    Parameters
    ----------
    incidents
        Canonical incidents joined to ``layer``.
    layer
        Area layer name.

    Returns
    -------
    int
        :attr:`UnlocatedSummary.outside` of :func:`unlocated_summary`.

    Raises
    ------
    InputError
        The incidents are not joined to ``layer``.
    """
    return unlocated_summary(incidents, layer).outside


def _source_key(frame: pd.DataFrame) -> pd.Series:
    """The source of each row; a frame without sources is one source, ``""``."""
    if "source" not in frame.columns:
        return pd.Series("", index=frame.index, dtype="str")
    return frame["source"].astype("str").fillna("")


def _sources_within(incidents: pd.DataFrame, layer: str) -> set[str]:
    """Sources whose located rows all lie in an area of ``layer`` (at least one located row):
    a borough extract, whose unlocated rows then belong to the borough."""
    placed = located(incidents)
    inside = area_codes_column(incidents, layer).notna().to_numpy(dtype=bool)
    key = _source_key(incidents)
    reaching = set(key[placed & ~inside].unique())
    return {str(s) for s in key[placed & inside].unique()} - reaching


#: A change in the share of rows with no location between the two periods compared is material
#: when the shares differ by more than this many percentage points ...
UNLOCATED_POINTS = 5.0
#: ... or when one share is more than this many times the other and the larger is at least
#: :data:`UNLOCATED_FLOOR` percent. Either moves located (area) counts by an amount comparable
#: to the changes the tables discuss (a 5-point shift alone moves every area's count by ~5 %),
#: with no change on the ground; the floor keeps 0.1 % against 0.2 % from raising an alarm.
UNLOCATED_RATIO = 1.5
UNLOCATED_FLOOR = 1.0


def unlocated_shares(
    incidents: pd.DataFrame,
    periods: tuple[Period, ...] | list[Period],
    *,
    group: CategoryGroup | str | None = None,
) -> pd.DataFrame:
    """Per period: rows, rows with no location, and their share (percent).

    Pass the force-wide rows (before :func:`within_layer`): the share describes the files.

    Parameters
    ----------
    incidents
        Canonical incidents.
    periods
        The periods, e.g. ``(previous, current)``.
    group
        Count only this group (or plain category); None (default): every row.

    Returns
    -------
    pandas.DataFrame
        One row per period, in order: period (label), rows, unlocated, share (percent; NaN for
        a period with no rows).
    """
    chosen = incidents if group is None else select(incidents, group=group)
    unlocated = ~located(chosen)
    n = weights(chosen)
    rows = []
    for period in periods:
        inside = np.asarray(period.contains(chosen["month"]), dtype=bool)
        total, missing = int(n[inside].sum()), int(n[inside & unlocated].sum())
        rows.append((period.label, total, missing, 100.0 * missing / total if total else np.nan))
    return pd.DataFrame(rows, columns=["period", "rows", "unlocated", "share"])


def unlocated_warning(shares: pd.DataFrame) -> str | None:
    """A warning when the unlocated share of two periods differs materially, else None.

    Material: the shares differ by more than :data:`UNLOCATED_POINTS` percentage points, or one
    is more than :data:`UNLOCATED_RATIO` times the other and the larger is at least
    :data:`UNLOCATED_FLOOR` percent.

    Parameters
    ----------
    shares
        A :func:`unlocated_shares` table; its first two rows are taken as (previous, current).

    Returns
    -------
    str or None
        The warning sentence, or None (also when either share is missing).
    """
    before, after = (float(v) for v in shares["share"].iloc[:2])
    if not (np.isfinite(before) and np.isfinite(after)):
        return None
    low, high = sorted((before, after))
    ratio = high / low if low > 0 else np.inf
    material = high - low > UNLOCATED_POINTS or (
        ratio > UNLOCATED_RATIO and high >= UNLOCATED_FLOOR
    )
    if not material:
        return None
    first, second = shares["period"].iloc[0], shares["period"].iloc[1]
    return (
        f"The share of rows with no location changed from {before:.1f}% ({first}) to "
        f"{after:.1f}% ({second}): area counts can rise or fall for that reason alone."
    )
