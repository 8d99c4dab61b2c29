"""The three STATS19 tables of a DfT download, told apart; casualties linked to their collisions.

The DfT publishes, per year, a collision table (one row per collision, with ``date``), a casualty
table (one row per casualty: ``casualty_reference``, no date) and a vehicle table (one row per
vehicle: ``vehicle_reference``, no casualty reference, no date), joined by ``collision_index``
(``accident_index`` before 2024). A table is recognised by its header alone.

Casualty tables are summed per collision: casualties, killed or seriously injured (KSI)
casualties, and the vulnerable road users among them: pedestrians (casualty class or type
"Pedestrian"), cyclists (type "Cyclist") and motorcyclists (every motorcycle type, electric
motorcycles and the 1979-2004 motorcycle types included). Vehicle tables are counted per
collision: vehicles, and the motorcycles, pedal cycles and heavy goods vehicles among them (by
DfT ``vehicle_type``, code or label). A row repeating a collision/vehicle(/casualty) reference
is counted once.

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
#: Per-collision vehicle figures, as incident columns (``vehicles`` first).
VEHICLE_COLUMNS = ("vehicles", "motorcycles_involved", "pedal_cycles_involved", "hgvs_involved")
# DfT vehicle_type codes, from the DfT Road Safety Data guide's vehicle table (the list shipped
# in geo_service/data/stats19_codes.csv). Motorcycles: 50cc and under (2), 125cc and under (3),
# over 125cc up to 500cc (4), over 500cc (5), electric (23), unknown cc (97) and the 1979-2004
# types scooter, motorcycle, combination, over 125cc (103-106).
MOTORCYCLE_VEHICLE_TYPES = ("2", "3", "4", "5", "23", "97", "103", "104", "105", "106")
PEDAL_CYCLE_VEHICLE_TYPES = ("1",)
# Heavy goods vehicles as the DfT counts them: goods vehicles over 3.5 tonnes maximum gross
# weight: over 3.5t and under 7.5t (20), 7.5 tonnes mgw and over (21), and the 1979-1998
# "Goods over 3.5 tonnes" (113). "Goods vehicle - unknown weight" (98) is not counted, since it
# may be a van of 3.5 tonnes or under (19).
HGV_VEHICLE_TYPES = ("20", "21", "113")
_VEHICLE_FIELDS: Mapping[str, tuple[str, ...]] = {
    "index": INDEX_NAMES,
    "vehicle": ("vehicle_reference",),
    "type": ("vehicle_type",),
}
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
            f"{path}: a STATS19 {kind} table ({what}), not a collision table. {kind.title()} "
            "figures are linked to collisions only when the collision table is ingested with "
            "them: give the collision table too, or the download folder holding both"
        )
    listing = ", ".join(f"{p.name} ({k})" for p, k in sorted(companions.items()))
    raise InputError(
        f"no STATS19 collision table among {listing}; casualty and vehicle tables are linked to "
        "the collisions of a collision table ingested with them (the file with a 'date' column, "
        "e.g. dft-road-casualty-statistics-collision-YYYY.csv)"
    )


def casualty_figures(paths: Sequence[Path]) -> pd.DataFrame:
    """Per collision index: ``casualties`` and :data:`CASUALTY_COLUMNS` (Int64), from tables."""
    rows = pd.concat([_casualty_rows(path) for path in paths], ignore_index=True)
    rows = _counted_once(rows, ["index", "vehicle", "casualty"], what="casualty")
    return _per_collision(rows.drop(columns=["vehicle", "casualty"]), "casualties")


def vehicle_figures(paths: Sequence[Path]) -> pd.DataFrame:
    """Per collision index: :data:`VEHICLE_COLUMNS` (Int64), from vehicle tables."""
    rows = pd.concat([_vehicle_rows(path) for path in paths], ignore_index=True)
    rows = _counted_once(rows, ["index", "vehicle"], what="vehicle")
    return _per_collision(rows.drop(columns=["vehicle"]), "vehicles")


def _counted_once(rows: pd.DataFrame, keys: list[str], *, what: str) -> pd.DataFrame:
    """``rows`` without repeats of the full reference ``keys`` (all given); warns once."""
    if not all(rows[key].notna().any() for key in keys):
        return rows
    repeated = rows.duplicated(subset=keys, keep="first") & rows[keys].notna().all(axis=1)
    if repeated.any():
        logger.warning(
            "%d %s row(s) repeat a %s reference; counted once",
            int(repeated.sum()),
            what,
            "/".join("collision" if key == "index" else key for key in keys),
        )
    return rows.loc[~repeated]


def _per_collision(rows: pd.DataFrame, total: str) -> pd.DataFrame:
    """0/1 flags summed per collision index, with the row count first as ``total``."""
    grouped = rows.groupby("index", sort=False)
    figures = grouped.sum().astype("Int64")
    figures.insert(0, total, grouped.size().astype("Int64"))
    return figures


def _columns(
    path: Path, fields: Mapping[str, tuple[str, ...]], required: tuple[str, ...], kind: str
) -> tuple[dict[str, pa.Array], dict[str, str | None], int]:
    """The table's columns by field, the header names used, and the row count."""
    raw = open_file(path)
    by_lower = {name.lower(): name for name in raw.header}
    names = {
        field: next((by_lower[a] for a in accepted if a in by_lower), None)
        for field, accepted in fields.items()
    }
    if any(names[field] is None for field in required):
        wanted = " and ".join(_either(fields[field]) for field in required)
        raise InputError(
            f"{path}: a STATS19 {kind} table without {wanted}; found {', '.join(raw.header)}"
        )
    table = read_columns(raw, [n for n in names.values() if n is not None], null_values=_NULLS)
    col = {field: table.columns[name] for field, name in names.items() if name is not None}
    return col, names, len(table.lines)


def _either(accepted: tuple[str, ...]) -> str:
    """ "collision_index (or accident_index)": the first accepted name, then the others."""
    others = f" (or {', '.join(accepted[1:])})" if len(accepted) > 1 else ""
    return accepted[0] + others


def _casualty_rows(path: Path) -> pd.DataFrame:
    """One row per casualty of one table: index, references and 0/1 flags per figure."""
    col, names, n = _columns(path, _FIELDS, ("index", "severity"), CASUALTY)
    severity = _labels(col, "severity", ("casualty_severity",), path, names, n)
    casualty_class = _labels(col, "class", ("casualty_class",), path, names, n)
    casualty_type = _labels(col, "type", ("casualty_type",), path, names, n)
    motorcycle = _type_labels("casualty_type", _MOTORCYCLE_CODES)
    rows = pd.DataFrame(
        {
            "index": _text(col["index"], n),
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
    rows = _with_index(rows, path, CASUALTY)
    logger.info("%s: linked: STATS19 casualty table, %d casualties", path, len(rows))
    return rows


def _vehicle_rows(path: Path) -> pd.DataFrame:
    """One row per vehicle of one table: index, vehicle reference and 0/1 flags per type."""
    col, names, n = _columns(path, _VEHICLE_FIELDS, ("index", "type"), VEHICLE)
    vehicle_type = _labels(col, "type", ("vehicle_type",), path, names, n)
    groups = {
        "motorcycles_involved": MOTORCYCLE_VEHICLE_TYPES,
        "pedal_cycles_involved": PEDAL_CYCLE_VEHICLE_TYPES,
        "hgvs_involved": HGV_VEHICLE_TYPES,
    }
    rows = pd.DataFrame(
        {
            "index": _text(col["index"], n),
            "vehicle": _text(col.get("vehicle"), n),
            **{
                column: vehicle_type.isin(_type_labels("vehicle_type", codes)).astype(int)
                for column, codes in groups.items()
            },
        }
    )
    rows = _with_index(rows, path, VEHICLE)
    logger.info("%s: linked: STATS19 vehicle table, %d vehicles", path, len(rows))
    return rows


def _with_index(rows: pd.DataFrame, path: Path, kind: str) -> pd.DataFrame:
    """``rows`` that name a collision index; the others counted in a warning."""
    no_index = rows["index"].isna() | rows["index"].eq("")
    if no_index.any():
        logger.warning(
            "%s: %d %s row(s) without a collision index ignored", path, no_index.sum(), kind
        )
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


def _type_labels(variable: str, codes: tuple[str, ...]) -> list[str]:
    """The DfT labels of ``codes`` in the ``variable`` code list."""
    types = CodedField((variable,)).table()
    return [str(types[code]) for code in codes if types.get(code)]


def link_casualties(incidents: pd.DataFrame, figures: pd.DataFrame, *, prefix: str) -> pd.DataFrame:
    """``incidents`` with the casualty figures of their collision (``prefix:<index>`` ids).

    ``casualties`` keeps the collision table's ``number_of_casualties`` and is filled from the
    casualty rows where that is missing. Collisions with no casualty row keep missing figures;
    casualty rows of collisions not loaded are counted in a warning.
    """
    out, matched = _linked(incidents, figures, CASUALTY_COLUMNS, prefix=prefix, kind=CASUALTY)
    linked = pd.Series(matched["casualties"].array, index=out.index, dtype="Int64")
    out["casualties"] = out["casualties"].astype("Int64").fillna(linked)
    return out


def link_vehicles(incidents: pd.DataFrame, figures: pd.DataFrame, *, prefix: str) -> pd.DataFrame:
    """``incidents`` with the vehicle figures of their collision (``prefix:<index>`` ids).

    Collisions with no vehicle row keep missing figures; vehicle rows of collisions not loaded
    are counted in a warning.
    """
    out, _ = _linked(incidents, figures, VEHICLE_COLUMNS, prefix=prefix, kind=VEHICLE)
    return out


def _linked(
    incidents: pd.DataFrame,
    figures: pd.DataFrame,
    columns: Sequence[str],
    *,
    prefix: str,
    kind: str,
) -> tuple[pd.DataFrame, pd.DataFrame]:
    """A copy of ``incidents`` with ``columns`` of ``figures``, and the figures matched."""
    index = incidents["incident_id"].astype("str").str.removeprefix(f"{prefix}:")
    matched = figures.reindex(index.to_numpy())
    out = incidents.copy()
    for column in columns:
        out[column] = pd.Series(matched[column].array, index=out.index, dtype="Int64")
    _warn_unlinked(index, figures, n_collisions=len(incidents), kind=kind)
    return out, matched


def _warn_unlinked(
    index: pd.Series, figures: pd.DataFrame, *, n_collisions: int, kind: str
) -> None:
    plural = "casualties" if kind == CASUALTY else f"{kind}s"
    without = int((~index.isin(figures.index)).sum())
    if without:
        logger.warning(
            "%d of %d collision(s) have no row in the %s table(s); their %s figures are missing",
            without,
            n_collisions,
            kind,
            kind,
        )
    orphans = figures.index[~figures.index.isin(index.to_numpy())]
    if len(orphans):
        logger.warning(
            "%s of %d collision index(es) not in the collision table(s) ignored, e.g. %s",
            plural,
            len(orphans),
            ", ".join(map(str, orphans[:5])),
        )
