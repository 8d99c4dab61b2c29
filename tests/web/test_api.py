"""API exports: CSV/JSON tables, GeoJSON layers, formula neutralisation, JSON errors."""

from __future__ import annotations

import csv
import io
import json

Q = "period_end=2013-07&months=12&layer=beat"


def test_change_table_csv_and_json_agree(client) -> None:
    as_csv = client.get(f"/api/category/Burglary/change.csv?{Q}")
    assert as_csv.mimetype == "text/csv" and "attachment" in as_csv.headers["Content-Disposition"]
    rows = list(csv.DictReader(io.StringIO(as_csv.get_data(as_text=True))))
    records = client.get(f"/api/category/Burglary/change.json?{Q}").get_json()
    assert [r["code"] for r in rows] == [r["code"] for r in records]
    d1a = next(r for r in records if r["code"] == "D1A")
    assert (d1a["previous"], d1a["current"], d1a["change"]) == (33, 68, 35)
    assert d1a["name"] == "Town <b>Centre</b>"  # data, not markup: not HTML-escaped


def test_looking_back_and_monthly(client) -> None:
    table = client.get(f"/api/looking-back.json?{Q}").get_json()
    burglary = next(r for r in table if r["group"] == "Burglary")
    assert (burglary["previous"], burglary["current"]) == (33, 68)  # inside the beats
    monthly = client.get(f"/api/category/Burglary/monthly.json?{Q}").get_json()
    assert len(monthly) == 24 and sum(r["count"] for r in monthly) == 33 + 68


def test_layer_geojson_is_light(client) -> None:
    response = client.get("/api/layers/beat.geojson")
    data = json.loads(response.get_data(as_text=True))
    assert response.mimetype == "application/geo+json"
    assert [f["properties"]["code"] for f in data["features"]] == ["D1A", "D1B", "D2A", "D2B"]
    lon, lat = data["features"][0]["geometry"]["coordinates"][0][0]
    assert round(lon, 6) == lon and 51 < lat < 52


def test_collision_exports(client) -> None:
    sites = client.get("/api/collisions/sites.json").get_json()
    assert [s["rank_count"] for s in sites] == [1, 2]
    geo = client.get("/api/collisions/sites.geojson").get_json()
    assert len(geo["features"]) == 2 and geo["features"][0]["geometry"]["type"] == "Point"
    rows = list(
        csv.reader(io.StringIO(client.get("/api/collisions/severity.csv").get_data(as_text=True)))
    )
    assert rows[0][0] == "severity" and rows[-1][0] == "Grand Total"


def test_api_errors_are_json(client) -> None:
    bad = client.get("/api/looking-back.json?months=5")
    assert bad.status_code == 400 and "allowed: 1, 3, 6, 12, 24" in bad.get_json()["error"]
    missing = client.get("/api/layers/ward.geojson")
    assert missing.status_code == 404 and "available: beat" in missing.get_json()["error"]
    assert client.get("/api/looking-back.ods").status_code == 404


def _service_category(store, name: str):  # type: ignore[no-untyped-def]
    from geo_service.categories import load_groups
    from geo_service.services import context, views
    from geo_service.web.params import view_options

    opts = view_options({}, months_stored=store.months(), layers=store.layer_names())
    groups = context.page_groups(load_groups(), context.store_summary(store).categories)
    return views.category_view(store, groups, context.resolve_group(groups, name), opts)


def test_category_areas_geojson_carries_the_choropleth_values(client, store) -> None:
    response = client.get(f"/api/category/Burglary/areas.geojson?{Q}")
    assert response.status_code == 200 and response.mimetype == "application/geo+json"
    features = response.get_json()["features"]
    assert [f["properties"]["code"] for f in features] == ["D1A", "D1B", "D2A", "D2B"]
    d1a = features[0]["properties"]
    assert (d1a["previous"], d1a["current"], d1a["change"]) == (33, 68, 35)  # as the change table
    assert d1a["pct_text"] == "+106%" and d1a["significant"] is True
    table = _service_category(store, "Burglary").table.set_index("code")
    for feature in features:
        props = feature["properties"]
        assert props["current"] == table.loc[props["code"], "current"]


def test_hot_cell_and_emerging_geojson_match_the_service(client, store) -> None:
    spots = _service_category(store, "Burglary").hotspots
    cells = client.get(f"/api/category/Burglary/hot-cells.geojson?{Q}").get_json()["features"]
    assert len(spots.hot_cells) > 0 and len(cells) == len(spots.hot_cells)
    assert sum(f["properties"]["count"] for f in cells) == int(spots.hot_cells["count"].sum())
    assert all(f["properties"]["label"].startswith("hot spot") for f in cells)
    assert cells[0]["geometry"]["type"] == "Polygon"
    emerging = client.get(f"/api/category/Burglary/emerging.geojson?{Q}").get_json()["features"]
    every_class = spots.emerging.frame
    assert len(every_class) > 0 and len(emerging) == len(every_class)
    patterns = sorted(f["properties"]["pattern"] for f in emerging)
    assert patterns == sorted(every_class["pattern"].astype(str))


def test_collision_points_geojson_most_severe_first_and_capped(client, store, monkeypatch) -> None:
    from geo_service.maps import builders
    from geo_service.services import collisions
    from geo_service.services.options import RuleOptions
    from geo_service.web.params import view_options

    opts = view_options({}, months_stored=store.months(), layers=store.layer_names())
    view = collisions.collision_sites(
        store, RuleOptions("default"), period_end=opts.period_end, layer=opts.layer
    )
    features = client.get("/api/collisions/points.geojson").get_json()["features"]
    assert len(features) == len(view.collisions) > 3
    rank = {"Fatal": 0, "Serious": 1, "Slight": 2}
    ranks = [rank[f["properties"]["severity"]] for f in features]
    assert ranks == sorted(ranks) and ranks[0] == 0
    assert set(features[0]["properties"]) >= {"incident_id", "month", "severity", "road_1"}
    assert features[0]["geometry"]["type"] == "Point"
    monkeypatch.setattr(builders, "MAX_POINTS", 3)
    capped = client.get("/api/collisions/points.geojson?rule=default&years=3").get_json()
    assert len(capped["features"]) == 3
