"""The same police.uk month ingested again under another name, on real files: nothing is stored
twice, and a comparison does not turn a second copy into a "significant increase".

Found by trying the README's own example: ``gunzip -c $D/2021-05-hertfordshire-street.csv.gz |
geo-service ingest police-uk -`` after ingesting the download folder stored the month's 2,516
anti-social behaviour rows a second time (their ids came from the file name), and ``summary``
then printed "ASB incidents ... +166.4% significant increase". Skipped without the shared data.
"""

from __future__ import annotations

import gzip
import io
import json
import shutil
import sys
from pathlib import Path

import pandas as pd
import pytest

from geo_service.cli import main
from geo_service.store import Store
from tests.cases.test_cases_loaders import CASES, EXIT_INPUT_ERROR

ASB = "Anti-social behaviour"


def _herts(shared_data: Path, month: str) -> Path:
    return shared_data / "police-uk-hertfordshire-street" / f"{month}-hertfordshire-street.csv.gz"


def _ingest(store: Path, capsys: pytest.CaptureFixture[str], *paths: str) -> tuple[int, dict]:  # type: ignore[type-arg]
    """Exit status and JSON summary (the error text instead when refused)."""
    capsys.readouterr()
    code = main(["--store", str(store), "ingest", "police-uk", *paths, "--json"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if code == 0 else {"error": captured.err}


def _asb(store: Path, month: str) -> int:
    rows = Store(store).incidents(month_from=month, month_to=month, columns=["category"])
    return int((rows["category"] == ASB).sum())


def test_a_month_piped_again_stores_nothing_twice(
    shared_data: Path, tmp_path: Path, monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
) -> None:  # fmt: skip
    store = tmp_path / "store"
    may = _herts(shared_data, "2021-05")
    assert _ingest(store, capsys, str(may))[0] == 0
    expected = int((pd.read_csv(may)["Crime type"] == ASB).sum())  # plain pandas: 2516
    assert expected == 2516 and _asb(store, "2021-05") == expected
    text = gzip.decompress(may.read_bytes())
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(text)))
    code, summary = _ingest(store, capsys, "-")
    assert code == 0 and (summary["stored"], summary["duplicates"]) == (0, 8961)
    # A renamed copy and a browser's second download: the same.
    for name in ("2021-05-x-street.csv", "2021-05-hertfordshire-street (1).csv"):
        (tmp_path / name).write_bytes(text)
        code, summary = _ingest(store, capsys, str(tmp_path / name))
        assert code == 0 and (summary["stored"], summary["duplicates"]) == (0, 8961)
    assert _asb(store, "2021-05") == expected
    capsys.readouterr()
    args = ["--store", str(store), "summary", "--period-end", "2021-05", "--months", "1",
            "--format", "json"]  # fmt: skip
    assert main(args) == 0
    rows = json.loads(capsys.readouterr().out)
    row = next(r for r in rows if r["group"] == "ASB incidents")
    assert (row["previous"], row["current"]) == (None, expected)  # May 2020 is not held
    assert row["label"] == "no data for the earlier period"


def test_a_spreadsheet_resaved_month_under_another_name_is_the_same_month(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Case 02's January, re-saved by Excel (BOM, CRLF, ``Jan-21``), then its fixed copy
    under a browser's second-download name: every row, ASB included, is a duplicate."""
    folder = CASES / "02-police-uk-excel-resaved"
    if not folder.is_dir():
        pytest.skip(f"real-file case 02 not found beside the checkout ({CASES})")
    store = tmp_path / "store"
    assert _ingest(store, capsys, str(folder / "2021-01-hertfordshire-street.csv"))[0] == 0
    copy = tmp_path / "2021-01-hertfordshire-street (1).csv"
    shutil.copy(folder / "fixed" / "2021-01-hertfordshire-street.csv", copy)
    code, summary = _ingest(store, capsys, str(copy))
    assert code == 0 and (summary["stored"], summary["duplicates"]) == (0, 40)


def test_a_revised_month_under_another_name_is_refused(
    shared_data: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = tmp_path / "store"
    may = _herts(shared_data, "2021-05")
    assert _ingest(store, capsys, str(may))[0] == 0
    frame = pd.read_csv(may, dtype=str, keep_default_na=False)
    asb = frame.index[frame["Crime type"] == ASB][:3]
    frame.loc[asb, "Location"] = "On or near Somewhere Else"  # as a re-publication might
    revised = tmp_path / "2021-05-hertfordshire-street (1).csv"
    frame.to_csv(revised, index=False)
    version = Store(store).version()
    code, summary = _ingest(store, capsys, str(revised))
    err = summary["error"]
    assert code == EXIT_INPUT_ERROR
    assert "it has 3 row(s) without an id of their own" in err  # the 3 changed rows
    assert "lacks such rows of 2021-05-hertfordshire-street.csv.gz (3)" in err
    assert "geo-service remove '2021-05-hertfordshire-street.csv.gz'" in err
    assert Store(store).version() == version and _asb(store, "2021-05") == 2516
