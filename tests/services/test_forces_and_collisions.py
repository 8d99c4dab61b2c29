"""Reporting forces shown apart or left out, and collision sites: highway authority, the
severity-adjusted KSI trend, approximate locations and a window ending where the data ends.

Small stores written through the store API; every count is made by hand below.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from geo_service.categories import load_groups
from geo_service.cli import main
from geo_service.config import Settings
from geo_service.errors import NotFoundError
from geo_service.services.collisions import collision_sites
from geo_service.services.options import RuleOptions, ViewOptions
from geo_service.services.tables import change_by_area, reporting_forces
from geo_service.store import LayerInfo, Store
from geo_service.web import create_app
from tests.cli.conftest import assign_by_x, two_wards, write_rows

X0, Y0 = 500000.0, 200000.0
HERTS, BTP = "Hertfordshire Constabulary", "British Transport Police"


def _months(first: str, last: str) -> list[str]:
    return [str(p) for p in pd.period_range(first, last, freq="M")]


@pytest.fixture(scope="module")
def force_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """Burglaries in W1 each month of 2021 and Jan 2022: 2 by Herts and, in Jan 2021, 3 more
    by BTP; in Jan 2022, 5 by Herts and 1 by BTP."""
    store = Store(tmp_path_factory.mktemp("forces") / "store")
    store.write_layer("ward", two_wards(X0, Y0, 1000.0), info=LayerInfo(path="squares"))
    rows = []
    for month in _months("2021-01", "2022-01"):
        herts = 5 if month == "2022-01" else 2
        btp = {"2021-01": 3, "2022-01": 1}.get(month, 0)
        rows += [(month, HERTS)] * herts + [(month, BTP)] * btp
    frame = pd.DataFrame(rows, columns=["month", "reported_by"]).assign(
        incident_id=[f"police_uk:c{i}" for i in range(len(rows))], source="police_uk",
        category="Burglary", x=X0 + 100.0, y=Y0 + 100.0,
    )  # fmt: skip
    write_rows(store, assign_by_x(frame, X0 + 1000.0), "2022-01-hertfordshire-street.csv")
    return store


def test_reporting_forces_counts_each_force_in_both_periods(force_store: Store) -> None:
    opts = ViewOptions(period_end="2022-01", months=1, layer="ward", against="year-earlier")
    table = reporting_forces(force_store, opts).table.set_index("reported_by")
    assert table.loc[HERTS, ["previous", "current"]].tolist() == [2, 5]
    assert table.loc[BTP, ["previous", "current"]].tolist() == [3, 1]
    assert not table["excluded"].any()


def test_excluding_a_force_changes_every_table_alike(
    force_store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    from geo_service.services.context import plain_group

    opts = ViewOptions(period_end="2022-01", months=1, layer="ward", against="year-earlier")
    every = change_by_area(force_store, plain_group("Burglary"), opts).table.set_index("code")
    herts = change_by_area(
        force_store, plain_group("Burglary"), ViewOptions(**{**opts.__dict__,
                                                            "exclude_forces": (BTP,)})
    ).table.set_index("code")  # fmt: skip
    assert (every.loc["W1", "previous"], every.loc["W1", "current"]) == (5, 6)
    assert (herts.loc["W1", "previous"], herts.loc["W1", "current"]) == (2, 5)
    argv = ["--store", str(force_store.root), "change", "--layer", "ward", "--category",
            "Burglary", "--period-end", "2022-01", "--months", "1", "--against", "year-earlier",
            "--exclude-force", BTP, "--format", "json"]  # fmt: skip
    assert main(argv) == 0
    cli = {r["code"]: r for r in json.loads(capsys.readouterr().out)}
    app = create_app(Settings(store=force_store.root, tiles="none"), store=force_store)
    client = app.test_client()
    query = "period_end=2022-01&months=1&layer=ward&against=year-earlier"
    web = client.get(f"/api/category/Burglary/change.json?{query}&exclude_force={BTP}")
    web_rows = {r["code"]: r for r in web.get_json()}
    assert (cli["W1"]["previous"], cli["W1"]["current"]) == (2, 5)
    assert (web_rows["W1"]["previous"], web_rows["W1"]["current"]) == (2, 5)
    forces = client.get(f"/api/forces.json?{query}&exclude_force={BTP}").get_json()
    assert {f["reported_by"]: f["excluded"] for f in forces} == {HERTS: False, BTP: True}
    argv = ["--store", str(force_store.root), "forces", "--layer", "ward", "--period-end",
            "2022-01", "--months", "1", "--against", "year-earlier", "--exclude-force", BTP,
            "--format", "json"]  # fmt: skip
    capsys.readouterr()
    assert main(argv) == 0
    assert json.loads(capsys.readouterr().out) == forces  # the same table from both faces
    assert {f["reported_by"]: (f["previous"], f["current"]) for f in forces} == {
        HERTS: (2, 5), BTP: (3, 1),
    }  # fmt: skip
    page = client.get(f"/?{query}").get_data(as_text=True)
    assert "Reported by" in page and BTP in page


@pytest.fixture(scope="module")
def collision_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """Collisions Jan 2011 - Jun 2013 in W1 (one seed point), on two highway authorities:
    Jan-May 2011, Feb-Jun 2012 and Feb-Jun 2013.

    Five at one spot each year (15, all within 10 m): 2011 serious-adjusted probability 0.5 on
    each of 2 serious ones, 2012 two serious unadjusted; two of the 15 have only a rounded
    location. Plus 4 more at a second spot on authority E10000016.
    """
    store = Store(tmp_path_factory.mktemp("rtc") / "store")
    store.write_layer("ward", two_wards(X0, Y0, 1000.0), info=LayerInfo(path="squares"))
    rows = []
    for year in (2011, 2012, 2013):
        for k in range(5):
            severity = "Serious" if k < 2 else "Slight"
            adjusted = 0.5 if (year == 2011 and k < 2) else np.nan
            precision = "fall-back (Easting_rounded, Northing_rounded)" if (
                year == 2013 and k < 2) else "exact"  # fmt: skip
            month = f"{year}-0{k + 1}" if year == 2011 else f"{year}-0{k + 2}"
            rows.append((month, severity, adjusted, precision, "E10000015",
                         X0 + 200.0 + k, Y0 + 200.0))  # fmt: skip
    for k in range(4):
        rows.append((f"2012-0{k + 1}", "Slight", np.nan, "exact", "E10000016", X0 + 700.0,
                     Y0 + 700.0 + k))  # fmt: skip
    frame = pd.DataFrame(
        rows,
        columns=["month", "severity", "adjusted_serious", "location_precision",
                 "highway_authority", "x", "y"],
    ).assign(
        incident_id=[f"mapped:rtc:{i}" for i in range(len(rows))], source="mapped:rtc",
        category="Road traffic collision",
    )  # fmt: skip
    frame["occurred_at"] = pd.to_datetime(frame["month"] + "-15")
    write_rows(store, assign_by_x(frame, X0 + 1000.0), "rtc.csv")
    return store


def test_sites_say_how_many_locations_are_approximate(collision_store: Store) -> None:
    result = collision_sites(
        collision_store, RuleOptions("default", years=3), period_end="2013-06", layer="ward"
    )
    by_count = result.sites.sort_values("count", ascending=False)
    assert by_count["count"].tolist() == [15, 4]
    assert by_count["approximate"].tolist() == [2, 0]


def test_highway_authority_keeps_its_roads_only(collision_store: Store) -> None:
    only = collision_sites(
        collision_store, RuleOptions("default", years=3, highway_authority="e10000016"),
        period_end="2013-06", layer="ward",
    )  # fmt: skip
    assert only.sites["count"].tolist() == [4]
    with pytest.raises(NotFoundError, match="authorities held: E10000015, E10000016"):
        collision_sites(
            collision_store, RuleOptions("default", highway_authority="E10000099"),
            period_end="2013-06", layer="ward",
        )  # fmt: skip


def test_ksi_trend_whole_years_recorded_and_adjusted(
    collision_store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    result = collision_sites(
        collision_store, RuleOptions("default", years=3), period_end="2013-06", layer="ward"
    )
    trend = result.ksi_trend.set_index("year")
    # The window Jul 10 - Jun 13 holds the whole years 2011 and 2012 only.
    assert trend.index.tolist() == [2011, 2012]
    assert trend.loc[2011, ["collisions", "serious", "ksi"]].tolist() == [5, 2, 2]
    assert trend.loc[2011, "ksi_adjusted"] == pytest.approx(1.0)  # 0.5 + 0.5
    assert trend.loc[2012, ["collisions", "ksi", "unadjusted"]].tolist() == [9, 2, 9]
    assert trend.loc[2012, "ksi_adjusted"] == pytest.approx(2.0)  # counted as recorded
    argv = ["--store", str(collision_store.root), "repeat-locations", "--period-end", "2013-06",
            "--years", "3", "--ksi-trend", "--format", "json"]  # fmt: skip
    assert main(argv) == 0
    cli = json.loads(capsys.readouterr().out)
    app = create_app(Settings(store=collision_store.root, tiles="none"), store=collision_store)
    web = app.test_client().get("/api/collisions/ksi.json?period_end=2013-06&years=3")
    assert cli == web.get_json() and [r["year"] for r in cli] == [2011, 2012]


def test_default_window_ends_at_the_latest_collision(collision_store: Store) -> None:
    """Without a period end the window ends at the latest collision; a later one asked for is
    kept, with a note that the collision data ends before it."""
    default = collision_sites(collision_store, RuleOptions("default"), period_end=None,
                              layer="ward")  # fmt: skip
    later = collision_sites(
        collision_store, RuleOptions("default"), period_end="2014-01", layer="ward"
    )
    assert default.period_end == "2013-06"
    assert default.note == (
        "The earliest collision held is in Jan 11: months before it hold no collisions, so the "
        "3-year window Jul 10 to Jun 13 may count fewer than happened."
    )
    assert later.period_end == "2014-01"
    assert later.note == (
        "The latest collision held is in Jun 13: months after it hold no collisions, so the "
        "window to Jan 14 may count fewer than happened."
    )
    app = create_app(Settings(store=collision_store.root, tiles="none"), store=collision_store)
    client = app.test_client()
    page = client.get("/collisions").get_data(as_text=True)
    assert "repeat locations to Jun 13" in page
    # a window end the store does not hold is the CLI's on the web too (it was refused)
    page = client.get("/collisions?period_end=2014-01").get_data(as_text=True)
    assert "repeat locations to Jan 14" in page and "latest collision held is in Jun 13" in page
    assert 'value="2014-01" selected' in page


def test_a_window_holding_no_collision_is_refused_by_both_faces(
    collision_store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    """A window with no collision month gives no empty list read as "no sites": both faces
    refuse it, saying which months are held."""
    said = ("period_end 2009-06: the 3-year window Jul 06 to Jun 09 holds no collision data; "
            "collisions are held from Jan 11 to Jun 13")  # fmt: skip
    args = ["--store", str(collision_store.root), "repeat-locations", "--period-end", "2009-06"]
    assert main(args) == 2
    assert said in capsys.readouterr().err
    app = create_app(Settings(store=collision_store.root, tiles="none"), store=collision_store)
    response = app.test_client().get("/api/collisions/sites.csv?period_end=2009-06")
    assert response.status_code == 400 and said in response.get_data(as_text=True)


def test_hotspot_map_says_how_many_locations_are_approximate(collision_store: Store) -> None:
    from geo_service.services.hotspots import describe, hotspot_map
    from geo_service.services.options import HotspotOptions

    opts = HotspotOptions(
        category="Road traffic collision", period_end="2013-06", months=12, layer="ward",
        accuracy=False,
    )  # fmt: skip
    result = hotspot_map(collision_store, (), opts)
    # Jul 12 - Jun 13 holds the five 2013 collisions, two of them at a rounded location.
    assert (result.meta["incidents"], result.meta["approximate_locations"]) == (5, 2)
    assert "(2 at an approximate location)" in describe(result)


def test_hotspot_maps_and_shifts_leave_out_excluded_forces(force_store: Store) -> None:
    from geo_service.services.hotspots import hotspot_map, shifts
    from geo_service.services.options import HotspotOptions, ShiftOptions

    opts = HotspotOptions(category="Burglary", period_end="2022-01", months=1, layer="ward",
                          method="kde", accuracy=False)  # fmt: skip
    every = hotspot_map(force_store, (), opts)
    herts = hotspot_map(force_store, (), HotspotOptions(**{**opts.__dict__,
                                                          "exclude_forces": (BTP,)}))  # fmt: skip
    assert (every.meta["incidents"], herts.meta["incidents"]) == (6, 5)
    moved = shifts(force_store, (), ShiftOptions(category="Burglary", period_end="2022-01",
                                                 months=1, against="year-earlier",
                                                 exclude_forces=(BTP,)))  # fmt: skip
    w1 = moved.frame.set_index("code").loc["W1"]
    assert (w1["previous"], w1["current"]) == (2, 5)


def test_shifts_default_to_the_months_the_category_holds(collision_store: Store) -> None:
    """This store holds collisions in Feb-Jun of each year only (ending Jun 13): with nothing
    given, shifts compare the longest window both periods hold, Feb-Jun a year apart."""
    from geo_service.services.hotspots import shifts
    from geo_service.services.options import ShiftOptions

    result = shifts(collision_store, (), ShiftOptions(category="Road traffic collision"))
    assert (result.meta["previous"], result.meta["current"]) == (
        "Feb 12 to Jun 12",
        "Feb 13 to Jun 13",
    )
    assert result.meta["against"] == "year-earlier"


@pytest.fixture(scope="module")
def police_uk_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """police.uk-like rows (no sub-types, no times) Jan 2021 - Jan 2022 in W1: each month 2
    burglaries, 3 vehicle crimes and 1 robbery."""
    store = Store(tmp_path_factory.mktemp("police-uk") / "store")
    store.write_layer("ward", two_wards(X0, Y0, 1000.0), info=LayerInfo(path="squares"))
    rows = []
    for month in _months("2021-01", "2022-01"):
        rows += [(month, "Burglary")] * 2 + [(month, "Vehicle crime")] * 3
        rows += [(month, "Robbery")]
    frame = pd.DataFrame(rows, columns=["month", "category"]).assign(
        incident_id=[f"police_uk:p{i}" for i in range(len(rows))], source="police_uk",
        x=X0 + 300.0 + np.arange(len(rows)) % 7, y=Y0 + 300.0, reported_by=HERTS,
    )  # fmt: skip
    write_rows(store, assign_by_x(frame, X0 + 1000.0), "2022-01-herts-street.csv")
    return store


def test_maps_form_a_group_as_the_tables_do(police_uk_store: Store) -> None:
    """Serious acquisitive crime from police.uk data is robbery only, on the map as in the
    table, and says so; a group nothing of which can be formed is refused (exit 3)."""
    from geo_service.errors import DataError
    from geo_service.services.hotspots import hotspot_map
    from geo_service.services.options import HotspotOptions

    groups = load_groups()
    sac = hotspot_map(police_uk_store, groups, HotspotOptions(
        category="Serious acquisitive crime", period_end="2022-01", months=12, layer="ward",
        accuracy=False,
    ))  # fmt: skip
    assert sac.meta["incidents"] == 12  # one robbery a month, Feb 21 - Jan 22
    assert any("leaves out" in note and "Burglary" in note for note in sac.meta["notes"])
    with pytest.raises(DataError, match="not available from police_uk data"):
        hotspot_map(police_uk_store, groups, HotspotOptions(
            category="Vehicle crime (excluding interference)", period_end="2022-01",
            layer="ward", accuracy=False,
        ))  # fmt: skip


def test_forces_table_says_no_data_for_a_period_not_held(police_uk_store: Store) -> None:
    opts = ViewOptions(period_end="2022-01", months=12, layer="ward")
    table = reporting_forces(police_uk_store, opts).table.set_index("reported_by")
    assert pd.isna(table.loc[HERTS, "previous"])  # Feb 20 - Jan 21: one month of twelve held
    assert table.loc[HERTS, "current"] == 72


def test_exclusions_are_stated_where_the_figures_are(
    force_store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    from geo_service.services.context import plain_group
    from geo_service.services.report import ReportOptions, report_document

    opts = ViewOptions(period_end="2022-01", months=1, layer="ward", against="year-earlier",
                       exclude_forces=(BTP, "Hertfordshire Constabularyy"))  # fmt: skip
    notes = change_by_area(force_store, plain_group("Burglary"), opts).quality
    assert f"Rows reported by {BTP} are left out (4 in the months compared)." in notes
    assert any("'Hertfordshire Constabularyy'" in n and "nothing was left out" in n
               for n in notes)  # fmt: skip
    html = report_document(force_store, load_groups(), ReportOptions(view=opts))
    assert f"Rows reported by {BTP} are left out" in html
    argv = [
        "--store",
        str(force_store.root),
        "change",
        "--layer",
        "ward",
        "--category",
        "Burglary",
        "--period-end",
        "2022-01",
        "--months",
        "1",
        "--exclude-force",
        BTP,
    ]
    assert main(argv) == 0
    assert f"note: Rows reported by {BTP} are left out" in capsys.readouterr().out


def test_period_end_outside_the_months_held_is_refused(
    force_store: Store, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["--store", str(force_store.root), "summary", "--period-end", "2099-01"]
    assert main(argv) == 2
    assert "expected a month between 2021-01 and 2022-01" in capsys.readouterr().err
    missing = ["--store", str(force_store.root / "nowhere"), "summary"]
    assert main(missing) != 0
    assert "nowhere" in capsys.readouterr().err


def test_map_of_a_source_ending_early_covers_its_own_months(collision_store: Store) -> None:
    """Collisions end Jun 13: a map asked to Jul 13 covers the 12 months to Jun 13, and
    says so, as the tables compare that source over its own months."""
    from geo_service.services.hotspots import hotspot_map
    from geo_service.services.options import HotspotOptions

    result = hotspot_map(collision_store, (), HotspotOptions(
        category="Road traffic collision", period_end="2013-07", layer="ward", accuracy=False,
    ))  # fmt: skip
    assert result.meta["period"] == "Jul 12 to Jun 13"
    assert any("ends Jun 13" in note for note in result.meta["notes"])


def test_severity_table_never_shows_zeros_for_years_not_held(collision_store: Store) -> None:
    """The fixture app's collisions run Aug 11 - Jul 13: the year before is left out, not
    shown as zeros; in the sparse store above every year says how many months it rests on."""
    from tests.web.conftest import MemoryStore, beats, incidents

    web_store = MemoryStore(incidents(), {"beat": beats()})
    dense = collision_sites(web_store, RuleOptions("default"), period_end="2013-07",
                            layer="beat")  # fmt: skip
    assert list(dense.severity.columns) == ["severity", "Aug 11 to Jul 12", "Aug 12 to Jul 13"]
    sparse = collision_sites(collision_store, RuleOptions("default"), period_end="2013-06",
                             layer="ward")  # fmt: skip
    assert list(sparse.severity.columns)[1:] == [
        "Jul 10 to Jun 11 (data for 5 of its 12 months)",
        "Jul 11 to Jun 12 (data for 6 of its 12 months)",
        "Jul 12 to Jun 13 (data for 5 of its 12 months)",
    ]


def test_collision_sites_read_only_the_sources_that_hold_collisions(
    collision_store: Store, tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    """A police.uk month beside the collisions is never read for them (a national store's
    crime partitions are far larger than its collisions'): the kept file of the collisions near
    the layer is read from the collision source's partitions, once; a later version reuses it."""
    import geo_service.store.store as store_module

    store = Store(shutil.copytree(collision_store.root, tmp_path / "store"))
    for kept in store.root.glob("*/*/collisions_near_*.parquet"):  # read by the tests above
        kept.unlink()
    crimes = pd.DataFrame(
        {"month": ["2013-06"] * 3, "x": [X0 + 200.0] * 3, "y": [Y0 + 200.0] * 3,
         "incident_id": [f"police_uk:c{i}" for i in range(3)], "source": "police_uk",
         "category": "Burglary"}
    )  # fmt: skip
    write_rows(store, assign_by_x(crimes, X0 + 1000.0), "2013-06-x-street.csv")
    rows_read: list[object] = []
    read = Store.incidents
    monkeypatch.setattr(Store, "incidents", lambda self, **kw: rows_read.append(kw.get("sources"))
                        or read(self, **kw))  # fmt: skip
    scanned: list[tuple[str, str]] = []
    dataset = store_module.partitions_dataset
    monkeypatch.setattr(
        store_module,
        "partitions_dataset",
        lambda d, parts, *a, **kw: (
            scanned.extend((p.source, p.month) for p in parts) or dataset(d, parts, *a, **kw)
        ),
    )
    opts = RuleOptions("default", years=3)
    result = collision_sites(store, opts, period_end=None, layer="ward")
    assert sorted(result.sites["count"].tolist()) == [4, 15]
    assert rows_read == []
    assert {s for s, _ in scanned} == {"mapped:rtc"} and len(scanned) == 16  # its 16 months
    scanned.clear()
    assert collision_sites(store, opts, period_end=None, layer="ward").sites.equals(result.sites)
    more = crimes.assign(month="2013-07", incident_id=[f"police_uk:d{i}" for i in range(3)])
    write_rows(store, assign_by_x(more, X0 + 1000.0), "2013-07-x-street.csv")
    again = collision_sites(store, opts, period_end=None, layer="ward")
    assert again.sites.equals(result.sites)
    assert scanned == [] and rows_read == []  # the new version reused the kept rows
