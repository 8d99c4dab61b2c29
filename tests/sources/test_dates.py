"""Spreadsheet-mangled months and UTC offsets (geo_service.sources._dates) through the loaders."""

from __future__ import annotations

from datetime import UTC, datetime
from pathlib import Path
from zoneinfo import ZoneInfo

import pandas as pd
import pytest

from geo_service.errors import InputError
from geo_service.sources import load_mapped, load_police_uk
from geo_service.sources._dates import month_of

HEADER = (
    "Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,LSOA name,"
    "Crime type,Last outcome category,Context"
)
FORCE = "Hertfordshire Constabulary,Hertfordshire Constabulary"
HEMEL = "-0.474600,51.752600"


def _police(folder: Path, name: str, months: list[str]) -> Path:
    rows = [
        f"C{i},{month},{FORCE},{HEMEL},On or near Marlowes,E01023700,Dacorum 010A,Burglary,,"
        for i, month in enumerate(months)
    ]
    path = folder / name
    path.write_text("\n".join([HEADER, *rows]) + "\n", encoding="utf-8")
    return path


@pytest.mark.parametrize(
    "value",
    [
        "Jan-21",  # Excel, UK locale, mmm-yy
        "Jan 2021",
        "January 2021",
        "01/01/2021",  # short date
        "1/1/21",
        "01-Jan-2021",
        "2021-01-01",
        "2021-01-01 00:00:00",
        "01/01/2021 00:00",
        "2021/01",
        "01/2021",
        "44197",  # Excel serial day number of 2021-01-01
        "44197.0",
    ],
)
def test_spreadsheet_month_forms_read_as_the_file_names_month(tmp_path: Path, value: str) -> None:
    path = _police(tmp_path, "2021-01-hertfordshire-street.csv", [value, value, "2021-01"])
    result = load_police_uk(path)
    assert result.rejects.empty
    assert result.incidents["month"].tolist() == ["2021-01"] * 3
    assert result.files[0].months == ("2021-01",)


def test_mangled_month_disagreeing_with_the_file_name_refuses_the_file(tmp_path: Path) -> None:
    path = _police(tmp_path, "2021-01-hertfordshire-street.csv", ["Feb-21", "Feb-21"])
    with pytest.raises(InputError) as error:
        load_police_uk(path)
    message = str(error.value)
    assert "2021-01-hertfordshire-street.csv: file refused" in message
    assert "does not agree with the month 2021-01 in the file name" in message
    assert "'Feb-21' reads as 2021-02" in message


def test_mangled_month_without_a_month_in_the_file_name(tmp_path: Path) -> None:
    path = _police(tmp_path, "hertfordshire.csv", ["Mar-21", "01/04/2021"])
    assert load_police_uk(path).incidents["month"].tolist() == ["2021-03", "2021-04"]


def test_dates_that_are_not_a_first_of_month_are_not_months(tmp_path: Path) -> None:
    # 15 January is a real date, not a rewritten month: the rows are rejected, and since every
    # row is, the file is refused.
    path = _police(tmp_path, "2021-01-hertfordshire-street.csv", ["15/01/2021"] * 3)
    with pytest.raises(InputError, match=r"3 of 3 rows \(100 %\).*not a month"):
        load_police_uk(path)


@pytest.mark.parametrize(
    ("value", "month"),
    [
        ("Jan-21", "2021-01"),
        ("Dec 2020", "2020-12"),
        ("01/02/2021", "2021-02"),  # day first: 1 February (2 January is no first of a month)
        ("02/01/2021", "2021-02"),  # month first (US): 1 February
        ("2021-1", "2021-01"),
        ("44228", "2021-02"),  # 2021-02-01
        ("44198", None),  # 2021-01-02
        ("15/01/2021", None),
        ("Foo-21", None),
        ("2021-13", None),
        ("", None),
    ],
)
def test_month_of(value: str, month: str | None) -> None:
    assert month_of(value) == month


def test_mapped_month_column_rewritten_by_a_spreadsheet(tmp_path: Path) -> None:
    mapping = tmp_path / "m.toml"
    mapping.write_text(
        'name = "m"\n[columns]\nid = "ref"\nmonth = "period"\n[category]\nvalue = "X"\n'
    )
    data = tmp_path / "m.csv"
    data.write_text("ref,period\na,Jan-21\nb,Feb 2021\nc,2021-03\n", encoding="utf-8")
    assert load_mapped(data, mapping=mapping).incidents["month"].tolist() == [
        "2021-01", "2021-02", "2021-03",
    ]  # fmt: skip


def _london(stamp: str) -> pd.Timestamp:
    """Independent reference: the aware instant in Europe/London via the standard library."""
    instant = datetime.fromisoformat(stamp.replace("Z", "+00:00"))
    if instant.tzinfo is None:
        return pd.Timestamp(instant)
    local = instant.astimezone(ZoneInfo("Europe/London")).replace(tzinfo=None)
    return pd.Timestamp(local)


TIMES = [
    "2021-07-31T23:30Z",  # 00:30 BST on 1 August: month 2021-08
    "2021-08-01T00:30+01:00",
    "2021-08-01 00:30",  # naive: taken as local time
    "2021-03-28T00:30Z",  # 30 min before the clocks go forward: 00:30 GMT
    "2021-03-28T01:30Z",  # 30 min after: 02:30 BST
    "2021-10-31T00:30Z",  # 01:30 BST, before the clocks go back
    "2021-10-31T01:30Z",  # 01:30 GMT, after
    "2021-01-31T23:30-01:00",  # 00:30 GMT on 1 February
    "2021-12-31T23:59:30+00:00",
]


def _time_mapping(tmp_path: Path, date_format: str | None = None) -> Path:
    fmt = f'date_format = "{date_format}"\n' if date_format else ""
    text = f'name = "t"\n[columns]\nid = "ref"\ndate = "when"\n{fmt}[category]\nvalue = "X"\n'
    path = tmp_path / "t.toml"
    path.write_text(text, encoding="utf-8")
    return path


def test_utc_offsets_become_london_local_time(tmp_path: Path) -> None:
    data = tmp_path / "t.csv"
    data.write_text("ref,when\n" + "".join(f"r{i},{t}\n" for i, t in enumerate(TIMES)))
    rows = load_mapped(data, mapping=_time_mapping(tmp_path)).incidents
    expected = [_london(t) for t in TIMES]
    assert rows["occurred_at"].tolist() == expected
    assert expected[0] == pd.Timestamp("2021-08-01 00:30")  # the reference agrees by hand
    assert expected[4] == pd.Timestamp("2021-03-28 02:30")
    assert expected[6] == pd.Timestamp("2021-10-31 01:30")
    assert rows["month"].tolist() == [
        "2021-08", "2021-08", "2021-08", "2021-03", "2021-03", "2021-10", "2021-10", "2021-02",
        "2021-12",
    ]  # fmt: skip
    assert rows["time_known"].all()


def test_strptime_offset_format_becomes_london_local_time(tmp_path: Path) -> None:
    data = tmp_path / "t.csv"
    data.write_text("ref,when\na,31/07/2021 23:30+0000\nb,01/08/2021 00:30+0100\n")
    mapping = _time_mapping(tmp_path, "%d/%m/%Y %H:%M%z")
    rows = load_mapped(data, mapping=mapping).incidents
    reference = datetime(2021, 7, 31, 23, 30, tzinfo=UTC).astimezone(ZoneInfo("Europe/London"))
    assert rows["occurred_at"].tolist() == [pd.Timestamp(reference.replace(tzinfo=None))] * 2


def test_mapped_dates_mostly_in_another_format_refuse_the_file(tmp_path: Path) -> None:
    data = tmp_path / "t.csv"
    lines = [f"r{i},2021-03-0{i + 1}" for i in range(6)] + [
        f"s{i},0{i + 1}/03/2021" for i in range(4)
    ]
    data.write_text("ref,when\n" + "\n".join(lines) + "\n")
    with pytest.raises(InputError) as error:
        load_mapped(data, mapping=_time_mapping(tmp_path, "%d/%m/%Y"))
    message = str(error.value)
    assert "6 of 10 rows (60 %) fail for one reason: column when: not a date" in message
    assert "line 2 '2021-03-01'" in message
