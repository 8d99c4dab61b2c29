"""``--store`` and ``GEO_SERVICE_STORE`` given as a ``file://`` URL name the same local store
as its path; another file system's URL is refused (the commands write and serve local stores)."""

from __future__ import annotations

from pathlib import Path

import pandas as pd
import pytest

from geo_service.cli import main
from geo_service.config import load_settings
from geo_service.errors import InputError
from geo_service.store import Store
from tests.cli.conftest import write_rows


def _store(tmp_path: Path) -> Path:
    store = Store(tmp_path / "store")
    rows = pd.DataFrame(
        {"incident_id": ["a", "b", "c"], "source": "police_uk", "month": "2021-01",
         "category": "Burglary", "x": [500000.0, 500100.0, float("nan")],
         "y": [200000.0, 200100.0, float("nan")]}
    )  # fmt: skip
    write_rows(store, rows, "2021-01-test-street.csv")
    return store.root


def test_status_of_a_file_url_store_reads_that_store(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    root = _store(tmp_path)
    monkeypatch.chdir(tmp_path)  # a relative "file:" folder would land here
    assert main(["--store", f"file://{root}", "status"]) == 0
    out = capsys.readouterr().out
    assert f"store {root} (version v000001)" in out and "incidents: 3 (1 without location)" in out
    assert not (tmp_path / "file:").exists()


def test_a_store_url_of_another_file_system_is_worked_on_in_a_local_working_copy(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch, capsys: pytest.CaptureFixture[str]
) -> None:
    monkeypatch.chdir(tmp_path)
    monkeypatch.setenv("GEO_SERVICE_STAGING", str(tmp_path / "copies"))
    assert main(["--store", f"memory://x-{tmp_path.name}", "status"]) == 0
    assert "(version empty)\nincidents: 0" in capsys.readouterr().out
    assert [p.name.startswith("memory-x-") for p in (tmp_path / "copies").iterdir()] == [True]
    assert not (tmp_path / "memory:").exists()
    assert main(["--store", "nosuchfs://x", "status"]) == 2
    assert "--store: store nosuchfs://x: no fsspec file system" in capsys.readouterr().err


def test_store_setting_from_the_environment_takes_a_file_url(tmp_path: Path) -> None:
    settings = load_settings(environ={"GEO_SERVICE_STORE": f"file://{tmp_path}/s"})
    assert settings.store == tmp_path / "s"
    with pytest.raises(InputError, match=r"^environment: store nosuchfs://b/s: no fsspec"):
        load_settings(environ={"GEO_SERVICE_STORE": "nosuchfs://b/s"})
