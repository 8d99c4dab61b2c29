"""kill -9 at each phase of a write leaves the store exactly before or exactly after.

The ingest runs in a subprocess with ``GEO_SERVICE_FAULT_AT=<phase>``
(:mod:`geo_service.store.faults`): it sends itself SIGKILL when its write reaches that named
point, so every phase is hit every time, without guessing at sleeps. Afterwards the store must
hold exactly the rows of the version before the ingest (killed before CURRENT was replaced) or
after it, check clean, and take the same ingest again. Adding a layer is killed the same way.
"""

from __future__ import annotations

import os
import shutil
import signal
import subprocess
import sys
from pathlib import Path

import pandas as pd
import pytest
from shapely.geometry import box

from geo_service.cli import main
from geo_service.store import Store
from geo_service.store.faults import FAULT_ENV, PHASES
from geo_service.store.verify import check_store
from tests.reliability.store_fixtures import build_store, police_file
from tests.store.conftest import _layer_file

REPO = Path(__file__).resolve().parents[2]
AFTER_PHASES = ("current-replaced", "published")
COLUMNS = ["source", "month", "incident_id", "category", "x", "y", "area_ward"]


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The built store, a new month to ingest and the store it gives when not killed."""
    folder = build_store(tmp_path_factory.mktemp("kill"))
    police_file(folder / "new", "2021-02", 7)
    shutil.copytree(folder / "store", folder / "after")
    assert main(["-q", "--store", str(folder / "after"), "ingest", "police-uk",
                 str(folder / "new")]) == 0  # fmt: skip
    return folder


def _rows(root: Path) -> pd.DataFrame:
    frame = Store(root).incidents(columns=COLUMNS)
    return frame.sort_values(["source", "month", "incident_id"], ignore_index=True)


def _ingest(root: Path, new: Path, phase: str) -> subprocess.CompletedProcess[str]:
    env = os.environ | {FAULT_ENV: phase, "PYTHONPATH": str(REPO)}
    command = [sys.executable, "-m", "geo_service", "-q", "--store", str(root), "ingest",
               "police-uk", str(new)]  # fmt: skip
    return subprocess.run(command, env=env, capture_output=True, text=True, timeout=300)


@pytest.mark.parametrize("phase", PHASES)
def test_kill_at_each_write_phase_leaves_before_or_after(
    phase: str, built: Path, tmp_path: Path
) -> None:
    root = Path(shutil.copytree(built / "store", tmp_path / "store"))
    before, after = _rows(root), _rows(built / "after")
    assert len(before) == 14 and len(after) == 21

    done = _ingest(root, built / "new", phase)
    assert done.returncode == -signal.SIGKILL, done.stderr

    expected = after if phase in AFTER_PHASES else before
    pd.testing.assert_frame_equal(_rows(root), expected)
    assert Store(root).version() == ("v000003" if phase in AFTER_PHASES else "v000002")
    report = check_store(root)
    assert report.clean, report.problems
    assert main(["-q", "--store", str(root), "ingest", "police-uk", str(built / "new")]) == 0
    pd.testing.assert_frame_equal(_rows(root), after)
    assert check_store(root).clean
    assert not list((root / "_versions").glob(".staging*"))


LAYER_PHASES = [p for p in PHASES if p not in ("partitions-written", "rejects-written")]


@pytest.fixture(scope="module")
def beats(built: Path) -> Path:
    """A one-beat layer file covering both wards, and the store it gives when not killed."""
    layer = _layer_file(
        built / "beats.geojson", {"WD13CD": ["B1"], "WD13NM": ["Town"]},
        [box(500000, 200000, 502000, 201000)],
    )  # fmt: skip
    shutil.copytree(built / "store", built / "with-beats")
    assert main(["-q", "--store", str(built / "with-beats"), "boundaries", "add", "beat",
                 str(layer)]) == 0  # fmt: skip
    return layer


def _all_rows(root: Path) -> pd.DataFrame:
    return Store(root).incidents().sort_values(["month", "incident_id"], ignore_index=True)


@pytest.mark.parametrize("phase", LAYER_PHASES)
def test_kill_while_adding_a_layer_leaves_before_or_after(
    phase: str, built: Path, beats: Path, tmp_path: Path
) -> None:
    root = Path(shutil.copytree(built / "store", tmp_path / "store"))
    before, after = _all_rows(root), _all_rows(built / "with-beats")
    assert "area_beat" not in before and after["area_beat"].eq("B1").all()
    env = os.environ | {FAULT_ENV: phase, "PYTHONPATH": str(REPO)}
    done = subprocess.run(
        [sys.executable, "-m", "geo_service", "-q", "--store", str(root), "boundaries", "add",
         "beat", str(beats)],
        env=env, capture_output=True, text=True, timeout=300,
    )  # fmt: skip
    assert done.returncode == -signal.SIGKILL, done.stderr
    expected = after if phase in AFTER_PHASES else before
    pd.testing.assert_frame_equal(_all_rows(root), expected)
    assert check_store(root).clean


def test_every_phase_is_reached_by_an_ingest() -> None:
    """The phases named in faults.PHASES are the ones the write path calls, in order."""
    sources = "".join(
        (REPO / "geo_service/store" / name).read_text() for name in ("store.py", "write.py")
    )
    called = {phase for phase in PHASES if f'fault_point("{phase}")' in sources}
    assert called == set(PHASES)
