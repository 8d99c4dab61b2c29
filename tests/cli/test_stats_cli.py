"""The summary, change and report commands through ``geo_service.cli.main`` on a tiny store."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import box

from geo_service import schema
from geo_service.categories import load_groups
from geo_service.cli import main
from geo_service.cli import stats as stats_cli
from geo_service.coverage import Coverage
from geo_service.errors import NotFoundError
from geo_service.services.tables import CHANGE_COLUMNS
from geo_service.store import FileRecord, LayerInfo, Store

BEATS = {"D2A": (7, 33, "Berkhamsted Castle"), "D1M": (4, 16, "Chaulden & Shrubhill"),
         "D1G": (36, 14, "Highfield and St Pauls")}  # fmt: skip


class FakeStore:
    """The part of :class:`geo_service.store.Store` the stats commands read."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def months(self) -> list[str]:
        return ["2012-01", "2013-01"]

    def version(self) -> str:
        return "v1"

    def is_demo(self) -> bool:
        return False

    def layer_names(self) -> list[str]:
        return ["beat"]

    def coverage(self) -> Coverage:
        """Every month from Aug 2011 to Jul 2013 held, burglaries with their sub-types."""
        months = tuple(f"{y}-{m:02d}" for y in (2011, 2012, 2013) for m in range(1, 13))
        held = tuple(m for m in months if "2011-08" <= m <= "2013-07")
        return Coverage(
            months={"test": held},
            sources={"Burglary": ("test",), "Shoplifting": ("test",)},
            subcategories=frozenset({("test", "Burglary")}),
        )

    def layer(self, name: str) -> gpd.GeoDataFrame:
        if name != "beat":
            raise NotFoundError(f"no area layer {name!r} in store {self.root}; available: beat")
        return gpd.GeoDataFrame(
            {"code": list(BEATS), "name": [v[2] for v in BEATS.values()],
             "population": 5000.0, "households": 2000.0},
            geometry=gpd.GeoSeries([None] * len(BEATS)), crs=schema.CRS,
        )  # fmt: skip

    def incidents(self, **_: object) -> pd.DataFrame:
        rows = []
        for code, (before, after, _name) in BEATS.items():
            burglary = ("Burglary", "Burglary dwelling", code)
            rows += [("2012-01", *burglary)] * before + [("2013-01", *burglary)] * after
        rows += [("2012-02", "Shoplifting", None, "D1G")] * (7241 - 47)
        rows += [("2013-02", "Shoplifting", None, "D1G")] * (6379 - 63)
        frame = pd.DataFrame(rows, columns=["month", "category", "subcategory", "area_beat"])
        frame["x"] = 500000.0
        frame["y"] = 200000.0
        frame["source"] = "test"
        return schema.conform(frame)


@pytest.fixture(autouse=True)
def fake_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stats_cli, "open_store", lambda settings: FakeStore(settings.store))


def test_summary_prints_the_looking_back_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", "--period-end", "2013-07"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Aug 11 to Jul 12 vs Aug 12 to Jul 13 inside beat"
    all_crime = next(line for line in lines if line.lstrip().startswith("All crime"))
    assert all_crime.split()[2:6] == ["7241", "6379", "-862", "-11.9%"]
    order = [g.name for g in load_groups()]
    found = [name for line in lines[2:] for name in order if line.lstrip().startswith(name + " ")]
    assert found == order


def test_summary_json_keeps_full_precision(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", "--period-end", "2013-07", "--format", "json"]) == 0
    records = {r["group"]: r for r in json.loads(capsys.readouterr().out)}
    assert records["All crime"]["pct_change"] == pytest.approx(100 * (6379 - 7241) / 7241)
    assert records["Dwelling burglary"]["previous"] == 47
    assert records["Dwelling burglary"]["current"] == 63


def test_change_ranks_d2a_first(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["change", "--layer", "beat", "--period-end", "2013-07"]
    assert main([*argv, "--category", "Dwelling burglary", "--format", "csv"]) == 0
    from io import StringIO

    table = pd.read_csv(StringIO(capsys.readouterr().out))
    # every column, as the web's change file: the note and the rate's denominator too
    expected = list(CHANGE_COLUMNS)
    expected.insert(expected.index("share"), "note")
    expected.insert(expected.index("p"), "rate_per")
    assert table.columns.tolist() == expected
    first = table.iloc[0]
    assert (first["code"], first["previous"], first["current"], first["change"]) == (
        "D2A",
        7,
        33,
        26,
    )
    assert first["share"] == pytest.approx(100 * 33 / 63, rel=1e-12)
    assert first["pct_change"] == pytest.approx(100 * 26 / 7, rel=1e-12) and first["rank"] == 1
    assert first["rate"] == pytest.approx(16.5)


def test_change_unknown_layer_is_a_one_line_error(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["change", "--layer", "ward", "--period-end", "2013-07"]) == 2
    assert "no area layer 'ward'" in capsys.readouterr().err


def test_report_writes_a_document(tmp_path: Path) -> None:
    out = tmp_path / "report.html"
    assert main(["report", "--period-end", "2013-07", "--out", str(out)]) == 0
    html = out.read_text("utf-8")
    assert (
        "Berkhamsted Castle (D2A) reported the highest number of dwelling burglary offences, "
        "accounting for 52.4% of the total (33 offences), up 26 from 7 the previous year."
    ) in html
    assert "Chaulden &amp; Shrubhill" in html


def test_change_against_the_year_earlier(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["change", "--layer", "beat", "--period-end", "2013-01", "--months", "1"]
    assert main([*argv, "--against", "year-earlier", "--category", "burglary"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "Burglary by beat: Jan 12 vs Jan 13"
    d2a = next(line for line in out.splitlines() if line.lstrip().startswith("D2A"))
    assert d2a.split()[3:7] == ["7", "33", "+26", "+371.4%"]


def test_change_unknown_category_lists_the_allowed(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["change", "--layer", "beat", "--period-end", "2013-07", "--category", "Burglery"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "no category or group 'Burglery'; allowed:" in err and "Dwelling burglary" in err


def test_change_on_a_real_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    """The same command on a store written through the store API (two square beats)."""
    monkeypatch.setattr(stats_cli, "open_store", lambda settings: Store(settings.store))
    store = Store(tmp_path / "store")
    beats = gpd.GeoDataFrame(
        {"code": ["W1", "W2"], "name": ["West", "East"], "parent": [None, None],
         "population": [2000.0, 4000.0], "households": [float("nan")] * 2},
        geometry=[box(0, 0, 1000, 1000), box(1000, 0, 2000, 1000)], crs=schema.CRS,
    )  # fmt: skip

    def assign(incidents: pd.DataFrame, _layers: object) -> pd.DataFrame:
        code = (incidents["x"] >= 1000).map({True: "W2", False: "W1"})
        return incidents.assign(area_beat=code.where(incidents["x"].notna()))

    store.write_layer("beat", beats, info=LayerInfo(path="squares"), assign=assign)
    months = ["2021-01"] * 3 + ["2022-01"] * 9 + ["2022-01"]
    xs = [100.0, 1500.0, 1600.0] + [200.0] * 6 + [1200.0] * 3 + [float("nan")]
    frame = pd.DataFrame(
        {"incident_id": [f"mapped:t:{i}" for i in range(13)], "source": "mapped:t",
         "category": "Drugs", "month": months, "x": xs, "y": [500.0] * 12 + [float("nan")]},
    )  # fmt: skip
    frame = assign(frame, None)
    frame = frame.assign(source_file="t.csv", source_line=range(2, 15))
    record = FileRecord("/in/t.csv", "t.csv", "mapped:t", "t.csv", 13, 0, 0, ("2021-01", "2022-01"))
    store.write_incidents(schema.conform(frame), [record], rejects=pd.DataFrame(), kind="mapped")
    argv = ["--store", str(tmp_path / "store"), "change", "--layer", "beat", "--period-end"]
    argv += ["2022-01", "--months", "1", "--against", "year-earlier", "--category", "Drugs"]
    assert main([*argv, "--format", "json"]) == 0
    rows = {r["code"]: r for r in json.loads(capsys.readouterr().out)}
    assert (rows["W1"]["previous"], rows["W1"]["current"], rows["W1"]["rank"]) == (1, 6, 1)
    assert (rows["W2"]["previous"], rows["W2"]["current"], rows["W2"]["change"]) == (2, 3, 1)
    assert rows["W1"]["rate"] == 3.0 and rows["W2"]["pct_change"] == 50.0
    assert rows["Unallocated"]["current"] == 1 and rows["Unallocated"]["share"] is None


def test_report_refuses_an_unknown_peer_code(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    argv = ["report", "--period-end", "2013-07", "--out", str(tmp_path / "r.html")]
    assert main([*argv, "--peer-layer", "beat", "--peer-code", "E07000096"]) == 2
    assert "peer code 'E07000096' is not an area of layer 'beat'" in capsys.readouterr().err
    assert main([*argv, "--peer-layer", "beat"]) == 2
    assert "peer layer and peer code go together" in capsys.readouterr().err
