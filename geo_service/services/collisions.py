"""Road traffic collisions: repeat-location (cluster) sites, severity by year, collisions per km.

Sites are found among every stored collision, then split by the study layer: a site whose centre
lies in no area of the layer is reported apart (``outside``), never ranked among the
partnership's own sites. Both faces take the rule from
:func:`geo_service.cluster_rules.rule_with_overrides`, so every override the CLI has, the web has.
"""

from __future__ import annotations

from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from geo_service.analysis import breakdowns
from geo_service.analysis.periods import rolling_periods, shift_month
from geo_service.analysis.repeat_locations import ClusterRule, collisions_per_km, repeat_locations
from geo_service.cluster_rules import cluster_rule as named_rule
from geo_service.cluster_rules import rule_with_overrides
from geo_service.errors import NotFoundError
from geo_service.schema import ROAD_TRAFFIC_COLLISION, has_location
from geo_service.services.context import StoreLike, empty_layer, study_layer_name
from geo_service.services.options import RuleOptions

#: Collision columns the sites, the severity table and the map need.
COLLISION_COLUMNS: tuple[str, ...] = (
    "incident_id", "source", "category", "subcategory", "month", "occurred_at", "time_known",
    "x", "y", "severity", "urban_rural", "location_text", "road_1", "road_2", "casualties",
    "ksi_casualties", "highway_authority",
)  # fmt: skip


@dataclass(frozen=True, eq=False)
class CollisionSites:
    """Cluster sites under ``rule`` in the ``rule.years`` years ending ``period_end``.

    ``sites`` lie in an area of ``layer`` (ranked 1.. among themselves); ``outside`` lie in
    none (ranked apart); ``severity`` counts collisions per severity and year; ``collisions``
    are the located collisions of the rule's window (for the map); ``areas`` is the layer.
    """

    rule: ClusterRule
    period_end: str
    layer: str | None
    sites: gpd.GeoDataFrame
    outside: gpd.GeoDataFrame
    severity: pd.DataFrame
    collisions: pd.DataFrame
    areas: gpd.GeoDataFrame


def cluster_rule(opts: RuleOptions) -> ClusterRule:
    """The preset ``opts.rule`` with ``opts``' overrides applied.

    Raises
    ------
    InputError
        When the preset is unknown (listing the presets).
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
        The rule preset and its overrides.
    period_end
        Last month of the window (``YYYY-MM``); ``None``: the latest month holding collisions.
    layer
        The layer whose areas label the sites (``None``: the default study layer).

    Raises
    ------
    NotFoundError
        When the store holds no road traffic collisions.
    """
    rule = cluster_rule(opts)
    last = period_end or _latest_collision_month(store)
    years = max(rule.years, 3)
    collisions = store.incidents(
        categories=[ROAD_TRAFFIC_COLLISION],
        month_from=shift_month(last, -12 * years + 1),
        month_to=last,
        columns=list(COLLISION_COLUMNS),
    )
    name = study_layer_name(store, layer)
    areas = store.layer(name) if name else empty_layer()
    found = repeat_locations(collisions, rule=rule, period_end=last, areas=areas)
    inside = found["area_code"].notna().to_numpy() if name else np.ones(len(found), dtype=bool)
    periods = [rolling_periods(shift_month(last, -12 * k))[1] for k in range(years)]
    severity = breakdowns.severity_by_period(collisions, list(reversed(periods)))
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
    )


def road_rates(store: StoreLike, roads: gpd.GeoDataFrame) -> pd.DataFrame:
    """Collisions within 20 m of each named road per km of it (``name, length_km, collisions,
    per_km``, highest first)."""
    collisions = store.incidents(categories=[ROAD_TRAFFIC_COLLISION])
    if collisions.empty:
        raise NotFoundError("the store holds no road traffic collisions; ingest STATS19 first")
    return collisions_per_km(collisions, roads)


def describe(result: CollisionSites) -> str:
    """One line for the log: the rule, the window and how many sites lie in and outside."""
    rule = result.rule
    radius = (
        f"{rule.urban_radius_m:g} m urban / {rule.rural_radius_m:g} m rural"
        if rule.urban_radius_m is not None and rule.rural_radius_m is not None
        else f"{rule.radius_m:g} m"
    )
    where = f" in {result.layer}" if result.layer else ""
    return (
        f"{len(result.sites)} sites{where} and {len(result.outside)} outside every area: at least "
        f"{rule.min_count} of {'/'.join(rule.severities)} within {radius}, {rule.years} years "
        f"ending {result.period_end}"
    )


def _latest_collision_month(store: StoreLike) -> str:
    months = store.incidents(categories=[ROAD_TRAFFIC_COLLISION], columns=["month"])["month"]
    if months.empty:
        raise NotFoundError("the store holds no road traffic collisions; ingest STATS19 first")
    return str(months.astype(str).max())


def _reranked(sites: gpd.GeoDataFrame) -> gpd.GeoDataFrame:
    """``sites`` with both ranks renumbered 1.. in their own order (ties keep the order)."""
    if sites.empty:
        return sites.reset_index(drop=True)
    out = sites.copy()
    for column in ("rank_count", "rank_severity"):
        order = out[column].rank(method="first").astype("int64")
        out[column] = order
    return out.sort_values("rank_count").reset_index(drop=True)
