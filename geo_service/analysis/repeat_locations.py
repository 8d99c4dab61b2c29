"""Road-collision repeat locations ("cluster sites") and collisions per km of road.

A cluster-site rule reads "at least N injury collisions within R metres in Y years". Sites are
found greedily so that site lists are stable and no collision is counted twice:

1. keep the collisions of the counted severities whose date falls in the Y years ending with the
   last day of ``period_end`` (collisions with no day, only a month, are dated to the 1st);
2. give each collision a radius: ``radius_m``, or with separate urban/rural radii the one matching
   its ``urban_rural`` flag, falling back to the smaller (stricter) radius when the flag is unknown;
3. a collision's neighbourhood is every collision within its radius of it, itself included,
   distances ``<=`` the radius (a collision exactly R m away counts);
4. repeatedly take the collision whose neighbourhood among not-yet-assigned collisions is largest
   (ties: more fatal, then more serious collisions, then the smaller ``incident_id``), and if that
   neighbourhood holds at least N collisions make it a site and mark its collisions assigned;
   stop when no neighbourhood reaches N.

Sites are ranked three ways (1 = worst): by collision count (ties: more KSI collisions), by
severity (fatal, then serious collisions, then count) and by casualties (KSI casualties, then all
casualties, then count). Casualty figures come from the ``casualties`` and ``ksi_casualties``
incident columns (STATS19 ``number_of_casualties`` and the linked casualty table); a site's
figure sums its collisions' known values and is missing when none of them has one. ``by_year``
counts the site's collisions in each calendar year the window touches ("2012: 3; 2013: 0"); given
the months the data holds, a year of the window holding none of them reads "2011: no data", never 0.

Over a study layer, sites are found among the collisions within :data:`SITE_REACH_M` of its areas
(:func:`within_reach`): a partnership's site list is then the same whether the store holds its own
county's collisions or the whole country's, and a site just across the boundary is still found
whole.

A site's centre is its seed collision's location, so every collision of a site lies within the
radius of the reported point (a mean centre would not guarantee that). Neighbourhoods come from a
KD-tree; the greedy step uses a lazy max-heap, so the work grows with the number of
neighbour pairs, never with all pairs.
"""

from __future__ import annotations

import heapq
import re
from collections.abc import Iterable
from dataclasses import dataclass

import geopandas as gpd
import numpy as np
import pandas as pd

from geo_service.errors import InputError
from geo_service.schema import CRS, SEVERITIES, has_location

_MONTH = re.compile(r"^\d{4}-(0[1-9]|1[0-2])$")
#: How far beyond a study layer's areas collisions are read for its sites, in metres: twice the
#: largest radius a rule may take (:data:`MAX_RADIUS_M`; 40 times the presets' 50 m), so a site
#: centred just outside an area is found with all its collisions.
SITE_REACH_M = 2000.0
#: The largest radius a rule may take, in metres: half :data:`SITE_REACH_M`, so a site centred
#: up to 1 km outside an area is found with every collision within its radius.
MAX_RADIUS_M = SITE_REACH_M / 2
_NEEDED = ("incident_id", "month", "occurred_at", "x", "y", "severity")
SITE_COLUMNS = (
    "site_id",
    "rank_count",
    "rank_severity",
    "rank_casualties",
    "count",
    "fatal",
    "serious",
    "slight",
    "ksi",
    "casualties",
    "ksi_casualties",
    "pedestrian_casualties",
    "cyclist_casualties",
    "motorcyclist_casualties",
    "by_year",
    "road",
    "area_code",
    "area_name",
    "radius_m",
    "x",
    "y",
    "first_date",
    "last_date",
    "collision_ids",
)


#: Casualty figures summed per site when the collisions carry them (STATS19 casualty tables):
#: all casualties, killed or seriously injured, and the vulnerable road users among them.
CASUALTY_COLUMNS: tuple[str, ...] = (
    "casualties",
    "ksi_casualties",
    "pedestrian_casualties",
    "cyclist_casualties",
    "motorcyclist_casualties",
)


@dataclass(frozen=True)
class ClusterRule:
    """At least ``min_count`` collisions of ``severities`` within a radius over ``years`` years.

    Parameters
    ----------
    min_count
        Smallest number of collisions that makes a site (whole number >= 1).
    radius_m
        Radius in metres (used when no urban/rural radii are given); every radius above 0 and
        at most :data:`MAX_RADIUS_M`.
    years
        Length of the window in years (whole number >= 1), ending with ``period_end``.
    urban_radius_m, rural_radius_m
        Separate radii in metres for urban and rural collisions; both or neither (default).
    severities
        Severities counted (a non-empty subset of Fatal, Serious, Slight; default all).
    name, description
        The rule's name (``"custom"`` by default) and a sentence describing it.

    Raises
    ------
    InputError
        Any value out of range; the message lists every problem.
    """

    min_count: int
    radius_m: float
    years: int
    urban_radius_m: float | None = None
    rural_radius_m: float | None = None
    severities: tuple[str, ...] = SEVERITIES
    name: str = "custom"
    description: str = ""

    def __post_init__(self) -> None:
        problems = []
        if int(self.min_count) != self.min_count or self.min_count < 1:
            problems.append(f"min_count must be a whole number >= 1, got {self.min_count!r}")
        for label in ("radius_m", "urban_radius_m", "rural_radius_m"):
            value = getattr(self, label)
            if value is not None and not (np.isfinite(value) and 0 < value <= MAX_RADIUS_M):
                problems.append(
                    f"{label} must be a number of metres above 0 and at most {MAX_RADIUS_M:g}, "
                    f"got {value!r}"
                )
        if (self.urban_radius_m is None) != (self.rural_radius_m is None):
            problems.append("give both urban_radius_m and rural_radius_m, or neither")
        if int(self.years) != self.years or self.years < 1:
            problems.append(f"years must be a whole number >= 1, got {self.years!r}")
        unknown = [s for s in self.severities if s not in SEVERITIES]
        if unknown or not self.severities:
            problems.append(f"severities must be a non-empty subset of {list(SEVERITIES)}")
        if problems:
            raise InputError(f"cluster rule {self.name!r}: " + "; ".join(problems))

    def radii_m(self, urban_rural: pd.Series) -> np.ndarray:
        """The radius applying to each collision, from its ``urban_rural`` flag.

        Parameters
        ----------
        urban_rural
            ``"Urban"`` / ``"Rural"`` (any case) per collision; other or missing values take the
            smaller (stricter) radius.

        Returns
        -------
        numpy.ndarray
            Radius in metres per collision; ``radius_m`` for all without urban/rural radii.
        """
        if self.urban_radius_m is None or self.rural_radius_m is None:
            return np.full(len(urban_rural), float(self.radius_m))
        flag = urban_rural.astype("str").str.casefold()
        rural = flag.eq("rural").to_numpy(dtype=bool, na_value=False)
        urban = flag.eq("urban").to_numpy(dtype=bool, na_value=False)
        stricter = min(self.urban_radius_m, self.rural_radius_m)
        return np.where(rural, self.rural_radius_m, np.where(urban, self.urban_radius_m, stricter))


def within_reach(
    x: np.ndarray, y: np.ndarray, areas: gpd.GeoDataFrame, *, reach_m: float = SITE_REACH_M
) -> np.ndarray:
    """Which points lie within ``reach_m`` of an area (distance ``<=`` ``reach_m``; inside one
    is distance 0).

    The union of the areas grown by ``reach_m`` less and more a band (1 % of ``reach_m``, at
    least :data:`_BAND_M`: 20 m at 2 km) settles nearly every point; the distance is computed
    for those in the band between them only (a grown polygon's arcs are chords, up to 0.12 %
    of ``reach_m`` inside the true line).

    Parameters
    ----------
    x, y
        Point coordinates, shape ``(n,)``, in the CRS of ``areas`` (EPSG:27700 metres); NaN for
        a point without a location.
    areas
        The study layer's areas.
    reach_m
        Distance in metres (default :data:`SITE_REACH_M`).

    Returns
    -------
    numpy.ndarray
        Boolean, shape ``(n,)``; False for NaN coordinates and for every point when ``areas``
        is empty.
    """
    import shapely

    xs, ys = np.asarray(x, dtype=float), np.asarray(y, dtype=float)
    out = np.zeros(len(xs), dtype=bool)
    if areas.empty or not len(xs):
        return out
    union = shapely.union_all(areas.geometry.to_numpy())
    band = max(_BAND_M, 0.01 * reach_m)
    inner = shapely.buffer(union, max(float(reach_m) - band, 0.0))
    outer = shapely.buffer(union, float(reach_m) + band)
    shapely.prepare(inner)
    shapely.prepare(outer)
    located = np.flatnonzero(np.isfinite(xs) & np.isfinite(ys))
    sure = shapely.contains_xy(inner, xs[located], ys[located])
    maybe = ~sure & shapely.contains_xy(outer, xs[located], ys[located])
    out[located[sure]] = True
    if maybe.any():
        points = shapely.points(xs[located[maybe]], ys[located[maybe]])
        out[located[maybe]] = shapely.distance(union, points) <= reach_m
    return out


#: The least half-width of the band around the reach's line where :func:`within_reach` computes
#: the distance (metres; 1 % of the reach when wider): wider than the chords' shortfall (0.12 %
#: of the reach, 2.4 m at 2 km).
_BAND_M = 5.0


def repeat_locations(
    collisions: pd.DataFrame,
    *,
    rule: ClusterRule,
    period_end: str,
    areas: gpd.GeoDataFrame | None = None,
    held_months: Iterable[str] | None = None,
) -> gpd.GeoDataFrame:
    """Collision cluster sites under ``rule`` for the ``rule.years`` years ending ``period_end``.

    Parameters
    ----------
    collisions
        Canonical incidents (only located ones of the rule's severities are used; pass road
        traffic collisions only); needs incident_id, month, occurred_at, x, y (EPSG:27700
        metres) and severity, and uses urban_rural, road_1, road_2 and the
        :data:`CASUALTY_COLUMNS` when present.
    rule
        The site rule, e.g. a preset of :func:`geo_service.cluster_rules.load_cluster_rules`.
    period_end
        Last month of the window, "YYYY-MM"; the window ends on that month's last day.
    areas
        Optional standard area layer; each site is labelled with the area holding its centre.
    held_months
        The months ("YYYY-MM") the collision data covers; a calendar year of the window holding
        none of them is "no data" in ``by_year``. ``None``: every month of the window is held.

    Returns
    -------
    geopandas.GeoDataFrame
        One row per site, EPSG:27700 (columns :data:`SITE_COLUMNS`, point geometry at the
        centre; ``area_code``/``area_name`` missing without ``areas`` or outside them), ordered
        by ``rank_count``; empty when no site is found.

    Raises
    ------
    InputError
        A needed column is missing or ``period_end`` is not ``YYYY-MM``.
    """
    from scipy.spatial import cKDTree

    _check_columns(collisions)
    window = _in_window(collisions, rule=rule, period_end=period_end)
    if window.empty:
        return _empty_sites()
    radii = rule.radii_m(window["urban_rural"]) if "urban_rural" in window else None
    if radii is None:
        radii = np.full(len(window), float(rule.radius_m))
    xy = np.column_stack([window["x"].to_numpy(dtype=float), window["y"].to_numpy(dtype=float)])
    neighbours = cKDTree(xy).query_ball_point(xy, r=radii, p=2.0, eps=0.0)
    severity = window["severity"].astype("str").to_numpy(dtype=object, na_value="")
    ids = window["incident_id"].astype("str").to_numpy(dtype=object, na_value="")
    groups = _greedy_sites(neighbours, severity, ids, min_count=rule.min_count)
    start, end = _window_bounds(period_end, rule.years)
    calendar_years = tuple(range(start.year, (end - pd.Timedelta(days=1)).year + 1))
    unheld = _years_without_data(start, end, held_months)
    sites = _describe_sites(window, groups, radii, calendar_years, unheld)
    return _label_areas(_rank(sites), areas)


def _check_columns(collisions: pd.DataFrame) -> None:
    missing = [c for c in _NEEDED if c not in collisions.columns]
    if missing:
        raise InputError(
            f"collision table lacks column(s) {missing}; expected the canonical incident columns"
        )


def _window_bounds(period_end: str, years: int) -> tuple[pd.Timestamp, pd.Timestamp]:
    """Start (inclusive) and end (exclusive) of the ``years`` years ending with ``period_end``."""
    if not isinstance(period_end, str) or not _MONTH.match(period_end):
        raise InputError(f"period_end must be a month 'YYYY-MM', got {period_end!r}")
    end = pd.Timestamp(period_end + "-01") + pd.DateOffset(months=1)
    return end - pd.DateOffset(years=years), end


def _in_window(collisions: pd.DataFrame, *, rule: ClusterRule, period_end: str) -> pd.DataFrame:
    """Located collisions of the counted severities dated inside the rule's window."""
    start, end = _window_bounds(period_end, rule.years)
    month_start = pd.to_datetime(collisions["month"].astype("str") + "-01", errors="coerce")
    when = pd.to_datetime(collisions["occurred_at"]).fillna(month_start)
    counted = collisions["severity"].isin(rule.severities).to_numpy(dtype=bool)
    keep = has_location(collisions) & counted & ((when >= start) & (when < end)).to_numpy(bool)
    window = collisions.loc[keep].copy()
    window["_when"] = when[keep]
    return window.reset_index(drop=True)


def _greedy_sites(
    neighbours: Iterable[list[int]],
    severity: np.ndarray,
    ids: np.ndarray,
    *,
    min_count: int,
) -> list[list[int]]:
    """Disjoint groups of row positions, taken greedily by largest unassigned neighbourhood.

    A neighbourhood's rank (count, then fatal, then serious) is packed into one integer, the sum
    of per-collision weights ``base^2 + base * fatal + serious`` with ``base`` above any
    neighbourhood size. Ranks only fall as collisions are assigned, so a lazy max-heap is exact:
    a popped entry whose recomputed rank is unchanged is the true best.
    """
    lists = [np.asarray(n, dtype=np.int64) for n in neighbours]
    base = max((len(n) for n in lists), default=0) + 1
    weight = base * base + base * (severity == "Fatal") + (severity == "Serious")
    weight = weight.astype(np.int64)
    id_rank = np.argsort(np.argsort(ids, kind="stable"), kind="stable")
    free = np.ones(len(lists), dtype=bool)

    def rank(i: int) -> int:
        members = lists[i]
        return int(weight[members[free[members]]].sum())

    heap = [(-rank(i), int(id_rank[i]), i) for i in range(len(lists)) if len(lists[i]) >= min_count]
    heapq.heapify(heap)
    groups: list[list[int]] = []
    while heap:
        stored, tie, i = heapq.heappop(heap)
        if not free[i]:
            continue
        current = rank(i)
        if current // (base * base) < min_count:
            continue
        if current != -stored:
            heapq.heappush(heap, (-current, tie, i))
            continue
        members = lists[i][free[lists[i]]]
        free[members] = False
        groups.append([i, *sorted(int(m) for m in members if m != i)])
    return groups


def _years_without_data(
    start: pd.Timestamp, end: pd.Timestamp, held_months: Iterable[str] | None
) -> frozenset[int]:
    """Calendar years whose months inside ``[start, end)`` include none of ``held_months``."""
    if held_months is None:
        return frozenset()
    held = set(held_months)
    months = pd.period_range(start, end - pd.Timedelta(days=1), freq="M")
    years_held = {m.year for m in months if str(m) in held}
    return frozenset(m.year for m in months if m.year not in years_held)


def _describe_sites(
    window: pd.DataFrame,
    groups: list[list[int]],
    radii: np.ndarray,
    years: tuple[int, ...],
    unheld: frozenset[int] = frozenset(),
) -> pd.DataFrame:
    """One summary row per site; the first member of each group is its seed."""
    if not groups:
        return pd.DataFrame()
    positions = np.concatenate([np.asarray(g, dtype=np.int64) for g in groups])
    site = np.repeat(np.arange(1, len(groups) + 1), [len(g) for g in groups])
    seeds = np.asarray([g[0] for g in groups], dtype=np.int64)
    part = window.iloc[positions].reset_index(drop=True)
    severity = part["severity"].astype("str")
    members = pd.DataFrame(
        {
            "site_id": site,
            "fatal": severity.eq("Fatal").to_numpy(dtype=int, na_value=0),
            "serious": severity.eq("Serious").to_numpy(dtype=int, na_value=0),
            "slight": severity.eq("Slight").to_numpy(dtype=int, na_value=0),
            "when": part["_when"],
            "incident_id": part["incident_id"].astype("str"),
        }
    )
    grouped = members.groupby("site_id", sort=True)
    sites = grouped[["fatal", "serious", "slight"]].sum()
    sites.insert(0, "count", grouped.size())
    for column in CASUALTY_COLUMNS:
        sites[column] = _known_sums(site, part.get(column))
    sites["by_year"] = _by_year(site, part["_when"], years, unheld)
    sites["road"] = _road_labels(site, part)
    sites["radius_m"] = radii[seeds]
    sites["x"] = window["x"].to_numpy(dtype=float)[seeds]
    sites["y"] = window["y"].to_numpy(dtype=float)[seeds]
    sites["first_date"] = grouped["when"].min()
    sites["last_date"] = grouped["when"].max()
    sites["collision_ids"] = grouped["incident_id"].agg(";".join)
    return sites.reset_index()


def _known_sums(site: np.ndarray, values: pd.Series | None) -> pd.Series:
    """Per site, the sum of the known ``values`` (Int64; missing when none is known)."""
    index = pd.Index(np.unique(site), name="site_id")
    if values is None:
        return pd.Series(pd.NA, index=index, dtype="Int64")
    numbers = pd.to_numeric(values, errors="coerce").astype("Float64").to_numpy()
    frame = pd.DataFrame({"site_id": site, "value": numbers})
    sums = frame.groupby("site_id")["value"].sum(min_count=1)
    return sums.reindex(index).round().astype("Int64")


def _by_year(
    site: np.ndarray, when: pd.Series, years: tuple[int, ...], unheld: frozenset[int]
) -> pd.Series:
    """Per site, "YYYY: n" for every calendar year of the window, in order, joined by "; ".

    A year in ``unheld`` reads "YYYY: no data".
    """
    frame = pd.DataFrame({"site_id": site, "year": pd.DatetimeIndex(when).year})
    counts = frame.groupby(["site_id", "year"]).size().unstack(fill_value=0)
    counts = counts.reindex(columns=list(years), fill_value=0)
    text = [
        "; ".join(
            f"{y}: no data" if y in unheld else f"{y}: {n}" for y, n in zip(years, row, strict=True)
        )
        for row in counts.to_numpy()
    ]
    return pd.Series(text, index=counts.index, dtype="str")


def _road_labels(site: np.ndarray, part: pd.DataFrame) -> pd.Series:
    """Per site: the most common first road, then the most common other second road."""
    first = _most_common(site, part.get("road_1"), exclude=None)
    second = _most_common(site, part.get("road_2"), exclude=first)
    labels = pd.Series("", index=pd.Index(np.unique(site), name="site_id"), dtype="str")
    for roads in (first, second):
        add = roads.reindex(labels.index)
        joined = labels.where(labels.eq(""), labels + " / ") + add.fillna("")
        labels = labels.where(add.isna(), joined)
    return labels


def _most_common(
    site: np.ndarray, roads: pd.Series | None, *, exclude: pd.Series | None
) -> pd.Series:
    """The most common non-missing road per site (ties: alphabetical), minus ``exclude``'s road."""
    if roads is None:
        return pd.Series(dtype="str")
    frame = pd.DataFrame({"site_id": site, "road": roads.astype("str").to_numpy()}).dropna()
    frame = frame[frame["road"].str.strip().ne("")]
    if exclude is not None:
        frame = frame[frame["road"].ne(exclude.reindex(frame["site_id"]).to_numpy())]
    counts = frame.groupby(["site_id", "road"]).size().rename("n").reset_index()
    counts = counts.sort_values(["site_id", "n", "road"], ascending=[True, False, True])
    return counts.drop_duplicates("site_id").set_index("site_id")["road"]


def _rank(sites: pd.DataFrame) -> pd.DataFrame:
    """Add KSI and the three ranks (1 = worst); ties keep the greedy order."""
    if sites.empty:
        return sites
    sites = sites.assign(ksi=sites["fatal"] + sites["serious"])
    by_count = sites.sort_values(["count", "ksi", "site_id"], ascending=[False, False, True])
    by_severity = sites.sort_values(
        ["fatal", "serious", "count", "site_id"], ascending=[False, False, False, True]
    )
    by_casualties = sites.sort_values(
        ["ksi_casualties", "casualties", "count", "site_id"],
        ascending=[False, False, False, True],
        na_position="last",
    )
    ranks = np.arange(1, len(sites) + 1)
    sites = sites.assign(
        rank_count=pd.Series(ranks, index=by_count.index),
        rank_severity=pd.Series(ranks, index=by_severity.index),
        rank_casualties=pd.Series(ranks, index=by_casualties.index),
    )
    return sites.sort_values("rank_count").reset_index(drop=True)


def _label_areas(sites: pd.DataFrame, areas: gpd.GeoDataFrame | None) -> gpd.GeoDataFrame:
    """Attach the code and name of the area holding each site centre; geometry = centre point."""
    if sites.empty:
        return _empty_sites()
    geometry = gpd.points_from_xy(sites["x"], sites["y"], crs=CRS)
    frame = gpd.GeoDataFrame(sites, geometry=geometry, crs=CRS)
    frame["area_code"] = pd.Series(pd.NA, index=frame.index, dtype="str")
    frame["area_name"] = pd.Series(pd.NA, index=frame.index, dtype="str")
    if areas is not None and len(areas):
        layer = areas[["code", "name", "geometry"]].to_crs(CRS)
        joined = gpd.sjoin(frame[["geometry"]], layer, how="left", predicate="within")
        joined = joined[~joined.index.duplicated(keep="first")]
        frame["area_code"] = joined["code"].astype("str")
        frame["area_name"] = joined["name"].astype("str")
    return frame[[*SITE_COLUMNS, "geometry"]]


def _empty_sites() -> gpd.GeoDataFrame:
    columns = {name: pd.Series(dtype="object") for name in SITE_COLUMNS}
    return gpd.GeoDataFrame(columns, geometry=gpd.GeoSeries([], crs=CRS), crs=CRS)


def collisions_per_km(
    collisions: pd.DataFrame, roads: gpd.GeoDataFrame, *, buffer_m: float = 20.0
) -> pd.DataFrame:
    """Collisions within ``buffer_m`` of each named road, per km of that road.

    ``roads`` has a ``name`` column and line geometry; segments sharing a name are merged. A
    collision near two named roads (at a junction) counts for both.

    Parameters
    ----------
    collisions
        Canonical incidents (located ones used; ``x``, ``y`` in EPSG:27700 metres).
    roads
        Road lines with a ``name`` column, in any CRS (reprojected to EPSG:27700).
    buffer_m
        Distance in metres from the road line within which a collision counts (default 20).

    Returns
    -------
    pandas.DataFrame
        One row per road name: ``name, length_km, collisions, per_km`` (collisions per km),
        highest ``per_km`` first.

    Raises
    ------
    InputError
        ``roads`` lacks ``name`` or a CRS, or ``buffer_m`` is not a positive number.
    """
    if "name" not in roads.columns:
        raise InputError("road layer lacks a 'name' column; expected one name per road line")
    if roads.crs is None:
        raise InputError("road layer has no CRS; expected EPSG:27700 or a CRS to reproject from")
    if not (np.isfinite(buffer_m) and buffer_m > 0):
        raise InputError(f"buffer_m must be a positive number of metres, got {buffer_m!r}")
    merged = roads[["name", "geometry"]].to_crs(CRS).dissolve(by="name", as_index=False)
    length_km = merged.geometry.length.to_numpy() / 1000.0
    buffers = gpd.GeoDataFrame(
        {"name": merged["name"]}, geometry=merged.geometry.buffer(buffer_m), crs=CRS
    )
    located = collisions.loc[has_location(collisions), ["x", "y"]]
    points = gpd.GeoDataFrame(geometry=gpd.points_from_xy(located["x"], located["y"]), crs=CRS)
    joined = gpd.sjoin(points, buffers, how="inner", predicate="within")
    counts = joined.groupby("name").size().reindex(merged["name"], fill_value=0).to_numpy()
    table = pd.DataFrame(
        {"name": merged["name"].astype("str"), "length_km": length_km, "collisions": counts}
    )
    table["per_km"] = np.where(
        length_km > 0, counts / np.where(length_km > 0, length_km, 1), np.nan
    )
    return table.sort_values(["per_km", "name"], ascending=[False, True]).reset_index(drop=True)
