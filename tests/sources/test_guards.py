"""The byte-level guards' shortcuts give the answers of the full scans they stand in for."""

from __future__ import annotations

import mmap
from pathlib import Path

import numpy as np
import pytest

from geo_service.errors import InputError
from geo_service.sources import _guards
from geo_service.sources._guards import check_line_lengths, file_encoding


def _longest_line(data: bytes) -> tuple[int, int]:
    """(1-based line, length in bytes without its line feed) of the first longest line."""
    lengths = [len(line) for line in data.split(b"\n")]
    return lengths.index(max(lengths)) + 1, max(lengths)


def _lines(rng: np.random.Generator, limit: int) -> bytes:
    count = int(rng.integers(1, 40))
    # mostly short lines; now and then one near or over the limit
    sizes = [
        int(rng.integers(limit - 3, limit + 3)) if rng.random() < 0.08 else int(rng.integers(0, 90))
        for _ in range(count)
    ]
    body = b"\n".join(b"x" * size for size in sizes)
    return body + (b"\n" if rng.random() < 0.5 else b"")


def test_the_line_check_refuses_exactly_the_files_with_a_line_over_the_limit(
    monkeypatch: pytest.MonkeyPatch, tmp_path: Path
) -> None:
    monkeypatch.setenv("GEO_SERVICE_MAX_LINE_KB", "1")  # 1,024 bytes: blocks of 512
    limit = 1024
    rng = np.random.default_rng(11)
    refused = 0
    for draw in range(400):
        data = _lines(rng, limit)
        line, longest = _longest_line(data)
        path = tmp_path / f"{draw}.csv"
        path.write_bytes(data)
        with (
            path.open("rb") as handle,
            mmap.mmap(handle.fileno(), 0, access=mmap.ACCESS_READ) as mapped,
        ):
            for given in (data, mapped):
                if longest > limit:
                    with pytest.raises(InputError, match=f"line {line} is {longest:,} bytes"):
                        check_line_lengths(path, given)
                else:
                    check_line_lengths(path, given)
        refused += longest > limit
    assert 20 < refused < 380  # both answers were drawn many times


def test_a_newline_in_every_half_limit_block_bounds_every_line() -> None:
    # the shortcut's claim, on the edge: lines of 2 * block - 2 bytes pass, one more fails
    block = 8
    passing = b"\n" + b"x" * 14 + b"\n"  # the 14 bytes span the end of one block and the next
    assert _guards._newline_in_every_block(passing, block)
    assert _longest_line(passing)[1] == 2 * block - 2
    assert not _guards._newline_in_every_block(b"x" * 15 + b"\n" + b"x" * 40, block)
    assert _guards._newline_in_every_block(b"x" * 7, block)  # no whole block: nothing to test


def test_the_ascii_test_agrees_with_python(tmp_path: Path) -> None:
    rng = np.random.default_rng(5)
    for _ in range(300):
        data = bytes(rng.integers(0, 128, int(rng.integers(0, 200)), dtype=np.uint8))
        if rng.random() < 0.5 and data:
            at = int(rng.integers(0, len(data)))
            data = data[:at] + bytes([int(rng.integers(128, 256))]) + data[at + 1 :]
        assert _guards._is_ascii(data) == data.isascii()


@pytest.mark.parametrize(
    ("text", "expected"),
    [
        (b"Crime ID,Location\n1,On or near High Street\n", ("utf8", True)),
        ("1,Caf\u00e9\n".encode(), ("utf8", True)),
        ("1,Caf\u00e9\n".encode() + b"\xff\n", ("utf8", False)),
        ("1,Caf\u00e9 \u2019\n".encode("cp1252"), ("cp1252", True)),
        (b"1,\xe9\x81\n", ("latin1", True)),
    ],
)
def test_file_encoding(text: bytes, expected: tuple[str, bool]) -> None:
    assert file_encoding(Path("f.csv"), text) == expected
