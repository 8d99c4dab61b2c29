"""Finding input files and reading CSV columns fast, with exact line numbers for every row.

Files are read with :mod:`pyarrow.csv` (only the columns a loader needs). Gzip is detected from
the file's magic bytes. The path ``-`` reads standard input (once, whole). The field separator is
found from the header line: ``,`` unless the header splits on ``;`` or a tab alone, as
spreadsheets in decimal-comma locales write "CSV"; a header that splits as well on two separators
is refused. A header naming one column twice is refused.

Before parsing, the bytes pass the guards of :mod:`._guards`: size and line-length limits
(a gzip is decompressed in chunks and stops at a limit), archives and binary formats named as
such, and the encoding decided once per file (UTF-8; a UTF-8 file with a few invalid bytes has
those rows rejected, "not valid UTF-8"; otherwise Windows-1252 or Latin-1, logged), so one bad
byte costs one row and ``Café`` never becomes ``CafÃ©``. Values echoed in messages are cut to 80
characters. Text values read are normalised (:func:`._plausible.normalise_text`).

Line numbers are 1-based with the
header on line 1; when a file has blank lines, fields spanning lines or rows with the wrong number
of fields, the file is re-read with the :mod:`csv` module so that every line number stays exact
and malformed rows become rejects.
"""

from __future__ import annotations

import csv
import hashlib
import io
import logging
import mmap
import os
from collections.abc import Iterable, Iterator, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from dataclasses import dataclass, replace
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.csv as pacsv

from geo_service.errors import InputError
from geo_service.sources._guards import (
    GZIP_MAGIC,
    check_line_lengths,
    decompress,
    file_encoding,
    first_line,
    input_limits,
    limit_text,
    read_stdin,
    refuse_binary,
    replace_bad_utf8,
)
from geo_service.sources._plausible import normalise_text, printable, shown

logger = logging.getLogger(__name__)

_BOM = "\ufeff"
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
    encoding: str  # "utf8", "cp1252" or "latin1"
    header: tuple[str, ...]
    delimiter: str = ","
    #: 1-based lines holding bytes that are not UTF-8 (in a file otherwise UTF-8).
    bad_lines: tuple[int, ...] = ()

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
    limits = input_limits()
    identity: _Identity | None = None
    raw: bytes | mmap.mmap
    if path == STDIN:
        raw = read_stdin(limits.max_bytes)
        path = Path(f"stdin-{hashlib.sha256(raw).hexdigest()[:12]}.csv")
    else:
        raw, identity = _map(path, limits.max_bytes)
    known = _CHECKSUMS.get(identity) if identity is not None else None
    if known is not None:  # checksummed unchanged before the parse (file_sha256)
        digest: Future[str] = Future()
        digest.set_result(known)
    else:  # hashlib releases the GIL: checksum large files while pyarrow parses them
        hasher = ThreadPoolExecutor(max_workers=1)
        digest = hasher.submit(lambda: hashlib.sha256(raw).hexdigest())
        hasher.shutdown(wait=False)
    data = decompress(path, raw, limits) if raw[:2] == GZIP_MAGIC else raw
    if _is_blank(data):
        raise InputError(f"{path}: file is empty (expected a CSV header line)")
    refuse_binary(path, data)
    header_line = first_line(path, data).removeprefix(_BOM.encode())
    encoding, valid = file_encoding(path, data)
    text = header_line.decode("utf-8" if encoding == "utf8" else encoding, errors="replace")
    text = text.removeprefix(_BOM).rstrip("\r")
    if sum(c == "\ufffd" or not (c.isprintable() or c == "\t") for c in text) > len(text) / 10:
        raise InputError(
            f"{path}: the first line is not text (binary data, or a file of another format?): "
            f"{shown(printable(text))}"
        )
    bad_lines: tuple[int, ...] = ()
    if not valid:
        data, bad_lines = replace_bad_utf8(path, data)
    delimiter = _separator(path, text)
    header = next(csv.reader([text], delimiter=delimiter), [])
    names = tuple(name.strip() for name in header)
    _refuse_repeated_columns(path, names)
    return RawFile(path, digest, data, encoding, names, delimiter, bad_lines)


def _refuse_repeated_columns(path: Path, names: tuple[str, ...]) -> None:
    """A header naming a column twice is ambiguous: which ``Month`` is the month?"""
    seen: dict[str, int] = {}
    for position, name in enumerate(names, start=1):
        if not name:
            continue
        if name in seen:
            raise InputError(
                f"{path}: file refused: column {shown(name)!r} appears twice in the header "
                f"(columns {seen[name]} and {position}); remove or rename one; nothing was stored"
            )
        seen[name] = position


def _separator(path: Path, header: str) -> str:
    """The field separator of a file from its header line (``,`` unless another one is clear).

    A header that splits into the most fields on ``;`` or on tabs uses that separator; a header
    that splits equally well on two is refused rather than guessed.
    """
    try:
        fields = {sep: len(next(csv.reader([header], delimiter=sep), [])) for sep in SEPARATORS}
    except csv.Error as exc:
        raise InputError(f"{path}: the header line is not CSV text ({exc})") from exc
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
        why = (
            "a spreadsheet's CSV in a decimal-comma locale"
            if best[0] == ";"
            else "a spreadsheet's tab-delimited text, or a copy from a table"
        )
        logger.warning("%s: fields are separated by %s (%s); reading it so", path,
                       SEPARATORS[best[0]], why)  # fmt: skip
    return best[0]


def _map(path: Path, max_bytes: int) -> tuple[bytes | mmap.mmap, _Identity]:
    """The file's bytes, memory-mapped (no copy) unless the file is empty, and its identity."""
    try:
        with path.open("rb") as handle:
            stat = os.fstat(handle.fileno())
            identity = _identity(stat)
            if stat.st_size == 0:
                return b"", identity
            if stat.st_size > max_bytes:
                raise InputError(f"{path}: the file is larger than {limit_text(max_bytes)}")
            return mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ), identity
    except OSError as exc:
        raise InputError(f"{path}: cannot read file ({exc.strerror})") from exc


#: A file as the file system identifies it: device, inode, size, and modification and status
#: change times (ns; no user tool can set the latter back, so a rewrite in place changes it).
_Identity = tuple[int, int, int, int, int]
#: SHA-256 of files checksummed by :func:`file_sha256`, by identity, so that a file parsed
#: unchanged after an ingest checksummed it (to skip stored files) is not hashed twice.
_CHECKSUMS: dict[_Identity, str] = {}
_CHECKSUMS_MAX = 100_000


def _identity(stat: os.stat_result) -> _Identity:
    return (stat.st_dev, stat.st_ino, stat.st_size, stat.st_mtime_ns, stat.st_ctime_ns)


def file_sha256(path: Path) -> str:
    """Hex SHA-256 of a file's bytes as stored (compressed when gzipped), read in chunks.

    Remembered for the process by the file's identity (device, inode, size, modification and
    status change times): :func:`open_file` takes it instead of hashing the file again while
    nothing of it changed. Any write changes the status change time, which no tool can set
    back, so an edited file is hashed anew.

    Raises
    ------
    OSError
        The file cannot be read.
    """
    with path.open("rb") as handle:
        before = _identity(os.fstat(handle.fileno()))
        digest = hashlib.file_digest(handle, "sha256").hexdigest()
        if _identity(os.fstat(handle.fileno())) == before:  # not written while hashed
            if len(_CHECKSUMS) >= _CHECKSUMS_MAX:
                _CHECKSUMS.clear()
            _CHECKSUMS[before] = digest
    return digest


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
            f"expected a header with {', '.join(required)}; "
            f"found {shown(printable(', '.join(raw.header))) or '-'}"
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
    Rows on lines holding bytes that are not valid UTF-8 (in a file that is otherwise UTF-8)
    are rejected. Text values are normalised (:func:`._plausible.normalise_text`).
    """
    wanted = list(dict.fromkeys(columns))
    check_line_lengths(raw.path, raw.data)
    rows = None
    for typed in ([c for c in number_columns if c in wanted], []):
        try:
            rows = _read_fast(raw, wanted, list(null_values), typed)
            break
        except pa.ArrowInvalid as exc:
            logger.debug("%s: pyarrow could not parse the file as typed (%s)", raw.path, exc)
    if rows is None:
        logger.info("%s: irregular CSV layout, reading it line by line", raw.path)
        rows = _read_exact(raw, wanted, list(null_values))
    normalised = {
        name: normalise_text(raw.path, name, values) for name, values in rows.columns.items()
    }
    rows = replace(rows, columns=normalised)
    return _reject_bad_text(raw, rows) if raw.bad_lines else rows


def _reject_bad_text(raw: RawFile, rows: RawRows) -> RawRows:
    """Move the rows on lines with bytes that are not UTF-8 to the malformed rejects."""
    starts = rows.lines
    index = np.searchsorted(starts, np.asarray(raw.bad_lines, dtype=np.int64), side="right") - 1
    hit = np.zeros(len(starts), dtype=bool)
    hit[index[index >= 0]] = True
    if not hit.any():
        return rows
    keep = pa.array(~hit)
    first_column = next(iter(rows.columns.values()))
    texts = [shown(v) for v in first_column.filter(pa.array(hit)).to_pylist()]
    bad = pd.DataFrame(
        {
            "file": pd.Series([str(raw.path)] * len(texts), dtype="str"),
            "line": pd.Series(starts[hit], dtype="int64"),
            "column": pd.Series(["*"] * len(texts), dtype="str"),
            "value": pd.Series(texts, dtype="str"),
            "reason": pd.Series(
                ["not valid UTF-8 text (bytes shown as \ufffd; the rest of the file is UTF-8)"]
                * len(texts),
                dtype="str",
            ),
        }
    )
    malformed = pd.concat([rows.malformed, bad], ignore_index=True).sort_values(
        "line", ignore_index=True
    )
    columns = {name: values.filter(keep) for name, values in rows.columns.items()}
    return replace(rows, columns=columns, lines=starts[~hit], malformed=malformed)


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
        text = bytes(raw.data).decode("utf-8-sig" if raw.encoding == "utf8" else raw.encoding)
    except UnicodeDecodeError as exc:  # the encoding was checked on opening
        raise InputError(f"{raw.path}: not readable as {raw.encoding} ({exc})") from exc
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
            raise InputError(f"{path} line {start}: not readable as CSV ({shown(exc)})") from exc
        if record:
            yield start, record
        start = reader.line_num + 1


def _malformed_frame(path: Path, lines: list[int], texts: list[str], n_fields: int) -> pd.DataFrame:
    return pd.DataFrame(
        {
            "file": pd.Series([str(path)] * len(lines), dtype="str"),
            "line": pd.Series(lines, dtype="int64"),
            "column": pd.Series(["*"] * len(lines), dtype="str"),
            "value": pd.Series([shown(t) for t in texts], dtype="str"),
            "reason": pd.Series(
                [f"wrong number of fields (expected {n_fields})"] * len(lines), dtype="str"
            ),
        }
    )
