"""Finding input files and reading CSV columns fast, with exact line numbers for every row.

Files are read with :mod:`pyarrow.csv` (only the columns a loader needs). Gzip is detected from
the file's magic bytes. The path ``-`` reads standard input (once, whole). The field separator is
found from the header line: ``,`` unless the header splits on ``;`` or a tab alone, as
spreadsheets in decimal-comma locales write "CSV"; a header that splits as well on two separators
is refused. A header naming one column twice is refused.

**Encoding** is decided once per file, from all of its bytes: UTF-8 (a byte-order mark is
ignored) when they are valid UTF-8, or when the file holds valid UTF-8 multi-byte characters
beside a few invalid bytes (those rows are then rejected, "not valid UTF-8"); otherwise the file
is Windows-1252 (Latin-1 when it has bytes Windows-1252 leaves undefined), and a log line says so.
So one bad byte costs one row, and ``Café`` never becomes ``CafÃ©``.

**Limits** (:func:`input_limits`): a file, or a gzip once decompressed, larger than
``GEO_SERVICE_MAX_INPUT_MB`` (default 2048 MiB) is refused, as is a gzip that expands more than
:data:`MAX_GZIP_RATIO` times (a CSV compresses about 5-15 times; a "zip bomb" thousands of
times); decompression stops as soon as a limit is passed, so memory stays bounded. A header line
longer than :data:`MAX_HEADER_BYTES` or a data line longer than ``GEO_SERVICE_MAX_LINE_KB``
(default 1024 KiB) refuses the file. Archives and binary formats given as CSV (zip, Excel,
Parquet, bzip2, xz, 7z, PDF) are named as such. Values echoed in messages are cut to 80
characters. Text values read are normalised (:func:`._plausible.normalise_text`).

Line numbers are 1-based with the
header on line 1; when a file has blank lines, fields spanning lines or rows with the wrong number
of fields, the file is re-read with the :mod:`csv` module so that every line number stays exact
and malformed rows become rejects.
"""

from __future__ import annotations

import codecs
import csv
import hashlib
import io
import logging
import mmap
import os
import re
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
from geo_service.sources._plausible import normalise_text, shown

logger = logging.getLogger(__name__)

_BOM = "\ufeff"
_CHUNK = 16 * 2**20
#: Defaults of the limits of :func:`input_limits` (MiB per file, KiB per line).
DEFAULT_MAX_INPUT_MB = 2048
DEFAULT_MAX_LINE_KB = 1024
#: A gzip expanding more than this many times is refused (CSV text compresses 5-15 times).
MAX_GZIP_RATIO = 200
#: Longest header line read (bytes): longer is binary data or a file without line breaks.
MAX_HEADER_BYTES = 65_536
#: Valid UTF-8 multi-byte characters (two- to four-byte sequences).
_UTF8_MULTIBYTE = re.compile(
    rb"[\xc2-\xdf][\x80-\xbf]|[\xe0-\xef][\x80-\xbf]{2}|[\xf0-\xf4][\x80-\xbf]{3}"
)
#: Bytes Windows-1252 leaves undefined (a file holding them is read as Latin-1).
_CP1252_UNDEFINED = re.compile(rb"[\x81\x8d\x8f\x90\x9d]")
_ESCAPED = re.compile("[\udc80-\udcff]")
_ENCODING_NAMES = {"utf8": "UTF-8", "cp1252": "Windows-1252", "latin1": "Latin-1"}
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
    raw = _read_stdin(limits.max_bytes) if path == STDIN else _map(path, limits.max_bytes)
    if path == STDIN:
        path = Path(f"stdin-{hashlib.sha256(raw).hexdigest()[:12]}.csv")
    # hashlib releases the GIL: checksum large files while pyarrow parses them.
    hasher = ThreadPoolExecutor(max_workers=1)
    digest = hasher.submit(lambda: hashlib.sha256(raw).hexdigest())
    hasher.shutdown(wait=False)
    data = _decompress(path, raw, limits) if raw[:2] == _GZIP_MAGIC else raw
    if _is_blank(data):
        raise InputError(f"{path}: file is empty (expected a CSV header line)")
    _refuse_binary(path, data)
    first_line = _first_line(path, data).removeprefix(_BOM.encode())
    encoding, valid = _file_encoding(path, data)
    bad_lines: tuple[int, ...] = ()
    if not valid:
        data, bad_lines = _replace_bad_utf8(path, data)
    text = first_line.decode("utf-8" if encoding == "utf8" else encoding, errors="replace")
    text = text.removeprefix(_BOM).rstrip("\r")
    delimiter = _separator(path, text)
    header = next(csv.reader([text], delimiter=delimiter), [])
    names = tuple(name.strip() for name in header)
    _refuse_repeated_columns(path, names)
    return RawFile(path, digest, data, encoding, names, delimiter, bad_lines)


@dataclass(frozen=True)
class InputLimits:
    """Size limits on one input file: bytes (decompressed) and bytes per line."""

    max_bytes: int
    max_line_bytes: int


def input_limits() -> InputLimits:
    """The limits from ``GEO_SERVICE_MAX_INPUT_MB`` and ``GEO_SERVICE_MAX_LINE_KB`` (or defaults).

    Raises
    ------
    InputError
        A variable is set but is not a positive whole number.
    """
    return InputLimits(
        _env_number("GEO_SERVICE_MAX_INPUT_MB", DEFAULT_MAX_INPUT_MB) * 2**20,
        _env_number("GEO_SERVICE_MAX_LINE_KB", DEFAULT_MAX_LINE_KB) * 2**10,
    )


def _env_number(name: str, default: int) -> int:
    text = os.environ.get(name, "").strip()
    if not text:
        return default
    if not text.isdigit() or int(text) <= 0:
        raise InputError(f"{name}={text[:20]!r}: expected a positive whole number")
    return int(text)


#: Leading bytes of formats that are not CSV text -> what to call them and what to do instead.
_NOT_CSV: tuple[tuple[bytes, str], ...] = (
    (
        b"PK\x03\x04",
        "a zip archive (or an Excel .xlsx workbook); unzip it and give the CSV "
        "files inside, or save the sheet as CSV",
    ),
    (b"PK\x05\x06", "an empty zip archive; give the CSV files instead"),
    (b"PAR1", "a Parquet file, not CSV; export it as CSV"),
    (b"BZh", "a bzip2 archive; decompress it (bunzip2) and give the CSV inside"),
    (b"\xfd7zXZ\x00", "an xz archive; decompress it (unxz) and give the CSV inside"),
    (b"7z\xbc\xaf\x27\x1c", "a 7-Zip archive; extract it and give the CSV files inside"),
    (b"%PDF", "a PDF document, not CSV"),
    (b"\xd0\xcf\x11\xe0", "an old Excel .xls workbook; save the sheet as CSV"),
)


def _refuse_binary(path: Path, data: bytes | mmap.mmap) -> None:
    """Name archives and binary formats given as CSV, and text with NUL bytes in its header."""
    head = bytes(data[:8])
    for magic, what in _NOT_CSV:
        if head.startswith(magic):
            raise InputError(f"{path}: is {what}")
    if head.startswith(_GZIP_MAGIC):
        raise InputError(f"{path}: is gzip compressed twice; decompress it once and try again")


def _first_line(path: Path, data: bytes | mmap.mmap) -> bytes:
    """The header line's bytes; refuses a header too long or holding NUL bytes."""
    end = data.find(b"\n", 0, MAX_HEADER_BYTES + 1)
    if end < 0 and len(data) > MAX_HEADER_BYTES:
        raise InputError(
            f"{path}: the first line is longer than {MAX_HEADER_BYTES // 1024} KiB: not a CSV "
            "file with a header line (binary data, or a file with no line breaks?)"
        )
    line = bytes(data[: end if end >= 0 else len(data)])
    if b"\x00" in line:
        raise InputError(
            f"{path}: the header line holds NUL bytes: binary data or UTF-16 text, not a CSV "
            "file (save it as UTF-8 CSV)"
        )
    return line


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


def _read_stdin(max_bytes: int) -> bytes:
    try:
        data = sys.stdin.buffer.read(max_bytes + 1)
    except (OSError, AttributeError, ValueError) as exc:
        raise InputError(f"-: cannot read standard input ({exc})") from exc
    if len(data) > max_bytes:
        raise InputError(f"-: standard input is larger than {_limit_text(max_bytes)}")
    return data


def _limit_text(max_bytes: int) -> str:
    return f"the input limit of {max_bytes // 2**20} MiB (set GEO_SERVICE_MAX_INPUT_MB to raise it)"


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


def _map(path: Path, max_bytes: int) -> bytes | mmap.mmap:
    """The file's bytes, memory-mapped (no copy) unless the file is empty."""
    try:
        with path.open("rb") as handle:
            size = os.fstat(handle.fileno()).st_size
            if size == 0:
                return b""
            if size > max_bytes:
                raise InputError(f"{path}: the file is larger than {_limit_text(max_bytes)}")
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
            f"expected a header with {', '.join(required)}; "
            f"found {shown(', '.join(raw.header)) or '-'}"
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
    _check_line_lengths(raw)
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


def _decompress(path: Path, raw: bytes | mmap.mmap, limits: InputLimits) -> bytes:
    """Gunzip in chunks, stopping as soon as the output passes a limit (bounded memory).

    Concatenated gzip members (as ``cat a.gz b.gz`` makes) are read one after another.
    """
    limit = min(limits.max_bytes, max(MAX_GZIP_RATIO * len(raw), 2**20))
    out = io.BytesIO()
    pending = memoryview(raw)
    try:
        while len(pending):
            stream = zlib.decompressobj(wbits=31)  # one gzip member
            while not stream.eof:
                chunk = stream.decompress(pending, _CHUNK)
                pending = memoryview(stream.unconsumed_tail)
                if not chunk and not len(pending):
                    raise EOFError("compressed file ended before the end-of-stream marker")
                out.write(chunk)
                if out.tell() > limit:
                    raise InputError(_bomb_text(path, len(raw), limit, limits.max_bytes))
            rest = stream.unused_data
            pending = memoryview(rest if rest.strip(b"\0") else b"")  # zero padding ends it
    except (EOFError, zlib.error) as exc:
        raise InputError(f"{path}: truncated or corrupt gzip file ({shown(exc)})") from exc
    return out.getvalue()


def _bomb_text(path: Path, packed: int, limit: int, max_bytes: int) -> str:
    if limit < max_bytes:
        return (
            f"{path}: refused: this {packed:,}-byte gzip expands to more than {limit:,} bytes "
            f"(over {MAX_GZIP_RATIO} times its size; a CSV compresses 5-15 times): a "
            "decompression bomb or not a CSV; decompression stopped"
        )
    return f"{path}: refused: decompressed, the file is larger than {_limit_text(max_bytes)}"


def _file_encoding(path: Path, data: bytes | mmap.mmap) -> tuple[str, bool]:
    """``utf8``, ``cp1252`` or ``latin1`` for the whole file, and whether it decodes cleanly."""
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        for start in range(0, len(data), _CHUNK):
            decoder.decode(data[start : start + _CHUNK])
        decoder.decode(b"", final=True)
        return "utf8", True
    except UnicodeDecodeError:
        pass
    if _UTF8_MULTIBYTE.search(data) is not None:
        return "utf8", False  # UTF-8 text with a few bad bytes: those rows are rejected
    encoding = "latin1" if _CP1252_UNDEFINED.search(data) is not None else "cp1252"
    logger.warning("%s: not UTF-8 text; reading it as %s", path, _ENCODING_NAMES[encoding])
    return encoding, True


def _replace_bad_utf8(path: Path, data: bytes | mmap.mmap) -> tuple[bytes, tuple[int, ...]]:
    """UTF-8 bytes with each invalid byte as U+FFFD, and the 1-based lines that held them."""
    text = bytes(data).decode("utf-8", errors="surrogateescape")
    lines: list[int] = []
    line, previous = 1, 0
    for match in _ESCAPED.finditer(text):
        line += text.count("\n", previous, match.start())
        previous = match.start()
        if not lines or lines[-1] != line:
            lines.append(line)
    logger.warning(
        "%s: UTF-8 text with bytes that are not UTF-8 on %d line(s) (first line %d); those "
        "rows are rejected",
        path,
        len(lines),
        lines[0],
    )
    return _ESCAPED.sub("\ufffd", text).encode("utf-8"), tuple(lines)


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


def _check_line_lengths(raw: RawFile) -> None:
    """Refuse a file with a line longer than the limit (junk, or a file without line breaks).

    Scanned in chunks, so memory stays bounded (about 1 ms per MB).
    """
    limit = input_limits().max_line_bytes
    if len(raw.data) <= limit:
        return
    line, start = 1, 0  # the current line's number and first byte
    for offset in range(0, len(raw.data), _CHUNK):
        chunk = np.frombuffer(
            raw.data, dtype=np.uint8, count=min(_CHUNK, len(raw.data) - offset), offset=offset
        )
        ends = np.flatnonzero(chunk == 10) + offset
        lengths = np.diff(np.concatenate([[start - 1], ends])) - 1
        if len(lengths) and lengths.max() > limit:
            _refuse_long_line(raw.path, line + int(np.argmax(lengths)), int(lengths.max()), limit)
        if len(ends):
            line, start = line + len(ends), int(ends[-1]) + 1
    if len(raw.data) - start > limit:
        _refuse_long_line(raw.path, line, len(raw.data) - start, limit)


def _refuse_long_line(path: Path, line: int, length: int, limit: int) -> None:
    raise InputError(
        f"{path}: line {line} is {length:,} bytes long, over the limit of {limit // 1024} KiB "
        "per line (set GEO_SERVICE_MAX_LINE_KB to raise it): junk data or a file without line "
        "breaks"
    )


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
