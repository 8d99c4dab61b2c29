"""The demo input set: deterministic bytes, ingested with nothing rejected, police.uk equivalent."""

from __future__ import annotations

import hashlib
from pathlib import Path

import numpy as np
import pandas as pd
from scipy.spatial import cKDTree

from geo_service.cli import main
from geo_service.demo import DEFAULT_SEED
from geo_service.demo.build import DemoFiles, demo_incidents, population, write_demo
from geo_service.demo.calibration import load_calibration
from geo_service.demo.collisions import site_points
from geo_service.demo.geography import build_geography
from geo_service.demo.writers import write_force_extract
from geo_service.ingest import IngestSummary
from geo_service.store import Store

POLICE_SOURCES = ["mapped:force_crime", "mapped:force_asb"]


def _hashes(folder: Path) -> dict[str, str]:
    return {
        str(p.relative_to(folder)): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in sorted(folder.rglob("*"))
        if p.is_file()
    }


def test_same_seed_gives_byte_identical_files(demo_files: DemoFiles, tmp_path: Path) -> None:
    again = write_demo(tmp_path / "again", seed=DEFAULT_SEED)
    first, second = _hashes(demo_files.folder), _hashes(again.folder)
    assert len(first) > 60  # 60 police.uk months, 6 STATS19 years, extracts, boundaries ...
    assert first == second


def test_different_seed_gives_different_records_with_the_same_totals(
    demo_files: DemoFiles, tmp_path: Path
) -> None:
    other = write_force_extract(demo_incidents(seed=DEFAULT_SEED + 1), tmp_path / "crime.csv")
    assert other.read_bytes() != demo_files.force_extract.read_bytes()
    first = pd.read_csv(demo_files.force_extract, dtype=str).groupby("OffenceSubType").size()
    second = pd.read_csv(other, dtype=str).groupby("OffenceSubType").size()
    assert first.to_dict() == second.to_dict()


def test_every_file_loads_with_nothing_rejected(
    demo_ingest: tuple[Store, tuple[IngestSummary, ...]],
    public_ingest: tuple[Store, tuple[IngestSummary, ...]],
) -> None:
    for _store, summaries in (demo_ingest, public_ingest):
        for summary in summaries:
            assert summary.rejected == 0 and summary.duplicates == 0, summary.lines()
            assert summary.stored == summary.rows_read > 0
            assert summary.outside_every_area == 0 and summary.without_location == 0


def test_population_and_households(demo_store: Store) -> None:
    residents, households = population(load_calibration())
    assert residents.sum() == 144_800 and households.sum() == 60_700
    beats = demo_store.layer("beat")
    assert beats["population"].sum() == 144_800
    assert demo_store.layer("sector")["population"].sum() == 144_800
    assert (beats["population"] > 1000).all()


def test_police_uk_version_matches_the_extract_per_month_and_category(
    demo_store: Store, public_ingest: tuple[Store, tuple[IngestSummary, ...]]
) -> None:
    public = public_ingest[0].incidents(sources=["police_uk"])
    force = demo_store.incidents(sources=POLICE_SOURCES)
    keys = ["month", "category"]
    assert public.groupby(keys).size().to_dict() == force.groupby(keys).size().to_dict()
    # snapped to a map point in the same beat, so beat totals survive the anonymisation too
    keys = ["area_beat", "category"]
    assert public.groupby(keys).size().to_dict() == force.groupby(keys).size().to_dict()
    assert public["occurred_at"].isna().all() and public["subcategory"].isna().all()
    assert public["location_text"].str.startswith("On or near ").all()
    assert force.groupby(["x", "y"]).ngroups > 2 * public.groupby(["x", "y"]).ngroups


def test_planted_burglary_cluster_moves_between_years(demo_store: Store) -> None:
    spot = next(s for s in load_calibration().hotspots if s.beat == "D2A")
    rows = demo_store.incidents(categories=["Burglary"])
    dwelling = rows["subcategory"].str.startswith(("Burglary dwelling", "Distraction", "Aggr"))
    near = np.hypot(rows["x"] - spot.x, rows["y"] - spot.y) < 2 * spot.sigma_m
    current = rows["month"].between("2012-08", "2013-07")
    previous = rows["month"].between("2011-08", "2012-07")
    assert (dwelling & near & current).sum() >= 18  # most of D2A's 33
    assert (dwelling & near & previous).sum() <= 7  # D2A had 7 in all


def test_collision_repeat_sites_meet_the_four_in_fifty_metres_rule(demo_store: Store) -> None:
    calibration = load_calibration()
    sites = site_points(calibration, build_geography(calibration=calibration))
    rtc = demo_store.incidents(
        categories=["Road traffic collision"], month_from="2010-07", month_to="2013-06"
    )
    tree = cKDTree(rtc[["x", "y"]].to_numpy())
    for name, (x, y) in sites.items():
        assert len(tree.query_ball_point((x, y), 50.0)) >= 4, name
    named = rtc[rtc["road_1"] != "Unclassified"]
    watling = named.loc[named["area_beat"] == "D1S", "road_1"].value_counts()
    assert set(watling.index[:2]) == {"M1", "A5"}  # the top repeat roads of Watling
    centre = named.loc[named["area_beat"] == "D1A", "road_1"].value_counts()
    assert centre.index[0] == "A4146"  # the top repeat road of Hemel Hempstead Central


def test_stats19_files_use_the_current_dft_headers(demo_files: DemoFiles) -> None:
    header = demo_files.stats19[0].read_text("utf-8").splitlines()[0].split(",")
    for column in (
        "collision_index",
        "location_easting_osgr",
        "collision_severity",
        "date",
        "first_road_class",
        "first_road_number",
        "junction_detail",
        "local_authority_district",
    ):
        assert column in header
    frame = pd.read_csv(demo_files.stats19[-1])
    assert set(frame["local_authority_district"]) == {431}
    assert set(frame["collision_severity"]) <= {1, 2, 3}


def test_cli_if_missing_leaves_a_filled_store_alone(demo_store: Store, tmp_path: Path) -> None:
    version = demo_store.version()
    out = tmp_path / "never"
    # as the Makefile writes it: --store after the command
    assert main(["demo", "--store", str(demo_store.root), "--if-missing", "--out", str(out)]) == 0
    assert demo_store.version() == version and not out.exists()


def test_cli_refuses_to_add_the_police_uk_version_to_the_force_extract(
    demo_store: Store, tmp_path: Path, capsys
) -> None:
    out = tmp_path / "never"
    argv = ["--store", str(demo_store.root), "demo", "--public-only", "--out", str(out)]
    assert main(argv) == 2
    assert "count them twice" in capsys.readouterr().err
    assert not out.exists()


def test_dbscan_finds_the_planted_burglary_cluster_of_each_year(demo_store: Store) -> None:
    from sklearn.cluster import DBSCAN

    from geo_service.categories import find_group, load_groups

    group = find_group(load_groups(), "Dwelling burglary")
    hotspots = load_calibration().hotspots
    spots = {s.years[0]: s for s in hotspots if s.families == ("dwelling_burglary",)}
    for year, first, last in ((2011, "2011-08", "2012-07"), (2012, "2012-08", "2013-07")):
        rows = demo_store.incidents(categories=["Burglary"], month_from=first, month_to=last)
        xy = rows.loc[group.mask(rows), ["x", "y"]].to_numpy()
        labels = DBSCAN(eps=150.0, min_samples=8).fit(xy).labels_
        ids, sizes = np.unique(labels[labels >= 0], return_counts=True)
        centre = xy[labels == ids[np.argmax(sizes)]].mean(axis=0)
        spot = spots[year]
        assert np.hypot(centre[0] - spot.x, centre[1] - spot.y) < 2 * spot.sigma_m, year
