"""Small hand-made inputs for the store tests: canonical frames, police.uk CSVs, square areas.

Everything is built inline. The areas are 1 km squares in British National Grid:
ward W1 = [500000, 501000] x [200000, 201000], W2 = [501000, 502000] x the same; LSOAs split them
at x = 500500 (E01000001) and cover the rest (E01000002). Points are chosen 250 m or more from
any edge, so the few metres between lon/lat round trips cannot move them across a boundary.
"""

from __future__ import annotations

import csv
from collections.abc import Mapping, Sequence
from pathlib import Path
from types import ModuleType

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import Polygon, box

from geo_service import schema
from geo_service.projection import from_bng

#: Named points (easting, northing) and where they fall.
P_W1 = (500250.0, 200500.0)  # ward W1, LSOA E01000001
P_W2 = (501500.0, 200500.0)  # ward W2, LSOA E01000002
P_OUT = (510000.0, 200500.0)  # outside every area

POLICE_HEADER = (
    "Crime ID", "Month", "Reported by", "Falls within", "Longitude", "Latitude", "Location",
    "LSOA code", "LSOA name", "Crime type", "Last outcome category", "Context",
)  # fmt: skip


def squares(w2_population: float = 200.0) -> gpd.GeoDataFrame:
    """Two thin squares side by side: W1 up to x = 500001.5, W2 up to 500010 (EPSG:27700)."""
    return gpd.GeoDataFrame(
        {"code": ["W1", "W2"], "name": ["West", "East"], "parent": pd.array([None, None], "str"),
         "population": [100.0, w2_population], "households": [np.nan, np.nan]},
        geometry=[box(500000, 199000, 500001.5, 201000), box(500001.5, 199000, 500010, 201000)],
        crs="EPSG:27700",
    )  # fmt: skip


def assign_by_x(frame: pd.DataFrame, layers: Mapping[str, gpd.GeoDataFrame]) -> pd.DataFrame:
    """A stand-in join for :func:`squares`: x < 500001.5 is W1, up to 500010 is W2, else no area."""
    x = frame["x"].to_numpy()
    codes = np.where(x < 500001.5, "W1", np.where(x < 500010, "W2", None))
    return frame.assign(**{schema.area_column(n): pd.array(codes, dtype="str") for n in layers})


def canonical(rows: Sequence[Mapping[str, object]]) -> pd.DataFrame:
    """A canonical incident frame from partial rows (defaults: police_uk, Burglary)."""
    base = {"source": "police_uk", "category": "Burglary", "source_line": 2}
    return schema.conform(pd.DataFrame([base | dict(r) for r in rows]))


def police_row(
    crime_id: str, month: str, point: tuple[float, float] | None, crime_type: str, lsoa: str = ""
) -> list[str]:
    """One police.uk street-level CSV row; ``point`` in BNG metres (None: no coordinates)."""
    lon = lat = ""
    if point is not None:
        x, y = from_bng(np.array([point[0]]), np.array([point[1]]))
        lon, lat = f"{x[0]:.6f}", f"{y[0]:.6f}"
    return [crime_id, month, "Test Police", "Test Police", lon, lat, "On or near Test Street",
            lsoa, "", crime_type, "", ""]  # fmt: skip


def write_police_csv(path: Path, rows: Sequence[Sequence[str]]) -> Path:
    """Write a police.uk street-level CSV with the real header."""
    path.parent.mkdir(parents=True, exist_ok=True)
    with open(path, "w", newline="", encoding="utf-8") as handle:
        writer = csv.writer(handle)
        writer.writerow(POLICE_HEADER)
        writer.writerows(rows)
    return path


def january_rows() -> list[list[str]]:
    """8 rows: 6 stored, 1 duplicate (C1 again), 1 rejected (month 2021-13)."""
    return [
        police_row("C1", "2021-01", P_W1, "Burglary"),
        police_row("C2", "2021-01", P_W2, "Vehicle crime"),
        police_row("C3", "2021-01", P_OUT, "Burglary"),
        police_row("", "2021-01", P_W1, "Anti-social behaviour"),
        police_row("", "2021-01", P_W1, "Anti-social behaviour"),
        police_row("C1", "2021-01", P_W1, "Burglary"),
        police_row("C4", "2021-01", None, "Drugs", lsoa="E01000002"),
        police_row("C5", "2021-13", P_W2, "Drugs"),
    ]


@pytest.fixture
def ward_file(tmp_path: Path) -> Path:
    """GeoJSON of wards W1 and W2 in EPSG:27700."""
    return _layer_file(
        tmp_path / "wards.geojson",
        {"WD13CD": ["W1", "W2"], "WD13NM": ["West", "East"]},
        [box(500000, 200000, 501000, 201000), box(501000, 200000, 502000, 201000)],
    )


@pytest.fixture
def lsoa_file(tmp_path: Path) -> Path:
    """GeoJSON of LSOAs E01000001 (west half of W1) and E01000002 (the rest)."""
    return _layer_file(
        tmp_path / "lsoa.geojson",
        {"LSOA11CD": ["E01000001", "E01000002"], "LSOA11NM": ["Test 001A", "Test 001B"]},
        [box(500000, 200000, 500500, 201000), box(500500, 200000, 502000, 201000)],
    )


def _layer_file(path: Path, columns: dict[str, list[str]], polygons: list[Polygon]) -> Path:
    """Write an EPSG:27700 polygon layer as GeoJSON at ``path``."""
    gpd.GeoDataFrame(columns, geometry=polygons, crs="EPSG:27700").to_file(path, driver="GeoJSON")
    return path


#: An empty rejects table (a write with nothing refused).
NO_REJECTS = pd.DataFrame({"file": [], "line": []})


def month_rows(name: str, month: str, rows: list[dict[str, object]]) -> pd.DataFrame:
    """Canonical police.uk rows of file ``name`` in ``month`` at y = 200000 m, each row's
    fields (``x``, ``category``, ...) over those defaults."""
    return canonical(
        [
            {"incident_id": f"{name}:{n}", "month": month, "y": 200000.0, "source_file": name,
             "source_line": n + 2} | r
            for n, r in enumerate(rows)
        ]
    )  # fmt: skip


def write_rows(store, frame: pd.DataFrame, name: str, sha: str) -> None:
    """Write ``frame`` to ``store`` as the police.uk file ``name`` with checksum ``sha``."""
    from geo_service.store import FileRecord

    months = tuple(sorted(frame["month"].unique().tolist()))
    record = FileRecord(f"/in/{name}", name, "police_uk", sha, len(frame), 0, 0, months)
    store.write_incidents(frame, [record], rejects=NO_REJECTS, kind="police-uk")


def counted_months(monkeypatch: pytest.MonkeyPatch, module: ModuleType) -> list[str]:
    """The months ``module.count_partition`` counts from now on (the list grows as it counts)."""
    counted: list[str] = []
    real = module.count_partition

    def spy(table: object, **kw: object) -> object:
        counted.append(str(kw["month"]))
        return real(table, **kw)

    monkeypatch.setattr(module, "count_partition", spy)
    return counted
