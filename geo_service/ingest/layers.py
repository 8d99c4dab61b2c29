"""Helpers of :mod:`geo_service.ingest` for area layers: several files into one, names CSVs.

Per-district boundary downloads (ONS ward files one per local authority, as
``E07000096_wards.geojson``) are read one by one with :func:`geo_service.boundaries.read_layer`
and concatenated; codes must be unique across all the files, and each area's ``parent`` can be
taken from its file's name so that the wards can later be dissolved into districts. Files of one
area each (police.uk neighbourhood KMLs, ``DC01.kml``) can give the area's code from the file
name instead, and a ``code,name`` CSV (the police API's neighbourhood list) names the areas.
"""

from __future__ import annotations

import dataclasses
import logging
from collections.abc import Iterable, Sequence
from pathlib import Path

import geopandas as gpd
import pandas as pd
import shapely
from tqdm import tqdm

from geo_service import boundaries
from geo_service.errors import InputError

logger = logging.getLogger(__name__)

_EXAMPLES = 10  # how many offending codes an error message lists


def parent_from_filename(path: Path) -> str:
    """The part of the file name before the first ``_`` (the whole stem when it has none)."""
    name = path.name
    return name.split("_", 1)[0] if "_" in name else name.split(".", 1)[0]


def read_layers(
    paths: Sequence[Path],
    *,
    code_col: str | None = None,
    name_col: str | None = None,
    crs: str | None = None,
    source_layer: str | None = None,
    code_from_filename: bool = False,
    parent_from_name: bool = False,
    names_csv: Path | None = None,
    progress: bool = False,
) -> tuple[gpd.GeoDataFrame, boundaries.LayerReport]:
    """Read boundary files into one standard layer, with one report covering them all.

    ``source_layer`` is the layer read from each file (``file.gpkg:NAME`` names it per file);
    ``code_from_filename`` takes each area's code from its file's stem (one feature per file);
    ``names_csv`` (columns ``code,name``) names the areas after reading.
    """
    if not paths:
        raise InputError("boundaries add: no boundary files given")
    frames, reports = [], []
    for path in tqdm(paths, desc="boundary files", unit="file", disable=not progress):
        frame, report = boundaries.read_layer(
            path, code_col=code_col, name_col=name_col, crs=crs, source_layer=source_layer,
            code_from_filename=code_from_filename,
        )  # fmt: skip
        if parent_from_name:
            parent = parent_from_filename(Path(report.path))
            frame = frame.assign(parent=pd.array([parent] * len(frame), dtype="str"))
        frames.append(frame)
        reports.append(report)
    if len(frames) == 1:
        layer, report = frames[0], _with_parent(reports[0], parent_from_name)
    else:
        _check_unique_codes(frames, paths)
        layer = gpd.GeoDataFrame(
            pd.concat(frames, ignore_index=True), geometry="geometry", crs=frames[0].crs
        )
        report = _combined_report(layer, reports, parent_from_name)
    if names_csv is None:
        return layer, report
    names = read_names(names_csv, layer["code"].astype(str))
    named = dataclasses.replace(report, name_column=f"{names_csv} ({len(names)} named)")
    return boundaries.named_areas(layer, names), named


def _check_unique_codes(frames: Sequence[gpd.GeoDataFrame], paths: Sequence[Path]) -> None:
    """Every code in one file only; the error names the files of each repeated code."""
    owners = pd.DataFrame(
        {
            "code": pd.concat([f["code"] for f in frames], ignore_index=True),
            "file": [str(p) for f, p in zip(frames, paths, strict=True) for _ in range(len(f))],
        }
    )
    repeated = owners[owners["code"].duplicated(keep=False)]
    if repeated.empty:
        return
    by_code = repeated.groupby("code", sort=True)["file"].agg(lambda files: " and ".join(files))
    listed = "; ".join(f"{code} in {files}" for code, files in by_code.head(_EXAMPLES).items())
    more = f" (and {len(by_code) - _EXAMPLES} more)" if len(by_code) > _EXAMPLES else ""
    raise InputError(
        f"area codes must be unique across the boundary files; {len(by_code)} code(s) repeat: "
        f"{listed}{more}"
    )


def _joined(values: Iterable[str | None]) -> str:
    return ", ".join(dict.fromkeys(str(v) for v in values if v is not None))


def _with_parent(report: boundaries.LayerReport, parent_from_name: bool) -> boundaries.LayerReport:
    if not parent_from_name:
        return report
    return dataclasses.replace(report, parent_column="(file name)")


def _combined_report(
    layer: gpd.GeoDataFrame, reports: Sequence[boundaries.LayerReport], parent_from_name: bool
) -> boundaries.LayerReport:
    """One report for the concatenated layer; overlaps and gaps are found across the files."""
    parents = [r.parent_column for r in reports]
    return boundaries.LayerReport(
        path="; ".join(r.path for r in reports),
        features=len(layer),
        code_column=_joined(r.code_column for r in reports),
        name_column=_joined(r.name_column for r in reports),
        parent_column="(file name)" if parent_from_name else (_joined(parents) or None),
        source_crs=_joined(r.source_crs for r in reports),
        transformation=_joined(r.transformation for r in reports),
        repaired=tuple(code for r in reports for code in r.repaired),
        overlaps=boundaries.find_overlaps(layer),
        gaps_m2=boundaries.find_gaps(layer),
        area_m2=float(shapely.area(layer.geometry.to_numpy()).sum()),
        source_layer=_joined(r.source_layer for r in reports) or None,
        crs_origin=_joined(r.crs_origin for r in reports),
    )


def read_names(csv_path: Path, codes: Iterable[str]) -> dict[str, str]:
    """``code -> name`` from a CSV with ``code`` and ``name`` columns, for the given codes only.

    A code that is not among ``codes``, a repeated code, an empty name or a missing column is an
    error naming the file (and the line).
    """
    try:
        table = pd.read_csv(csv_path, dtype="str", keep_default_na=False, encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise InputError(f"{csv_path}: no such file") from exc
    except (ValueError, UnicodeDecodeError) as exc:
        raise InputError(f"{csv_path}: not a readable CSV ({exc})") from exc
    table.columns = [str(c).strip().lower() for c in table.columns]
    missing = [c for c in ("code", "name") if c not in table.columns]
    if missing:
        raise InputError(
            f"{csv_path}: column(s) {missing} missing; expected a CSV with columns code,name "
            f"(found {list(table.columns)})"
        )
    table = table.assign(code=table["code"].str.strip(), name=table["name"].str.strip())
    known = set(codes)
    for position, (code, name, repeated) in enumerate(
        zip(table["code"], table["name"], table["code"].duplicated(), strict=True)
    ):
        line = position + 2  # 1-based, after the header
        if code not in known:
            raise InputError(
                f"{csv_path}: line {line}, column code: {code!r} is not a code of the layer's "
                f"areas (expected one of {', '.join(sorted(known)[:_EXAMPLES])}"
                f"{', ...' if len(known) > _EXAMPLES else ''})"
            )
        if repeated:
            raise InputError(f"{csv_path}: line {line}, column code: {code!r} is repeated")
        if not name:
            raise InputError(f"{csv_path}: line {line}, column name: empty for code {code!r}")
    return dict(zip(table["code"], table["name"], strict=True))


def check_parents(layer: gpd.GeoDataFrame, name: str) -> None:
    """Refuse to dissolve a layer with areas lacking a parent; say how to give parents."""
    orphans = layer.loc[layer["parent"].isna(), "code"].astype(str).tolist()
    if orphans:
        raise InputError(
            f"cannot dissolve layer {name!r}: {len(orphans)} area(s) have no parent "
            f"({', '.join(orphans[:10])}); give parents with `boundaries add "
            "--parent-from-filename` or a parent column in `boundaries denominators`"
        )
