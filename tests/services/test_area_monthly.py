"""The area page's monthly counts count a group as its change row does: a police.uk store cannot
form vehicle crime excluding interference (no sub-types), so neither counts it."""

from __future__ import annotations

from pathlib import Path

from geo_service.categories import load_groups
from geo_service.cli import main
from geo_service.services.options import ViewOptions
from geo_service.services.tables import area_view
from geo_service.store import Store
from tests.store.conftest import P_W1, P_W2, _layer_file, police_row, write_police_csv


def test_monthly_counts_form_groups_as_the_table_does(tmp_path: Path) -> None:
    from shapely.geometry import box

    wards = _layer_file(
        tmp_path / "wards.geojson",
        {"WD13CD": ["W1", "W2"], "WD13NM": ["West", "East"]},
        [box(500000, 200000, 501000, 201000), box(501000, 200000, 502000, 201000)],
    )
    rows = []
    for month in ("2021-01", "2021-02"):
        # in W1 each month: 2 robberies, 3 vehicle crimes; 1 robbery in W2
        rows += [police_row(f"{month}-r{i}", month, P_W1, "Robbery") for i in range(2)]
        rows += [police_row(f"{month}-v{i}", month, P_W1, "Vehicle crime") for i in range(3)]
        rows += [police_row(f"{month}-w", month, P_W2, "Robbery")]
        write_police_csv(tmp_path / "in" / f"{month}-test-street.csv", rows[-6:])
    root = str(tmp_path / "store")
    assert main(["-q", "--store", root, "boundaries", "add", "ward", str(wards)]) == 0
    assert main(["-q", "--store", root, "ingest", "police-uk", str(tmp_path / "in")]) == 0
    groups = load_groups()
    opts = ViewOptions(layer="ward", period_end="2021-02", months=1)
    view = area_view(Store(root), groups, "W1", opts)
    row = view.changes.set_index("group").loc["Serious acquisitive crime"]
    assert (row["previous"], row["current"]) == (2, 2)  # robbery only
    assert view.monthly["Serious acquisitive crime"] == [2, 2]
    assert view.monthly["Vehicle crime (excluding interference)"] == [None, None]
