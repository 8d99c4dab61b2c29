"""A month a source holds only in part (one stray row) is no data, never a month to compare."""

from __future__ import annotations

import io
from pathlib import Path

import pandas as pd

from geo_service.cli import main
from geo_service.coverage import partial_months
from tests.store.conftest import P_W1, police_row, write_police_csv


def _counts(rows: dict[str, int], source: str = "police_uk") -> pd.DataFrame:
    return pd.DataFrame({"source": source, "month": list(rows), "rows": list(rows.values())})


def test_partial_months_by_hand() -> None:
    # medians of the other months: Jan 200 (Feb 199, Mar 1 -> 100), Mar 199.5 -> 1 < 5 % of it
    assert partial_months(_counts({"2021-01": 200, "2021-02": 199, "2021-03": 1})) == {
        "police_uk": ("2021-03",)
    }
    # 9 is not under 5 % of a usual 180 (9.0): kept
    assert partial_months(_counts({"2021-01": 180, "2021-02": 180, "2021-03": 9})) == {}
    # a sparse source (usual month under 50 rows) keeps its quiet months
    assert partial_months(_counts({"2021-01": 40, "2021-02": 40, "2021-03": 1})) == {}
    # one month alone is never partial
    assert partial_months(_counts({"2021-03": 1})) == {}


def test_a_stray_row_of_a_later_month_is_not_compared(tmp_path: Path, capsys) -> None:
    rows = [police_row(f"f{i}", "2021-02", P_W1, "Burglary") for i in range(199)]
    rows.append(police_row("m1", "2021-03", P_W1, "Burglary"))
    path = write_police_csv(tmp_path / "mycrimes.csv", rows)  # no month in the name
    store = str(tmp_path / "store")
    assert main(["-q", "--store", store, "ingest", "police-uk", str(path)]) == 0
    capsys.readouterr()
    assert main(["--store", store, "summary", "--format", "csv"]) == 0
    table = pd.read_csv(io.StringIO(capsys.readouterr().out)).set_index("group")
    # the default period ends at the latest month fully held (Feb 21), not at the stray March:
    # Feb 21 against Jan 21, which is no data; never 199 -> 1, "significant decrease"
    assert table.loc["Burglary", "current"] == 199 and pd.isna(table.loc["Burglary", "previous"])
    assert table.loc["Burglary", "label"] == "no data for the earlier period"
    # asked for the stray month itself: refused, naming the months held in full
    assert main(["--store", store, "summary", "--period-end", "2021-03", "--format", "csv"]) == 2
    captured = capsys.readouterr()
    assert captured.out == ""
    assert "expected a month between 2021-02 and 2021-02" in captured.err
