"""One core, two faces: the same question asked on the command line and in the browser gets
the same answer, for every use case, on the demo store.

Each case runs ``geo-service`` in-process (:func:`geo_service.cli.main`, output captured) and
asks the Flask test client for the matching page or API answer, then compares the figures,
the features or the text.
"""

from __future__ import annotations

import io
import json
from collections.abc import Callable
from pathlib import Path
from typing import Any
from urllib.parse import quote

import pytest

from geo_service.cli import main
from geo_service.config import Settings
from geo_service.store import LayerInfo, Store
from geo_service.web import create_app

END = "2013-07"
RTC_END = "2013-06"


@pytest.fixture(scope="module")
def client(demo_app: Any) -> Any:
    return demo_app.test_client()


def run_cli(store: Store, capsys: pytest.CaptureFixture[str], *argv: str) -> str:
    """The standard output of ``geo-service --store STORE ARGV...``; fails on a non-zero exit."""
    capsys.readouterr()
    code = main(["--store", str(store.root), *argv])
    out = capsys.readouterr().out
    assert code == 0, out
    return out


def web_get(client: Any, url: str) -> Any:
    response = client.get(url)
    assert response.status_code == 200, response.get_data(as_text=True)[:500]
    return response


def same_records(cli: list[dict[str, Any]], web: list[dict[str, Any]], keys: list[str]) -> None:
    """The rows of both answers agree on ``keys`` (floats to 1e-12 relative)."""
    assert len(cli) == len(web) > 0
    for a, b in zip(cli, web, strict=True):
        for key in keys:
            if isinstance(a[key], float) and isinstance(b[key], float):
                assert a[key] == pytest.approx(b[key], rel=1e-12), key
            else:
                assert a[key] == b[key], (key, a, b)


def same_features(cli: dict[str, Any], web: dict[str, Any]) -> None:
    """Two GeoJSON documents with identical features and the same metadata member."""
    assert cli["type"] == web["type"] == "FeatureCollection"
    assert len(cli["features"]) == len(web["features"]) > 0
    assert cli["features"] == web["features"]
    assert cli.get("geo_service") == web.get("geo_service")


QUERY = f"period_end={END}&months=12&layer=beat"

#: (case id, CLI arguments, web URL, how to compare)
CASES: list[tuple[str, list[str], str, str]] = [
    ("summary", ["summary", "--period-end", END, "--format", "json"],
     f"/api/looking-back.json?{QUERY}", "looking-back"),
    ("summary-year-earlier",
     ["summary", "--period-end", END, "--months", "1", "--against", "year-earlier",
      "--format", "json"],
     f"/api/looking-back.json?period_end={END}&months=1&layer=beat&against=year-earlier",
     "looking-back"),
    ("change", ["change", "--category", "Dwelling burglary", "--period-end", END,
                "--format", "json"],
     f"/api/category/{quote('Dwelling burglary')}/change.json?{QUERY}", "change"),
    ("change-year-earlier",
     ["change", "--category", "ASB incidents", "--period-end", END, "--months", "1",
      "--against", "year-earlier", "--format", "json"],
     f"/api/category/{quote('ASB incidents')}/change.json?period_end={END}&months=1&layer=beat"
     "&against=year-earlier", "change"),
    ("area", ["area", "D2A", "--layer", "beat", "--period-end", END, "--format", "json"],
     f"/api/area/beat/D2A/changes.json?{QUERY}", "area"),
    ("kde", ["hotspots", "--category", "Dwelling burglary", "--period-end", END,
             "--method", "kde"],
     f"/api/category/{quote('Dwelling burglary')}/hotspots/kde.geojson?{QUERY}", "features"),
    ("dbscan", ["hotspots", "--category", "ASB incidents", "--period-end", END,
                "--method", "dbscan", "--no-accuracy"],
     f"/api/category/{quote('ASB incidents')}/hotspots/dbscan.geojson?{QUERY}&accuracy=0",
     "features"),
    ("gistar", ["hotspots", "--category", "Vehicle crime", "--period-end", END,
                "--method", "gistar", "--permutations", "99", "--no-accuracy"],
     f"/api/category/{quote('Vehicle crime')}/hotspots/gistar.geojson?{QUERY}"
     "&permutations=99&accuracy=0", "features"),
    ("emerging", ["hotspots", "--category", "Dwelling burglary", "--period-end", END,
                  "--method", "emerging", "--months", "24"],
     f"/api/category/{quote('Dwelling burglary')}/hotspots/emerging.geojson?"
     f"period_end={END}&months=24&layer=beat", "features"),
    ("emerging-page-layer", ["hotspots", "--category", "Dwelling burglary", "--period-end",
                             END, "--method", "emerging", "--no-accuracy"],
     f"/api/category/{quote('Dwelling burglary')}/emerging.geojson?{QUERY}", "features"),
    ("repeat-sites", ["repeat-locations", "--period-end", RTC_END, "--format", "geojson"],
     f"/api/collisions/sites.geojson?period_end={RTC_END}&months=12&layer=beat", "features"),
    ("repeat-sites-adjusted",
     ["repeat-locations", "--period-end", RTC_END, "--min-count", "3", "--radius-m", "80",
      "--ksi-only", "--format", "geojson"],
     f"/api/collisions/sites.geojson?period_end={RTC_END}&months=12&layer=beat"
     "&min_count=3&radius_m=80&ksi_only=1", "features"),
    ("shifts", ["shifts", "--category", "Dwelling burglary", "--period-end", END,
                "--format", "geojson"],
     f"/api/category/{quote('Dwelling burglary')}/shifts.geojson?{QUERY}", "features"),
    ("evaluate", ["evaluate", "--category", "Vehicle crime", "--format", "json"],
     f"/api/category/{quote('Vehicle crime')}/evaluation.json?{QUERY}", "evaluation"),
    ("evaluate-map-kinds", ["evaluate", "--category", "Vehicle crime", "--format", "json",
                            "--map-kinds"],
     f"/api/category/{quote('Vehicle crime')}/evaluation.json?{QUERY}&map_kinds=1",
     "evaluation"),
    ("report", ["report", "--period-end", END, "--layer", "beat", "--out", "-"],
     f"/report?{QUERY}", "text"),
]  # fmt: skip


def _compare(kind: str, cli_text: str, web: Any) -> None:
    compare: dict[str, Callable[[], None]] = {
        "looking-back": lambda: same_records(
            json.loads(cli_text), web.get_json(), ["group", "previous", "current", "change",
                                                   "pct_change", "p", "label"]),
        # every column of every row, the note and the rate's denominator included
        "change": lambda: _same_rows(json.loads(cli_text), web.get_json()),
        "area": lambda: same_records(
            json.loads(cli_text), web.get_json(), ["group", "previous", "current", "change",
                                                   "pct_change", "p", "q", "label"]),
        "features": lambda: same_features(json.loads(cli_text), web.get_json()),
        "evaluation": lambda: _same_evaluation(json.loads(cli_text), web.get_json()),
        "text": lambda: _same_text(cli_text, web.get_data(as_text=True)),
    }  # fmt: skip
    compare[kind]()


def _same_rows(cli: list[dict[str, Any]], web: list[dict[str, Any]]) -> None:
    assert len(cli) == len(web) > 0
    assert [list(row) for row in cli] == [list(row) for row in web]
    assert {"note", "rate_per", "pct_change", "label"} <= set(cli[0])
    same_records(cli, web, list(cli[0]))


def _same_evaluation(cli: dict[str, Any], web: dict[str, Any]) -> None:
    assert cli["best_method"] == web["best_method"]
    same_records(cli["rows"], web["rows"], ["method", "coverage", "hit_rate", "pai"])
    assert cli["default"] == web["default"]
    # the default map is the forecast only when it beats both naive baselines at 5 %
    default = cli["default"]
    beaten = all(default["hit_rate"] > b for b in default["baseline_hit_rates"].values())
    assert (default["method"] == "forecast") == beaten
    assert ("map_kinds" in cli) == ("map_kinds" in web)
    if "map_kinds" in cli:
        kinds = [r["map_kind"] for r in cli["map_kinds"]]
        assert {"kde", "gistar-cells", "dbscan", "emerging", "patrol-5%"} <= set(kinds)
        same_records(cli["map_kinds"], web["map_kinds"],
                     ["map_kind", "hit_rate", "pai", "baseline", "baseline_hit_rate"])  # fmt: skip
        for row in cli["map_kinds"]:
            assert row["beats_baseline"] == (row["hit_rate"] > row["baseline_hit_rate"])


def _same_text(cli: str, web: str) -> None:
    assert cli == web
    assert "Looking back" in cli


@pytest.mark.parametrize(("cli_args", "url", "kind"), [c[1:] for c in CASES],
                         ids=[c[0] for c in CASES])  # fmt: skip
def test_cli_and_web_give_the_same_answer(
    demo_store: Store, client: Any, capsys: pytest.CaptureFixture[str],
    cli_args: list[str], url: str, kind: str,
) -> None:  # fmt: skip
    cli_text = run_cli(demo_store, capsys, *cli_args)
    _compare(kind, cli_text, web_get(client, url))


def test_csv_neutralises_formulas_in_both_faces(tmp_path: Path, capsys) -> None:
    """A ward named like a spreadsheet formula is written inert by the CLI and the web alike,
    and p and q keep their full precision."""
    import pandas as pd

    from tests.cli.conftest import assign_by_x, two_wards, write_rows

    store = Store(tmp_path / "store")
    wards = two_wards(500000.0, 200000.0, 1000.0)
    wards["name"] = ['=HYPERLINK("http://x","y")', "+1 East"]
    store.write_layer("ward", wards, info=LayerInfo(path="squares"))
    months = ["2021-01"] * 3 + ["2022-01"] * 12
    frame = pd.DataFrame(
        {
            "incident_id": [f"i{k}" for k in range(len(months))],
            "source": "test",
            "category": "Burglary",
            "month": months,
            "x": 500500.0,
            "y": 200500.0,
        }
    )
    write_rows(store, assign_by_x(frame, 501000.0), "rows.csv")
    cli = run_cli(store, capsys, "change", "--layer", "ward", "--category", "Burglary",
                  "--period-end", "2022-01", "--months", "1", "--against", "year-earlier",
                  "--format", "csv")  # fmt: skip
    app = create_app(Settings(store=store.root, tiles="none"), store=store)
    web = app.test_client().get(
        "/api/category/Burglary/change.csv?period_end=2022-01&months=1&layer=ward"
        "&against=year-earlier"
    )
    for text in (cli, web.get_data(as_text=True)):
        rows = pd.read_csv(io.StringIO(text), keep_default_na=False)
        west = rows.set_index("code").loc["W1"]
        assert west["name"] == '\'=HYPERLINK("http://x","y")'
        assert rows.set_index("code").loc["W2", "name"] == "'+1 East"
        assert (west["previous"], west["current"]) == (3, 12)
        assert len(str(west["p"])) > 8  # not rounded to 4 places


def test_partnership_groups_file_is_honoured_by_cli_web_and_report(
    demo_store: Store, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """A partnership's own categories file, with a renamed group, reaches every face."""
    from geo_service.categories import load_groups

    packaged = (Path(__file__).parents[2] / "geo_service/data/categories.toml").read_text()
    renamed = packaged.replace('name = "Dwelling burglary"', 'name = "Burglary (homes)"')
    assert renamed != packaged
    groups_file = tmp_path / "groups.toml"
    groups_file.write_text(renamed, encoding="utf-8")
    config = tmp_path / "settings.toml"
    config.write_text(f'categories = "{groups_file}"\n', encoding="utf-8")
    assert "Burglary (homes)" in [g.name for g in load_groups(groups_file)]

    capsys.readouterr()
    argv = ["--config", str(config), "--store", str(demo_store.root)]
    assert main([*argv, "summary", "--period-end", END, "--format", "json"]) == 0
    cli_rows = {r["group"]: r for r in json.loads(capsys.readouterr().out)}
    assert main([*argv, "change", "--category", "Burglary (homes)", "--period-end", END,
                 "--format", "json"]) == 0  # fmt: skip
    cli_change = json.loads(capsys.readouterr().out)

    settings = Settings(store=demo_store.root, categories=groups_file, tiles="none")
    web = create_app(settings, store=demo_store).test_client()
    web_rows = {r["group"]: r for r in web.get(f"/api/looking-back.json?{QUERY}").get_json()}
    name = quote("Burglary (homes)")
    web_change = web.get(f"/api/category/{name}/change.json?{QUERY}").get_json()

    assert "Burglary (homes)" in cli_rows and "Dwelling burglary" not in cli_rows
    assert cli_rows["Burglary (homes)"]["current"] == web_rows["Burglary (homes)"]["current"]
    assert [r["current"] for r in cli_change] == [r["current"] for r in web_change]
    d2a = next(r for r in cli_change if r["code"] == "D2A")
    assert (d2a["previous"], d2a["current"]) == (7, 33)  # the assessment's D2A burglary figures

    # The report: its looking-back row and its priority section take the new name (the CLI's
    # report and /report are the same document, test_cli_and_web_give_the_same_answer[report]).
    report = run_cli(demo_store, capsys, "--config", str(config), "report", "--period-end",
                     END, "--layer", "beat", "--out", "-")  # fmt: skip
    assert "Burglary (homes)" in report and "Dwelling burglary" not in report


def test_excel_and_geopackage_from_both_faces(
    demo_store: Store, client: Any, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """The change table as Excel, and repeat sites as a GeoPackage, read back the same from
    the CLI's files and the web's downloads."""
    import geopandas as gpd
    import pandas as pd

    out = tmp_path / "change.xlsx"
    run_cli(demo_store, capsys, "change", "--category", "Dwelling burglary", "--period-end",
            END, "--format", "xlsx", "--out", str(out))  # fmt: skip
    web = web_get(client, f"/api/category/{quote('Dwelling burglary')}/change.xlsx?{QUERY}")
    assert web.headers["Content-Disposition"].endswith(".xlsx")  # filename*=UTF-8''...xlsx
    cli_sheet = pd.read_excel(out)
    web_sheet = pd.read_excel(io.BytesIO(web.data))
    columns = ["code", "previous", "current", "change", "label"]
    pd.testing.assert_frame_equal(cli_sheet[columns], web_sheet[columns], check_dtype=False)
    d2a = cli_sheet.set_index("code").loc["D2A"]
    assert (d2a["previous"], d2a["current"]) == (7, 33)

    gpkg = tmp_path / "sites.gpkg"
    run_cli(demo_store, capsys, "repeat-locations", "--period-end", RTC_END, "--format",
            "gpkg", "--out", str(gpkg))  # fmt: skip
    sites = gpd.read_file(gpkg)
    geojson = web_get(client, f"/api/collisions/sites.geojson?period_end={RTC_END}").get_json()
    assert len(sites) == len(geojson["features"]) > 0
    assert sites["count"].tolist() == [f["properties"]["count"] for f in geojson["features"]]
    with pytest.raises(SystemExit):  # a binary format needs a file
        main(["--store", str(demo_store.root), "change", "--format", "gpkg"])
    assert main(["--store", str(demo_store.root), "change", "--format", "xlsx"]) == 2
    assert "--out FILE.xlsx" in capsys.readouterr().err


def test_api_answers_carry_etag_and_last_modified(demo_store: Store, client: Any) -> None:
    first = web_get(client, f"/api/looking-back.json?{QUERY}")
    tag = first.headers["ETag"]
    assert first.headers["Last-Modified"].endswith("GMT")
    again = client.get(f"/api/looking-back.json?{QUERY}", headers={"If-None-Match": tag})
    assert again.status_code == 304
    other = web_get(client, f"/api/looking-back.json?{QUERY}&against=year-earlier")
    assert other.headers["ETag"] != tag


def test_demo_collisions_are_compared_july_to_june_in_both_faces(
    demo_store: Store, client: Any, capsys: pytest.CaptureFixture[str]
) -> None:
    """Collisions end Jun 13 while crime runs to Jul 13: the collision row compares each
    source's own latest twelve months (Jul-Jun), 299 -> 268, and is not significant."""
    cli = json.loads(run_cli(demo_store, capsys, "summary", "--period-end", END, "--format",
                             "json"))  # fmt: skip
    web = web_get(client, f"/api/looking-back.json?{QUERY}").get_json()
    for rows in (cli, web):
        rtc = next(r for r in rows if r["group"] == "Road traffic collisions")
        assert (rtc["previous"], rtc["current"]) == (299, 268)
        assert rtc["pct_change"] == pytest.approx(-10.37, abs=0.01)
        assert rtc["label"] == "no significant change"
        assert "Jul 12 to Jun 13" in rtc["window"]
