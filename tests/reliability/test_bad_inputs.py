"""The bad-input catalogue: each bad input through the command line, with its exact outcome.

Every case is a small file written in ``tmp_path`` and given to ``geo-service ingest`` (or
``boundaries add`` / ``boundaries denominators``) in-process, so the exit code is the real one.
Each case states the exit code, a key phrase of what the user is told (the error line, a reason in
the rejects report, or a log line) and how many rows are stored afterwards: nothing bad is stored
silently, and nothing is refused without a clear reason.
"""

from __future__ import annotations

import bz2
import gzip
import io
import lzma
import zipfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import geopandas as gpd
import pandas as pd
import pytest
from shapely.geometry import box

from geo_service.cli import main
from geo_service.store import Store

POLICE_HEADER = (
    "Crime ID,Month,Reported by,Falls within,Longitude,Latitude,Location,LSOA code,LSOA name,"
    "Crime type,Last outcome category,Context"
)
FORCE = "Hertfordshire Constabulary,Hertfordshire Constabulary"
HEMEL = "-0.474600,51.752600"
POLICE_NAME = "2021-01-herts-street.csv"
STATS19_HEADER = (
    "collision_index,location_easting_osgr,location_northing_osgr,longitude,latitude,"
    "collision_severity,date,time,first_road_class,first_road_number"
)
MAPPING = """name = "extract"
[columns]
id = "ref"
date = "date"
x = "x"
y = "y"
crs = "EPSG:27700"
[category]
column = "type"
"""
MAPPED_HEADER = "ref,date,x,y,type"
GOOD = 4  # good rows in every incident file, beside the bad ones


def police(crime_id: str, month: str = "2021-01", lonlat: str = HEMEL, **kw: str) -> str:
    """One police.uk row."""
    crime_type = kw.get("crime_type", "Burglary")
    location = kw.get("location", "On or near Marlowes")
    return (
        f"{crime_id},{month},{FORCE},{lonlat},{location},E01023700,Dacorum 010A,{crime_type},"
        "Under investigation,"
    )


def police_file(*bad: str, name: str = POLICE_NAME, header: str = POLICE_HEADER) -> Callable:
    """A builder of a police.uk file: the good rows, then ``bad`` rows."""
    rows = [police(f"good{i}") for i in range(GOOD)]
    text = "\n".join([header, *rows, *bad]) + "\n"
    return lambda folder: [_write(folder / name, text.encode("utf-8"))]


def raw_file(data: bytes, name: str = POLICE_NAME) -> Callable:
    """A builder of a file holding exactly ``data``."""
    return lambda folder: [_write(folder / name, data)]


def stats19(index: str, *, easting: str = "505500", northing: str = "207000", **kw: str) -> str:
    """One STATS19 collision row (current lower-case layout)."""
    lon, lat = kw.get("lon", "-0.4746"), kw.get("lat", "51.7526")
    date, severity = kw.get("date", "14/03/2023"), kw.get("severity", "3")
    return f"{index},{easting},{northing},{lon},{lat},{severity},{date},17:45,3,41"


def stats19_file(*bad: str, header: str = STATS19_HEADER) -> Callable:
    rows = [stats19(f"2023410{i:06d}") for i in range(GOOD)]
    text = "\n".join([header, *rows, *bad]) + "\n"
    return lambda folder: [_write(folder / "collisions-2023.csv", text.encode("utf-8"))]


def mapped_file(
    *bad: str, mapping: str = MAPPING, header: str = MAPPED_HEADER, good_date: str = "2021-03-01"
) -> Callable:
    rows = [f"R{i},{good_date},505500,207000,Fire" for i in range(GOOD)]
    text = "\n".join([header, *rows, *bad]) + "\n"

    def build(folder: Path) -> list[Path]:
        _write(folder / "mapping.toml", mapping.encode())
        return [_write(folder / "extract.csv", text.encode("utf-8"))]

    return build


def _write(path: Path, data: bytes) -> Path:
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_bytes(data)
    return path


def _zip(name: str, text: str) -> bytes:
    buffer = io.BytesIO()
    with zipfile.ZipFile(buffer, "w") as archive:
        archive.writestr(name, text)
    return buffer.getvalue()


ONLY_2019_05 = (
    "\n".join([POLICE_HEADER, *(police(f"b{i}", "2019-05") for i in range(3))]) + "\n"
).encode()
PRE_2010 = "\n".join([POLICE_HEADER, *(police(f"p{i}", "2008-08") for i in range(3))]) + "\n"
GOOD_POLICE = "\n".join([POLICE_HEADER, *(police(f"good{i}") for i in range(GOOD))]) + "\n"


@dataclass(frozen=True)
class Case:
    """One bad input and what must happen to it."""

    build: Callable[[Path], list[Path]]
    exit_code: int
    phrase: str  # in the error line (exit 2), else in the rejects report or the log
    stored: int  # incidents stored afterwards
    kind: str = "police-uk"
    env: dict[str, str] = field(default_factory=dict)
    categories: tuple[str, ...] | None = None  # the stored categories, when it matters


def refused(build: Callable, phrase: str, kind: str = "police-uk", **kw: object) -> Case:
    return Case(build, 2, phrase, 0, kind, **kw)  # type: ignore[arg-type]


def rejected(build: Callable, phrase: str, kind: str = "police-uk", **kw: object) -> Case:
    return Case(build, 0, phrase, GOOD, kind, **kw)  # type: ignore[arg-type]


FUTURE = "month in the future"
EARLY = "month before the source's data begins: expected 2010-12 or later"
EARLY_STATS19 = "month before the source's data begins: expected 1979-01 or later"
EARLY_MAPPED = "month before the source's data begins: expected 1970-01 or later"
AFTER = "month after the file's own month 2021-01"
NOT_MONTH = "not a month: expected YYYY-MM"
NOT_DEGREES = "not longitude/latitude degrees (beyond ±180/±90) as EPSG:4326 says"
LOOKS_BNG = "they look like British National Grid metres (EPSG:27700)"
DEGREES_AS_METRES = "longitude/latitude-sized numbers given as EPSG:27700 metres"
FAR = "point lies far outside Great Britain"
NAME_MONTH = "the file name says 2021-02 but"
BIG_LINE = "x" * 1_500_000

INCIDENT_CASES: dict[str, Case] = {
    # --- impossible months (issue 14 verbatim: 2099-01, 0000-01, 1066-10) -------------------
    "month 2099-01": rejected(police_file(police("bad", "2099-01")), FUTURE),
    "month 0000-01": rejected(police_file(police("bad", "0000-01")), EARLY),
    "month 1066-10": rejected(police_file(police("bad", "1066-10")), EARLY),
    "month 2010-11 before police.uk": rejected(police_file(police("bad", "2010-11")), EARLY),
    "month 9999-12": rejected(police_file(police("bad", "9999-12")), FUTURE),
    "a force extract named 2008-08 keeps its month": Case(
        raw_file(PRE_2010.encode(), "2008-08-x-street.csv"),
        0,
        "before police.uk street-level data begins (2010-12): read as a force's extract",
        3,
    ),
    "1066-10 in a file named 2008-08": Case(
        raw_file((PRE_2010 + police("old", "1066-10") + "\n").encode(), "2008-08-x-street.csv"),
        0,
        "month before the source's data begins: expected 2008-08 or later",
        3,
    ),
    "month after the file's month": rejected(police_file(police("bad", "2021-02")), AFTER),
    "month 2021-13": rejected(police_file(police("bad", "2021-13")), NOT_MONTH),
    "month 2021-00": rejected(police_file(police("bad", "2021-00")), NOT_MONTH),
    "month text": rejected(police_file(police("bad", "January")), NOT_MONTH),
    "month empty": rejected(police_file(police("bad", "")), NOT_MONTH),
    "month with a day 2021-01-15": rejected(police_file(police("bad", "2021-01-15")), NOT_MONTH),
    "month 20211": rejected(police_file(police("bad", "20211")), NOT_MONTH),
    "all rows 2019-05 in a 2021-02 file": refused(
        police_file(*(police(f"b{i}", "2019-05") for i in range(6)), name="2021-02-x-street.csv"),
        NAME_MONTH,
    ),
    "every row 2019-05, no good rows": refused(
        raw_file(ONLY_2019_05, "2021-02-x-street.csv"),
        "file refused: the file name says 2021-02 but 3 of 3 rows",
    ),
    "majority of rows in another month": refused(
        police_file(*(police(f"b{i}", "2020-06") for i in range(5))), "file refused: the file name"
    ),
    "spreadsheet month disagreeing with the name": refused(
        police_file(*(police(f"b{i}", "Mar-21") for i in range(5))), "reformatted by a spreadsheet"
    ),
    # --- coordinates against their CRS ------------------------------------------------------
    "BNG metres given as lon/lat": Case(
        police_file(police("bad", lonlat="504000,206000")), 0, LOOKS_BNG, GOOD
    ),
    "lon/lat beyond the world, no CRS fits": rejected(
        police_file(police("bad", lonlat="-5000000,99999999")), "they fit no CRS used in Great"
    ),
    "latitude 91": rejected(police_file(police("bad", lonlat="-0.47,91")), NOT_DEGREES),
    "longitude 181": rejected(police_file(police("bad", lonlat="181,51.7")), NOT_DEGREES),
    "lat/lon swapped": rejected(police_file(police("bad", lonlat="51.7526,-0.4746")), "swapped"),
    "a point in Greece": rejected(police_file(police("bad", lonlat="21.0,40.0")), FAR),
    "a point in Toronto": rejected(police_file(police("bad", lonlat="-79.38,43.65")), FAR),
    "longitude inf": rejected(police_file(police("bad", lonlat="inf,51.7")), "not a finite number"),
    "latitude nan": rejected(police_file(police("bad", lonlat="-0.47,nan")), "Latitude empty"),
    "longitude text": rejected(police_file(police("bad", lonlat="west,51.7")), "not a number"),
    "only a longitude": rejected(police_file(police("bad", lonlat="-0.47,")), "Latitude empty"),
    "longitude 1e308": rejected(police_file(police("bad", lonlat="1e308,51.7")), NOT_DEGREES),
    "longitude 1e400 (overflows)": rejected(
        police_file(police("bad", lonlat="1e400,51.7")), "not a finite number"
    ),
    # --- text normalisation -----------------------------------------------------------------
    "category with trailing spaces": Case(
        police_file(police("bad", crime_type="Burglary  ")),
        0,
        "1 value(s) normalised",
        GOOD + 1,
        categories=("Burglary",),
    ),
    "category with leading spaces": Case(
        police_file(police("bad", crime_type="   Burglary")),
        0,
        "'   Burglary' -> 'Burglary'",
        GOOD + 1,
        categories=("Burglary",),
    ),
    "category with a NUL byte": Case(
        police_file(police("bad", crime_type="Burg\x00lary")),
        0,
        "'Burg\\x00lary' -> 'Burglary'",
        GOOD + 1,
        categories=("Burglary",),
    ),
    "category with a tab and double space": Case(
        police_file(police("bad", crime_type="Criminal\tdamage  and arson")),
        0,
        "value(s) normalised",
        GOOD + 1,
        categories=("Burglary", "Criminal damage and arson"),
    ),
    "category with control characters": Case(
        police_file(police("bad", crime_type="Bur\x07gla\x1bry")),
        0,
        "value(s) normalised",
        GOOD + 1,
        categories=("Burglary",),
    ),
    "category in decomposed Unicode": Case(
        police_file(police("bad", crime_type="Burglary", location="Cafe\u0301 Rouge")),
        0,
        "Unicode NFC",
        GOOD + 1,
    ),
    "category of spaces only": rejected(
        police_file(police("bad", crime_type="   ")), "Crime type is empty"
    ),
    "category empty": rejected(police_file(police("bad", crime_type="")), "Crime type is empty"),
    "month with trailing spaces is read": Case(
        police_file(police("bad", "2021-01  ")), 0, "column Month: 1 value(s)", GOOD + 1
    ),
    # --- encoding ---------------------------------------------------------------------------
    "one bad byte in a UTF-8 file": Case(
        raw_file(
            (GOOD_POLICE + police("cafe", location="Café Rouge") + "\n").encode()
            + police("bad", location="Caf\xe9").encode("latin-1")
            + b"\n"
        ),
        0,
        "not valid UTF-8 text",
        GOOD + 1,
    ),
    "a Windows-1252 file": Case(
        raw_file((GOOD_POLICE + police("q", location="Caf\xe9 \u2019s") + "\n").encode("cp1252")),
        0,
        "reading it as Windows-1252",
        GOOD + 1,
    ),
    "a Latin-1 file with a byte cp1252 leaves undefined": Case(
        raw_file(GOOD_POLICE.encode() + police("q", location="x\x81 Caf\xe9").encode("latin-1")),
        0,
        "reading it as Latin-1",
        GOOD + 1,
    ),
    "a UTF-16 file": refused(
        raw_file(GOOD_POLICE.encode("utf-16")), "the header line holds NUL bytes"
    ),
    "UTF-8 with a byte-order mark is fine": Case(
        raw_file(b"\xef\xbb\xbf" + (GOOD_POLICE + police("x", "2099-01") + "\n").encode()),
        0,
        FUTURE,
        GOOD,
    ),
    # --- header problems --------------------------------------------------------------------
    "duplicate Month header": refused(
        police_file(header=POLICE_HEADER + ",Month"),
        "column 'Month' appears twice in the header (columns 2 and 13)",
    ),
    "duplicate Crime type header": refused(
        police_file(header=POLICE_HEADER.replace("Context", "Crime type")),
        "column 'Crime type' appears twice",
    ),
    "duplicate header differing by spaces": refused(
        police_file(header=POLICE_HEADER.replace("Context", " Month ")),
        "column 'Month' appears twice",
    ),
    "missing Month column": refused(
        police_file(header=POLICE_HEADER.replace("Month", "When")), "missing column(s) Month"
    ),
    "empty file": refused(raw_file(b""), "file is empty"),
    "whitespace only": refused(raw_file(b"  \n\n \t\n"), "file is empty"),
    "header only": refused(
        raw_file((POLICE_HEADER + "\n").encode()), "has a header line but no rows"
    ),
    "CR-only line ends": refused(
        raw_file(GOOD_POLICE.replace("\n", "\r").encode()), "carriage return alone"
    ),
    "CR-only line ends, over 64 KiB": refused(
        raw_file((GOOD_POLICE.replace("\n", "\r") * 400).encode()), "carriage return alone"
    ),
    "random bytes without NUL": refused(
        raw_file(
            bytes(
                (7 * i + 3) % 255 + 1 for i in range(3000) if (7 * i + 3) % 255 + 1 not in (10, 13)
            )
        ),
        "the first line is not text",
    ),
    "separator ambiguous": refused(raw_file(b"a;b,c\n1;2,3\n"), "cannot tell the field separator"),
    "a wrong-length row": rejected(police_file("short,row"), "wrong number of fields"),
    # --- not CSV at all ---------------------------------------------------------------------
    "zip given as CSV": refused(
        raw_file(_zip("a.csv", GOOD_POLICE)), "is a zip archive (or an Excel .xlsx workbook)"
    ),
    "xlsx given as CSV": refused(
        raw_file(_zip("[Content_Types].xml", "<Types/>")), "is a zip archive"
    ),
    "parquet given as CSV": refused(raw_file(b"PAR1\x15\x04" + b"\x00" * 64), "a Parquet file"),
    "corrupt snappy parquet given as CSV": refused(
        raw_file(b"PAR1\x15\x00\x15\x1c\x15\x1c\x2c\x15\x04snappy-garbage" + b"PAR1"),
        "is a Parquet file, not CSV",
    ),
    "bzip2 given as CSV": refused(raw_file(bz2.compress(GOOD_POLICE.encode())), "bzip2 archive"),
    "xz given as CSV": refused(raw_file(lzma.compress(GOOD_POLICE.encode())), "xz archive"),
    "7z given as CSV": refused(raw_file(b"7z\xbc\xaf\x27\x1c" + b"\x00" * 30), "7-Zip archive"),
    "PDF given as CSV": refused(raw_file(b"%PDF-1.4\n%junk\n"), "a PDF document"),
    "old xls given as CSV": refused(raw_file(b"\xd0\xcf\x11\xe0" + b"\x00" * 60), "old Excel"),
    "gzip inside gzip": refused(
        raw_file(gzip.compress(gzip.compress(GOOD_POLICE.encode()))), "gzip compressed twice"
    ),
    "truncated gzip": refused(
        raw_file(gzip.compress(GOOD_POLICE.encode())[:40]), "truncated or corrupt gzip file"
    ),
    "gzip with a corrupt body": refused(
        raw_file(b"\x1f\x8b\x08\x00\x00\x00\x00\x00\x00\x03" + b"\xff" * 40), "corrupt gzip"
    ),
    "gzip bomb (ratio)": refused(
        raw_file(gzip.compress(b"0" * 40 * 2**20)), "decompression bomb or not a CSV"
    ),
    "gzip over the size limit": refused(
        raw_file(gzip.compress((GOOD_POLICE * 4000).encode())),
        "larger than the input limit of 1 MiB (set GEO_SERVICE_MAX_INPUT_MB",
        env={"GEO_SERVICE_MAX_INPUT_MB": "1"},
    ),
    "plain file over the size limit": refused(
        raw_file((GOOD_POLICE * 4000).encode()),
        "the file is larger than the input limit of 1 MiB",
        env={"GEO_SERVICE_MAX_INPUT_MB": "1"},
    ),
    "bad size limit setting": refused(
        raw_file(GOOD_POLICE.encode()),
        "GEO_SERVICE_MAX_INPUT_MB='lots': expected a positive whole number",
        env={"GEO_SERVICE_MAX_INPUT_MB": "lots"},
    ),
    "64 KiB of junk without a line break": refused(
        raw_file(b"\x01junk" * 13_108), "the first line is longer than 64 KiB"
    ),
    "64 KiB of junk text as a header is not echoed": refused(
        raw_file(b"q" * 65_000 + b"\n1\n"), "... (65000 characters)"
    ),
    "binary with NUL bytes": refused(raw_file(b"\x00\x01\x02\x03" * 50), "holds NUL bytes"),
    "a data line longer than 1 MiB": refused(
        police_file(police("big", location=BIG_LINE)), "over the limit of 1024 KiB per line"
    ),
    "the line limit lowered": refused(
        police_file(police("big", location="x" * 3000), "short,row"),
        "over the limit of 2 KiB per line",
        env={"GEO_SERVICE_MAX_LINE_KB": "2"},
    ),
    # --- STATS19 ----------------------------------------------------------------------------
    "STATS19 date 01/01/2099": rejected(
        stats19_file(stats19("X1", date="01/01/2099")), FUTURE, "stats19"
    ),
    "STATS19 ISO date 2099-01-01": rejected(
        stats19_file(stats19("X1", date="2099-01-01")), FUTURE, "stats19"
    ),
    "STATS19 date 31/12/1978": rejected(
        stats19_file(stats19("X1", date="31/12/1978")), EARLY_STATS19, "stats19"
    ),
    "STATS19 date 01/01/1066": rejected(
        stats19_file(stats19("X1", date="01/01/1066")), EARLY_STATS19, "stats19"
    ),
    "STATS19 date 32/01/2021": rejected(
        stats19_file(stats19("X1", date="32/01/2021")), "not a date", "stats19"
    ),
    "STATS19 date empty": rejected(
        stats19_file(stats19("X1", date="")), "empty (required)", "stats19"
    ),
    "STATS19 severity 9": rejected(
        stats19_file(stats19("X1", severity="9")), "unknown severity", "stats19"
    ),
    "STATS19 degrees as easting/northing": rejected(
        stats19_file(stats19("X1", easting="-0.4746", northing="51.7526")),
        DEGREES_AS_METRES,
        "stats19",
    ),
    "STATS19 easting 1e300": rejected(stats19_file(stats19("X1", easting="1e300")), FAR, "stats19"),
    "STATS19 easting only": rejected(
        stats19_file(stats19("X1", northing="", lon="", lat="")), "empty while", "stats19"
    ),
    "STATS19 BNG metres as lon/lat": rejected(
        stats19_file(stats19("X1", easting="NULL", northing="NULL", lon="505500", lat="207000")),
        LOOKS_BNG,
        "stats19",
    ),
    "STATS19 duplicate date header": refused(
        stats19_file(header=STATS19_HEADER.replace("time", "date")),
        "column 'date' appears twice",
        "stats19",
    ),
    "STATS19 missing index": refused(
        stats19_file(header=STATS19_HEADER.replace("collision_index", "ref")),
        "not a STATS19 collision file",
        "stats19",
    ),
    "STATS19 index with a NUL byte": Case(
        stats19_file(stats19("X\x001")), 0, "'X\\x001' -> 'X1'", GOOD + 1, "stats19"
    ),
    "STATS19 zip": refused(
        lambda folder: [_write(folder / "c.csv", _zip("c.csv", STATS19_HEADER))],
        "is a zip archive",
        "stats19",
    ),
    # --- mapped CSV -------------------------------------------------------------------------
    "mapped date 3000-01-01": rejected(
        mapped_file("Z1,3000-01-01,505500,207000,Fire"), FUTURE, "mapped"
    ),
    "mapped date 2099-12-31T23:00": rejected(
        mapped_file("Z1,2099-12-31T23:00,505500,207000,Fire"), FUTURE, "mapped"
    ),
    "mapped date 1969-12-31": rejected(
        mapped_file("Z1,1969-12-31,505500,207000,Fire"), EARLY_MAPPED, "mapped"
    ),
    "mapped date 0001-01-01": rejected(
        mapped_file("Z1,0001-01-01,505500,207000,Fire"), EARLY_MAPPED, "mapped"
    ),
    "mapped date text": rejected(
        mapped_file("Z1,yesterday,505500,207000,Fire"), "not a date", "mapped"
    ),
    "mapped degrees as EPSG:27700 metres": rejected(
        mapped_file("Z1,2021-03-01,-0.4746,51.7526,Fire"), DEGREES_AS_METRES, "mapped"
    ),
    "mapped easting 1e300": rejected(mapped_file("Z1,2021-03-01,1e300,207000,Fire"), FAR, "mapped"),
    "mapped easting inf": rejected(
        mapped_file("Z1,2021-03-01,inf,207000,Fire"), "not a finite number", "mapped"
    ),
    "mapped category with spaces": Case(
        mapped_file("Z1,2021-03-01,505500,207000,  Fire  "),
        0,
        "column type: 1 value(s) normalised",
        GOOD + 1,
        "mapped",
        categories=("Fire",),
    ),
    "mapped duplicate header": refused(
        mapped_file(header="ref,date,x,y,date"), "column 'date' appears twice", "mapped"
    ),
    "mapped month 2099-01": rejected(
        mapped_file(
            "Z1,2099-01,505500,207000,Fire",
            mapping=MAPPING.replace('date = "date"', 'month = "date"'),
            good_date="2021-03",
        ),
        FUTURE,
        "mapped",
    ),
}
# The rows above with 4 good rows and one bad: a file of mostly good rows and the reject listed.
# Below: a file of one bad row only is refused as a whole (the problem is the file's).
for _name, _row in {
    "only row 2099-01": police("bad", "2099-01"),
    "only row 0000-01": police("bad", "0000-01"),
    "only row BNG as lon/lat": police("bad", lonlat="504000,206000"),
    "only row empty category": police("bad", crime_type=""),
}.items():
    INCIDENT_CASES[_name] = refused(raw_file(f"{POLICE_HEADER}\n{_row}\n".encode()), "file refused")


def _ingest(case: Case, tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> tuple[int, Path]:
    for name, value in case.env.items():
        monkeypatch.setenv(name, value)
    paths = case.build(tmp_path / "in")
    store = tmp_path / "store"
    options = ["--mapping", str(tmp_path / "in" / "mapping.toml")] if case.kind == "mapped" else []
    argv = ["--store", str(store), "ingest", case.kind, *map(str, paths), *options]
    return main(argv), store


def _stored(store: Path) -> pd.DataFrame:
    opened = Store(store)
    if opened.version() is None:
        return pd.DataFrame({"category": []})
    return opened.incidents(columns=["category"])


def _rejects_text(out: str) -> str:
    marker = "rejected rows (file, line, column, value, reason): "
    paths = [line.removeprefix(marker) for line in out.splitlines() if line.startswith(marker)]
    return "".join(Path(p).read_text(encoding="utf-8") for p in paths)


@pytest.mark.parametrize("name", list(INCIDENT_CASES))
def test_bad_incident_input(
    name: str,
    tmp_path: Path,
    monkeypatch: pytest.MonkeyPatch,
    capsys: pytest.CaptureFixture[str],
    caplog: pytest.LogCaptureFixture,
) -> None:
    case = INCIDENT_CASES[name]
    code, store = _ingest(case, tmp_path, monkeypatch)
    out, err = capsys.readouterr()
    assert code == case.exit_code, err
    if case.exit_code:
        assert case.phrase in err
        assert err.count("\n") == 1  # one line, no traceback
        assert len(err) < 1000  # junk is never echoed at length
    else:
        told = _rejects_text(out) + caplog.text + out
        assert case.phrase in told
    stored = _stored(store)
    assert len(stored) == case.stored
    if case.categories is not None:
        assert sorted(stored["category"].unique()) == sorted(case.categories)


def test_one_bad_byte_rejects_its_row_and_keeps_cafe(tmp_path: Path, monkeypatch) -> None:
    case = INCIDENT_CASES["one bad byte in a UTF-8 file"]
    code, store = _ingest(case, tmp_path, monkeypatch)
    assert code == 0
    locations = Store(store).incidents(columns=["location_text"])["location_text"]
    assert "Café Rouge" in set(locations)
    assert not any("Ã" in text for text in locations)


def test_windows_1252_file_reads_its_characters(tmp_path: Path, monkeypatch) -> None:
    code, store = _ingest(INCIDENT_CASES["a Windows-1252 file"], tmp_path, monkeypatch)
    assert code == 0
    locations = set(Store(store).incidents(columns=["location_text"])["location_text"])
    assert "Caf\xe9 \u2019s" in locations


def test_the_future_month_does_not_move_the_stored_period(tmp_path: Path, monkeypatch) -> None:
    code, store = _ingest(INCIDENT_CASES["month 2099-01"], tmp_path, monkeypatch)
    assert code == 0
    months = Store(store).incidents(columns=["month"])["month"]
    assert set(months) == {"2021-01"}


# --- boundary layers and denominators --------------------------------------------------------
WARDS = {"WD13CD": ["W1", "W2"], "WD13NM": ["West", "East"]}


def _layer(folder: Path, x: float, y: float, size: float, crs: str, name: str) -> Path:
    path = folder / name
    path.parent.mkdir(parents=True, exist_ok=True)
    shapes = [box(x, y, x + size, y + size), box(x + size, y, x + 2 * size, y + size)]
    gpd.GeoDataFrame(WARDS, geometry=shapes, crs=crs).to_file(path, driver="GeoJSON")
    return path


JUNK = b"x" * 70_000


def _parquet(folder: Path, *, corrupt: bool) -> Path:
    frame = gpd.GeoDataFrame(WARDS, geometry=[box(0, 0, 1, 1)] * 2, crs="EPSG:27700")
    path = folder / ("corrupt.parquet" if corrupt else "wards.parquet")
    path.parent.mkdir(parents=True, exist_ok=True)
    frame.to_parquet(path, compression="snappy")
    if corrupt:  # overwrite the middle: the column chunks no longer decompress
        data = bytearray(path.read_bytes())
        middle = len(data) // 2
        data[middle - 100 : middle + 100] = b"\xff" * 200
        path.write_bytes(bytes(data))
    return path


LAYER_CASES: dict[str, tuple[Callable[[Path], Path], list[str], str]] = {
    "a layer in Toronto (degrees)": (
        lambda f: _layer(f, -79.40, 43.65, 0.01, "EPSG:4326", "toronto.geojson"),
        [],
        "lie outside Great Britain and Northern Ireland",
    ),
    "a layer in Toronto (UTM metres)": (
        lambda f: _layer(f, 630000, 4833000, 1000, "EPSG:32617", "toronto.geojson"),
        [],
        "lie outside Great Britain and Northern Ireland",
    ),
    "degrees stated as BNG metres": (
        lambda f: _layer(f, -0.47, 51.75, 0.01, "EPSG:27700", "wards.geojson"),
        [],
        "these are longitude/latitude-sized numbers, not metres",
    ),
    "BNG metres with --crs EPSG:4326": (
        lambda f: _layer(f, 500000, 200000, 1000, "EPSG:27700", "wards.geojson"),
        ["--crs", "EPSG:4326"],
        "coordinates look like British National Grid metres",
    ),
    "kilometres given as metres": (
        lambda f: _layer(f, 500, 200, 0.5, "EPSG:27700", "wards.geojson"),
        [],
        "the areas are specks",
    ),
    "a GeoParquet layer": (
        lambda f: _parquet(f, corrupt=False),
        [],
        "is a (Geo)Parquet file, which boundary layers are not read from; convert it",
    ),
    "a corrupt snappy GeoParquet layer": (
        lambda f: _parquet(f, corrupt=True),
        [],
        "corrupt.parquet: is a (Geo)Parquet file",
    ),
    "70 KB of junk GeoJSON is not echoed": (
        lambda f: _write(
            f / "junk.geojson", b'{"type": "FeatureCollection", "features": [' + b"x" * 70_000
        ),
        [],
        "cannot read as a GeoJSON, Shapefile, GeoPackage, KML or other GDAL format",
    ),
    "an empty layer file": (
        lambda f: _write(f / "wards.geojson", b""),
        [],
        "the file is empty; expected a GeoJSON, Shapefile or GeoPackage",
    ),
    "a CSV given as a layer": (
        lambda f: _write(f / "wards.csv", b"code,name\nW1,West\n"),
        [],
        "holds no layer with geometries",
    ),
    "boundary zip of nothing": (
        lambda f: _write(f / "wards.zip", _zip("readme.txt", "nothing here")),
        [],
        "wards.zip",
    ),
}


@pytest.mark.parametrize("name", list(LAYER_CASES))
def test_bad_boundary_layer(name: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    build, options, phrase = LAYER_CASES[name]
    path = build(tmp_path / "in")
    store = tmp_path / "store"
    code = main(["--store", str(store), "boundaries", "add", "ward", str(path), *options])
    err = capsys.readouterr().err
    assert code == 2, err
    assert phrase in err
    assert err.count("\n") == 1
    assert len(err) < 1000
    assert Store(store).version() is None  # nothing stored


DENOMINATOR_CASES: dict[str, tuple[str, str]] = {
    "population inf": ("code,population\nW1,inf\n", "'inf' is not a finite number from 0 to"),
    "population 1e300": ("code,population\nW1,1e300\n", "'1e300' is not a finite number"),
    "population -5": ("code,population\nW1,-5\n", "'-5' is not a finite number"),
    "population NaN": ("code,population\nW1,NaN\n", "'NaN' is not a finite number"),
    "population 2e8": ("code,population\nW1,200000000\n", "from 0 to 100,000,000"),
    "population text": ("code,population\nW1,lots\n", "'lots' is not a finite number"),
    "households -inf": ("code,households\nW1,-inf\n", "'-inf' is not a finite number"),
    "households 6e7": ("code,households\nW1,60000000\n", "from 0 to 50,000,000"),
    "population junk not echoed": ("code,population\nW1," + "9" * 500 + "\n", "(500 characters)"),
    "unknown code": ("code,population\nW9,100\n", "code(s) not in the layer: 'W9'"),
    "repeated code": ("code,population\nW1,100\nW1,200\n", "code(s) given more than once"),
    "no code column": ("area,population\nW1,100\n", "expected a 'code' column"),
    "duplicate population header": (
        "code,population,population\nW1,100,200\n",
        "column(s) population appear more than once in the header",
    ),
}


@pytest.mark.parametrize("name", list(DENOMINATOR_CASES))
def test_bad_denominators(name: str, tmp_path: Path, capsys: pytest.CaptureFixture) -> None:
    text, phrase = DENOMINATOR_CASES[name]
    store = tmp_path / "store"
    layer = _layer(tmp_path, 500000, 200000, 1000, "EPSG:27700", "wards.geojson")
    assert main(["--store", str(store), "boundaries", "add", "ward", str(layer)]) == 0
    csv_path = _write(tmp_path / "denominators.csv", text.encode())
    capsys.readouterr()
    code = main(["--store", str(store), "boundaries", "denominators", "ward", str(csv_path)])
    err = capsys.readouterr().err
    assert code == 2, err
    assert phrase in err
    assert len(err) < 1000
    populations = Store(store).layer("ward")["population"]
    assert populations.isna().all()  # the layer is unchanged


def test_layer_codes_and_names_are_normalised(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    path = tmp_path / "wards.geojson"
    shapes = [box(500000, 200000, 501000, 201000), box(501000, 200000, 502000, 201000)]
    columns = {"WD13CD": ["W1 ", "\x07W2"], "WD13NM": ["West  End", "Cafe\u0301"]}
    gpd.GeoDataFrame(columns, geometry=shapes, crs="EPSG:27700").to_file(path, driver="GeoJSON")
    store = tmp_path / "store"
    assert main(["--store", str(store), "boundaries", "add", "ward", str(path)]) == 0
    layer = Store(store).layer("ward")
    assert layer["code"].tolist() == ["W1", "W2"]
    assert layer["name"].tolist() == ["West End", "Café"]
    assert "column WD13CD: 2 value(s) normalised" in caplog.text
    csv_path = _write(tmp_path / "population.csv", b"code,population\nW1,1200\nW2,800\n")
    assert main(["--store", str(store), "boundaries", "denominators", "ward", str(csv_path)]) == 0
    assert Store(store).layer("ward")["population"].tolist() == [1200.0, 800.0]


def test_catalogue_holds_at_least_100_bad_inputs() -> None:
    total = len(INCIDENT_CASES) + len(LAYER_CASES) + len(DENOMINATOR_CASES)
    assert total >= 100, total
