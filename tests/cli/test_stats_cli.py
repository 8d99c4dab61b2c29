"""The summary, change and report commands through ``geo_service.cli.main`` on a tiny store."""

from __future__ import annotations

import json
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest

from geo_service import schema
from geo_service.categories import load_groups
from geo_service.cli import main
from geo_service.cli import stats as stats_cli
from geo_service.errors import NotFoundError

BEATS = {"D2A": (7, 33, "Berkhamsted Castle"), "D1M": (4, 16, "Chaulden & Shrubhill"),
         "D1G": (36, 14, "Highfield and St Pauls")}  # fmt: skip


class FakeStore:
    """The part of :class:`geo_service.store.Store` the stats commands read."""

    def __init__(self, root: Path) -> None:
        self.root = root

    def months(self) -> list[str]:
        return ["2012-01", "2013-01"]

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
        return schema.conform(frame)


@pytest.fixture(autouse=True)
def fake_store(monkeypatch: pytest.MonkeyPatch) -> None:
    monkeypatch.setattr(stats_cli, "Store", FakeStore)


def test_summary_prints_the_looking_back_table(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", "--period-end", "2013-07"]) == 0
    lines = capsys.readouterr().out.splitlines()
    assert lines[0] == "Aug 11 to Jul 12 vs Aug 12 to Jul 13"
    all_crime = next(line for line in lines if line.lstrip().startswith("All crime"))
    assert all_crime.split()[2:6] == ["7241", "6379", "-862", "-11.9%"]
    order = [g.name for g in load_groups()]
    found = [name for line in lines[2:] for name in order if line.lstrip().startswith(name + " ")]
    assert found == order


def test_summary_json_has_rounded_numbers(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["summary", "--period-end", "2013-07", "--format", "json"]) == 0
    records = {r["group"]: r for r in json.loads(capsys.readouterr().out)}
    assert records["All crime"]["pct_change"] == -11.9
    assert records["Dwelling burglary"]["previous"] == 47
    assert records["Dwelling burglary"]["current"] == 63


def test_change_ranks_d2a_first(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["change", "--layer", "beat", "--period-end", "2013-07"]
    assert main([*argv, "--category", "Dwelling burglary", "--format", "csv"]) == 0
    from io import StringIO

    table = pd.read_csv(StringIO(capsys.readouterr().out))
    assert table.columns.tolist() == list(stats_cli.CHANGE_OUTPUT)
    first = table.iloc[0]
    assert (first["code"], first["previous"], first["current"], first["change"]) == (
        "D2A",
        7,
        33,
        26,
    )
    assert first["share"] == round(100 * 33 / 63, 1)
    assert first["pct_change"] == 371.4 and first["rank"] == 1
    assert first["rate"] == 16.5


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
    assert main([*argv, "--against", "year-earlier", "--category", "Burglary"]) == 0
    out = capsys.readouterr().out
    assert out.splitlines()[0] == "Burglary by beat: Jan 12 vs Jan 13"
    d2a = next(line for line in out.splitlines() if line.lstrip().startswith("D2A"))
    assert d2a.split()[3:7] == ["7", "33", "+26", "+371.4%"]


def test_change_unknown_category_lists_the_allowed(capsys: pytest.CaptureFixture[str]) -> None:
    argv = ["change", "--layer", "beat", "--period-end", "2013-07", "--category", "Burglery"]
    assert main(argv) == 2
    err = capsys.readouterr().err
    assert "'Burglery' is neither a group nor a category" in err and "Dwelling burglary" in err
