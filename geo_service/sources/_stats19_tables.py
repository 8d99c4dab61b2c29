"""The three STATS19 tables of a DfT download, told apart; casualties linked to their collisions.

The DfT publishes, per year, a collision table (one row per collision, with ``date``), a casualty
table (one row per casualty: ``casualty_reference``, no date) and a vehicle table (one row per
vehicle: ``vehicle_reference``, no casualty reference, no date), joined by ``collision_index``
(``accident_index`` before 2024). A table is recognised by its header alone.

Casualty tables are summed per collision: casualties, killed or seriously injured (KSI)
casualties, and the vulnerable road users among them: pedestrians (casualty class or type
"Pedestrian"), cyclists (type "Cyclist") and motorcyclists (every motorcycle type, electric
motorcycles and the 1979-2004 motorcycle types included). Vehicle tables add nothing to the
incident table and are skipped with one log line each.

Private to :mod:`geo_service.sources.stats19`.
"""

from __future__ import annotations

import csv
import gzip
import logging
from collections.abc import Mapping, Sequence
from pathlib import Path

import pandas as pd
import pyarrow as pa

from geo_service.errors import InputError
from geo_service.sources._files import open_file, read_columns
from geo_service.sources._stats19_codes import CodedField, decode

# Log as the STATS19 loader, whose messages these are.
logger = logging.getLogger("geo_service.sources.stats19")

COLLISION, CASUALTY, VEHICLE = "collision", "casualty", "vehicle"
INDEX_NAMES = ("collision_index", "accident_index")

#: Per-collision casualty figures, as incident columns.
CASUALTY_COLUMNS = (
    "ksi_casualties",
    "pedestrian_casualties",
    "cyclist_casualties",
    "motorcyclist_casualties",
)
_FIELDS: Mapping[str, tuple[str, ...]] = {
    "index": INDEX_NAMES,
    "vehicle": ("vehicle_reference",),
    "casualty": ("casualty_reference",),
    "severity": ("casualty_severity",),
    "class": ("casualty_class",),
    "type": ("casualty_type",),
}
_MOTORCYCLE_CODES = ("2", "3", "4", "5", "23", "97", "103", "104", "105", "106")
_NULLS = ("", "NULL", "null", "NA")


def table_kind(path: Path) -> str:
    """``collision``, ``casualty`` or ``vehicle``, from the file's header line.

    A file that cannot be read is called a collision table, so that the collision loader reports
    what is wrong with it.
    """
    names = {name.strip().lower() for name in _header(path)}
    if "date" in names:
        return COLLISION
    if "casualty_reference" in names:
        return CASUALTY
    if "vehicle_reference" in names:
        return VEHICLE
    return COLLISION


def _header(path: Path) -> list[str]:
    try:
        with path.open("rb") as handle:
            gzipped = handle.read(2) == b"\x1f\x8b"
        opener = gzip.open if gzipped else open
        with opener(path, "rb") as handle:
            line = handle.readline(1 << 16)
    except (OSError, EOFError):
        return []
    text = line.decode("utf-8", errors="replace").removeprefix("\ufeff").rstrip("\r\n")
    return next(csv.reader([text]), [])


def refuse_without_collisions(given: Sequence[Path], companions: Mapping[Path, str]) -> None:
    """Raise: casualty/vehicle tables were given with no collision table to link them to."""
    named = [p for p in given if p in companions]
    if named:
        path = named[0]
        kind = companions[path]
        what = (
            "one row per casualty: casualty_reference, no date"
            if kind == CASUALTY
            else "one row per vehicle: vehicle_reference, no date"
        )
        raise InputError(
            f"{path}: a STATS19 {kind} table ({what}), not a collision table. Casualty figures "
            "are linked to collisions only when the collision table is ingested with them: give "
            "the collision table too, or the download folder holding both"
        )
    listing = ", ".join(f"{p.name} ({k})" for p, k in sorted(companions.items()))
    raise InputError(
        f"no STATS19 collision table among {listing}; casualty and vehicle tables are linked to "
        "the collisions of a collision table ingested with them (the file with a 'date' column, "
        "e.g. dft-road-casualty-statistics-collision-YYYY.csv)"
    )


def casualty_figures(paths: Sequence[Path]) -> pd.DataFrame:
    """Per collision index: ``casualties`` and :data:`CASUALTY_COLUMNS` (Int64), from tables."""
    parts = [_casualty_rows(path) for path in paths]
    rows = pd.concat(parts, ignore_index=True)
    keys = [c for c in ("index", "vehicle", "casualty") if rows[c].notna().any()]
    if len(keys) == 3:
        repeated = rows.duplicated(subset=keys, keep="first")
        if repeated.any():
            logger.warning(
                "%d casualty row(s) repeat a collision/vehicle/casualty reference; counted once",
                int(repeated.sum()),
            )
            rows = rows.loc[~repeated]
    grouped = rows.drop(columns=["vehicle", "casualty"]).groupby("index", sort=False)
    figures = grouped.sum().astype("Int64")
    figures.insert(0, "casualties", grouped.size().astype("Int64"))
    return figures


def _casualty_rows(path: Path) -> pd.DataFrame:
    """One row per casualty of one table: index, references and 0/1 flags per figure."""
    raw = open_file(path)
    by_lower = {name.lower(): name for name in raw.header}
    names = {
        field: next((by_lower[a] for a in accepted if a in by_lower), None)
        for field, accepted in _FIELDS.items()
    }
    if names["index"] is None or names["severity"] is None:
        raise InputError(
            f"{path}: a STATS19 casualty table without collision_index (or accident_index) and "
            f"casualty_severity; found {', '.join(raw.header)}"
        )
    wanted = [name for name in names.values() if name is not None]
    table = read_columns(raw, wanted, null_values=_NULLS)
    col = {field: table.columns[name] for field, name in names.items() if name is not None}
    n = len(table.lines)
    severity = _labels(col, "severity", ("casualty_severity",), path, names, n)
    casualty_class = _labels(col, "class", ("casualty_class",), path, names, n)
    casualty_type = _labels(col, "type", ("casualty_type",), path, names, n)
    motorcycle = _motorcycle_labels()
    rows = pd.DataFrame(
        {
            "index": pd.Series(col["index"].to_pandas(), dtype="str").str.strip(),
            "vehicle": _text(col.get("vehicle"), n),
            "casualty": _text(col.get("casualty"), n),
            "ksi_casualties": severity.isin(["Fatal", "Serious"]).astype(int),
            "pedestrian_casualties": (
                casualty_class.eq("Pedestrian") | casualty_type.eq("Pedestrian")
            ).astype(int),
            "cyclist_casualties": casualty_type.eq("Cyclist").astype(int),
            "motorcyclist_casualties": casualty_type.isin(motorcycle).astype(int),
        }
    )
    no_index = rows["index"].isna() | rows["index"].eq("")
    if no_index.any():
        logger.warning(
            "%s: %d casualty row(s) without a collision index ignored", path, no_index.sum()
        )
    logger.info("%s: linked: STATS19 casualty table, %d casualties", path, int((~no_index).sum()))
    return rows.loc[~no_index.to_numpy()]


def _labels(
    col: Mapping[str, pa.Array],
    field: str,
    variables: tuple[str, ...],
    path: Path,
    names: Mapping[str, str | None],
    n: int,
) -> pd.Series:
    if field not in col:
        return pd.Series([None] * n, dtype="str")
    labels, _ = decode(col[field], CodedField(variables), path=path, column=str(names[field]))
    return pd.Series(labels.to_pandas(), dtype="str").fillna("")


def _text(values: pa.Array | None, n: int) -> pd.Series:
    if values is None:
        return pd.Series([None] * n, dtype="str")
    return pd.Series(values.to_pandas(), dtype="str").str.strip()


def _motorcycle_labels() -> list[str]:
    types = CodedField(("casualty_type",)).table()
    return [str(types[code]) for code in _MOTORCYCLE_CODES if types.get(code)]


def link_casualties(incidents: pd.DataFrame, figures: pd.DataFrame, *, prefix: str) -> pd.DataFrame:
    """``incidents`` with the casualty figures of their collision (``prefix:<index>`` ids).

    ``casualties`` keeps the collision table's ``number_of_casualties`` and is filled from the
    casualty rows where that is missing. Collisions with no casualty row keep missing figures;
    casualty rows of collisions not loaded are counted in a warning.
    """
    index = incidents["incident_id"].astype("str").str.removeprefix(f"{prefix}:")
    matched = figures.reindex(index.to_numpy())
    out = incidents.copy()
    for column in CASUALTY_COLUMNS:
        out[column] = matched[column].to_numpy()
    linked = pd.array(matched["casualties"].to_numpy(), dtype="Int64")
    out["casualties"] = out["casualties"].astype("Int64").fillna(pd.Series(linked, index=out.index))
    _warn_unlinked(index, figures, n_collisions=len(incidents))
    return out


def _warn_unlinked(index: pd.Series, figures: pd.DataFrame, *, n_collisions: int) -> None:
    without = int((~index.isin(figures.index)).sum())
    if without:
        logger.warning(
            "%d of %d collision(s) have no row in the casualty table(s); their casualty "
            "figures are missing",
            without,
            n_collisions,
        )
    orphans = figures.index[~figures.index.isin(index.to_numpy())]
    if len(orphans):
        logger.warning(
            "casualties of %d collision index(es) not in the collision table(s) ignored, e.g. %s",
            len(orphans),
            ", ".join(map(str, orphans[:5])),
        )


def skip_vehicle_tables(paths: Sequence[Path]) -> None:
    """One log line per vehicle table: recognised, and not needed by the incident table."""
    for path in paths:
        logger.warning("%s: skipped: STATS19 vehicle table (vehicle details are not stored)", path)
