"""Tests for geo_service.boundaries.derive: denominators from a CSV, layers dissolved by parent."""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
import shapely

from geo_service import boundaries
from geo_service.boundaries.derive import dissolve_layer, read_denominators
from geo_service.errors import InputError


def test_boundaries_re_exports_them() -> None:
    assert boundaries.read_denominators is read_denominators
    assert boundaries.dissolve_layer is dissolve_layer


@pytest.fixture
def four_squares() -> gpd.GeoDataFrame:
    return gpd.GeoDataFrame(
        {
            "code": ["b1", "b2", "b3", "b4"],
            "name": ["B1", "B2", "B3", "B4"],
            "parent": pd.array([None] * 4, dtype="str"),
            "population": np.nan,
            "households": np.nan,
        },
        geometry=[shapely.box(10 * i, 0, 10 * i + 10, 10) for i in range(4)],
        crs=27700,
    )


def test_denominators_filled_without_mutating(tmp_path: Path, four_squares) -> None:
    csv = tmp_path / "d.csv"
    csv.write_text("code,population,households,parent\nb1,100,40,S1\nb2,200,,S1\nb4, 50 ,20,S2\n")
    before = four_squares.copy()
    out = read_denominators(four_squares, csv)
    pd.testing.assert_frame_equal(four_squares, before)
    assert out["population"].tolist()[:2] == [100.0, 200.0] and out["population"][3] == 50.0
    assert np.isnan(out["population"][2]) and np.isnan(out["households"][1])
    assert out["parent"].tolist()[:2] == ["S1", "S1"] and pd.isna(out["parent"][2])


@pytest.mark.parametrize(
    ("text", "message"),
    [
        (
            "code,population\nb1,100\nzz,5\nyy,6\n",
            r"not in the layer: 'zz' \(line 3\), 'yy' \(line 4\)",
        ),
        ("code,population\nb1,100\nb2,lots\n", r"line 3, column 'population': 'lots' is not a"),
        ("code,households\nb1,-1\n", r"line 2, column 'households': '-1'"),
        ("code,population\nb1,1\nb1,2\n", r"more than once, on lines 2, 3"),
        ("area,population\nb1,1\n", r"expected a 'code' column.*columns found: area, population"),
        ("code,colour\nb1,red\n", r"at least one of parent, population, households"),
        ("", r"not a readable UTF-8 CSV"),
    ],
)
def test_bad_denominators(tmp_path: Path, four_squares, text: str, message: str) -> None:
    csv = tmp_path / "d.csv"
    csv.write_text(text)
    with pytest.raises(InputError, match=message):
        read_denominators(four_squares, csv)


def test_dissolve_sums_denominators(four_squares) -> None:
    layer = four_squares.assign(
        parent=pd.array(["S1", "S1", "S2", "S2"], dtype="str"),
        population=[100.0, 200.0, 50.0, np.nan],
        households=[40.0, 60.0, 20.0, 30.0],
    )
    sectors = dissolve_layer(layer, names={"S1": "Sector one"})
    assert list(sectors["code"]) == ["S1", "S2"]
    assert list(sectors["name"]) == ["Sector one", "S2"]
    assert sectors["population"][0] == 300.0 and np.isnan(sectors["population"][1])
    assert list(sectors["households"]) == [100.0, 50.0]
    assert list(sectors.area) == [200.0, 200.0]
    assert sectors.geometry[0].geom_type == "Polygon"  # adjacent squares merge into one


def test_dissolve_needs_a_parent_for_every_area(four_squares) -> None:
    with pytest.raises(InputError, match="no parent for area"):
        dissolve_layer(four_squares)
    with pytest.raises(InputError, match="by 'sector': not a column"):
        dissolve_layer(four_squares, by="sector")
