"""A corrected month piped in again (or a copy under another name) is kept beside the first:
the ingest warns that the month is already held, since rows without an id count twice."""

from __future__ import annotations

import io
import logging
import sys
from pathlib import Path

import pytest

from geo_service import ingest
from geo_service.store import Store
from tests.store.conftest import january_rows, write_police_csv


def _pipe(monkeypatch: pytest.MonkeyPatch, path: Path) -> None:
    monkeypatch.setattr(sys, "stdin", io.TextIOWrapper(io.BytesIO(path.read_bytes())))


def test_second_standard_input_of_a_held_month_warns(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, caplog: pytest.LogCaptureFixture
) -> None:
    store = Store(tmp_path / "store")
    rows = january_rows()
    first = write_police_csv(tmp_path / "a.csv", rows)
    second = write_police_csv(tmp_path / "b.csv", rows[:-1])  # one line less: new content
    _pipe(monkeypatch, first)
    ingest.ingest_files(store, "police-uk", ["-"])
    assert "already held" not in caplog.text
    _pipe(monkeypatch, second)
    with caplog.at_level(logging.WARNING):
        ingest.ingest_files(store, "police-uk", ["-"])
    assert "months 2021-01 are already held from stdin-" in caplog.text


def test_other_forces_of_the_same_month_do_not_warn(
    tmp_path: Path, caplog: pytest.LogCaptureFixture
) -> None:
    store = Store(tmp_path / "store")
    herts = write_police_csv(tmp_path / "2021-01-hertfordshire-street.csv", january_rows())
    beds = write_police_csv(tmp_path / "2021-01-bedfordshire-street.csv", january_rows())
    ingest.ingest_files(store, "police-uk", [herts])
    with caplog.at_level(logging.WARNING):
        ingest.ingest_files(store, "police-uk", [beds])
    assert "already held" not in caplog.text
