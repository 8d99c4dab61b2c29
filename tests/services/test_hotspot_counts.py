"""Hotspot maps count exactly the incidents the area tables count (the stored area column), and
say what they show in words."""

from __future__ import annotations

import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pytest
from shapely.geometry import box

from geo_service.analysis import gistar
from geo_service.analysis.grid import grid_for
from geo_service.cli import main
from geo_service.config import Settings
from geo_service.errors import InputError
from geo_service.services import hotspots, tables
from geo_service.services.options import HotspotOptions, ViewOptions
from geo_service.store import Store


def _table_total(store: Store, category: str, period_end: str, layer: str) -> int:
    group = next(g for g in Settings().groups() if g.name == category)
    view = tables.change_by_area(
        store, group, ViewOptions(period_end=period_end, months=12, layer=layer)
    )
    codes = set(view.areas["code"].astype(str))
    table = view.table
    return int(table.loc[table["code"].astype(str).isin(codes), "current"].sum())


def _check_counts(store: Store, category: str, layer: str) -> int:
    groups = Settings().groups()
    kde = hotspots.hotspot_map(
        store, groups, HotspotOptions(category=category, layer=layer, accuracy=False)
    )
    total = _table_total(store, category, kde.meta["period_end"], layer)
    assert kde.meta["incidents"] == total
    assert f"counts the {total:,} incidents inside the {layer} areas" in kde.meta["counted"]
    assert kde.meta["counted"] in kde.meta["notes"]
    # Every incident lies in a cell of the Gi* map (border cells holding incidents count).
    gistar = hotspots.hotspot_map(
        store, groups,
        HotspotOptions(category=category, layer=layer, method="gistar", permutations=0,
                       accuracy=False),
    )  # fmt: skip
    assert int(gistar.frame["count"].sum()) == total
    return total


def test_demo_store_maps_count_the_ward_table_incidents(demo_store: Store) -> None:
    layer = demo_store.layer_names()[0]
    assert _check_counts(demo_store, "ASB incidents", layer) > 100


@pytest.fixture(scope="module")
def dacorum_store(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """The 13 Hertfordshire police.uk months over the Dacorum 2013 wards."""
    root = tmp_path_factory.mktemp("dacorum") / "store"
    wards = shared_data / "ons-boundaries-uk-geojson" / "dacorum" / "dacorum_wards.geojson"
    months = shared_data / "police-uk-hertfordshire-street"
    assert main(["--store", str(root), "-q", "boundaries", "add", "ward", str(wards)]) == 0
    assert main(["--store", str(root), "-q", "ingest", "police-uk", str(months)]) == 0
    yield Store(root)
    shutil.rmtree(root, ignore_errors=True)


@pytest.mark.parametrize(
    ("category", "expected"), [("ASB incidents", 3468), ("Violent crime", 3358)]
)
def test_dacorum_maps_count_the_ward_table_incidents(
    dacorum_store: Store, category: str, expected: int
) -> None:
    # Before, ASB counted 3,463 (grid cells whose centre lies in Dacorum) against the tables' 3,468.
    assert _check_counts(dacorum_store, category, "ward") == expected


def test_cluster_tooltips_are_words_numbered_by_size(demo_store: Store) -> None:
    found = hotspots.hotspot_map(
        demo_store, Settings().groups(),
        HotspotOptions(category="ASB incidents", method="dbscan", accuracy=False),
    )  # fmt: skip
    frame = found.frame
    assert len(frame) >= 1 and frame["area_m2"].max() <= 1e6
    assert frame["label"].iloc[0] == "Hotspot 1"
    first = frame.iloc[0]
    eps = round(found.meta["eps_m"])
    assert first["tooltip"] == (
        f"Hotspot 1: {first['count']:,} incidents at {first['locations']:,} places, each within "
        f"{eps} m of another; area {first['area_m2'] / 1e6:.2f} km²"
    )
    assert found.meta["max_hotspot_km2"] == 1.0


def test_a_hot_cell_without_incidents_says_its_neighbours_make_it_hot() -> None:
    grid = grid_for(box(0, 0, 900, 900), cell_m=100)
    counts = np.zeros(grid.shape, dtype=int)
    counts[3:6, 3:6] = 9
    counts[4, 4] = 0  # an empty cell in a ring of busy ones
    counts[0, 8] = 1
    frame = hotspots.gistar_words(gistar.gi_star_grid(grid, counts, permutations=0))
    empty = frame.loc[(frame["row"] == 4) & (frame["col"] == 4)].iloc[0]
    assert empty["bin"] > 0 and empty["count"] == 0
    assert empty["tooltip"].endswith(": 0 incidents here; hot because its neighbours hold 72")
    assert empty["tooltip"].startswith("Hot spot, ")
    busy = frame.loc[(frame["row"] == 3) & (frame["col"] == 3)].iloc[0]
    assert busy["neighbour_count"] == 9 + 9 + 0  # (3,4), (4,3) and the empty (4,4)


def test_hexagons_are_refused_where_the_map_draws_squares(demo_store: Store) -> None:
    for method in ("kde", "dbscan", "hdbscan"):
        opts = HotspotOptions(category="ASB incidents", method=method, hexagons=True)
        with pytest.raises(
            InputError, match="hexagonal cells are drawn by the gistar and emerging"
        ):
            hotspots.hotspot_map(demo_store, Settings().groups(), opts)
