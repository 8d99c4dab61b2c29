"""Finding input files and reading CSV columns fast, with exact line numbers for every row.

Files are read with :mod:`pyarrow.csv` (only the columns a loader needs). Gzip is detected from
the file's magic bytes. The path ``-`` reads standard input (once, whole). The field separator is
found from the header line: ``,`` unless the header splits on ``;`` or a tab alone, as
spreadsheets in decimal-comma locales write "CSV"; a header that splits as well on two separators
is refused. Text is UTF-8 (a byte-order mark is ignored); a file whose header or needed columns
are not valid UTF-8 is read as Latin-1 and a log line says so. Line numbers are 1-based with the
header on line 1; when a file has blank lines, fields spanning lines or rows with the wrong number
of fields, the file is re-read with the :mod:`csv` module so that every line number stays exact
and malformed rows become rejects.
"""

from __future__ import annotations

import csv
import gzip
import hashlib
import io
import logging
import mmap
import os
import sys
import zlib
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from geo_service.errors import InputError

logger = logging.getLogger(__name__)

_BOM = "\ufeff"
_GZIP_MAGIC = b"\x1f\x8b"
#: The path that names standard input.
STDIN = Path("-")
#: Field separators recognised in a header line, with the names used in messages.
SEPARATORS = {",": "','", ";": "';'", "\t": "tabs"}


@dataclass(frozen=True)
class RawFile:
    """The decoded bytes of one input file and its header."""

    path: Path
    digest: Future[str]
    data: bytes | mmap.mmap
    encoding: str  # "utf8" or "latin1"
    header: tuple[str, ...]
    delimiter: str = ","

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the file's bytes as stored (compressed when gzipped)."""
        return self.digest.result()


@dataclass(frozen=True)
class RawRows:
    """Selected columns of one file as text, with each row's line number."""

    columns: dict[str, pa.Array]  # column name -> string array (nulls for empty fields)
    lines: np.ndarray  # int64, 1-based line of each row
    malformed: pd.DataFrame  # rejects: rows with the wrong number of fields
    digest: Future[str]  # SHA-256 of the file, computed beside the parse
    delimiter: str = ","

    @property
    def sha256(self) -> str:
        """Hex SHA-256 of the file's bytes as stored (compressed when gzipped)."""
        return self.digest.result()

    @property
    def rows(self) -> int:
        """Rows read, including malformed ones."""
        return len(self.lines) + len(self.malformed)


def expand_paths(
    paths: str | Path | Iterable[str | Path], *, folder_patterns: Sequence[str]
) -> list[Path]:
    """Files named by ``paths``: files as given, folders searched recursively for patterns.

    The result is sorted and without repeats, so loading is deterministic. ``-`` (standard
    input) is kept as given.
    """
    given = [paths] if isinstance(paths, str | Path) else list(paths)
    if not given:
        raise InputError("no input files given")
    found: set[Path] = set()
    for item in given:
        path = Path(item)
        if path == STDIN or path.is_file():
            found.add(path)
        elif path.is_dir():
            matches = {p for pattern in folder_patterns for p in path.rglob(pattern) if p.is_file()}
            if not matches:
                raise InputError(
                    f"{path}: folder holds no input files (looked for {', '.join(folder_patterns)})"
                )
            found |= matches
        else:
            raise InputError(f"{path}: no such file or folder")
    return sorted(found, key=lambda p: str(p))


def open_file(path: Path) -> RawFile:
    """Map, checksum, decompress and decode the header of ``path``; whole-file errors raise.

    ``-`` reads standard input; the file is then named ``stdin-<first 12 hex digits of its
    SHA-256>.csv`` in rows and records, so that the same input gives the same name and ids.
    """
    raw = _read_stdin() if path == STDIN else _map(path)
    if path == STDIN:
        path = Path(f"stdin-{hashlib.sha256(raw).hexdigest()[:12]}.csv")
    # hashlib releases the GIL: checksum large files while pyarrow parses them.
    hasher = ThreadPoolExecutor(max_workers=1)
    digest = hasher.submit(lambda: hashlib.sha256(raw).hexdigest())
    hasher.shutdown(wait=False)
    data = _decompress(path, raw) if raw[:2] == _GZIP_MAGIC else raw
    if _is_blank(data):
        raise InputError(f"{path}: file is empty (expected a CSV header line)")
    end = data.find(b"\n")
    first_line = data[: end if end >= 0 else len(data)].removeprefix(_BOM.encode())
    encoding = _header_encoding(first_line)
    if encoding == "latin1":
        logger.warning("%s: header is not valid UTF-8; reading the file as Latin-1", path)
    text = first_line.decode("utf-8" if encoding == "utf8" else "latin-1")
    text = text.removeprefix(_BOM).rstrip("\r")
    delimiter = _separator(path, text)
    header = next(csv.reader([text], delimiter=delimiter), [])
    names = tuple(name.strip() for name in header)
    return RawFile(path, digest, data, encoding, names, delimiter)


def _read_stdin() -> bytes:
    try:
        return sys.stdin.buffer.read()
    except (OSError, AttributeError, ValueError) as exc:
        raise InputError(f"-: cannot read standard input ({exc})") from exc


def _separator(path: Path, header: str) -> str:
    """The field separator of a file from its header line (``,`` unless another one is clear).

    A header that splits into the most fields on ``;`` or on tabs uses that separator; a header
    that splits equally well on two is refused rather than guessed.
    """
    fields = {sep: len(next(csv.reader([header], delimiter=sep), [])) for sep in SEPARATORS}
    most = max(fields.values())
    best = [sep for sep, count in fields.items() if count == most]
    if most <= 1:
        return ","
    if len(best) > 1:
        named = " and ".join(f"{SEPARATORS[sep]} ({fields[sep]} fields)" for sep in best)
        raise InputError(
            f"{path}: cannot tell the field separator: the header splits as well on {named}; "
            "save the file as comma-separated CSV"
        )
    if best[0] != ",":
        logger.warning(
            "%s: fields are separated by %s (a spreadsheet's CSV in a decimal-comma locale); "
            "reading it so",
            path,
            SEPARATORS[best[0]],
        )
    return best[0]


def _map(path: Path) -> bytes | mmap.mmap:
    """The file's bytes, memory-mapped (no copy) unless the file is empty."""
    try:
        with path.open("rb") as handle:
            if os.fstat(handle.fileno()).st_size == 0:
                return b""
            return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ)
    except OSError as exc:
        raise InputError(f"{path}: cannot read file ({exc.strerror})") from exc


def _is_blank(data: bytes | mmap.mmap) -> bool:
    """True for an empty file or one of only whitespace (checked up to 64 KiB)."""
    return len(data) == 0 or (len(data) <= 65_536 and bytes(data).isspace())


def require_columns(raw: RawFile, required: Sequence[str], *, what: str) -> None:
    """Raise naming the file, the missing columns and the expected header when any is missing."""
    missing = [name for name in required if name not in raw.header]
    if missing:
        separated = f" (fields are separated by {SEPARATORS[raw.delimiter]})"
        raise InputError(
            f"{raw.path}: not a {what} file: missing column(s) {', '.join(missing)}; "
            f"expected a header with {', '.join(required)}; found {', '.join(raw.header) or '-'}"
            + (separated if raw.delimiter != "," else "")
        )


def read_columns(
    raw: RawFile,
    columns: Sequence[str],
    *,
    null_values: Sequence[str] = ("",),
    number_columns: Sequence[str] = (),
) -> RawRows:
    """The named ``columns`` of ``raw`` as arrays (``null_values`` become nulls).

    Columns are text, except ``number_columns``, which are float64 when every value in the file
    parses as a number (the common case, and faster) and text otherwise, so that the loader can
    reject the rows that do not. Fast (pyarrow) when the file is regular; line by line when not.
    Text that is not valid UTF-8 is read again as Latin-1, with a warning.
    """
    wanted = list(dict.fromkeys(columns))
    try:
        return _read_any(raw, wanted, list(null_values), list(number_columns))
    except _NotUtf8Error as exc:
        logger.warning("%s: not valid UTF-8 (%s); reading it as Latin-1", raw.path, exc)
        latin1 = replace(raw, encoding="latin1")
        return _read_any(latin1, wanted, list(null_values), list(number_columns))


class _NotUtf8Error(Exception):
    """The file's text is not valid UTF-8."""


def _read_any(raw: RawFile, wanted: list[str], nulls: list[str], numbers: list[str]) -> RawRows:
    rows = None
    for typed in ([c for c in numbers if c in wanted], []):
        try:
            rows = _read_fast(raw, wanted, nulls, typed)
            break
        except pa.ArrowInvalid as exc:
            if "UTF8" in str(exc) and raw.encoding == "utf8":
                raise _NotUtf8Error(str(exc)) from exc
            logger.debug("%s: pyarrow could not parse the file as typed (%s)", raw.path, exc)
    if rows is None:
        logger.info("%s: irregular CSV layout, reading it line by line", raw.path)
        rows = _read_exact(raw, wanted, nulls)
    return rows


def _decompress(path: Path, raw: bytes | mmap.mmap) -> bytes:
    try:
        return gzip.decompress(raw)
    except (EOFError, OSError, zlib.error) as exc:
        raise InputError(f"{path}: truncated or corrupt gzip file ({exc})") from exc


def _header_encoding(line: bytes) -> str:
    """UTF-8 unless the header line is not valid UTF-8 (the data rows are checked as read)."""
    try:
        line.decode("utf-8")
    except UnicodeDecodeError:
        return "latin1"
    return "utf8"


def _read_fast(
    raw: RawFile, wanted: list[str], nulls: list[str], numbers: list[str]
) -> RawRows | None:
    """pyarrow read; None when line numbers could not be exact (blank or malformed lines).

    Blank lines and fields spanning lines both surface as rows with the wrong number of fields
    (``ignore_empty_lines=False``, no newlines in values), which sends the file to the exact path.
    """
    malformed: list[str] = []

    def _on_invalid(row: pacsv.InvalidRow) -> str:
        malformed.append(row.text)
        return "skip"

    table = pacsv.read_csv(
        pa.BufferReader(raw.data),
        read_options=pacsv.ReadOptions(
            encoding=raw.encoding,
            column_names=list(raw.header),
            skip_rows=1,
            # On 2 cores one parse thread beside the checksum thread measured faster than two.
            use_threads=(os.cpu_count() or 1) > 2,
        ),
        parse_options=pacsv.ParseOptions(
            delimiter=raw.delimiter, invalid_row_handler=_on_invalid, ignore_empty_lines=False
        ),
        convert_options=pacsv.ConvertOptions(
            include_columns=wanted,
            column_types={
                name: pa.float64() if name in numbers else pa.large_string() for name in wanted
            },
            null_values=nulls,
            strings_can_be_null=True,
            quoted_strings_can_be_null=True,
        ),
    )
    if malformed:
        return None
    lines = np.arange(2, table.num_rows + 2, dtype=np.int64)
    columns = {}
    for name in wanted:  # drop each column's chunks once combined: lower peak memory
        columns[name] = table.column(name).combine_chunks()
        table = table.drop_columns([name])
    malformed_none = _malformed_frame(raw.path, [], [], len(raw.header))
    return RawRows(columns, lines, malformed_none, raw.digest, raw.delimiter)


def _read_exact(raw: RawFile, wanted: list[str], nulls: list[str]) -> RawRows:
    """Line-by-line read with the csv module: exact line numbers, malformed rows rejected."""
    try:
        text = bytes(raw.data).decode("utf-8-sig" if raw.encoding == "utf8" else "latin-1")
    except UnicodeDecodeError as exc:
        raise _NotUtf8Error(f"byte {exc.start}") from exc
    index = [raw.header.index(name) for name in wanted]
    null_set = set(nulls)
    values: list[list[str | None]] = [[] for _ in wanted]
    lines: list[int] = []
    bad_lines: list[int] = []
    bad_text: list[str] = []
    for line, record in _numbered_records(raw.path, text, raw.delimiter):
        if len(record) != len(raw.header):
            bad_lines.append(line)
            bad_text.append(raw.delimiter.join(record))
            continue
        lines.append(line)
        for out, i in zip(values, index, strict=True):
            out.append(None if record[i] in null_set else record[i])
    columns = {
        name: pa.array(col, type=pa.large_string())
        for name, col in zip(wanted, values, strict=True)
    }
    malformed = _malformed_frame(raw.path, bad_lines, bad_text, len(raw.header))
    lines_array = np.asarray(lines, dtype=np.int64)
    return RawRows(columns, lines_array, malformed, raw.digest, raw.delimiter)


def _numbered_records(path: Path, text: str, delimiter: str) -> Iterator[tuple[int, list[str]]]:
    """(first line, fields) of each non-blank record after the header."""
    reader = csv.reader(io.StringIO(text, newline=""), delimiter=delimiter)
    next(reader, None)
    start = reader.line_num + 1
    while True:
        try:
            record = next(reader)
        except StopIteration:
            return
        except csv.Error as exc:
            raise InputError(f"{path} line {start}: not readable as CSV ({exc})") from exc
        if record:
            yield start, record
        start = reader.line_num + 1


def _malformed_frame(path: Path, lines: list[int], texts: list[str], n_fields: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "file": pd.Series([str(path)] * len(lines), dtype="str"),
            "line": pd.Series(lines, dtype="int64"),
            "column": pd.Series(["*"] * len(lines), dtype="str"),
            "value": pd.Series([t[:200] for t in texts], dtype="str"),
            "reason": pd.Series(
                [f"wrong number of fields (expected {n_fields})"] * len(lines), dtype="str"
            ),
        }
    )
