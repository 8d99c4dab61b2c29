"""Road traffic collisions: repeat-location (cluster) sites, severity by year, collisions per km.

Over a study layer, sites are found among the collisions within
:data:`~geo_service.analysis.repeat_locations.SITE_REACH_M` of its areas (from a kept store, the
file of :mod:`geo_service.store.near`, so a national store's other collisions are never read),
then split by the layer: a site whose centre lies in no area of the layer is reported apart
(``outside``), never ranked among the partnership's own sites. The severity table and the KSI
trend count the collisions in the layer's areas. Both faces take the rule from
:func:`geo_service.cluster_rules.rule_with_overrides`, so every override the CLI has, the web has.
"""

from __future__ import annotations

import logging
from dataclasses import dataclass
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd

from geo_service.analysis import breakdowns
from geo_service.analysis.adjusted_severity import adjusted_ksi
from geo_service.analysis.periods import (
    Period,
    month_label,
    parse_month,
    rolling_periods,
    shift_month,
)
from geo_service.analysis.repeat_locations import (
    SITE_REACH_M,
    ClusterRule,
    collisions_per_km,
    repeat_locations,
    within_reach,
)
from geo_service.cluster_rules import cluster_rule as named_rule
from geo_service.cluster_rules import rule_with_overrides
from geo_service.errors import DataError, InputError, NotFoundError
from geo_service.schema import ROAD_TRAFFIC_COLLISION, area_column, has_location
from geo_service.services.context import StoreLike, empty_layer, plain_group, study_layer_name
from geo_service.services.options import RuleOptions
from geo_service.store import Store
from geo_service.store.near import COLUMNS as COLLISION_COLUMNS
from geo_service.store.near import collisions_near

logger = logging.getLogger(__name__)

#: A location recorded as exact; any other stated precision is approximate (a fall-back pair).
EXACT = "exact"


@dataclass(frozen=True, eq=False)
class CollisionSites:
    """Cluster sites under ``rule`` in the ``rule.years`` years ending ``period_end``.

    Attributes
    ----------
    rule
        The rule applied (preset with overrides).
    period_end
        Last month of the window, ``"YYYY-MM"``.
    layer
        The study layer labelling the sites; None when the store has none.
    sites
        Sites whose centre lies in an area of ``layer`` (every site without a layer), found among
        the collisions within :data:`~geo_service.analysis.repeat_locations.SITE_REACH_M` of its
        areas: one row per site,
        :data:`~geo_service.analysis.repeat_locations.SITE_COLUMNS` plus ``approximate``
        (collisions with only an approximate location), points in EPSG:27700; ``rank_count``,
        ``rank_severity`` and ``rank_casualties`` renumbered 1.. among these sites.
    outside
        Sites centred within that reach of the layer's areas but in none of them, ranked apart
        the same way.
    severity
        Collisions per severity (rows) in the layer's areas (every collision without a layer)
        in each 12-month period ending ``period_end`` and the years before (at least 3); a
        period running past the latest collision held says so in its heading.
    collisions
        The located collisions (all severities) the sites were found among, from the start of
        the rule's window to ``period_end``, for the map.
    areas
        The study layer's areas (an empty layer when none is stored).
    ksi_trend
        :func:`~geo_service.analysis.adjusted_severity.adjusted_ksi` of the collisions in the
        layer's areas (every collision without a layer) per calendar year wholly inside the
        months read (DfT severity adjustment).
    note
        A sentence when the rule's window runs past the latest collision held or starts
        before the earliest, else None.
    """

    rule: ClusterRule
    period_end: str
    layer: str | None
    sites: gpd.GeoDataFrame
    outside: gpd.GeoDataFrame
    severity: pd.DataFrame
    collisions: pd.DataFrame
    areas: gpd.GeoDataFrame
    ksi_trend: pd.DataFrame
    note: str | None = None


def sites_meta(result: CollisionSites) -> dict[str, object]:
    """What a site list rests on: rule, window end, layer, and the note if any.

    Parameters
    ----------
    result
        The collision sites.

    Returns
    -------
    dict
        ``rule`` (name), ``period_end``, ``layer`` and ``note``.
    """
    return {
        "rule": result.rule.name,
        "period_end": result.period_end,
        "layer": result.layer,
        "note": result.note,
    }


def cluster_rule(opts: RuleOptions) -> ClusterRule:
    """The preset ``opts.rule`` with ``opts``' overrides applied.

    Parameters
    ----------
    opts
        The preset name and the overrides (minimum count, radius in metres, years, KSI only).

    Returns
    -------
    ClusterRule

    Raises
    ------
    InputError
        When the preset is unknown (listing the presets) or an override is out of range.
    """
    return rule_with_overrides(
        named_rule(opts.rule), min_count=opts.min_count, radius_m=opts.radius_m, years=opts.years,
        ksi_only=opts.ksi_only,
    )  # fmt: skip


def collision_sites(
    store: StoreLike, opts: RuleOptions, *, period_end: str | None, layer: str | None
) -> CollisionSites:
    """Repeat-collision sites, split by the study layer, and collisions by severity and year.

    Parameters
    ----------
    store
        The store read.
    opts
        The rule preset, its overrides and the highway authority whose roads are kept.
    period_end
        Last month of the window (``YYYY-MM``); ``None``: the latest month holding collisions
        (the collision data may end before other sources do). A window running past the
        latest collision held or starting before the earliest is kept and ``note`` says so.
    layer
        The layer whose areas label the sites (``None``: the default study layer).

    Returns
    -------
    CollisionSites

    Raises
    ------
    DataError
        When the store holds no road traffic collisions.
    NotFoundError
        When no collision read is on the roads of ``opts.highway_authority`` (listing those
        held), or the layer named is not stored.
    InputError
        When the rule or its overrides are not usable, ``period_end`` is not ``YYYY-MM``, or
        no month of the rule's window holds a collision.
    """
    rule = cluster_rule(opts)
    with_collisions = _collision_months(store)
    latest = with_collisions[-1]
    last = period_end or latest
    parse_month(last, what="period_end")
    note = _window_note(rule, last, with_collisions)
    held = set(store.coverage().months_of(plain_group(ROAD_TRAFFIC_COLLISION)))
    years = max(rule.years, 3)
    first_month = shift_month(last, -12 * years + 1)
    name = study_layer_name(store, layer)
    areas = store.layer(name) if name else empty_layer()
    collisions = _on_roads_of(
        _collisions(store, name, areas, month_from=first_month, month_to=last),
        opts.highway_authority,
    )
    found = _with_precision(
        repeat_locations(collisions, rule=rule, period_end=last, areas=areas, held_months=held),
        collisions,
    )
    inside = found["area_code"].notna().to_numpy() if name else np.ones(len(found), dtype=bool)
    # the severity table and the KSI trend are of the layer's areas (every collision read
    # without a layer)
    counted = collisions.loc[collisions[area_column(name)].notna()] if name else collisions
    periods = [rolling_periods(shift_month(last, -12 * k))[1] for k in range(years)]
    severity = _marked_unheld(
        breakdowns.severity_by_period(counted, list(reversed(periods))), periods, held
    )
    window_start = shift_month(last, -12 * rule.years + 1)
    in_window = collisions[collisions["month"].astype(str) >= window_start]
    return CollisionSites(
        rule=rule,
        period_end=last,
        layer=name,
        sites=_reranked(found.loc[inside]),
        outside=_reranked(found.loc[~inside]),
        severity=severity,
        collisions=in_window.loc[has_location(in_window)],
        areas=areas,
        ksi_trend=_whole_years(
            adjusted_ksi(counted),
            max(first_month, min(held, default=first_month)),
            min(last, latest),
            held,
        ),
        note=note,
    )


def road_rates(store: StoreLike, roads: gpd.GeoDataFrame) -> pd.DataFrame:
    """Collisions within 20 m of each named road per km of it.

    Parameters
    ----------
    store
        The store read (every stored road traffic collision is used).
    roads
        Road lines with a ``name`` column and a CRS.

    Returns
    -------
    pandas.DataFrame
        One row per road name: ``name, length_km, collisions, per_km``, highest ``per_km``
        first.

    Raises
    ------
    DataError
        When the store holds no road traffic collisions.
    InputError
        When ``roads`` lacks ``name`` or a CRS.
    """
    collisions = _collision_rows(store)
    if collisions.empty:
        raise DataError("the store holds no road traffic collisions; ingest STATS19 first")
    return collisions_per_km(collisions, roads)


def describe(result: CollisionSites) -> str:
    """One line for the log: the rule, the window and how many sites lie in and outside.

    Parameters
    ----------
    result
        The collision sites.

    Returns
    -------
    str
    """
    rule = result.rule
    radius = (
        f"{rule.urban_radius_m:g} m urban / {rule.rural_radius_m:g} m rural"
        if rule.urban_radius_m is not None and rule.rural_radius_m is not None
        else f"{rule.radius_m:g} m"
    )
    where = f" in {result.layer}" if result.layer else ""
    return (
        f"{len(result.sites)} sites{where} and {len(result.outside)} outside every area (within "
        f"{SITE_REACH_M / 1000:g} km of one): at least "
        f"{rule.min_count} of {'/'.join(rule.severities)} within {radius}, {rule.years} years "
        f"ending {result.period_end}"
    )


def _window_note(rule: ClusterRule, last: str, months: list[str]) -> str | None:
    """What the window ending ``last`` rests on: a sentence when it runs past the latest month
    holding a collision or starts before the earliest (``months``: those holding one, sorted),
    None when the data spans it.

    Raises
    ------
    InputError
        No month of the window holds a collision: its sites would be an empty list read as
        "none", where the data says nothing.
    """
    first = shift_month(last, -12 * rule.years + 1)
    earliest, latest = months[0], months[-1]
    window = f"the {rule.years}-year window {month_label(first)} to {month_label(last)}"
    if not any(first <= m <= last for m in months):
        raise InputError(
            f"period_end {last}: {window} holds no collision data; collisions are held from "
            f"{month_label(earliest)} to {month_label(latest)}"
        )
    notes = []
    if last > latest:
        notes.append(
            f"The latest collision held is in {month_label(latest)}: months after it hold no "
            f"collisions, so the window to {month_label(last)} may count fewer than happened."
        )
    if first < earliest:
        notes.append(
            f"The earliest collision held is in {month_label(earliest)}: months before it hold "
            f"no collisions, so {window} may count fewer than happened."
        )
    return " ".join(notes) or None


def _marked_unheld(table: pd.DataFrame, periods: list[Period], held: set[str]) -> pd.DataFrame:
    """Severity columns as the data holds them: a period none of whose months the collision
    sources hold is left out (never a column of zeros), one they hold in part says how many
    months its counts rest on."""
    drop, renamed = [], {}
    for period in periods:
        months = sum(m in held for m in period.months)
        if months == 0:
            drop.append(period.label)
        elif months < period.n_months:
            renamed[period.label] = (
                f"{period.label} (data for {months} of its {period.n_months} months)"
            )
    return table.drop(columns=drop).rename(columns=renamed)


def _whole_years(
    table: pd.DataFrame, first_month: str, last_month: str, held: set[str]
) -> pd.DataFrame:
    """The rows of the calendar years wholly inside ``first_month..last_month`` (a part-year
    beside whole years would read as a fall), with a row of zeros for each such year whose 12
    months the data holds and no collision of ``table`` falls in (none counted, not unknown)."""
    first_year = int(first_month[:4]) + (first_month[5:] != "01")
    last_year = int(last_month[:4]) - (last_month[5:] != "12")
    years = table["year"].astype(int)
    kept = table.loc[(years >= first_year) & (years <= last_year)]
    found = set(kept["year"].astype(int))
    empty = [
        y for y in range(first_year, last_year + 1)
        if y not in found and all(f"{y}-{m:02d}" in held for m in range(1, 13))
    ]  # fmt: skip
    if not empty:
        return kept.reset_index(drop=True)
    zeros = pd.DataFrame({c: [0] * len(empty) for c in table.columns}).astype(table.dtypes)
    zeros["year"] = pd.Series(empty, dtype=table["year"].dtype)
    out = pd.concat([kept, zeros], ignore_index=True)
    return out.sort_values("year", ignore_index=True)


def _on_roads_of(collisions: pd.DataFrame, authority: str | None) -> pd.DataFrame:
    """The collisions on the roads of highway ``authority`` (ONS code; all when None)."""
    if not authority:
        return collisions
    codes = collisions["highway_authority"].astype("string").str.casefold()
    chosen = collisions.loc[(codes == authority.casefold()).fillna(False).to_numpy(dtype=bool)]
    if chosen.empty:
        held = sorted(collisions["highway_authority"].dropna().astype(str).unique())
        raise NotFoundError(
            f"highway authority {authority!r}: no collision of the window is on its roads; "
            f"authorities held: {', '.join(held) or 'none (the files carry no highway authority)'}"
        )
    return chosen


def _with_precision(sites: gpd.GeoDataFrame, collisions: pd.DataFrame) -> gpd.GeoDataFrame:
    """Add ``approximate``: how many of each site's collisions have only an approximate
    location (a fall-back coordinate pair, :data:`EXACT` otherwise), so a site resting on
    rounded points is seen as such."""
    out = sites.copy()
    if out.empty:
        out["approximate"] = pd.Series(dtype="int64")
        return out
    precision = collisions.set_index("incident_id")["location_precision"].astype("string")
    approximate = set(precision.index[(precision.notna() & (precision != EXACT)).to_numpy()])
    out["approximate"] = [
        sum(1 for i in str(ids).split(";") if i in approximate) for ids in out["collision_ids"]
    ]
    return out


def _collision_rows(store: StoreLike, **read: Any) -> pd.DataFrame:
    """The stored road traffic collisions, read from the partitions of the sources that supply
    them only (a national store's police.uk partitions are not scanned for them)."""
    sources = store.coverage().sources_of(plain_group(ROAD_TRAFFIC_COLLISION))
    return store.incidents(sources=sources, categories=[ROAD_TRAFFIC_COLLISION], **read)


def _collisions(
    store: StoreLike, layer: str | None, areas: gpd.GeoDataFrame, *, month_from: str, month_to: str
) -> pd.DataFrame:
    """The collisions the sites are found among, ``month_from..month_to``: with a layer, the
    located ones within reach of its areas (from a kept store, its kept file of them: no other
    collision is read); without, every stored collision."""
    if layer is None:
        return _collision_rows(
            store, month_from=month_from, month_to=month_to, columns=list(COLLISION_COLUMNS)
        )
    if isinstance(store, Store):
        sources = store.coverage().sources_of(plain_group(ROAD_TRAFFIC_COLLISION))
        near = collisions_near(store, layer=layer, areas=areas, sources=sources)
        months = near["month"].astype(str)
        return near.loc[(months >= month_from) & (months <= month_to)].reset_index(drop=True)
    logger.debug("collision sites read rows: not a kept store")
    rows = _collision_rows(
        store, month_from=month_from, month_to=month_to,
        columns=[*COLLISION_COLUMNS, area_column(layer)],
    )  # fmt: skip
    keep = within_reach(rows["x"].to_numpy(float), rows["y"].to_numpy(float), areas)
    return rows.loc[keep].reset_index(drop=True)


def _collision_months(store: StoreLike) -> list[str]:
    """The months holding a road traffic collision, sorted (a kept store's summary says so
    without reading a row).

    Raises
    ------
    DataError
        The store holds no road traffic collision.
    """
    if isinstance(store, Store):
        summary = store.summary()
        chosen = summary.loc[
            (summary["category"] == ROAD_TRAFFIC_COLLISION) & (summary["rows"] > 0), "month"
        ]
        months = chosen.astype(str)
    else:
        months = _collision_rows(store, columns=["month"])["month"].dropna().astype(str)
    if months.empty:
        raise DataError("the store holds no road traffic collisions; ingest STATS19 first")
    return sorted(set(months))


def _reranked(sites: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``sites`` with their three ranks renumbered 1.. in their own order (ties keep the order)."""
    if sites.empty:
        return sites.reset_index(drop=True)
    out = sites.copy()
    for column in ("rank_count", "rank_severity", "rank_casualties"):
        order = out[column].rank(method="first").astype("int64")
        out[column] = order
    return out.sort_values("rank_count").reset_index(drop=True)
