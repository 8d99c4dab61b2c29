"""Tests for the ``repeat-locations`` and ``evaluate`` commands on small hand-made stores."""

from __future__ import annotations

import json
from io import StringIO
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import LineString

from geo_service import schema
from geo_service.cli import main
from geo_service.errors import InputError
from geo_service.store import LayerInfo, Store
from tests.cli.conftest import assign_by_x, two_wards, write_rows

X0, Y0 = 500000.0, 200000.0  # a 2 km x 1 km study area: wards W1 (west) and W2 (east)


def _wards() -> gpd.GeoDataFrame:
    return two_wards(X0, Y0, 1000.0)


def _assign_by_x(incidents: pd.DataFrame, layers: object) -> pd.DataFrame:
    return assign_by_x(incidents, X0 + 1000)


@pytest.fixture
def store_dir(tmp_path: Path) -> Path:
    """Collisions: 5 slight + 1 fatal at a junction in W2, 3 elsewhere; burglaries over 6 months."""
    store = Store(tmp_path / "store")
    store.write_layer("ward", _wards(), info=LayerInfo(path="squares"), assign=_assign_by_x)
    junction = [(X0 + 1500 + i, Y0 + 500) for i in range(6)]
    scattered = [(X0 + 100, Y0 + 100), (X0 + 400, Y0 + 400), (X0 + 700, Y0 + 700)]
    collisions = pd.DataFrame(
        {
            "incident_id": [f"stats19:{i}" for i in range(9)],
            "source": "stats19",
            "category": schema.ROAD_TRAFFIC_COLLISION,
            "month": ["2021-03"] * 9,
            "occurred_at": pd.to_datetime(["2021-03-10"] * 9),
            "x": [p[0] for p in junction + scattered],
            "y": [p[1] for p in junction + scattered],
            "severity": ["Fatal"] + ["Slight"] * 8,
            "road_1": ["A41"] * 6 + ["B488"] * 3,
            "road_2": ["A4251"] * 6 + [None] * 3,
        }
    )
    write_rows(store, _assign_by_x(collisions, None), "collisions.csv")
    # burglaries: every month 3 at the same spot in W1, 1 wandering across W2
    rows = []
    for m in range(1, 7):
        month = f"2021-{m:02d}"
        rows += [(X0 + 250, Y0 + 250, month)] * 3 + [(X0 + 1000 + 150 * m, Y0 + 600, month)]
    burglary = pd.DataFrame(rows, columns=["x", "y", "month"])
    burglary["incident_id"] = [f"police_uk:{i}" for i in range(len(burglary))]
    burglary["source"] = "police_uk"
    burglary["category"] = "Burglary"
    write_rows(store, _assign_by_x(burglary, None), "burglary.csv")
    return tmp_path / "store"


def test_repeat_locations_csv(store_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["--store", str(store_dir), "repeat-locations", "--period-end", "2021-12"]) == 0
    table = pd.read_csv(StringIO(capsys.readouterr().out))
    assert len(table) == 1
    site = table.iloc[0]
    assert (site["count"], site["fatal"], site["slight"], site["ksi"]) == (6, 1, 5, 1)
    assert site["road"] == "A41 / A4251"
    assert (site["area_code"], site["area_name"]) == ("W2", "East")


def test_repeat_locations_overrides_and_geojson(store_dir: Path, tmp_path: Path) -> None:
    out = tmp_path / "sites.geojson"
    args = ["--store", str(store_dir), "repeat-locations", "--min-count", "3", "--radius-m", "500"]
    assert main([*args, "--format", "geojson", "--out", str(out)]) == 0
    document = json.loads(out.read_text("utf-8"))
    counts = sorted(f["properties"]["count"] for f in document["features"])
    # the junction (6) and the three scattered collisions, each within 500 m of the middle one
    assert counts == [3, 6]
    lon, lat = document["features"][0]["geometry"]["coordinates"]
    assert -2 < lon < 1 and 51 < lat < 52
    assert main(["--store", str(store_dir), "repeat-locations", "--ksi-only"]) == 0


def test_collisions_per_km(store_dir: Path, tmp_path: Path, capsys) -> None:
    roads = gpd.GeoDataFrame(
        {"road": ["A41"]},
        geometry=[LineString([(X0 + 1000, Y0 + 500), (X0 + 2000, Y0 + 500)])],
        crs=schema.CRS,
    )
    path = tmp_path / "roads.geojson"
    roads.to_file(path, driver="GeoJSON")
    args = ["--store", str(store_dir), "repeat-locations", "--roads", str(path)]
    assert main([*args, "--road-name-col", "road"]) == 0
    table = pd.read_csv(StringIO(capsys.readouterr().out))
    assert table.loc[0, "collisions"] == 6 and table.loc[0, "per_km"] == pytest.approx(6.0)
    assert main(args) == 2  # no "name" column
    assert "--road-name-col" in capsys.readouterr().err


def test_evaluate_json(store_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--store", str(store_dir), "evaluate", "--category", "Burglary", "--cell-m", "100"]
    assert main([*args, "--coverage", "5", "--format", "json"]) == 0
    document = json.loads(capsys.readouterr().out)
    # months 2021-01..06: targets 2021-02..06, origins 2021-01..05
    assert (document["first_origin"], document["last_origin"]) == ("2021-01", "2021-05")
    rows = {r["method"]: r for r in document["rows"]}
    # 200 inside cells, 5 % = 10 cells. At origin t (1..5) the past holds the fixed spot and t
    # wandering cells; next month's 4 burglaries are 3 at the spot and 1 in a never-seen cell,
    # which is among the 200 - 1 - t zero-score cells, of which 10 - 1 - t are selected.
    expected = sum((3 + (9 - t) / (199 - t)) / 4 for t in range(1, 6)) / 5
    assert rows["previous-month"]["area_share"] == pytest.approx(0.05)
    assert rows["previous-12-months"]["hit_rate"] == pytest.approx(expected)
    assert rows["previous-12-months"]["oracle_hit_rate"] == pytest.approx(1.0)
    assert document["best_method"] in rows


def test_evaluate_table_and_errors(store_dir: Path, capsys: pytest.CaptureFixture[str]) -> None:
    args = ["--store", str(store_dir), "evaluate", "--category", "Burglary", "--months", "2"]
    assert main([*args, "--detail"]) == 0
    out = capsys.readouterr().out
    assert "2021-04" in out and "2021-05" in out and "2021-03" not in out
    assert "best method:" in out
    assert main([*args, "--curve", "--format", "csv"]) == 0
    curve = pd.read_csv(StringIO(capsys.readouterr().out))
    assert curve["coverage"].tolist() == list(range(101))
    assert curve["oracle"].iloc[-1] == 1.0 and curve["previous-month"].iloc[0] == 0.0
    assert main([*args, "--coverage", "0,200"]) == 2
    assert "coverage" in capsys.readouterr().err
    assert main(["--store", str(store_dir), "evaluate", "--category", "Robbery"]) == 3


@pytest.mark.parametrize(
    ("flag", "value", "message"),
    [
        ("--radius-m", "1500", "radius_m=1500.0: expected a number from 5 to 1000"),
        ("--min-count", "1", "min_count=1: expected a whole number from 2 to 100"),
        ("--years", "11", "years=11: expected a whole number from 1 to 10"),
    ],
)
def test_repeat_locations_overrides_take_the_pages_ranges(
    store_dir: Path, capsys: pytest.CaptureFixture[str], flag: str, value: str, message: str
) -> None:
    """The command line refuses what the page refuses (one range per override): a radius over
    1,000 m would reach past the 2 km the sites are found within."""
    from geo_service.web import params

    assert main(["--store", str(store_dir), "repeat-locations", flag, value]) == 2
    assert message in capsys.readouterr().err
    with pytest.raises(InputError, match=flag[2:].replace("-", "_")):
        params.rule_options({flag[2:].replace("-", "_"): value}, presets=["default"])
