"""Real-file cases 01, 02, 03, 10, 13 and 17 (``../shared/cases/real-files``), through the CLI.

Each test runs the commands of the case's README with :func:`geo_service.cli.main` in-process
and asserts the README's expected result. The Dacorum store of ``new-store.sh`` (2013 wards and
LSOAs from ``../shared/data``) is built once and copied for each test. Skipped when the cases or
the shared data are not beside the checkout.
"""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pandas as pd
import pyproj
import pytest

from geo_service.cli import main
from geo_service.errors import InputError
from geo_service.sources import load_mapped, load_police_uk
from geo_service.store import Store

CASES = Path(__file__).resolve().parents[2].parent / "shared" / "cases" / "real-files"
EXIT_INPUT_ERROR = getattr(InputError, "exit_code", 2)


def _case(name: str) -> Path:
    folder = CASES / name
    if not folder.is_dir():
        pytest.skip(f"real-file case {name} not found beside the checkout ({CASES})")
    return folder


@pytest.fixture(scope="module")
def dacorum_store(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """What ``new-store.sh`` makes: Dacorum 2013 wards and LSOAs."""
    folder = shared_data / "ons-boundaries-uk-geojson" / "dacorum"
    store = tmp_path_factory.mktemp("cases") / "store"
    for layer, name in (("ward", "dacorum_wards.geojson"), ("lsoa", "dacorum_lsoa.geojson")):
        assert main(["--store", str(store), "boundaries", "add", layer, str(folder / name)]) == 0
    return store


@pytest.fixture
def store(dacorum_store: Path, tmp_path: Path) -> Path:
    copy = tmp_path / "store"
    shutil.copytree(dacorum_store, copy)
    return copy


def _ingest(store: Path, capsys: pytest.CaptureFixture[str], *args: str) -> tuple[int, dict, str]:  # type: ignore[type-arg]
    capsys.readouterr()
    code = main(["--store", str(store), "ingest", *args, "--json"])
    captured = capsys.readouterr()
    return code, json.loads(captured.out) if code == 0 else {}, captured.err


def _counts(summary: dict) -> tuple[int, int, int, int]:  # type: ignore[type-arg]
    return (summary["rows_read"], summary["stored"], summary["duplicates"], summary["rejected"])


def test_01_identical_rows_stored_once(store: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _case("01-police-uk-identical-rows") / "2022-08-greater-manchester-street.csv"
    code, summary, _ = _ingest(store, capsys, "police-uk", str(path))
    assert code == 0
    assert _counts(summary) == (14, 2, 12, 0)
    assert summary["duplicates_in_files"] == 12


def test_02_excel_resaved_month_read_as_the_file_names_month(
    store: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    folder = _case("02-police-uk-excel-resaved")
    january, february = (folder / f"2021-0{m}-hertfordshire-street.csv" for m in (1, 2))
    code, summary, _ = _ingest(store, capsys, "police-uk", str(january), str(february))
    assert code == 0
    assert _counts(summary) == (80, 80, 0, 0)
    assert [f["months"] for f in summary["files"]] == [["2021-01"], ["2021-02"]]
    assert "Month was reformatted by a spreadsheet ('Jan-21' -> 2021-01)" in caplog.text
    stored = Store(store).incidents(columns=["month"])["month"].value_counts().to_dict()
    assert stored == {"2021-01": 40, "2021-02": 40}
    # Read exactly as the file with 2021-01 put back.
    fixed = load_police_uk(folder / "fixed" / january.name).incidents
    pd.testing.assert_frame_equal(load_police_uk(january).incidents, fixed)


def test_02_excel_month_that_disagrees_with_the_file_name_is_refused(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    source = _case("02-police-uk-excel-resaved") / "2021-01-hertfordshire-street.csv"
    renamed = tmp_path / "2021-02-hertfordshire-street.csv"
    shutil.copyfile(source, renamed)
    version = Store(store).version()
    code, _, err = _ingest(store, capsys, "police-uk", str(renamed))
    assert code == EXIT_INPUT_ERROR
    assert "does not agree with the month 2021-02 in the file name" in err
    assert "'Jan-21' reads as 2021-01" in err
    assert Store(store).version() == version


def test_03_semicolon_and_decimal_comma_read(
    store: Path, capsys: pytest.CaptureFixture[str], caplog: pytest.LogCaptureFixture
) -> None:
    folder = _case("03-police-uk-semicolon-decimal-comma")
    semicolon, quoted = folder / "2021-01-hertfordshire-street.csv", folder / "quoted"
    code, summary, _ = _ingest(store, capsys, "police-uk", str(semicolon))
    assert code == 0 and _counts(summary) == (20, 20, 0, 0)
    assert "fields are separated by ';'" in caplog.text
    code, summary, _ = _ingest(store, capsys, "police-uk", str(quoted / semicolon.name))
    assert code == 0 and _counts(summary)[1] + _counts(summary)[2] == 20
    # Independent reference: pandas with the separator and decimal mark named, then pyproj.
    raw = pd.read_csv(semicolon, sep=";", decimal=",", dtype={"Longitude": float})
    to_bng = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True)
    x, y = to_bng.transform(raw["Longitude"].to_numpy(), raw["Latitude"].to_numpy())
    for path in (semicolon, quoted / semicolon.name):
        rows = load_police_uk(path).incidents
        assert np.allclose(rows["x"], x, atol=0.01) and np.allclose(rows["y"], y, atol=0.01)


def test_10_fallback_coordinates_place_every_fire(
    store: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _case("10-lfb-redacted-coordinates")
    mapping = tmp_path / "lfb_fallback.toml"
    text = (folder / "lfb_exact.toml").read_text()
    text = text.replace('x = "Easting_m"', 'x = ["Easting_m", "Easting_rounded"]')
    mapping.write_text(text.replace('y = "Northing_m"', 'y = ["Northing_m", "Northing_rounded"]'))
    data = folder / "lfb_style_incidents_2021.csv"
    code, summary, _ = _ingest(store, capsys, "mapped", "--mapping", str(mapping), str(data))
    assert code == 0
    assert _counts(summary) == (8, 8, 0, 0)
    assert (summary["without_location"], summary["outside_every_area"]) == (0, 0)
    assert summary["located_by_fallback"] == 3
    rows = Store(store).incidents().sort_values("source_line")
    assert rows["area_ward"].notna().sum() == 8
    raw = pd.read_csv(data, dtype=str, keep_default_na=False)
    exact = raw["Easting_m"] != "NULL"
    assert int(exact.sum()) == 5
    expected_x = np.where(exact, raw["Easting_m"], raw["Easting_rounded"]).astype(float)
    assert rows["x"].tolist() == expected_x.tolist()
    fallback = "fall-back (Easting_rounded, Northing_rounded)"
    assert rows["location_precision"].tolist() == [
        "exact" if e else fallback for e in exact.tolist()
    ]


def test_10_shipped_lfb_mapping_places_every_fire() -> None:
    data = _case("10-lfb-redacted-coordinates") / "lfb_style_incidents_2021.csv"
    mapping = Path(__file__).resolve().parents[2] / "geo_service/data/mappings/lfb_incidents.toml"
    result = load_mapped(data, mapping=mapping)
    assert (len(result.incidents), len(result.rejects), result.located_by_fallback) == (8, 0, 3)
    assert result.incidents["x"].notna().all()
    assert result.incidents["location_precision"].value_counts().to_dict() == {
        "exact": 5, "rounded up to 50 m": 3,
    }  # fmt: skip


def test_13_northern_ireland_without_lsoa(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _case("13-police-uk-northern-ireland")
    store = tmp_path / "store"
    wards = folder / "ni_example_wards_irish_grid.gpkg"
    assert main(["--store", str(store), "boundaries", "add", "ward", str(wards)]) == 0
    path = folder / "2023-05-police-service-of-northern-ireland-street.csv"
    code, summary, _ = _ingest(store, capsys, "police-uk", str(path))
    assert code == 0
    assert _counts(summary) == (6, 6, 0, 0)
    assert (summary["without_location"], summary["outside_every_area"]) == (1, 0)
    rows = Store(store).incidents()
    assert rows["reported_by"].unique().tolist() == ["Police Service of Northern Ireland"]
    assert rows.loc[rows["x"].notna(), "area_ward"].notna().sum() == 5


def test_17_download_folder_reads_only_street_files(
    store: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    month = _case("17-police-uk-download-with-outcomes-stop-search") / "2021-01"
    code, summary, _ = _ingest(store, capsys, "police-uk", str(month))
    assert code == 0 and _counts(summary) == (30, 30, 0, 0)
    version = Store(store).version()
    outcomes = month / "2021-01-hertfordshire-outcomes.csv"
    code, _, err = _ingest(store, capsys, "police-uk", str(outcomes))
    assert code == EXIT_INPUT_ERROR
    assert "missing column(s) Crime type, Last outcome category" in err
    stop_search = month / "2021-01-hertfordshire-stop-and-search.csv"
    code, _, err = _ingest(store, capsys, "police-uk", str(stop_search))
    assert code == EXIT_INPUT_ERROR
    assert "not a police.uk street-level crime file: missing column(s) Crime ID, Month" in err
    assert Store(store).version() == version
