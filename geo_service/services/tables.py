"""Change tables: the looking-back summary, change by area for one category, one area's view.

Each function reads the store once for the months its comparison spans - from a
:class:`~geo_service.store.Store`, the counted rows of its kept cube
(:mod:`geo_service.store.cubes`), never the partitions - and calls
:mod:`geo_service.analysis.change` and :mod:`~geo_service.analysis.counts`; the CLI prints the
result and the pages render it, so both show the same figures.
"""

from __future__ import annotations

from collections.abc import Sequence
from dataclasses import dataclass, replace

import geopandas as gpd
import numpy as np
import pandas as pd

from geo_service.analysis import change, tally
from geo_service.analysis.counts import (
    COUNT_COLUMN,
    monthly_counts,
    monthly_counts_of_groups,
    unlocated_shares,
    unlocated_summary,
    unlocated_warning,
    weights,
    within_layer,
    without_area_codes,
)
from geo_service.analysis.periods import Period, shift_month
from geo_service.categories import SUBTYPES, TIMES, CategoryGroup, categories_of
from geo_service.coverage import MAX_LAG_MONTHS, Coverage
from geo_service.errors import NotFoundError
from geo_service.schema import area_column
from geo_service.services.context import StoreLike, require_incidents, study_layer_name
from geo_service.services.options import ViewOptions
from geo_service.store import Store, cubes

#: Columns every table here reads from the store (plus the layer's area column, and the
#: sub-type and time columns when a group selects on them: :func:`read_columns`).
READ_COLUMNS: tuple[str, ...] = ("source", "category", "month", "x", "y")
#: Columns of a change table, in order (CLI output, page tables and CSV exports).
CHANGE_COLUMNS: tuple[str, ...] = (
    "code", "name", "previous", "current", "change", "pct_change",
    "share", "rank", "rate", "p", "q", "label", "coverage", "window", "omitted",
)  # fmt: skip
#: What a comparison rests on, per row: months held, each source's window, parts left out.
BASIS_COLUMNS: tuple[str, ...] = ("coverage", "window", "omitted")


#: The reporting force of rows whose source names none (force extracts, fire, STATS19).
NOT_STATED = "(not stated)"


@dataclass(frozen=True)
class ReportingForces:
    """Incidents per reporting force in both periods inside ``layer``.

    Attributes
    ----------
    layer
        The study layer bounding the counts; None: every stored incident.
    previous, current
        The periods compared.
    table
        One row per reporting force, most current incidents first: reported_by, previous,
        current (nullable ``Int64``; missing: no data), excluded (bool).
    """

    layer: str | None
    previous: Period
    current: Period
    table: pd.DataFrame


@dataclass(frozen=True)
class LookingBack:
    """The looking-back table (one row per group) and each group's monthly counts.

    Attributes
    ----------
    layer
        The layer whose areas bound the counts (``None``: every stored incident).
    previous, current
        The periods compared.
    table
        :func:`geo_service.analysis.change.looking_back`: one row per group, columns
        :data:`~geo_service.analysis.change.LOOKING_BACK_COLUMNS`.
    monthly
        Group name -> its counts per month from the start of the earlier period to the end of
        the later (``None`` for a month no source of the group holds).
    quality
        Sentences saying what the comparison could not know (:func:`data_quality`) and which
        forces were left out.
    """

    layer: str | None
    previous: Period
    current: Period
    table: pd.DataFrame
    monthly: dict[str, list[int | None]]
    quality: tuple[str, ...] = ()


@dataclass(frozen=True)
class ChangeByArea:
    """One category group's change per area of ``layer``, the layer's areas and monthly counts.

    Attributes
    ----------
    group
        The category group.
    layer
        The study layer name.
    previous, current
        The periods compared.
    table
        :func:`geo_service.analysis.change.change_table`: one row per area (then
        ``"Unallocated"``), columns :data:`CHANGE_COLUMNS` with ``rate_per`` and ``note``.
    areas
        The layer's standard frame (EPSG:27700).
    monthly
        :func:`geo_service.analysis.patterns.monthly_series` of the group in the layer, one row
        per month of both periods (nullable ``count``: missing where not held).
    quality
        Sentences saying what the comparison could not know.
    """

    group: CategoryGroup
    layer: str
    previous: Period
    current: Period
    table: pd.DataFrame
    areas: gpd.GeoDataFrame
    monthly: pd.DataFrame
    quality: tuple[str, ...] = ()


@dataclass(frozen=True)
class AreaView:
    """One area for a JAG meeting: every group's change there, its series and top movers.

    Attributes
    ----------
    layer, code, name
        The study layer, the area's code and its name.
    area
        The area's row of the layer (one polygon, EPSG:27700).
    previous, current
        The periods compared.
    changes
        One change-table row per group (:data:`CHANGE_COLUMNS` plus ``group``).
    monthly
        Group name -> counts per month in the area over both periods (``None``: not held).
    increases, decreases
        The three groups with the greatest increase and decrease
        (:func:`geo_service.analysis.change.top_movers`; ``code`` holds the group name).
    quality
        Sentences saying what the comparison could not know.
    """

    layer: str
    code: str
    name: str
    area: gpd.GeoDataFrame
    previous: Period
    current: Period
    changes: pd.DataFrame
    monthly: dict[str, list[int | None]]
    increases: pd.DataFrame
    decreases: pd.DataFrame
    quality: tuple[str, ...] = ()


def view_layer(store: StoreLike, opts: ViewOptions) -> str | None:
    """The layer of ``opts``, else the default study layer.

    Parameters
    ----------
    store
        The store read.
    opts
        The view options; an empty ``layer`` asks for the default.

    Returns
    -------
    str or None
        The layer name; ``None`` when the store has no layer.

    Raises
    ------
    NotFoundError
        The layer named in ``opts`` is not stored.
    """
    return study_layer_name(store, opts.layer or None)


def looking_back(
    store: StoreLike, groups: Sequence[CategoryGroup], opts: ViewOptions
) -> LookingBack:
    """The "Looking back" table of ``groups`` inside the study layer, and monthly series.

    Parameters
    ----------
    store
        The store read.
    groups
        The rows, in order (the settings' category groups).
    opts
        Period end, months, comparison and layer (empty: the default study layer; with no layer
        stored, every stored incident counts), and forces left out.

    Returns
    -------
    LookingBack
        The table, monthly counts per group and data-quality sentences.

    Raises
    ------
    NotFoundError
        The store holds no incidents, or the layer named is not stored.
    InputError
        The options' comparison is not usable (:meth:`ViewOptions.periods`).
    """
    require_incidents(store)
    layer = view_layer(store, opts)
    previous, current = opts.periods()
    coverage = store.coverage()
    everything = _read(store, None, previous, current, layer=layer, opts=opts, selecting=groups)
    if layer and COUNT_COLUMN in everything.columns:  # which area does not matter here
        everything = without_area_codes(everything, layer)
    incidents = within_layer(everything, layer) if layer else everything
    table = change.looking_back(incidents, list(groups), previous, current, coverage=coverage)
    both = _span(previous, current)
    monthly = _monthly_counts(incidents, groups, both, coverage)
    quality = exclusion_notes(store, opts) + data_quality(
        everything, coverage, None, previous, current, layer=layer
    )
    return LookingBack(layer, previous, current, table, monthly, quality)


def change_by_area(store: StoreLike, group: CategoryGroup, opts: ViewOptions) -> ChangeByArea:
    """``group``'s change per area of the study layer, and its monthly counts in the layer.

    Parameters
    ----------
    store
        The store read.
    group
        The category group.
    opts
        Period end, months, comparison, layer (empty: the default study layer) and forces left
        out.

    Returns
    -------
    ChangeByArea
        Change table, areas, monthly counts and data-quality sentences.

    Raises
    ------
    NotFoundError
        When the store holds no incidents or no area layer, or the layer named is not stored.
    InputError
        The options' comparison is not usable, or the layer's codes are not unique.
    """
    require_incidents(store)
    layer = required_layer(store, opts)
    previous, current = opts.periods()
    coverage = store.coverage()
    incidents = _read(store, group, previous, current, layer=layer, opts=opts)
    areas = store.layer(layer)
    table = change.change_table(
        incidents, layer=layer, areas=areas, group=group, previous=previous, current=current,
        coverage=coverage,
    )  # fmt: skip
    inside = within_layer(incidents, layer)
    monthly = monthly_counts(
        inside, group=group, period=_span(previous, current), held=coverage.months_of(group)
    )
    quality = exclusion_notes(store, opts) + data_quality(
        incidents, coverage, group, previous, current, layer=layer
    )
    return ChangeByArea(group, layer, previous, current, table, areas, monthly, quality)


def area_view(
    store: StoreLike, groups: Sequence[CategoryGroup], code: str, opts: ViewOptions
) -> AreaView:
    """Every group's change in area ``code`` of the study layer, its monthly series and movers.

    Parameters
    ----------
    store
        The store read.
    groups
        The groups compared, in order.
    code
        The area's code in the study layer.
    opts
        Period end, months, comparison, layer (empty: the default study layer) and forces left
        out.

    Returns
    -------
    AreaView
        One change row per group for the area, its monthly counts and top movers.

    Raises
    ------
    NotFoundError
        When ``code`` is not an area of the layer (listing the codes), the store holds no
        incidents or no area layer, or the layer named is not stored.
    InputError
        The options' comparison is not usable.
    """
    require_incidents(store)
    layer = required_layer(store, opts)
    areas = store.layer(layer)
    match = areas[areas["code"].astype(str) == code]
    if match.empty:
        raise NotFoundError(
            f"no area {code!r} in layer {layer!r}; "
            f"available: {', '.join(areas['code'].astype(str))}"
        )
    previous, current = opts.periods()
    coverage = store.coverage()
    incidents = _read(store, None, previous, current, layer=layer, opts=opts, selecting=groups)
    # Every group's whole table (its q-values, shares and ranks are across all areas) from one
    # count of the rows; only this area's row of each is kept.
    rows = tally.area_change_rows(
        incidents, layer=layer, areas=areas, groups=list(groups), previous=previous,
        current=current, coverage=coverage, code=code,
    )  # fmt: skip
    changes = rows.assign(group=[g.name for g in groups]) if len(groups) else pd.DataFrame()
    here = incidents[incidents[area_column(layer)].astype(str) == code]
    both = _span(previous, current)
    monthly = _monthly_counts(here, groups, both, coverage)
    increases, decreases = change.top_movers(
        changes.drop(columns=["code"]).assign(code=changes["group"])
    )
    return AreaView(
        layer=layer,
        code=code,
        name=str(match["name"].iloc[0]),
        area=match,
        previous=previous,
        current=current,
        changes=changes,
        monthly=monthly,
        increases=increases,
        decreases=decreases,
        quality=exclusion_notes(store, opts)
        + data_quality(incidents, coverage, None, previous, current, layer=layer),
    )


def required_layer(store: StoreLike, opts: ViewOptions) -> str:
    """The study layer of ``opts``, which must exist.

    Parameters
    ----------
    store
        The store read.
    opts
        The view options; an empty ``layer`` asks for the default.

    Returns
    -------
    str
        The layer name.

    Raises
    ------
    NotFoundError
        The store has no layer (the message says how to add one), or the layer named is not
        stored.
    """
    layer = view_layer(store, opts)
    if not layer:
        raise NotFoundError(
            "this needs an area layer (beats or wards) and the store has none yet; add one with "
            "`geo-service boundaries add beat PATH...` (or `ward`)"
        )
    return layer


def data_quality(
    incidents: pd.DataFrame,
    coverage: Coverage,
    group: CategoryGroup | None,
    previous: Period,
    current: Period,
    *,
    layer: str | None,
) -> tuple[str, ...]:
    """What a comparison could not know, in sentences.

    What of the group the sources cannot form, months a source does not hold, rows with no
    location (and how many the layer can take), and
    a material shift in their share between the periods (said only when every source holds both
    periods or nothing else is said).

    Parameters
    ----------
    incidents
        The rows read for the comparison, before they are cut to the layer.
    coverage
        The store's coverage.
    group
        The group compared; None: every source and row.
    previous, current
        The periods compared.
    layer
        The study layer (its ``area_<layer>`` column is read); None: no location sentence.

    Returns
    -------
    tuple of str
        The sentences, possibly none.

    Raises
    ------
    InputError
        ``incidents`` are not joined to ``layer``.
    """
    sources = coverage.sources_of(group) if group is not None else tuple(coverage.months)
    missing = coverage.missing_lines(sources, previous, current)
    notes = list(missing)
    left_out = coverage.formable(group).note() if group is not None else ""
    if group is not None and left_out:
        notes.insert(0, f"{group.name} {left_out}.")
    chosen = incidents if group is None else incidents.loc[group.mask(incidents)]
    if layer and len(chosen):
        summary = unlocated_summary(chosen, layer)
        if summary.unlocated:
            notes.append(summary.sentence(f"the {layer} layer"))
    if not missing:
        # A share over months a source does not hold would compare nothing: said above.
        warning = unlocated_warning(unlocated_shares(chosen, [previous, current]))
        if warning:
            notes.append(warning)
    return tuple(notes)


def _monthly_counts(
    incidents: pd.DataFrame, groups: Sequence[CategoryGroup], period: Period, coverage: Coverage
) -> dict[str, list[int | None]]:
    """Each group's counts per month of ``period``; ``None`` for a month no source of the group
    holds.

    A group is counted as the tables count it: only the part its sources can form
    (:meth:`~geo_service.coverage.Coverage.formable`); every month is ``None`` when no part is.
    The months are indexed once for all groups (:func:`monthly_counts_of_groups`).
    """
    formed = [coverage.formable(g).group for g in groups]
    counts = iter(monthly_counts_of_groups(incidents, [f for f in formed if f is not None], period))
    out: dict[str, list[int | None]] = {}
    for group, part in zip(groups, formed, strict=True):
        if part is None:
            out[group.name] = [None] * len(period.months)
            continue
        held = set(coverage.months_of(part))
        row = next(counts)
        out[group.name] = [
            int(v) if month in held else None for month, v in zip(period.months, row, strict=True)
        ]
    return out


def _span(previous: Period, current: Period) -> Period:
    """Both periods and any months between them (a year-earlier comparison leaves a gap)."""
    return Period(min(previous.start, current.start), max(previous.end, current.end))


def _read(
    store: StoreLike,
    group: CategoryGroup | None,
    previous: Period,
    current: Period,
    *,
    layer: str | None,
    opts: ViewOptions,
    selecting: Sequence[CategoryGroup] = (),
    also: Sequence[str] = (),
) -> pd.DataFrame:
    """The stored incidents of ``group`` (all: ``None``) in the months the periods span, less
    the rows reported by a force ``opts.exclude_forces`` names.

    From a :class:`~geo_service.store.Store`, counted rows of its cube
    (:func:`geo_service.store.cubes.counted_incidents`): the partitions are not read. From any
    other store, only the columns the tables need are read: :data:`READ_COLUMNS`, the layer's
    area column, ``subcategory`` or the time columns when ``group`` (or a group of
    ``selecting``) selects on them, ``reported_by`` when forces are left out, and ``also``.
    """
    span = _span(previous, current)
    # A source whose data ends early is compared over its own latest months, up to
    # MAX_LAG_MONTHS before the periods (Coverage.comparison): read those months too.
    bounds = {"month_from": shift_month(span.start, -MAX_LAG_MONTHS), "month_to": span.end}
    categories = None if group is None else categories_of(group)
    if isinstance(store, Store):
        # The kept cube gives every figure of these tables exactly, without reading the rows.
        frame = cubes.counted_incidents(store, layer=layer, categories=categories, **bounds)
        return without_forces(frame, opts.exclude_forces)
    columns = read_columns([*([group] if group else []), *selecting], layer=layer)
    columns += [
        c for c in (*also, *(["reported_by"] * bool(opts.exclude_forces))) if c not in columns
    ]
    frame = store.incidents(categories=categories, columns=columns, **bounds)
    return without_forces(frame, opts.exclude_forces)


def read_columns(groups: Sequence[CategoryGroup], *, layer: str | None) -> list[str]:
    """The stored columns counting ``groups`` per month and area of ``layer`` needs.

    Parameters
    ----------
    groups
        The groups counted; their selectors say whether sub-types or times are read.
    layer
        The layer whose area column is read; None: none.

    Returns
    -------
    list of str
        :data:`READ_COLUMNS`, then ``subcategory``, ``occurred_at`` and ``time_known`` as the
        groups need them, then ``area_<layer>``.
    """
    needs = {need for g in groups for selector in g.include for need in selector.needs}
    columns = list(READ_COLUMNS)
    if SUBTYPES in needs:
        columns.append("subcategory")
    if TIMES in needs:
        columns += ["occurred_at", "time_known"]
    return columns + ([area_column(layer)] if layer else [])


def without_forces(frame: pd.DataFrame, forces: Sequence[str]) -> pd.DataFrame:
    """``frame`` less the rows whose ``reported_by`` is one of ``forces`` (case-insensitive).

    Parameters
    ----------
    frame
        Canonical incidents (unchanged when they have no ``reported_by``).
    forces
        Reporting force names to leave out.

    Returns
    -------
    pandas.DataFrame
        The remaining rows (``frame`` itself when nothing is left out).
    """
    if not forces or "reported_by" not in frame.columns:
        return frame
    wanted = {f.casefold() for f in forces}
    reported = frame["reported_by"].astype("string").str.casefold()
    return frame.loc[~reported.isin(wanted).fillna(False).to_numpy(dtype=bool)]


def exclusion_notes(store: StoreLike, opts: ViewOptions) -> tuple[str, ...]:
    """Sentences saying which reporting forces' rows ``opts`` leaves out.

    Each says how many rows in the months compared; a force no row names is said to match
    nothing, with the forces held.

    Parameters
    ----------
    store
        The store read.
    opts
        The view options (``exclude_forces`` and the comparison).

    Returns
    -------
    tuple of str
        One sentence per force left out; empty when none is.

    Raises
    ------
    InputError
        The options' comparison is not usable.
    """
    if not opts.exclude_forces:
        return ()
    previous, current = opts.periods()
    span = _span(previous, current)
    bounds = {"month_from": span.start, "month_to": span.end}
    if isinstance(store, Store):
        frame = cubes.counted_incidents(store, layer=None, **bounds)
    else:
        frame = store.incidents(columns=["reported_by"], **bounds)
    counts = (
        pd.Series(weights(frame), index=frame["reported_by"].astype("string"))
        .groupby(level=0)
        .sum()
    )
    # Most rows first, ties by name: the same order however the rows were counted.
    ordered = sorted(counts.items(), key=lambda kv: (-int(kv[1]), str(kv[0])))
    by_name = {str(k).casefold(): (str(k), int(v)) for k, v in ordered}
    notes = []
    for force in opts.exclude_forces:
        if force.casefold() in by_name:
            name, rows = by_name[force.casefold()]
            notes.append(f"Rows reported by {name} are left out ({rows:,} in the months compared).")
        else:
            held = ", ".join(name for name, _ in by_name.values()) or "none"
            notes.append(
                f"No row in the months compared was reported by {force!r}, so nothing was left "
                f"out for it; reporting forces held: {held}."
            )
    return tuple(notes)


def reporting_forces(store: StoreLike, opts: ViewOptions) -> ReportingForces:
    """Incidents per reporting force (police.uk ``Reported by``) in both periods, in the layer.

    British Transport Police rows in a territorial force's download show apart. Rows of sources
    that name no reporting force count under ``"(not stated)"``. Forces that
    ``opts.exclude_forces`` leaves out are listed too, marked excluded. A period that some source
    of the store does not wholly hold is "no data" (missing) for every force, never the count of
    the months held.

    Parameters
    ----------
    store
        The store read.
    opts
        Period end, months, comparison, layer (empty: the default; none stored: every
        incident) and the forces to mark excluded.

    Returns
    -------
    ReportingForces
        One row per force.

    Raises
    ------
    NotFoundError
        The store holds no incidents, or the layer named is not stored.
    InputError
        The options' comparison is not usable.
    """
    require_incidents(store)
    layer = view_layer(store, opts)
    previous, current = opts.periods()
    unfiltered = replace(opts, exclude_forces=())
    frame = _read(
        store, None, previous, current, layer=layer, opts=unfiltered, also=["reported_by"]
    )
    if layer:
        frame = within_layer(frame, layer)
    force = frame["reported_by"].astype("string").fillna(NOT_STATED)
    table = pd.DataFrame(
        {
            "reported_by": force.to_numpy(),
            "previous": np.asarray(previous.contains(frame["month"]), dtype=int) * weights(frame),
            "current": np.asarray(current.contains(frame["month"]), dtype=int) * weights(frame),
        }
    )
    counts = table.groupby("reported_by", sort=True)[["previous", "current"]].sum()
    counts = counts.sort_values("current", ascending=False, kind="stable").reset_index()
    counts[["previous", "current"]] = counts[["previous", "current"]].astype("Int64")
    coverage = store.coverage()
    for column, period in (("previous", previous), ("current", current)):
        missing = [s for s in coverage.months if coverage.missing_months(s, period.months)]
        if missing:  # "no data", never a count of the months some source happens to hold
            counts[column] = pd.NA
    excluded = {f.casefold() for f in opts.exclude_forces}
    counts["excluded"] = counts["reported_by"].str.casefold().isin(excluded)
    return ReportingForces(layer, previous, current, counts)
