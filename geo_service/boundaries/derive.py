"""What is derived from a standard area layer: its denominators and coarser layers built from it.

:func:`read_denominators` fills ``population``, ``households`` and ``parent`` from a CSV;
:func:`named_areas` renames areas (code -> name); :func:`dissolve_layer` merges areas by their
parent (beats into sectors, wards into districts), summing the denominators. All are re-exported
by :mod:`geo_service.boundaries`.
"""

from __future__ import annotations

from collections.abc import Mapping
from pathlib import Path
from types import MappingProxyType

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo_service.errors import InputError

#: Numeric denominator columns a CSV may give.
DENOMINATORS: tuple[str, ...] = ("population", "households")

#: Largest denominator one area can have: above the UK's population (about 69 million) and
#: households (about 29 million) with a margin, so a typo or an overflow (``inf``, ``1e300``)
#: is refused rather than making every rate per 1,000 residents zero.
DENOMINATOR_LIMITS: Mapping[str, float] = MappingProxyType(
    {"population": 100_000_000.0, "households": 50_000_000.0}
)

_POLYGONAL = ("Polygon", "MultiPolygon")
_EXAMPLES = 10  # how many offending rows an error message lists


def read_denominators(layer: gpd.GeoDataFrame, csv_path: Path | str) -> gpd.GeoDataFrame:
    """A copy of ``layer`` with population, households and parent filled from a CSV.

    The CSV has a ``code`` column and any of ``population``, ``households`` (finite numbers from 0
    to :data:`DENOMINATOR_LIMITS`)
    and ``parent`` (a code). Areas the CSV does not mention keep their values; a code the layer
    does not hold, a repeated code or a non-numeric value is an error naming the line.
    """
    csv_path = Path(csv_path)
    table = _read_denominator_csv(csv_path)
    codes = table["code"]
    known = pd.Index(layer["code"])
    _check_denominator_codes(codes, known, csv_path)
    out = layer.copy()
    rows = known.get_indexer(codes)
    for column in DENOMINATORS:
        if column in table.columns:
            values = _numeric(table[column], csv_path, column)
            filled = out[column].to_numpy(dtype=float, copy=True)
            filled[rows] = values
            out[column] = filled
    if "parent" in table.columns:
        parent = out["parent"].to_numpy(dtype=object, copy=True)
        parent[rows] = table["parent"].to_numpy(dtype=object)
        out["parent"] = pd.array(parent, dtype="str")
    return out


def _read_denominator_csv(path: Path) -> pd.DataFrame:
    try:
        table = pd.read_csv(path, dtype="str", keep_default_na=False, encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise InputError(f"{path}: no such file") from exc
    except (pd.errors.EmptyDataError, UnicodeDecodeError, pd.errors.ParserError) as exc:
        raise InputError(f"{path}: not a readable UTF-8 CSV with a header ({exc})") from exc
    with path.open("rb") as handle:  # pandas renames a repeated column "x.1": look at the header
        header = handle.readline(65_536).decode("utf-8-sig", errors="replace")
    names = [name.strip().lower() for name in header.rstrip("\r\n").split(",")]
    repeated = sorted({name for name in names if name and names.count(name) > 1})
    if repeated:
        raise InputError(
            f"{path}: column(s) {', '.join(repeated)} appear more than once in the header; "
            "remove or rename the copies; nothing was changed"
        )
    table.columns = [str(c).strip().lower() for c in table.columns]
    usable = [c for c in ("parent", *DENOMINATORS) if c in table.columns]
    if "code" not in table.columns or not usable:
        raise InputError(
            f"{path}: expected a 'code' column and at least one of parent, population, "
            f"households; columns found: {', '.join(table.columns)}"
        )
    table = table.apply(lambda column: column.str.strip())
    return table.replace("", pd.NA)


def _check_denominator_codes(codes: pd.Series, known: pd.Index, path: Path) -> None:
    lines = codes.index.to_numpy() + 2  # header is line 1
    missing = codes.isna().to_numpy()
    if missing.any():
        raise InputError(f"{path}: column 'code' is empty on line(s) {_lines(lines[missing])}")
    unknown = ~codes.isin(known).to_numpy()
    if unknown.any():
        listed = ", ".join(
            f"{c!r} (line {n})" for c, n in zip(codes[unknown], lines[unknown], strict=True)
        )
        raise InputError(f"{path}: code(s) not in the layer: {listed}")
    repeated = codes.duplicated(keep=False).to_numpy()
    if repeated.any():
        raise InputError(
            f"{path}: code(s) given more than once, on lines {_lines(lines[repeated])}"
        )


def _lines(lines: np.ndarray) -> str:
    return ", ".join(str(int(n)) for n in lines[:_EXAMPLES])


def _numeric(values: pd.Series, path: Path, column: str) -> np.ndarray:
    """Finite numbers from 0 to :data:`DENOMINATOR_LIMITS`; raises naming the first bad line."""
    numbers = pd.to_numeric(values, errors="coerce").to_numpy(dtype=float)
    limit = DENOMINATOR_LIMITS[column]
    with np.errstate(invalid="ignore"):
        out_of_range = ~np.isnan(numbers) & ~((numbers >= 0) & (numbers <= limit))
    bad = (values.notna().to_numpy() & np.isnan(numbers)) | out_of_range
    if bad.any():
        first = int(np.flatnonzero(bad)[0])
        value = str(values.iloc[first])
        shown = value if len(value) <= 80 else f"{value[:80]}... ({len(value)} characters)"
        raise InputError(
            f"{path}: line {first + 2}, column {column!r}: {shown!r} is not a finite number "
            f"from 0 to {limit:,.0f} (more than any UK area's {column}); nothing was changed"
        )
    return numbers


def dissolve_layer(
    layer: gpd.GeoDataFrame, *, by: str = "parent", names: Mapping[str, str] | None = None
) -> gpd.GeoDataFrame:
    """A coarser standard layer: areas merged by ``by`` (e.g. beats into sectors).

    Population and households are summed; a group with any unknown (NaN) member gets NaN. The new
    areas are named from ``names`` (code -> name) where given, else by their code.
    """
    if by not in layer.columns:
        raise InputError(f"cannot dissolve by {by!r}: not a column of the layer")
    groups = layer[by]
    if groups.isna().any():
        orphans = ", ".join(layer.loc[groups.isna(), "code"].astype(str)[:_EXAMPLES])
        raise InputError(f"cannot dissolve by {by!r}: no {by} for area(s) {orphans}")
    keys = groups.astype(str).to_numpy(dtype=object)
    order = sorted(set(keys))
    geometry = layer.geometry.to_numpy()
    merged = [polygonal_part(shapely.union_all(geometry[keys == key])) for key in order]
    incomplete = layer[list(DENOMINATORS)].isna().groupby(keys).any()
    sums = layer[list(DENOMINATORS)].groupby(keys).sum().mask(incomplete).reindex(order)
    lookup = dict(names or {})
    return gpd.GeoDataFrame(
        {
            "code": pd.array(order, dtype="str"),
            "name": pd.array([lookup.get(k, k) for k in order], dtype="str"),
            "parent": pd.array([None] * len(order), dtype="str"),
            "population": sums["population"].to_numpy(dtype=float),
            "households": sums["households"].to_numpy(dtype=float),
        },
        geometry=gpd.GeoSeries(merged, crs=layer.crs).values,
        crs=layer.crs,
    )


def named_areas(layer: gpd.GeoDataFrame, names: Mapping[str, str]) -> gpd.GeoDataFrame:
    """A copy of ``layer`` whose areas listed in ``names`` (code -> name) carry those names."""
    out = layer.copy()
    current = out["name"].astype(str).to_numpy(dtype=object)
    codes = out["code"].astype(str).to_numpy(dtype=object)
    out["name"] = pd.array(
        [names.get(code, name) for code, name in zip(codes, current, strict=True)], dtype="str"
    )
    return out


def polygonal_part(geometry: shapely.Geometry) -> shapely.Geometry:
    """The polygonal parts of ``geometry`` merged (an empty MultiPolygon when there are none)."""
    parts = shapely.get_parts(geometry)
    polygons = [part for part in parts if part.geom_type in _POLYGONAL]
    if not polygons:
        return shapely.MultiPolygon()
    merged = shapely.union_all(polygons)
    if merged.geom_type in _POLYGONAL:
        return merged
    return shapely.MultiPolygon([p for p in shapely.get_parts(merged) if p.geom_type == "Polygon"])
