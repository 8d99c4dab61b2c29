"""Generating the demo input set and ingesting it through the normal service functions.

:func:`write_demo` writes a complete input set in the real formats into a folder;
:func:`ingest_demo` loads it into a store exactly as a user would (layers, denominators, then the
force extract + ASB file, or with ``public_only`` the police.uk files instead: never both, since
they are the same records and would be counted twice), fire-service export and STATS19 files.
"""

from __future__ import annotations

import logging
import shutil
from dataclasses import dataclass
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd

from geo_service import ingest, reference
from geo_service.demo import DEFAULT_SEED, writers
from geo_service.demo.allocation import allocate, apportion
from geo_service.demo.calibration import Calibration, load_calibration
from geo_service.demo.geography import Geography, build_geography
from geo_service.demo.incidents import place_incidents
from geo_service.errors import InputError
from geo_service.schema import ASB, ROAD_TRAFFIC_COLLISION
from geo_service.store import Store

logger = logging.getLogger(__name__)

MAPPINGS = ("demo_force_extract.toml", "demo_asb.toml", "demo_fire.toml")
#: Household size relative to the borough's, by kind of beat (town centres: smaller households).
_HOUSEHOLD_SIZE = {"centre": 0.85, "urban": 1.0, "rural": 1.08}
_REFERENCES = {
    "crime": "41/{serial:05d}/{yy:02d}",
    "asb": "ASB{year}{serial:05d}",
    "fire": "FRS{year}{serial:05d}",
    "collision": "{year}41{serial:07d}",
}


@dataclass(frozen=True)
class DemoFiles:
    """Where :func:`write_demo` put each part of the input set."""

    folder: Path
    beats: Path
    sectors: Path
    roads: Path
    beat_denominators: Path
    sector_denominators: Path
    force_extract: Path
    asb: Path
    fires: Path
    police_uk: Path  # folder of YYYY-MM/YYYY-MM-hertfordshire-street.csv
    stats19: tuple[Path, ...]
    mappings: Path  # folder holding the three mapping TOML files


def demo_incidents(
    *,
    seed: int = DEFAULT_SEED,
    calibration: Calibration | None = None,
    geography: Geography | None = None,
) -> pd.DataFrame:
    """Every demo incident (family, category, subcategory, beat, month, time, x/y, references)."""
    calibration = calibration or load_calibration()
    geography = geography or build_geography(calibration=calibration)
    placed = place_incidents(allocate(calibration, seed=seed), calibration, geography, seed=seed)
    placed = writers.with_places(placed, geography)
    placed["reference"] = _all_references(placed)
    placed["outcome"] = writers.outcomes(placed, seed=seed)
    return placed


def _all_references(incidents: pd.DataFrame) -> pd.Series:
    kind = np.select(
        [
            incidents["category"] == ASB,
            incidents["category"].isin(writers.FIRE_CATEGORIES),
            incidents["category"] == ROAD_TRAFFIC_COLLISION,
        ],
        ["asb", "fire", "collision"],
        default="crime",
    )
    out = pd.Series("", index=incidents.index, dtype="str")
    for name, pattern in _REFERENCES.items():
        rows = kind == name
        out[rows] = writers.serial_references(incidents.loc[rows, "occurred_at"], pattern)
    return out


def population(calibration: Calibration) -> tuple[np.ndarray, np.ndarray]:
    """Residents and households per beat, summing exactly to the borough's figures."""
    people = np.array([b.people for b in calibration.beats])
    residents = apportion(calibration.population, people)
    size = np.array([_HOUSEHOLD_SIZE[b.kind] for b in calibration.beats])
    households = apportion(calibration.households, residents / size)
    return residents, households


def write_demo(out: Path, *, seed: int = DEFAULT_SEED) -> DemoFiles:
    """Write the complete demo input set for ``seed`` into ``out`` (replacing earlier files)."""
    calibration = load_calibration()
    geography = build_geography(calibration=calibration)
    incidents = demo_incidents(seed=seed, calibration=calibration, geography=geography)
    for part in ("boundaries", "denominators", "force", "fire", "police-uk", "stats19", "mappings"):
        shutil.rmtree(out / part, ignore_errors=True)
    beats, sectors, roads = writers.write_boundaries(geography, out / "boundaries")
    residents, households = population(calibration)
    sector_of = geography.beats["parent"].to_numpy()
    sector_codes = geography.sectors["code"].to_numpy()
    files = DemoFiles(
        folder=out,
        beats=beats,
        sectors=sectors,
        roads=roads,
        beat_denominators=writers.write_denominators(
            geography.beats, residents, households, out / "denominators" / "demo_beats.csv"
        ),
        sector_denominators=writers.write_denominators(
            geography.sectors,
            np.array([residents[sector_of == c].sum() for c in sector_codes]),
            np.array([households[sector_of == c].sum() for c in sector_codes]),
            out / "denominators" / "demo_sectors.csv",
        ),
        force_extract=writers.write_force_extract(incidents, out / "force" / "crime_extract.csv"),
        asb=writers.write_asb(incidents, out / "force" / "asb_incidents.csv"),
        fires=writers.write_fires(incidents, out / "fire" / "fire_incidents.csv"),
        police_uk=out / "police-uk",
        stats19=tuple(writers.write_stats19(incidents, out / "stats19")),
        mappings=_copy_mappings(out / "mappings"),
    )
    writers.write_police_uk(incidents, geography, calibration, files.police_uk, seed=seed)
    (out / "README.txt").write_text(_readme(seed), encoding="utf-8")
    logger.info("demo input set for seed %d written to %s (%d records)", seed, out, len(incidents))
    return files


def _copy_mappings(folder: Path) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    source = resources.files("geo_service").joinpath("data/mappings")
    for name in MAPPINGS:
        (folder / name).write_text(source.joinpath(name).read_text("utf-8"), encoding="utf-8")
    return folder


def _readme(seed: int) -> str:
    return (
        f"SYNTHETIC demo input set for geo_service (seed {seed}).\n"
        "Every record, boundary, road line and street name here is invented. Totals are\n"
        "calibrated to the Dacorum 2014/15 strategic assessment; the geography is not real.\n\n"
        "boundaries/     demo beats, sectors (GeoJSON, EPSG:27700) and main roads (context layer)\n"
        "denominators/   residents and households per beat and per sector\n"
        "force/          force crime extract and ASB incidents (mapped CSV, see mappings/)\n"
        "fire/           fire-service incident export (mapped CSV)\n"
        "police-uk/      the same crimes and ASB as police.uk street-level files: load these OR\n"
        "                force/, never both (they are the same records)\n"
        "stats19/        road traffic collisions in the DfT STATS19 collision format\n"
    )


def ingest_demo(
    store_root: Path, files: DemoFiles, *, public_only: bool = False, progress: bool = False
) -> tuple[ingest.IngestSummary, ...]:
    """Load the demo input set into the store through the normal ingest service functions."""
    check_can_ingest(store_root, public_only=public_only)
    store = Store(store_root)
    for name, path in (("beat", files.beats), ("sector", files.sectors)):
        # recorded as synthetic in the manifest: how pages and maps know this is the demo
        ingest.add_layer(store, name, path, code_col="code", name_col="name", synthetic=True)
    ingest.add_denominators(store, "beat", files.beat_denominators)
    ingest.add_denominators(store, "sector", files.sector_denominators)
    reference.add_reference(store_root, "roads", files.roads)  # streets on maps with tiles off
    force, asb, fire = (files.mappings / name for name in MAPPINGS)
    jobs: list[tuple[str, list[Path], Path | None]] = (
        [("police-uk", [files.police_uk], None)]
        if public_only
        else [("mapped", [files.force_extract], force), ("mapped", [files.asb], asb)]
    )
    jobs += [("mapped", [files.fires], fire), ("stats19", list(files.stats19), None)]
    return tuple(
        ingest.ingest_files(store, kind, paths, mapping=mapping, progress=progress)
        for kind, paths, mapping in jobs
    )


def check_can_ingest(store_root: Path, *, public_only: bool) -> None:
    """Refuse a store holding the other version of the demo records (they would count twice)."""
    store = Store(store_root)
    sources = set(store.manifest().sources())
    clash = "police_uk" if not public_only else "mapped:force_crime"
    if clash in sources:
        raise InputError(
            f"store {store.root} already holds {clash!r}, the other version of the same demo "
            "records; ingesting both would count them twice. Use a fresh store (--store DIR)."
        )


def store_has_incidents(store_root: Path) -> bool:
    """True when the store at ``store_root`` already holds incidents (the demo or anything else)."""
    return bool(Store(store_root).months())
