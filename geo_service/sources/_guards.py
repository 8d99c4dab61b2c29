"""Byte-level guards on an input file, before it is parsed as CSV.

- **Limits** (:func:`input_limits`): a file, or a gzip once decompressed, larger than
  ``GEO_SERVICE_MAX_INPUT_MB`` (default 2048 MiB) is refused, as is a gzip that expands more than
  :data:`MAX_GZIP_RATIO` times (a CSV compresses about 5-15 times; a "zip bomb" thousands of
  times); decompression stops as soon as a limit is passed, so memory stays bounded. A header
  line longer than :data:`MAX_HEADER_BYTES` or a line longer than ``GEO_SERVICE_MAX_LINE_KB``
  (default 1024 KiB) refuses the file.
- **Not CSV**: archives and binary formats given as CSV (zip, Excel, Parquet, bzip2, xz, 7z,
  PDF, a gzip inside a gzip) and a header with NUL bytes (binary data, UTF-16) are named as such.
- **Encoding** (:func:`file_encoding`), decided once per file from all of its bytes: UTF-8 when
  they are valid UTF-8, or when the file holds valid UTF-8 multi-byte characters beside a few
  invalid bytes (:func:`replace_bad_utf8` then marks those lines, whose rows are rejected);
  otherwise Windows-1252 (Latin-1 when it has bytes Windows-1252 leaves undefined), logged.
"""

from __future__ import annotations

import codecs
import io
import logging
import mmap
import os
import re
import sys
import zlib
from dataclasses import dataclass
from pathlib import Path

import numpy as np

from geo_service.errors import InputError
from geo_service.sources._plausible import shown

logger = logging.getLogger(__name__)

GZIP_MAGIC = b"\x1f\x8b"
#: Bytes read or decoded at a time.
CHUNK = 16 * 2**20
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


def refuse_binary(path: Path, data: bytes | mmap.mmap) -> None:
    """Name archives and binary formats given as CSV, and text with NUL bytes in its header."""
    head = bytes(data[:8])
    for magic, what in _NOT_CSV:
        if head.startswith(magic):
            raise InputError(f"{path}: is {what}")
    if head.startswith(GZIP_MAGIC):
        raise InputError(f"{path}: is gzip compressed twice; decompress it once and try again")


def _refuse_cr_only(path: Path) -> None:
    raise InputError(
        f"{path}: lines end with a carriage return alone (an old Mac, or Excel's \"CSV "
        '(Macintosh)") and the header runs into the rows: save the file as "CSV UTF-8 '
        '(Comma delimited)" and try again'
    )


def first_line(path: Path, data: bytes | mmap.mmap) -> bytes:
    """The header line's bytes; refuses a header too long, holding NUL bytes, or ended by a
    carriage return alone (CR-only line ends: the whole file would read as one line)."""
    end = data.find(b"\n", 0, MAX_HEADER_BYTES + 1)
    if end < 0 and len(data) > MAX_HEADER_BYTES and data.find(b"\r", 0, MAX_HEADER_BYTES) >= 0:
        _refuse_cr_only(path)
    if end < 0 and len(data) > MAX_HEADER_BYTES:
        raise InputError(
            f"{path}: the first line is longer than {MAX_HEADER_BYTES // 1024} KiB: not a CSV "
            "file with a header line (binary data, or a file with no line breaks?)"
        )
    line = bytes(data[: end if end >= 0 else len(data)])
    if b"\r" in line.rstrip(b"\r"):
        _refuse_cr_only(path)
    if b"\x00" in line:
        raise InputError(
            f"{path}: the header line holds NUL bytes: binary data or UTF-16 text, not a CSV "
            "file (save it as UTF-8 CSV)"
        )
    return line


def read_stdin(max_bytes: int) -> bytes:
    try:
        data = sys.stdin.buffer.read(max_bytes + 1)
    except (OSError, AttributeError, ValueError) as exc:
        raise InputError(f"-: cannot read standard input ({exc})") from exc
    if len(data) > max_bytes:
        raise InputError(f"-: standard input is larger than {limit_text(max_bytes)}")
    return data


def limit_text(max_bytes: int) -> str:
    return f"the input limit of {max_bytes // 2**20} MiB (set GEO_SERVICE_MAX_INPUT_MB to raise it)"


def decompress(path: Path, raw: bytes | mmap.mmap, limits: InputLimits) -> bytes:
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
                chunk = stream.decompress(pending, CHUNK)
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
    return f"{path}: refused: decompressed, the file is larger than {limit_text(max_bytes)}"


def file_encoding(path: Path, data: bytes | mmap.mmap) -> tuple[str, bool]:
    """``utf8``, ``cp1252`` or ``latin1`` for the whole file, and whether it decodes cleanly."""
    if _is_ascii(data):  # the usual file: ASCII is UTF-8, and a byte test is ~10x cheaper
        return "utf8", True
    decoder = codecs.getincrementaldecoder("utf-8")()
    try:
        for start in range(0, len(data), CHUNK):
            decoder.decode(data[start : start + CHUNK])
        decoder.decode(b"", final=True)
        return "utf8", True
    except UnicodeDecodeError:
        pass
    if _UTF8_MULTIBYTE.search(data) is not None:
        return "utf8", False  # UTF-8 text with a few bad bytes: those rows are rejected
    encoding = "latin1" if _CP1252_UNDEFINED.search(data) is not None else "cp1252"
    logger.warning("%s: not UTF-8 text; reading it as %s", path, _ENCODING_NAMES[encoding])
    return encoding, True


def replace_bad_utf8(path: Path, data: bytes | mmap.mmap) -> tuple[bytes, tuple[int, ...]]:
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


def check_line_lengths(path: Path, data: bytes | mmap.mmap) -> None:
    """Refuse a file with a line longer than the limit (junk, or a file without line breaks).

    A file whose every whole block of half the limit holds a line feed has no line over the
    limit (:func:`_newline_in_every_block`); any other is scanned in chunks, so memory stays
    bounded (about 1 ms per MB).
    """
    limit = input_limits().max_line_bytes
    if len(data) <= limit or _newline_in_every_block(data, max(limit // 2, 1)):
        return
    line, start = 1, 0  # the current line's number and first byte
    for offset in range(0, len(data), CHUNK):
        chunk = np.frombuffer(
            data, dtype=np.uint8, count=min(CHUNK, len(data) - offset), offset=offset
        )
        ends = np.flatnonzero(chunk == 10) + offset
        lengths = np.diff(np.concatenate([[start - 1], ends])) - 1
        if len(lengths) and lengths.max() > limit:
            _refuse_long_line(path, line + int(np.argmax(lengths)), int(lengths.max()), limit)
        if len(ends):
            line, start = line + len(ends), int(ends[-1]) + 1
    if len(data) - start > limit:
        _refuse_long_line(path, line, len(data) - start, limit)


def _is_ascii(data: bytes | mmap.mmap) -> bool:
    """Whether every byte of ``data`` is below 0x80, tested a chunk at a time."""
    for offset in range(0, len(data), CHUNK):
        chunk = np.frombuffer(
            data, dtype=np.uint8, count=min(CHUNK, len(data) - offset), offset=offset
        )
        if chunk.max() >= 0x80:
            return False
    return True


def _newline_in_every_block(data: bytes | mmap.mmap, block: int) -> bool:
    """Whether each whole ``block``-byte block of ``data`` (from byte 0) holds a line feed.

    If so, no line is longer than ``2 * block - 2`` bytes: a line covers no whole block, so it
    lies within two neighbouring blocks. One ``find`` per block, each stopping at the block's
    first line feed, so a file of ordinary lines costs almost nothing.
    """
    return all(
        data.find(b"\n", start, start + block) >= 0
        for start in range(0, len(data) - block + 1, block)
    )


def _refuse_long_line(path: Path, line: int, length: int, limit: int) -> None:
    raise InputError(
        f"{path}: line {line} is {length:,} bytes long, over the limit of {limit // 1024} KiB "
        "per line (set GEO_SERVICE_MAX_LINE_KB to raise it): junk data or a file without line "
        "breaks"
    )
