"""The STATS19 real-file cases (../shared/cases/real-files 08, 09, 12), run as a user would.

Each test follows its case README: the command, then the expected result it states.
"""

from __future__ import annotations

import logging
import os
from io import StringIO
from pathlib import Path

import pandas as pd
import pytest

from geo_service.cli import main
from geo_service.store import Store

_BESIDE_CHECKOUT = Path(__file__).resolve().parents[2].parent / "shared"
SHARED = Path(os.environ.get("GEO_SERVICE_SHARED_DATA", _BESIDE_CHECKOUT / "data")).parent
CASES = SHARED / "cases" / "real-files"
WARDS = SHARED / "data" / "ons-boundaries-uk-geojson" / "dacorum" / "dacorum_wards.geojson"


@pytest.fixture
def cases() -> Path:
    """The real-file cases folder; skips the test when it or the Dacorum wards are absent."""
    if not CASES.is_dir() or not WARDS.is_file():
        pytest.skip(f"real-file cases not found at {CASES} (or the wards at {WARDS})")
    return CASES


def _new_store(path: Path) -> Path:
    """A store with the real Dacorum 2013 wards, as the cases' new-store.sh makes it."""
    assert main(["--store", str(path), "boundaries", "add", "ward", str(WARDS)]) == 0
    return path


def test_08_junction_codes_2024_and_historic(
    cases: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = _new_store(tmp_path / "store")
    extract = cases / "08-stats19-2024-junction-codes"
    extract = extract / "dft-road-casualty-statistics-collision-2024-extract.csv"
    with caplog.at_level(logging.WARNING):
        assert main(["--store", str(store), "ingest", "stats19", str(extract)]) == 0
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    rows = Store(store).incidents().set_index("incident_id").sort_index()
    assert rows["junction"].tolist() == [
        "Other junction",  # junction_detail 19 (historic 9)
        "Roundabout",  # -1, historic 1
        "Mini-roundabout",  # -1, historic 2
        "T or staggered junction",  # 13 (historic 3)
        "Not at junction or within 20 metres",  # 0
    ]
    # the 2024 layout's severity adjustment and highway authority are kept
    assert rows["adjusted_serious"].tolist() == [0.0] * 5
    assert rows["adjusted_slight"].tolist() == [1.0] * 5
    assert rows["highway_authority"].tolist() == ["E10000015"] * 5


def test_09_download_folder_links_casualties(
    cases: Path, tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    folder = cases / "09-stats19-folder-with-casualty-vehicle" / "dft-2024"
    store = _new_store(tmp_path / "store")
    with caplog.at_level(logging.INFO):
        assert main(["--store", str(store), "ingest", "stats19", str(folder)]) == 0
    messages = [r.getMessage() for r in caplog.records]
    vehicle = folder / "dft-road-casualty-statistics-vehicle-2024.csv"
    assert f"{vehicle}: linked: STATS19 vehicle table, 5 vehicles" in messages
    assert not [m for m in messages if "skipped" in m]
    casualty = folder / "dft-road-casualty-statistics-casualty-2024.csv"
    assert f"{casualty}: linked: STATS19 casualty table, 5 casualties" in messages
    rows = Store(store).incidents()
    assert len(rows) == 5
    # one slight casualty (class 1 driver, type -1) per collision in the casualty table
    assert rows["casualties"].tolist() == [1] * 5
    figures = ["ksi_casualties", "pedestrian_casualties", "cyclist_casualties"]
    assert rows[[*figures, "motorcyclist_casualties"]].to_numpy().tolist() == [[0, 0, 0, 0]] * 5
    # one vehicle row per collision in the vehicle table, each vehicle_type 9 (car)
    vehicles = ["vehicles", "motorcycles_involved", "pedal_cycles_involved", "hgvs_involved"]
    assert rows[vehicles].to_numpy().tolist() == [[1, 0, 0, 0]] * 5


def test_09_casualty_table_alone_says_what_it_is(
    cases: Path, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = cases / "09-stats19-folder-with-casualty-vehicle" / "dft-2024"
    store = _new_store(tmp_path / "store")
    casualty = folder / "dft-road-casualty-statistics-casualty-2024.csv"
    assert main(["--store", str(store), "ingest", "stats19", str(casualty)]) != 0
    error = capsys.readouterr().err
    assert f"{casualty}: a STATS19 casualty table" in error
    assert "give the collision table too, or the download folder holding both" in error
    assert Store(store).incidents().empty


@pytest.mark.parametrize("form", ["labels", "codes"])
def test_12_labels_read_like_codes(
    cases: Path,
    tmp_path: Path,
    form: str,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    folder = cases / "12-stats19-decoded-labels"
    store = _new_store(tmp_path / "store")
    path = folder / form / "Accident_Information.csv"
    with caplog.at_level(logging.WARNING):
        assert main(["--store", str(store), "ingest", "stats19", str(path)]) == 0
    assert not [r for r in caplog.records if r.levelno >= logging.WARNING]
    rows = Store(store).incidents()
    stored = rows[["road_1", "road_2", "urban_rural", "junction"]].drop_duplicates()
    assert stored.to_numpy().tolist() == [
        ["A4146", "Unclassified", "Rural", "T or staggered junction"]
    ]
    assert rows["speed_limit"].tolist() == [60] * 7
    assert rows["highway_authority"].tolist() == ["E10000015"] * 7  # "Hertfordshire" decoded
    capsys.readouterr()
    base = ["--store", str(store), "repeat-locations", "--period-end", "2014-12", "--layer", "ward"]
    assert main([*base, "--rule", "somerset"]) == 0
    sites = pd.read_csv(StringIO(capsys.readouterr().out))
    assert len(sites) == 1
    site = sites.iloc[0]
    assert (site["count"], site["radius_m"], site["area_name"]) == (7, 100.0, "Watling")
    # the file holds collisions from 2012 only: the years before it are no data, never 0
    assert site["by_year"] == "2010: no data; 2011: no data; 2012: 3; 2013: 2; 2014: 2"
    assert main([*base, "--min-count", "4", "--radius-m", "100", "--years", "5"]) == 0
    sites = pd.read_csv(StringIO(capsys.readouterr().out))
    assert sites["road"].tolist() == ["A4146 / Unclassified"]
