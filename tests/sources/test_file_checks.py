"""File-level checks shared by every loader: separators, decimal commas, the share of rejects,
standard input, held rows; and the police.uk force columns and mapped fall-back coordinates."""

from __future__ import annotations

import hashlib
import io
import sys
from pathlib import Path

import numpy as np
import pandas as pd
import pyproj
import pytest

from geo_service.cli import main
from geo_service.errors import InputError
from geo_service.ingest.files import held_rows
from geo_service.sources import load_mapped, load_police_uk
from geo_service.store import Store

HEADER = [
    "Crime ID", "Month", "Reported by", "Falls within", "Longitude", "Latitude", "Location",
    "LSOA code", "LSOA name", "Crime type", "Last outcome category", "Context",
]  # fmt: skip
HERTS = "Hertfordshire Constabulary"
BTP = "British Transport Police"
#: (Crime ID, Month, Reported by, Longitude, Latitude, Crime type) of four rows.
ROWS = [
    ("C1", "2021-01", HERTS, "-0.474600", "51.752600", "Burglary"),
    ("C2", "2021-01", BTP, "-0.434011", "51.818082", "Theft from the person"),
    ("", "2021-01", HERTS, "-0.659000", "51.795000", "Anti-social behaviour"),
    ("C3", "2021-01", HERTS, "", "", "Drugs"),
]
NAME = "2021-01-hertfordshire-street.csv"
EXIT_INPUT_ERROR = getattr(InputError, "exit_code", 2)


def _fields(row: tuple[str, ...], *, decimal_comma: bool = False) -> list[str]:
    crime_id, month, by, lon, lat, crime_type = row
    if decimal_comma:
        lon, lat = lon.replace(".", ","), lat.replace(".", ",")
    return [crime_id, month, by, HERTS, lon, lat, "On or near X", "E01023700", "Dacorum 010A",
            crime_type, "", ""]  # fmt: skip


def _write(path: Path, lines: list[list[str]], *, sep: str = ",", quote: bool = False) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    cell = (lambda v: f'"{v}"' if quote and "," in v else v) if sep == "," else (lambda v: v)
    path.write_text("\n".join(sep.join(cell(v) for v in line) for line in lines) + "\n")
    return path


def _comparable(frame: pd.DataFrame) -> pd.DataFrame:
    return frame.drop(columns=["source_file"]).reset_index(drop=True)


def _reference_bng(lon: float, lat: float) -> tuple[float, float]:
    transformer = pyproj.Transformer.from_crs("EPSG:4326", "EPSG:27700", always_xy=True)
    return transformer.transform(lon, lat)


@pytest.fixture
def plain(tmp_path: Path) -> Path:
    return _write(tmp_path / "plain" / NAME, [HEADER, *(_fields(r) for r in ROWS)])


@pytest.mark.parametrize(
    ("sep", "quote", "decimal_comma"),
    [(";", False, True), ("\t", False, False), ("\t", False, True), (",", True, True)],
    ids=["semicolon-decimal-comma", "tab", "tab-decimal-comma", "quoted-decimal-comma"],
)
def test_other_separators_and_decimal_commas_read_like_the_plain_file(
    tmp_path: Path, plain: Path, sep: str, quote: bool, decimal_comma: bool
) -> None:
    lines = [HEADER, *(_fields(r, decimal_comma=decimal_comma) for r in ROWS)]
    other = _write(tmp_path / "other" / NAME, lines, sep=sep, quote=quote)
    result = load_police_uk(other)
    assert result.rejects.empty and len(result.incidents) == 4
    pd.testing.assert_frame_equal(
        _comparable(result.incidents), _comparable(load_police_uk(plain).incidents)
    )
    x, y = _reference_bng(-0.434011, 51.818082)
    row = result.incidents.loc[result.incidents["incident_id"] == "police_uk:C2"].iloc[0]
    assert (row["x"], row["y"]) == pytest.approx((x, y), abs=0.01)


def test_decimal_commas_beside_decimal_points_refuse_the_file(tmp_path: Path) -> None:
    lines = [HEADER, _fields(ROWS[0], decimal_comma=True), _fields(ROWS[1])]
    path = _write(tmp_path / NAME, lines, sep=";")
    with pytest.raises(
        InputError, match=r"Longitude mixes decimal commas \(e.g. '-0,474600'\) and decimal"
    ):
        load_police_uk(path)


def test_comma_numbers_that_may_be_thousands_refuse_the_file(tmp_path: Path) -> None:
    mapping = tmp_path / "m.toml"
    mapping.write_text(
        'name = "m"\n[columns]\nid = "ref"\nmonth = "m"\nx = "e"\ny = "n"\n'
        '[category]\nvalue = "X"\n'
    )
    data = tmp_path / "m.csv"
    data.write_text('ref,m,e,n\na,2021-01,"505,150","207,250"\n')
    with pytest.raises(InputError, match="'505,150' may be decimal commas or thousands"):
        load_mapped(data, mapping=mapping)


def test_a_header_that_splits_on_two_separators_is_refused(tmp_path: Path) -> None:
    path = tmp_path / NAME
    path.write_text("a,b;c,d;e\n1,2;3,4;5\n")
    with pytest.raises(InputError, match=r"cannot tell the field separator.*',' \(3 fields\)"):
        load_police_uk(path)


def test_missing_columns_message_names_the_separator(tmp_path: Path) -> None:
    path = _write(tmp_path / NAME, [HEADER[:4], ["C1", "2021-01", HERTS, HERTS]], sep=";")
    with pytest.raises(InputError, match=r"fields are separated by ';'"):
        load_police_uk(path)


def _bad_months(n_bad: int, n: int = 10) -> list[list[str]]:
    rows = [_fields((f"C{i}", "2021-01", HERTS, "-0.4746", "51.7526", "Drugs")) for i in range(n)]
    for row in rows[:n_bad]:
        row[1] = "2021-13"
    return [HEADER, *rows]


def test_sixty_percent_failing_one_way_refuses_the_file_and_keeps_the_store(
    tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    path = _write(tmp_path / NAME, _bad_months(6))
    with pytest.raises(InputError) as error:
        load_police_uk(path)
    message = str(error.value)
    assert "6 of 10 rows (60 %) fail for one reason: column Month: not a month" in message
    assert "line 2 '2021-13'; line 3 '2021-13'; line 4 '2021-13')" in message
    assert message.count("not a month") == 1
    store = tmp_path / "store"
    assert main(["--store", str(store), "ingest", "police-uk", str(path)]) == EXIT_INPUT_ERROR
    assert "file refused" in capsys.readouterr().err
    assert Store(store).version() is None  # nothing written, no file recorded


def test_forty_percent_stay_row_rejects_unless_the_share_is_lower(tmp_path: Path) -> None:
    path = _write(tmp_path / NAME, _bad_months(4))
    result = load_police_uk(path)
    assert (len(result.incidents), len(result.rejects)) == (6, 4)
    with pytest.raises(InputError, match=r"4 of 10 rows \(40 %\)"):
        load_police_uk(path, max_reject_share=0.3)


def test_every_row_rejected_for_different_reasons_refuses_the_file(tmp_path: Path) -> None:
    rows = _bad_months(1, n=2)
    rows[2][9] = ""  # the second row has no crime type
    with pytest.raises(InputError, match=r"every row is rejected.*1 other reason"):
        load_police_uk(_write(tmp_path / NAME, rows))


def test_force_columns_kept_and_a_force_excluded(tmp_path: Path, plain: Path) -> None:
    rows = load_police_uk(plain).incidents.set_index("incident_id")
    assert rows.loc["police_uk:C2", "reported_by"] == BTP
    assert rows["falls_within"].unique().tolist() == [HERTS]
    result = load_police_uk(plain, exclude_forces=[BTP])
    assert "police_uk:C2" not in result.incidents["incident_id"].tolist()
    assert len(result.incidents) == 3
    assert result.rejects[["line", "column", "reason"]].to_numpy().tolist() == [
        [3, "Reported by", f"excluded on request: reported by {BTP}"]
    ]
    only_btp = _write(tmp_path / "btp" / NAME, [HEADER, _fields(ROWS[1])])
    assert len(load_police_uk(only_btp, exclude_forces=[BTP]).incidents) == 0  # not a fault


def test_exclude_force_from_the_command_line(
    tmp_path: Path, plain: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    store = str(tmp_path / "store")
    argv = ["--store", store, "ingest", "police-uk", str(plain), "--exclude-force", BTP, "--json"]
    assert main(argv) == 0
    out = capsys.readouterr().out
    assert '"stored": 3' in out and '"rejected": 1' in out


def _stdin(monkeypatch: pytest.MonkeyPatch, data: bytes) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(data)))


def test_dash_reads_standard_input(monkeypatch: pytest.MonkeyPatch, plain: Path) -> None:
    data = plain.read_bytes()
    _stdin(monkeypatch, data)
    result = load_police_uk("-")
    name = f"stdin-{hashlib.sha256(data).hexdigest()[:12]}.csv"
    assert result.incidents["source_file"].unique().tolist() == [name]
    assert result.files[0].sha256 == hashlib.sha256(data).hexdigest()
    from_file = load_police_uk(plain).incidents["incident_id"].tolist()
    assert result.incidents["incident_id"].tolist() == from_file  # ASB ids too
    pd.testing.assert_frame_equal(
        _comparable(result.incidents).drop(columns="incident_id"),
        _comparable(load_police_uk(plain).incidents).drop(columns="incident_id"),
    )


def test_dash_reads_standard_input_for_a_mapping(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    mapping = tmp_path / "m.toml"
    mapping.write_text('name = "m"\n[columns]\nid = "ref"\nmonth = "m"\n[category]\nvalue = "X"\n')
    _stdin(monkeypatch, b"ref,m\na,2021-01\nb,2021-02\n")
    assert load_mapped(["-"], mapping=mapping).incidents["month"].tolist() == ["2021-01", "2021-02"]


def test_held_rows_come_from_the_loader_not_from_the_files(tmp_path: Path) -> None:
    first = _write(tmp_path / "2021-01-a-street.csv", [HEADER, *(_fields(r) for r in ROWS[:2])])
    again = [_fields(ROWS[3]), _fields(ROWS[1]), _fields(ROWS[1])]  # C2 again, twice
    second = _write(tmp_path / "2021-01-b-street.csv", [HEADER, *again])
    loaded = load_police_uk([first, second])
    assert loaded.rows_read == len(loaded.incidents) + loaded.duplicates + len(loaded.rejects)
    assert loaded.held[["source_file", "source_line"]].to_numpy().tolist() == [
        ["2021-01-b-street.csv", 3], ["2021-01-b-street.csv", 4],
    ]  # fmt: skip
    first.unlink()  # ingest must not read the files again
    second.unlink()
    held = held_rows(loaded, {})
    assert held[["incident_id", "source_file", "source_line"]].to_numpy().tolist() == [
        ["police_uk:C2", "2021-01-b-street.csv", 3]
    ]
    assert held["reported_by"].tolist() == [BTP]


FALLBACK_MAPPING = """
name = "lfb"
missing = ["NULL"]
[columns]
id = "ref"
month = "m"
x = ["Easting_m", "Easting_rounded"]
y = ["Northing_m", "Northing_rounded"]
[category]
value = "Fire"
"""
FALLBACK_CSV = """ref,m,Easting_m,Northing_m,Easting_rounded,Northing_rounded
a,2021-03,505123,207321,505150,207350
b,2021-03,NULL,NULL,505450,207050
c,2021-03,NULL,NULL,NULL,NULL
d,2021-03,505001,NULL,505050,206950
"""


def test_fallback_coordinate_pairs(tmp_path: Path) -> None:
    mapping = tmp_path / "lfb.toml"
    mapping.write_text(FALLBACK_MAPPING)
    data = tmp_path / "lfb.csv"
    data.write_text(FALLBACK_CSV)
    result = load_mapped(data, mapping=mapping)
    rows = result.incidents.set_index("incident_id")
    assert rows[["x", "y"]].to_numpy().tolist()[:2] == [[505123, 207321], [505450, 207050]]
    assert np.isnan(rows.loc["mapped:lfb:c", "x"])
    assert rows.loc["mapped:lfb:d", ["x", "y"]].tolist() == [505050, 206950]  # half pair: next
    fallback = "fall-back (Easting_rounded, Northing_rounded)"
    assert rows["location_precision"].fillna("-").tolist() == ["exact", fallback, "-", fallback]
    assert result.located_by_fallback == 2


def test_fallback_precision_labels_and_mismatched_lists(tmp_path: Path) -> None:
    mapping = tmp_path / "lfb.toml"
    labelled = FALLBACK_MAPPING.replace(
        'y = ["Northing_m", "Northing_rounded"]',
        'y = ["Northing_m", "Northing_rounded"]\nprecision = ["exact", "rounded up to 50 m"]',
    )
    mapping.write_text(labelled)
    data = tmp_path / "lfb.csv"
    data.write_text(FALLBACK_CSV)
    labels = load_mapped(data, mapping=mapping).incidents["location_precision"].fillna("-")
    assert labels.tolist() == ["exact", "rounded up to 50 m", "-", "rounded up to 50 m"]
    mapping.write_text(FALLBACK_MAPPING.replace('["Northing_m", "Northing_rounded"]', '"N"'))
    with pytest.raises(InputError, match="x and y must list as many columns each"):
        load_mapped(data, mapping=mapping)


def test_unquoted_decimal_commas_in_a_comma_file_refuse_it(tmp_path: Path) -> None:
    # "-0,4746" unquoted splits every located row into 14 fields.
    rows = [",".join(_fields(r, decimal_comma=True)) for r in ROWS[:3]]
    path = tmp_path / NAME
    path.write_text("\n".join([",".join(HEADER), *rows]) + "\n")
    with pytest.raises(InputError, match=r"3 of 3 rows .* wrong number of fields \(expected 12\)"):
        load_police_uk(path)
