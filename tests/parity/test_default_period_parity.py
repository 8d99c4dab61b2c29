"""One core, two faces when the query leaves the period out, on a store of 13 months.

The pages' comparison window depends on what both periods cover (on 13 months: not 12), but a
one-period download (``hotspots``, ``rates``) left without ``period_end`` and ``months`` is the
CLI's default: 12 months to the latest month held. The density map's previous period is drawn
only when the store holds all of it.
"""

from __future__ import annotations

import json
from dataclasses import replace
from typing import Any

import numpy as np
import pandas as pd
import pytest

from geo_service.analysis import kde
from geo_service.config import Settings
from geo_service.services import hotspots
from geo_service.services.options import HotspotOptions, resolve_view
from geo_service.store import FileRecord, LayerInfo, Store
from geo_service.web import create_app
from tests.parity.test_cli_web_parity import run_cli, web_get
from tests.web.conftest import MONTHS, beats, incidents

HELD = MONTHS[11:]  # 2012-07 .. 2013-07
NO_REJECTS = pd.DataFrame({"file": [], "line": []})


@pytest.fixture(scope="module")
def store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    frame = incidents()
    frame = frame.loc[
        frame["month"].isin(HELD) & (frame["category"] != "Road traffic collision")
    ].reset_index(drop=True)
    frame["source"] = "police_uk"
    store = Store(tmp_path_factory.mktemp("thirteen") / "store")
    store.write_layer("beat", beats(), info=LayerInfo(path="beats"))
    record = FileRecord("/in/all.csv", "all.csv", "police_uk", "sha", len(frame), 0, 0,
                        tuple(HELD))  # fmt: skip
    store.write_incidents(frame, [record], rejects=NO_REJECTS, kind="police-uk")
    return store


@pytest.fixture(scope="module")
def client(store: Store) -> Any:
    app = create_app(Settings(store=store.root, tiles="none"), store=store)
    app.config.update(TESTING=True)
    return app.test_client()


def test_the_pages_window_on_this_store_is_not_twelve_months(store: Store) -> None:
    # what makes the cases below fail on answers that take the page's window
    assert store.months() == HELD
    assert resolve_view(store.months()).months != 12


@pytest.mark.parametrize("method", ["dbscan", "kde"])
def test_a_hotspot_download_without_a_period_is_the_clis(store, client, capsys, method) -> None:
    cli = json.loads(
        run_cli(store, capsys, "hotspots", "--category", "Burglary", "--method", method,
                "--no-accuracy", "--format", "geojson")
    )  # fmt: skip
    web = web_get(client, f"/api/category/Burglary/hotspots/{method}.geojson?accuracy=0")
    assert web.get_json() == cli
    assert cli["geo_service"]["period"] == "Aug 12 to Jul 13"
    # 6 a month over the second year, less those drawn outside the four beats
    located = incidents()
    located = located.loc[
        located["month"].between("2012-08", "2013-07")
        & (located["category"] == "Burglary")
        & located["area_beat"].notna()
    ]
    assert cli["geo_service"]["incidents"] == len(located) and 60 < len(located) <= 72
    csv = web_get(client, f"/api/category/Burglary/hotspots/{method}.csv?accuracy=0")
    assert f"hotspots-{method}-2013-07" in csv.headers["Content-Disposition"]


def test_a_rates_download_without_a_period_is_the_clis(store, client, capsys) -> None:
    cli = run_cli(store, capsys, "rates", "--category", "Burglary")
    web = web_get(client, "/api/category/Burglary/rates.csv")
    assert web.get_data(as_text=True).replace("\r\n", "\n") == cli.replace("\r\n", "\n")
    rows = pd.read_csv(pd.io.common.StringIO(cli))
    expected = incidents()
    expected = (
        expected.loc[
            expected["month"].between("2012-08", "2013-07") & (expected["category"] == "Burglary")
        ]
        .groupby("area_beat")
        .size()
    )
    assert rows.set_index("code")["count"].to_dict() == {
        code: int(expected.get(code, 0)) for code in rows["code"]
    }
    assert "rates-beat-2013-07.csv" in web.headers["Content-Disposition"]


def test_a_download_with_the_pages_period_is_the_page_window(store, client, capsys) -> None:
    cli = run_cli(store, capsys, "rates", "--category", "Burglary", "--months", "6",
                  "--period-end", "2013-07")  # fmt: skip
    web = web_get(client, "/api/category/Burglary/rates.csv?months=6&period_end=2013-07")
    assert web.get_data(as_text=True).replace("\r\n", "\n") == cli.replace("\r\n", "\n")


def _kde(store: Store, months: int) -> hotspots.HotspotMap:
    opts = HotspotOptions(category="Burglary", months=months, period_end="2013-07", accuracy=False)
    return hotspots.hotspot_map(store, Settings().groups(), opts)


def test_no_previous_density_from_a_period_the_store_does_not_hold(store: Store) -> None:
    found = _kde(store, 12)  # the previous 12 months: only 2012-07 is held
    assert found.previous_surface is None and found.meta["previous_period"] is None
    assert found.surface is not None and found.breaks is not None
    inside = found.grid.inside
    np.testing.assert_array_equal(
        found.breaks, kde.class_breaks([found.surface[inside]], method=hotspots.BREAKS)
    )
    held = _kde(store, 6)  # 2012-08 .. 2013-01: all held
    assert held.meta["previous_period"] == "Aug 12 to Jan 13"
    assert held.previous_surface is not None and held.previous_surface.max() > 0


def test_a_period_partly_held_is_said(store: Store) -> None:
    notes = _kde(store, 24).meta["notes"]
    assert any(
        "holds 13 of the 24 months of Aug 11 to Jul 13 (none for Aug 11 to Jun 12): the map "
        "shows the months held only." in note
        for note in notes
    ), notes
    assert not any("holds" in note for note in _kde(store, 12).meta["notes"])


def test_the_page_draws_no_previous_density_it_does_not_hold(client) -> None:
    query = "months=12&period_end=2013-07&layer=beat"
    script = web_get(client, f"/category/Burglary/map.js?{query}").get_data(as_text=True)
    page = web_get(client, f"/category/Burglary?{query}").get_data(as_text=True)
    assert "No density is drawn for Aug 11 to Jul 12" in page
    assert "Density, Aug 11 to Jul 12" not in script and "Density difference" not in script
    png = client.get(f"/category/Burglary/density.png?{query}&surface=previous")
    assert png.status_code == 404


def test_the_pages_previous_density_is_labelled_with_its_own_months(client) -> None:
    # one month against a year earlier: the density's previous period is the month before
    query = "months=1&period_end=2013-07&layer=beat&against=year-earlier"
    script = web_get(client, f"/category/Burglary/map.js?{query}").get_data(as_text=True)
    assert "Density, Jun 13" in script and "Density, Jul 12" not in script
    page = web_get(client, f"/category/Burglary?{query}").get_data(as_text=True)
    assert "Class breaks are shared by both periods" in page and "No density is drawn" not in page


def test_a_maps_accuracy_scores_only_months_the_store_holds(store: Store) -> None:
    # 1 month to 2012-10 on a store from 2012-07: the backtest's targets are 2012-08..2012-10
    # (origins 2012-07..2012-09, each with its origin month held), not 12 months of which 9
    # were never held and scored as no incidents
    opts = HotspotOptions(category="Burglary", months=1, period_end="2012-10")
    for method in ("kde", "gistar"):
        accuracy = hotspots.hotspot_map(
            store, Settings().groups(), replace(opts, method=method)
        ).accuracy
        assert accuracy is not None, method
        assert (accuracy.origins, accuracy.first_origin, accuracy.last_origin) == (
            3, "2012-07", "2012-09",
        ), method  # fmt: skip
        assert 0 < accuracy.hit_rate <= 1
    # at the first month held there is no month to score: no accuracy, never a made-up one
    first = hotspots.hotspot_map(store, Settings().groups(), replace(opts, period_end="2012-07"))
    assert first.accuracy is None and first.meta["accuracy"] is None


def test_a_cluster_map_that_finds_nothing_says_so(store: Store) -> None:
    opts = HotspotOptions(category="Burglary", method="dbscan", min_samples=500, accuracy=False)
    found = hotspots.hotspot_map(store, Settings().groups(), opts)
    assert len(found.frame) == 0
    incidents = found.meta["incidents"]
    assert f"No hotspot was found among the {incidents:,} incidents at these settings." in " ".join(
        found.meta["notes"]
    )
    clustered = hotspots.hotspot_map(store, Settings().groups(), replace(opts, min_samples=None))
    assert len(clustered.frame) > 0
    assert not any("No hotspot" in note for note in clustered.meta["notes"])


def test_the_patrol_page_says_it_does_not_follow_the_period_asked(client) -> None:
    page = web_get(client, "/patrol/Burglary?layer=beat&period_end=2013-01&months=6")
    text = page.get_data(as_text=True)
    assert "Patrol zones for Burglary: forecast for Aug 13" in text
    assert (
        "Patrol zones are always next month&#39;s: these rest on every month held up to Jul 13. "
        "The period asked for (ending Jan 13) does not change them." in text
    )
    plain = web_get(client, "/patrol/Burglary?layer=beat").get_data(as_text=True)
    assert 'id="patrol-period"' not in plain and 'id="patrol-period"' in text


@pytest.fixture(scope="module")
def later_store(tmp_path_factory: pytest.TempPathFactory) -> Store:
    """The 13 police.uk months and, from a source of their own, collisions ending two months
    earlier (2012-07 .. 2013-05)."""
    frame = incidents()
    crime = frame.loc[frame["month"].isin(HELD) & (frame["category"] != "Road traffic collision")]
    collisions = frame.loc[
        frame["month"].isin(HELD[:-2]) & (frame["category"] == "Road traffic collision")
    ]
    store = Store(tmp_path_factory.mktemp("later") / "store")
    store.write_layer("beat", beats(), info=LayerInfo(path="beats"))
    for source, rows, kind in (
        ("police_uk", crime, "police-uk"),
        ("stats19", collisions, "mapped"),
    ):
        rows = rows.assign(source=source).reset_index(drop=True)
        months = tuple(sorted(rows["month"].unique()))
        record = FileRecord(f"/in/{source}.csv", f"{source}.csv", source, f"sha-{source}",
                            len(rows), 0, 0, months)  # fmt: skip
        store.write_incidents(rows, [record], rejects=NO_REJECTS, kind=kind)
    return store


@pytest.mark.parametrize("category", ["Road traffic collision", "Burglary"])
def test_a_shifts_download_without_a_period_is_the_clis(later_store, capsys, category) -> None:
    """Collisions end in May 13, the store in Jul 13: asked without a period, the shifts of
    each category compare that category's own months, on both faces (the web asked for Jul 13
    and was refused)."""
    app = create_app(Settings(store=later_store.root, tiles="none"), store=later_store)
    client = app.test_client()
    cli = run_cli(later_store, capsys, "shifts", "--category", category, "--format", "geojson")
    web = web_get(client, f"/api/category/{category}/shifts.geojson").get_json()
    assert web == json.loads(cli)
    last = "May 13" if category == "Road traffic collision" else "Jul 13"
    assert web["geo_service"]["current"].endswith(last)
