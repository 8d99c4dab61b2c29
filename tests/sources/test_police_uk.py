"""Tests for the police.uk street-level loader, including the bad-input catalogue."""

from __future__ import annotations

import gzip
import logging
import re
from pathlib import Path

import numpy as np
import pandas as pd
import pyproj
import pytest

from geo_service.errors import InputError
from geo_service.schema import INCIDENT_COLUMNS
from geo_service.sources import LOADERS, LoadResult, load_police_uk

HEADER = (
    "Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,LSOA name,"
    "Crime type,Last outcome category,Context"
)
FORCE = "Hertfordshire Constabulary,Hertfordshire Constabulary"
#: Hemel Hempstead town centre (a police.uk map point) and a second point in Tring.
HEMEL = "-0.474600,51.752600"
TRING = "-0.659000,51.795000"
FIXTURES = Path(__file__).resolve().parents[1] / "data" / "sources"


def _row(crime_id: str, month: str, lonlat: str, crime_type: str, **kw: str) -> str:
    location = kw.get("location", "On or near Marlowes")
    lsoa = kw.get("lsoa", "E01023700,Dacorum 010A")
    outcome = kw.get("outcome", "Under investigation")
    return f"{crime_id},{month},{FORCE},{lonlat},{location},{lsoa},{crime_type},{outcome},"


def _write(folder: Path, name: str, rows: list[str], *, header: str = HEADER) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text("\n".join([header, *rows]) + "\n", encoding="utf-8")
    return path


def _accounted(result: LoadResult) -> None:
    assert result.rows_read == len(result.incidents) + result.duplicates + len(result.rejects)
    assert list(result.incidents.columns) == list(INCIDENT_COLUMNS)
    assert {str(t) for t in result.incidents.dtypes} == set(INCIDENT_COLUMNS.values())


def _reference_bng(lon: float, lat: float) -> tuple[float, float]:
    """Independent transform: pyproj's default EPSG:4326 -> EPSG:27700 operation."""
    transformer = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True)
    x, y = transformer.transform(lon, lat)
    return float(x), float(y)


def test_loads_rows_with_canonical_values(tmp_path: Path) -> None:
    path = _write(
        tmp_path,
        "2021-01-hertfordshire-street.csv",
        [
            _row("aaa1", "2021-01", HEMEL, "Burglary"),
            _row("", "2021-01", TRING, "Anti-social behaviour", outcome=""),
            _row("aaa2", "2021-01", ",", "Drugs", lsoa="E01023701,Dacorum 010B"),
        ],
    )
    result = load_police_uk(path)
    _accounted(result)
    frame = result.incidents
    assert result.rows_read == 3 and result.duplicates == 0 and result.rejects.empty
    ids = frame["incident_id"].tolist()
    assert ids[0] == "police_uk:aaa1" and ids[2] == "police_uk:aaa2"
    assert re.fullmatch(r"police_uk:asb:[0-9]+:0", ids[1])
    assert frame["source"].unique().tolist() == ["police_uk"]
    assert frame["category"].tolist() == ["Burglary", "Anti-social behaviour", "Drugs"]
    assert frame["subcategory"].isna().all() and frame["occurred_at"].isna().all()
    assert frame["outcome"].tolist()[0] == "Under investigation"
    assert pd.isna(frame["outcome"].iloc[1])
    assert frame["source_line"].tolist() == [2, 3, 4]
    assert frame["source_file"].unique().tolist() == ["2021-01-hertfordshire-street.csv"]
    # A row without coordinates is kept, with its LSOA code.
    assert np.isnan(frame["x"].iloc[2]) and frame["lsoa_code"].iloc[2] == "E01023701"
    expected = _reference_bng(-0.4746, 51.7526)
    assert frame["x"].iloc[0] == pytest.approx(expected[0], abs=0.01)
    assert frame["y"].iloc[0] == pytest.approx(expected[1], abs=0.01)
    assert result.files[0].rows == 3 and result.files[0].months == ("2021-01",)
    assert LOADERS["police-uk"] is load_police_uk


def test_folders_several_forces_and_months_sorted(tmp_path: Path) -> None:
    download = tmp_path / "download"
    _write(
        download / "2021-02",
        "2021-02-bedfordshire-street.csv",
        [_row("b2", "2021-02", HEMEL, "Drugs")],
    )
    _write(
        download / "2021-01",
        "2021-01-hertfordshire-street.csv",
        [_row("h1", "2021-01", HEMEL, "Drugs")],
    )
    _write(
        download / "2021-01",
        "2021-01-bedfordshire-street.csv",
        [_row("b1", "2021-01", TRING, "Drugs")],
    )
    _write(download / "2021-01", "2021-01-hertfordshire-outcomes.csv", ["not,a,street,file"])
    result = load_police_uk([download])
    _accounted(result)
    assert [f.path.name for f in result.files] == [
        "2021-01-bedfordshire-street.csv",
        "2021-01-hertfordshire-street.csv",
        "2021-02-bedfordshire-street.csv",
    ]
    assert result.incidents["incident_id"].tolist() == [
        "police_uk:b1",
        "police_uk:h1",
        "police_uk:b2",
    ]
    assert sorted(result.incidents["month"].unique()) == ["2021-01", "2021-02"]


def test_repeated_crime_ids_stored_once_and_asb_never_merged(tmp_path: Path) -> None:
    same_asb = _row("", "2021-01", HEMEL, "Anti-social behaviour", outcome="")
    path = _write(
        tmp_path,
        "2021-01-x-street.csv",
        [
            _row("dup", "2021-01", HEMEL, "Robbery"),
            same_asb,
            same_asb,
            _row("dup", "2021-01", TRING, "Robbery"),  # same id, different point
        ],
    )
    result = load_police_uk(path)
    _accounted(result)
    assert result.duplicates == 1 and len(result.incidents) == 3
    kept = result.incidents.set_index("incident_id")
    assert kept.loc["police_uk:dup", "source_line"] == 2  # the first row read is stored
    assert result.duplicate_rows[["line", "first_line"]].to_numpy().tolist() == [[5, 2]]
    asb = result.incidents[result.incidents["category"] == "Anti-social behaviour"]
    assert len(asb) == 2 and asb["incident_id"].is_unique


def _asb_ids(folder: Path, name: str, rows: list[str]) -> list[str]:
    return load_police_uk(_write(folder, name, rows)).incidents["incident_id"].tolist()


def test_asb_ids_come_from_the_rows_not_the_file_name(tmp_path: Path) -> None:
    asb = _row("", "2021-01", HEMEL, "Anti-social behaviour", outcome="")
    other = _row("", "2021-01", TRING, "Anti-social behaviour", outcome="")
    rows = [asb, asb, other, asb]
    plain = _asb_ids(tmp_path / "a", "2021-01-x-street.csv", rows)
    # police.uk repeats identical rows at one map point: numbered, never merged.
    digests = [i.rsplit(":", 1)[0] for i in plain]
    assert digests[0] == digests[1] == digests[3] != digests[2]
    assert [i.rsplit(":", 1)[1] for i in plain] == ["0", "1", "0", "2"]
    # The same rows under other names, gzipped, or re-saved with trailing zeros dropped.
    assert _asb_ids(tmp_path / "b", "2021-01-x-street (1).csv", rows) == plain
    assert _asb_ids(tmp_path / "c", "copy.csv", rows) == plain
    packed = tmp_path / "d" / "2021-01-hertfordshire-street.csv.gz"
    packed.parent.mkdir()
    packed.write_bytes(gzip.compress((tmp_path / "a" / "2021-01-x-street.csv").read_bytes()))
    assert load_police_uk(packed).incidents["incident_id"].tolist() == plain
    resaved = [r.replace("-0.474600,51.752600", "-0.4746,51.7526") for r in rows]
    assert _asb_ids(tmp_path / "e", "2021-01-x-street.csv", resaved) == plain
    # Any field that tells two incidents apart gives another id.
    changed = {
        "location": _row("", "2021-01", HEMEL, "Anti-social behaviour", outcome="",
                         location="On or near Waterhouse Street"),
        "lsoa": _row("", "2021-01", HEMEL, "Anti-social behaviour", outcome="",
                     lsoa="E01023701,Dacorum 010B"),
        "point": _row("", "2021-01", "-0.474601,51.752600", "Anti-social behaviour",
                      outcome=""),
        "force": asb.replace(FORCE, "Bedfordshire Police,Bedfordshire Police"),
    }  # fmt: skip
    for what, row in changed.items():
        assert _asb_ids(tmp_path / what, "2021-01-x-street.csv", [row])[0] != plain[0], what
    february = _row("", "2021-02", HEMEL, "Anti-social behaviour", outcome="")
    assert _asb_ids(tmp_path / "feb", "2021-02-x-street.csv", [february])[0] != plain[0]


# --- the bad-input catalogue: each a clear InputError or a reject line, never a traceback ---


@pytest.mark.parametrize("content", [b"", b"\n\n  \n"])
def test_empty_file_is_an_input_error(tmp_path: Path, content: bytes) -> None:
    path = tmp_path / "2021-01-x-street.csv"
    path.write_bytes(content)
    with pytest.raises(InputError, match=r"2021-01-x-street\.csv: file is empty"):
        load_police_uk(path)


def test_header_only_is_refused(tmp_path: Path) -> None:
    path = _write(tmp_path, "2021-01-x-street.csv", [])
    with pytest.raises(InputError, match=r"x-street\.csv: has a header line but no rows"):
        load_police_uk(path)


def test_wrong_header_names_missing_columns(tmp_path: Path) -> None:
    path = _write(tmp_path, "2021-01-x-street.csv", ["a,b"], header="Crime ID,Month")
    with pytest.raises(InputError) as caught:
        load_police_uk(path)
    message = str(caught.value)
    assert "2021-01-x-street.csv" in message
    assert "missing column(s) Longitude, Latitude, Location, LSOA code, Crime type" in message


def test_utf8_bom_is_ignored(tmp_path: Path) -> None:
    path = tmp_path / "2021-01-x-street.csv"
    path.write_bytes(
        ("\ufeff" + HEADER + "\n" + _row("c1", "2021-01", HEMEL, "Drugs") + "\n").encode()
    )
    result = load_police_uk(path)
    _accounted(result)
    assert result.incidents["incident_id"].tolist() == ["police_uk:c1"]


@pytest.mark.parametrize("blank_line", ["", "\n"])  # fast path, and line-by-line path
def test_latin1_text_loads_with_correct_characters(
    tmp_path: Path, caplog: pytest.LogCaptureFixture, blank_line: str
) -> None:
    path = tmp_path / "2021-01-x-street.csv"
    row = _row("c1", "2021-01", HEMEL, "Drugs", location="On or near Café Rouge")
    path.write_bytes(f"{HEADER}\n{blank_line}{row}\n".encode("latin-1"))
    with caplog.at_level(logging.WARNING):
        result = load_police_uk(path)
    assert result.incidents["location_text"].tolist() == ["On or near Café Rouge"]
    assert result.incidents["source_line"].tolist() == [2 + len(blank_line)]
    assert "not UTF-8 text; reading it as Windows-1252" in caplog.text


def test_bad_rows_become_rejects_with_exact_lines(tmp_path: Path) -> None:
    rows = [
        _row("ok1", "2021-01", HEMEL, "Drugs"),  # line 2
        _row("zero", "2021-01", "0,0", "Drugs"),  # line 3: kept, no location
        _row("swap", "2021-01", "51.752600,-0.474600", "Drugs"),  # line 4
        _row("far", "2021-01", "21.000000,40.000000", "Drugs"),  # line 5: Greece
        _row("month", "2021-13", HEMEL, "Drugs"),  # line 6
        _row("text", "2021-01", "west,51.7", "Drugs"),  # line 7
        _row("half", "2021-01", "-0.47,", "Drugs"),  # line 8
        "short,row",  # line 9: wrong number of fields
        "",  # line 10: blank
        _row("ok2", "2021-01", TRING, "Drugs"),  # line 11
        _row("type", "2021-01", HEMEL, ""),  # line 12
    ]
    result = load_police_uk(_write(tmp_path, "2021-01-x-street.csv", rows))
    _accounted(result)
    assert result.rows_read == 10  # the blank line is not a row
    rejects = result.rejects.set_index("line")
    assert rejects["reason"].to_dict() == {
        4: "latitude/longitude appear swapped",
        5: "point lies far outside Great Britain (over 100 km beyond the grid)",
        6: "not a month: expected YYYY-MM with month 01-12",
        7: "not a number",
        8: "Latitude empty but Longitude given",
        9: "wrong number of fields (expected 12)",
        12: "Crime type is empty (required)",
    }
    assert rejects.loc[6, "column"] == "Month" and rejects.loc[6, "value"] == "2021-13"
    assert rejects.loc[7, "column"] == "Longitude" and rejects.loc[7, "value"] == "west"
    assert rejects["file"].unique().tolist() == [str(tmp_path / "2021-01-x-street.csv")]
    kept = result.incidents.set_index("incident_id")
    assert kept["source_line"].to_dict() == {
        "police_uk:ok1": 2,
        "police_uk:zero": 3,
        "police_uk:ok2": 11,
    }
    assert np.isnan(kept.loc["police_uk:zero", "x"])


def test_truncated_gzip_is_an_input_error(tmp_path: Path) -> None:
    rows = [_row(f"id{i}", "2021-01", HEMEL, "Drugs") for i in range(200)]
    packed = gzip.compress(("\n".join([HEADER, *rows]) + "\n").encode())
    path = tmp_path / "2021-01-x-street.csv.gz"
    path.write_bytes(packed[: len(packed) // 2])
    with pytest.raises(InputError, match="truncated or corrupt gzip"):
        load_police_uk(path)


def test_missing_paths_are_input_errors(tmp_path: Path) -> None:
    with pytest.raises(InputError, match="no such file or folder"):
        load_police_uk(tmp_path / "nothing.csv")
    (tmp_path / "empty").mkdir()
    with pytest.raises(InputError, match="folder holds no input files"):
        load_police_uk(tmp_path / "empty")
    with pytest.raises(InputError, match="no input files given"):
        load_police_uk([])


# --- the real Hertfordshire files ---


@pytest.mark.realdata
def test_thirteen_hertfordshire_months(shared_data: Path) -> None:
    folder = shared_data / "police-uk-hertfordshire-street"
    result = load_police_uk(folder)
    _accounted(result)
    raw = pd.concat(
        [pd.read_csv(f, dtype=str) for f in sorted(folder.glob("*.csv.gz"))], ignore_index=True
    )
    assert result.rows_read == len(raw) == 108_465
    assert result.duplicates == 4 and result.rejects.empty
    assert len(result.incidents) == 108_461
    # 1,789 rows have no coordinates; 3 of them repeat a Crime ID already read.
    assert raw["Longitude"].isna().sum() == 1_789
    assert np.isnan(result.incidents["x"]).sum() == 1_786
    assert (result.incidents["category"] == "Anti-social behaviour").sum() == 27_858
    assert [f.rows for f in result.files][:3] == [6914, 6885, 8300]
    assert len(result.files) == 13 and result.files[-1].months == ("2022-01",)
    _coordinates_match_pyproj(raw, result)


def _coordinates_match_pyproj(raw: pd.DataFrame, result: LoadResult) -> None:
    located = raw.dropna(subset=["Longitude"]).copy()
    transformer = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True)
    x, y = transformer.transform(
        located["Longitude"].astype(float), located["Latitude"].astype(float)
    )
    located["x"], located["y"] = x, y
    ids = located["Crime ID"].fillna("")
    located = located.loc[(ids == "") | ~ids.duplicated()]
    mine = result.incidents.dropna(subset=["x"])
    assert len(mine) == len(located)
    assert np.allclose(mine["x"].to_numpy(), located["x"].to_numpy(), atol=0.01, rtol=0)
    assert np.allclose(mine["y"].to_numpy(), located["y"].to_numpy(), atol=0.01, rtol=0)


@pytest.mark.realdata
def test_hertfordshire_2018_12(shared_data: Path) -> None:
    result = load_police_uk(shared_data / "police-uk-hertfordshire-street-2018-12")
    _accounted(result)
    assert result.rows_read == 8_965 and result.rejects.empty and result.duplicates == 0
    assert np.isnan(result.incidents["x"]).sum() == 67
    assert (result.incidents["category"] == "Anti-social behaviour").sum() == 1_790
    assert result.files[0].months == ("2018-12",)


def test_progress_bar_goes_to_stderr(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    path = _write(tmp_path, "2021-01-x-street.csv", [_row("p1", "2021-01", HEMEL, "Drugs")])
    result = load_police_uk(path, progress=True)
    captured = capsys.readouterr()
    assert len(result.incidents) == 1
    assert "police.uk files" in captured.err and captured.out == ""


def test_crime_id_repeated_in_a_later_file(tmp_path: Path) -> None:
    _write(tmp_path / "2021-01", "2021-01-x-street.csv", [_row("same", "2021-01", HEMEL, "Drugs")])
    _write(tmp_path / "2021-02", "2021-02-x-street.csv", [_row("same", "2021-02", HEMEL, "Drugs")])
    result = load_police_uk(tmp_path)
    _accounted(result)
    assert result.duplicates == 1 and result.incidents["month"].tolist() == ["2021-01"]
    assert result.duplicate_rows.to_dict("records") == [
        {
            "file": "2021-02-x-street.csv",
            "line": 2,
            "incident_id": "police_uk:same",
            "first_file": "2021-01-x-street.csv",
            "first_line": 2,
        }
    ]
    # A file's months are those of its valid rows, repeats included.
    assert [f.months for f in result.files] == [("2021-01",), ("2021-02",)]
