"""Tests for collision cluster sites and collisions per km of road."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import LineString, box

from geo_service import schema
from geo_service.analysis.repeat_locations import (
    ClusterRule,
    collisions_per_km,
    repeat_locations,
)
from geo_service.cluster_rules import cluster_rule, load_cluster_rules
from geo_service.errors import InputError

EDINBURGH = "edinburgh-council-collisions-stats19/edinburgh_accidents_2010_2013H1_geocoded.csv"


def collisions(
    xy: list[tuple[float, float]],
    *,
    dates: list[str] | None = None,
    severity: list[str] | None = None,
    urban_rural: list[str | None] | None = None,
    road_1: list[str | None] | None = None,
    road_2: list[str | None] | None = None,
    ids: list[str] | None = None,
) -> pd.DataFrame:
    """A canonical collision table from coordinates; dates default to 2013-06-01."""
    n = len(xy)
    when = pd.to_datetime(dates or ["2013-06-01"] * n)
    frame = pd.DataFrame(
        {
            "incident_id": ids or [f"c{i:02d}" for i in range(n)],
            "source": "test",
            "category": schema.ROAD_TRAFFIC_COLLISION,
            "month": when.strftime("%Y-%m"),
            "occurred_at": when,
            "x": [p[0] for p in xy],
            "y": [p[1] for p in xy],
            "severity": severity or ["Slight"] * n,
            "urban_rural": urban_rural or [None] * n,
            "road_1": road_1 or [None] * n,
            "road_2": road_2 or [None] * n,
        }
    )
    return schema.conform(frame)


DEFAULT = ClusterRule(min_count=4, radius_m=50.0, years=3)


def test_exactly_n_within_r_is_a_site_and_n_minus_1_is_not() -> None:
    four = collisions([(0, 0), (50, 0), (0, -50), (30, 40)])  # all exactly 50 m from (0, 0)
    sites = repeat_locations(four, rule=DEFAULT, period_end="2013-12")
    assert len(sites) == 1
    assert sites.loc[0, "count"] == 4
    assert (sites.loc[0, "x"], sites.loc[0, "y"]) == (0.0, 0.0)  # the seed is the centre
    three = four.iloc[:3]
    assert repeat_locations(three, rule=DEFAULT, period_end="2013-12").empty


def test_boundary_distance_is_inclusive_and_just_over_is_excluded() -> None:
    at_r = collisions([(0, 0), (-1, 0), (-2, 0), (50, 0)])
    assert repeat_locations(at_r, rule=DEFAULT, period_end="2013-12").loc[0, "count"] == 4
    over = collisions([(0, 0), (-1, 0), (-2, 0), (50.001, 0)])
    # only (0, 0) could reach all four, and (50.001, 0) is just beyond 50 m of it
    assert repeat_locations(over, rule=DEFAULT, period_end="2013-12").empty


def test_time_window_excludes_one_day_outside() -> None:
    xy = [(0, 0), (5, 0), (0, 5), (5, 5)]
    inside = collisions(xy, dates=["2011-01-01", "2012-05-01", "2013-01-01", "2013-12-31"])
    assert len(repeat_locations(inside, rule=DEFAULT, period_end="2013-12")) == 1
    early = collisions(xy, dates=["2010-12-31", "2012-05-01", "2013-01-01", "2013-12-31"])
    assert repeat_locations(early, rule=DEFAULT, period_end="2013-12").empty
    late = collisions(xy, dates=["2011-01-01", "2012-05-01", "2013-01-01", "2014-01-01"])
    assert repeat_locations(late, rule=DEFAULT, period_end="2013-12").empty


def test_month_only_dates_count_from_the_first_of_the_month() -> None:
    xy = [(0, 0), (5, 0), (0, 5), (5, 5)]
    frame = collisions(xy, dates=["2011-01-20", "2012-05-01", "2013-01-01", "2013-12-31"])
    frame["occurred_at"] = pd.Series(pd.NaT, index=frame.index, dtype="datetime64[us]")
    assert len(repeat_locations(frame, rule=DEFAULT, period_end="2013-12")) == 1
    assert repeat_locations(frame, rule=DEFAULT, period_end="2014-01").empty


def test_urban_and_rural_radius_with_unknown_falling_back_to_urban() -> None:
    somerset = cluster_rule("somerset")
    assert (somerset.min_count, somerset.urban_radius_m, somerset.rural_radius_m) == (7, 50, 100)
    assert somerset.years == 5
    angles = np.linspace(0, 2 * np.pi, 6, endpoint=False)
    xy = [(0.0, 0.0), *[(80 * np.cos(a), 80 * np.sin(a)) for a in angles]]  # 6 at 80 m
    for flag, expected in (("Rural", 1), ("Urban", 0), (None, 0)):
        frame = collisions(xy, urban_rural=[flag] * 7)
        sites = repeat_locations(frame, rule=somerset, period_end="2013-12")
        assert len(sites) == expected, flag
    rural = repeat_locations(
        collisions(xy, urban_rural=["Rural"] * 7), rule=somerset, period_end="2013-12"
    )
    assert rural.loc[0, "radius_m"] == 100.0


def test_no_collision_in_two_sites_and_ties_go_to_smaller_id() -> None:
    xy = [(30.0 * i, 0.0) for i in range(7)]  # a, b, ... g every 30 m
    ids = list("abcdefg")
    rule = ClusterRule(min_count=3, radius_m=50.0, years=3)
    sites = repeat_locations(collisions(xy, ids=ids), rule=rule, period_end="2013-12")
    # all interior points see 3; "b" wins the tie, then "e" (d now sees only 2)
    assert sites["collision_ids"].tolist() == ["b;a;c", "e;d;f"]
    members = ";".join(sites["collision_ids"]).split(";")
    assert len(members) == len(set(members))


def test_severity_breaks_count_ties() -> None:
    xy = [(30.0 * i, 0.0) for i in range(7)]
    severity = ["Slight"] * 5 + ["Serious", "Slight"]  # "f" is serious
    rule = ClusterRule(min_count=3, radius_m=50.0, years=3)
    frame = collisions(xy, ids=list("abcdefg"), severity=severity)
    sites = repeat_locations(frame, rule=rule, period_end="2013-12")
    by_id = sites.set_index("site_id")["collision_ids"].to_dict()
    assert by_id == {1: "e;d;f", 2: "b;a;c"}


def test_ranking_by_count_and_by_severity() -> None:
    five_slight = [(0.0, float(i)) for i in range(5)]
    four_with_fatal = [(1000.0, float(i)) for i in range(4)]
    three_serious = [(2000.0, float(i)) for i in range(4)]
    severity = ["Slight"] * 5 + ["Fatal", "Slight", "Slight", "Slight"] + ["Serious"] * 3
    severity += ["Slight"]
    frame = collisions(five_slight + four_with_fatal + three_serious, severity=severity)
    sites = repeat_locations(frame, rule=DEFAULT, period_end="2013-12").set_index("x")
    assert sites.loc[0.0, ["count", "rank_count", "rank_severity"]].tolist() == [5, 1, 3]
    # the two 4-collision sites: more KSI ranks higher by count; a fatal ranks first by severity
    assert sites.loc[1000.0, ["fatal", "ksi", "rank_count", "rank_severity"]].tolist() == [
        1,
        1,
        3,
        1,
    ]
    assert sites.loc[2000.0, ["serious", "ksi", "rank_count", "rank_severity"]].tolist() == [
        3,
        3,
        2,
        2,
    ]


def test_casualty_figures_rank_and_collisions_by_year() -> None:
    # Three sites: A (4 collisions, 4 casualties, 0 KSI casualties), B (4 collisions,
    # 2+3+1+1 = 7 casualties, 1+0+0 = 1 KSI casualty, one collision without casualty rows),
    # C (5 collisions, no casualty figures at all).
    a = [(0.0, float(i)) for i in range(4)]
    b = [(1000.0, float(i)) for i in range(4)]
    c = [(2000.0, float(i)) for i in range(5)]
    dates = ["2011-03-01", "2013-01-01", "2013-06-01", "2013-12-31"]
    dates += ["2012-05-05"] * 4 + ["2011-01-01"] * 5
    frame = collisions(a + b + c, dates=dates)
    frame["casualties"] = pd.array([1, 1, 1, 1, 2, 3, 1, 1] + [None] * 5, dtype="Int64")
    frame["ksi_casualties"] = pd.array([0, 0, 0, 0, 1, 0, 0, None] + [None] * 5, dtype="Int64")
    sites = repeat_locations(frame, rule=DEFAULT, period_end="2013-12").set_index("x")
    assert sites.loc[0.0, ["casualties", "ksi_casualties"]].tolist() == [4, 0]
    assert sites.loc[1000.0, ["casualties", "ksi_casualties"]].tolist() == [7, 1]
    assert sites.loc[2000.0, ["casualties", "ksi_casualties"]].isna().all()
    # by count: C (5), then A and B (4 each, no KSI collisions: greedy order, A has smaller ids);
    # by casualties: B (1 KSI casualty), A (0), C (unknown, last).
    assert sites["rank_count"].to_dict() == {2000.0: 1, 0.0: 2, 1000.0: 3}
    assert sites["rank_casualties"].to_dict() == {1000.0: 1, 0.0: 2, 2000.0: 3}
    # the window 2011-01-01..2013-12-31 touches 2011, 2012, 2013
    assert sites.loc[0.0, "by_year"] == "2011: 1; 2012: 0; 2013: 3"
    assert sites.loc[1000.0, "by_year"] == "2011: 0; 2012: 4; 2013: 0"
    assert sites.loc[2000.0, "by_year"] == "2011: 5; 2012: 0; 2013: 0"
    # a window of 3 years ending June 2013 runs from July 2010: four calendar years
    june = repeat_locations(frame, rule=DEFAULT, period_end="2013-06").set_index("x")
    assert june.loc[1000.0, "by_year"] == "2010: 0; 2011: 0; 2012: 4; 2013: 0"
    # data held from 2011-01 only: 2010 (July-December in the window) is no data, not 0; a year
    # with any held month in the window keeps its count
    held = [str(m) for m in pd.period_range("2011-01", "2013-12", freq="M")]
    june = repeat_locations(frame, rule=DEFAULT, period_end="2013-06", held_months=held)
    assert june.set_index("x").loc[1000.0, "by_year"] == "2010: no data; 2011: 0; 2012: 4; 2013: 0"


def test_vulnerable_road_users_summed_per_site() -> None:
    # One site of four collisions: pedestrians 1+0+2+? (one unknown) = 3, cyclists 0+1+0+0 = 1,
    # motorcyclists unknown everywhere.
    frame = collisions([(0.0, float(i)) for i in range(4)])
    frame["pedestrian_casualties"] = pd.array([1, 0, 2, None], dtype="Int64")
    frame["cyclist_casualties"] = pd.array([0, 1, 0, 0], dtype="Int64")
    frame["motorcyclist_casualties"] = pd.array([None] * 4, dtype="Int64")
    site = repeat_locations(frame, rule=DEFAULT, period_end="2013-12").iloc[0]
    assert (site["pedestrian_casualties"], site["cyclist_casualties"]) == (3, 1)
    assert pd.isna(site["motorcyclist_casualties"])


def test_sites_without_casualty_columns() -> None:
    frame = collisions([(0.0, float(i)) for i in range(4)]).drop(columns=["casualties"])
    sites = repeat_locations(frame, rule=DEFAULT, period_end="2013-12")
    assert sites[["casualties", "ksi_casualties"]].isna().all(axis=None)
    assert sites.loc[0, "rank_casualties"] == 1


def test_ksi_rule_counts_only_fatal_and_serious() -> None:
    xy = [(0.0, 0.0), (1.0, 0.0), (2.0, 0.0), (3.0, 0.0)]
    frame = collisions(xy, severity=["Serious", "Slight", "Slight", "Fatal"])
    sites = repeat_locations(frame, rule=cluster_rule("ksi"), period_end="2013-12")
    assert sites["count"].tolist() == [2]
    assert sites[["fatal", "serious", "slight"]].iloc[0].tolist() == [1, 1, 0]


def test_road_label_area_and_dates() -> None:
    xy = [(0.0, 0.0), (1.0, 0.0), (2.0, 0.0), (3.0, 0.0), (4.0, 0.0)]
    frame = collisions(
        xy,
        dates=["2012-01-05", "2013-02-01", "2011-07-09", "2013-11-30", "2012-02-02"],
        road_1=["A4146", "A4146", "A4147", None, "A4146"],
        road_2=["A4147", "A4146", None, "A4147", "B488"],
    )
    areas = gpd.GeoDataFrame(
        {"code": ["E05000001", "E05000002"], "name": ["West", "East"]},
        geometry=[box(-100, -100, 0.5, 100), box(0.5, -100, 100, 100)],
        crs=schema.CRS,
    )
    sites = repeat_locations(frame, rule=DEFAULT, period_end="2013-12", areas=areas)
    site = sites.iloc[0]
    assert site["road"] == "A4146 / A4147"
    # all five see each other: the tie goes to the smallest id, c00 at (0, 0), in "West"
    assert (site["area_code"], site["area_name"]) == ("E05000001", "West")
    assert site["first_date"] == pd.Timestamp("2011-07-09")
    assert site["last_date"] == pd.Timestamp("2013-11-30")


def test_presets_and_bad_input() -> None:
    rules = load_cluster_rules()
    assert {"default", "somerset", "ksi"} <= set(rules)
    default = rules["default"]
    assert (default.min_count, default.radius_m, default.years) == (4, 50.0, 3)
    assert default.severities == schema.SEVERITIES
    with pytest.raises(InputError, match="allowed: default"):
        cluster_rule("nope")
    with pytest.raises(InputError, match="radius_m"):
        ClusterRule(min_count=4, radius_m=-1.0, years=3)
    with pytest.raises(InputError, match=r"rural_radius_m must be .* at most 1000"):
        ClusterRule(min_count=4, radius_m=50.0, years=3, urban_radius_m=50.0, rural_radius_m=1e4)
    with pytest.raises(InputError, match="urban_radius_m and rural_radius_m"):
        ClusterRule(min_count=4, radius_m=50.0, years=3, urban_radius_m=50.0)
    with pytest.raises(InputError, match="YYYY-MM"):
        repeat_locations(collisions([(0, 0)]), rule=DEFAULT, period_end="2013/12")


def test_collisions_per_km() -> None:
    roads = gpd.GeoDataFrame(
        {"name": ["A41", "A41", "B488"]},
        geometry=[
            LineString([(0, 0), (500, 0)]),
            LineString([(500, 0), (1000, 0)]),
            LineString([(0, 1000), (2000, 1000)]),
        ],
        crs=schema.CRS,
    )
    frame = collisions([(100, 10), (600, -19), (900, 0), (300, 30), (50, 1005)])
    table = collisions_per_km(frame, roads, buffer_m=20.0).set_index("name")
    assert table.loc["A41", "length_km"] == pytest.approx(1.0)
    assert table.loc["A41", "collisions"] == 3  # the one 30 m away is outside the buffer
    assert table.loc["A41", "per_km"] == pytest.approx(3.0)
    assert table.loc["B488", "per_km"] == pytest.approx(0.5)


# --- real data: Edinburgh council collisions, checked against a brute-force reference ---------


def _edinburgh(shared_data) -> pd.DataFrame:
    raw = pd.read_csv(shared_data / EDINBURGH)
    when = pd.to_datetime(raw["a_date"], format="%d/%m/%Y")
    frame = pd.DataFrame(
        {
            "incident_id": "edinburgh:" + raw["acc_ref"].astype(str),
            "source": "edinburgh",
            "category": schema.ROAD_TRAFFIC_COLLISION,
            "month": when.dt.strftime("%Y-%m"),
            "occurred_at": when,
            "x": raw["easting"].astype(float),
            "y": raw["northing"].astype(float),
            "severity": raw["severity"],
        }
    )
    return schema.conform(frame)


def _brute_force_sites(frame: pd.DataFrame, rule: ClusterRule, start: str, end: str) -> list[str]:
    """The same greedy rule from a full distance matrix, without KD-tree or heap."""
    when = frame["occurred_at"]
    keep = (when >= start) & (when < end) & frame["severity"].isin(rule.severities)
    part = frame.loc[keep].reset_index(drop=True)
    xy = part[["x", "y"]].to_numpy()
    near = np.zeros((len(xy), len(xy)), dtype=bool)
    for lo in range(0, len(xy), 500):
        d2 = ((xy[lo : lo + 500, None, :] - xy[None, :, :]) ** 2).sum(axis=2)
        near[lo : lo + 500] = d2 <= rule.radius_m**2
    severity = part["severity"].to_numpy(dtype=object)
    ids = part["incident_id"].to_numpy(dtype=object)
    counts = near.sum(axis=1)
    fatal = near[:, severity == "Fatal"].sum(axis=1)
    serious = near[:, severity == "Serious"].sum(axis=1)
    free = np.ones(len(part), dtype=bool)
    sites = []
    id_rank = np.argsort(np.argsort(ids))
    while True:
        candidates = np.flatnonzero(free)
        if not len(candidates):
            return sites
        best = np.lexsort(
            (id_rank[candidates], -serious[candidates], -fatal[candidates], -counts[candidates])
        )
        seed = candidates[best[0]]
        if counts[seed] < rule.min_count:
            return sites
        members = np.flatnonzero(near[seed] & free)
        sites.append(";".join([ids[seed], *[ids[m] for m in members if m != seed]]))
        free[members] = False
        counts -= near[:, members].sum(axis=1)
        fatal -= near[:, members[severity[members] == "Fatal"]].sum(axis=1)
        serious -= near[:, members[severity[members] == "Serious"]].sum(axis=1)


@pytest.mark.realdata
@pytest.mark.parametrize(
    ("preset", "start", "expected_sites"), [("default", "2010-07-01", 241), ("somerset", "", 103)]
)
def test_edinburgh_sites_match_brute_force(shared_data, preset, start, expected_sites) -> None:
    frame = _edinburgh(shared_data)
    rule = cluster_rule(preset)
    sites = repeat_locations(frame, rule=rule, period_end="2013-06")
    window_start = start or "2008-07-01"
    reference = _brute_force_sites(frame, rule, window_start, "2013-07-01")
    assert len(sites) == len(reference) == expected_sites
    assert sorted(sites["collision_ids"]) == sorted(reference)
    assert sites.sort_values("site_id")["collision_ids"].tolist() == reference
    members = ";".join(sites["collision_ids"]).split(";")
    assert len(members) == len(set(members))
    assert (sites["count"] >= rule.min_count).all()
    # every member lies within the radius of its site's reported centre
    located = frame.set_index("incident_id")[["x", "y"]]
    for _, site in sites.iterrows():
        xy = located.loc[site["collision_ids"].split(";")].to_numpy()
        assert np.hypot(xy[:, 0] - site["x"], xy[:, 1] - site["y"]).max() <= site["radius_m"]


def test_within_reach_is_the_exact_distance() -> None:
    """Points scattered around two areas, and points 0.5 m either side of the 2 km line off a
    corner (where a grown polygon's chords fall 2.4 m short): each agrees with shapely's
    distance to the union."""
    import shapely
    from shapely.geometry import Polygon

    from geo_service.analysis.repeat_locations import SITE_REACH_M, within_reach

    areas = gpd.GeoDataFrame(
        geometry=[box(0, 0, 1000, 1000), Polygon([(1000, 0), (3000, 0), (1000, 1500)])],
        crs=schema.CRS,
    )
    rng = np.random.default_rng(3)
    x, y = rng.uniform(-3000, 6000, 5000), rng.uniform(-3000, 4500, 5000)
    angle = np.linspace(np.pi / 2 + 0.6, np.pi - 0.05, 40)  # off the corner (0, 1000) alone
    for offset in (-0.5, 0.5):
        x = np.r_[x, (SITE_REACH_M + offset) * np.cos(angle)]
        y = np.r_[y, 1000 + (SITE_REACH_M + offset) * np.sin(angle)]
    x, y = np.r_[x, np.nan], np.r_[y, 0.0]
    expected = np.r_[
        shapely.distance(areas.union_all(), shapely.points(x[:-1], y[:-1])) <= SITE_REACH_M,
        False,
    ]
    assert (within_reach(x, y, areas) == expected).all()
    assert expected[-81:-41].sum() == 40 and expected[-41:-1].sum() == 0  # the line's two sides
    assert not within_reach(x, y, areas.iloc[:0]).any()
