"""Commands that fill and describe the store: ``ingest``, ``boundaries``, ``status``.

``boundaries`` has the actions ``add``, ``dissolve``, ``denominators`` and ``names``.

Each handler parses its arguments, calls a service function of :mod:`geo_service.ingest` or
:class:`geo_service.store.Store`, and prints the result; errors reach :func:`geo_service.cli.main`
as :class:`~geo_service.errors.GeoServiceError` (one line, the exit code of its class).
"""

from __future__ import annotations

import argparse
import json
import sys
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import TYPE_CHECKING, Any

from geo_service.config import Settings

if TYPE_CHECKING:
    from geo_service.store import Store

#: The input formats of ``ingest``: the keys of :data:`geo_service.sources.LOADERS`, spelled here
#: so that registering ``status`` does not import the loaders (and geopandas, pyproj) it never
#: uses; tests/store/test_cli_ingest.py checks the two agree.
KINDS = ("police-uk", "stats19", "mapped")


def _shipped_mapping_names() -> list[str]:
    """The names of :func:`geo_service.sources._mapping.shipped_mappings`, listed from the same
    folder without importing the loaders."""
    folder = Path(__file__).resolve().parents[1] / "data" / "mappings"
    return [p.stem for p in sorted(folder.glob("*.toml"))]


_REMOVE_HELP = """\
Remove stored input files, named as 'status' lists them (a gzipped file's name also without
.gz): their rows go from every month they covered, in one new version. Where another stored
file holds the same incident (kept aside as a duplicate), that file's row is stored instead, so
only what the removed files alone provided is gone. Use it before ingesting a newer version of
a month stored under another name (the ingest's refusal names the files)."""


def register(subparsers: argparse._SubParsersAction) -> None:
    """Add the ``ingest``, ``remove``, ``boundaries`` and ``status`` commands."""
    parser = subparsers.add_parser(
        "ingest", help="load incident files into the store", description=_INGEST_HELP
    )
    parser.add_argument("kind", choices=list(KINDS), help="input format")
    parser.add_argument("paths", nargs="+", type=Path, metavar="PATH", help="files or folders")
    parser.add_argument(
        "--mapping",
        type=Path,
        help="TOML column mapping (for 'mapped'): a file, or the name of a shipped one "
        f"({', '.join(_shipped_mapping_names())})",
    )
    parser.add_argument(
        "--exclude-force",
        action="append",
        default=[],
        metavar="FORCE",
        help="police-uk: leave out rows whose 'Reported by' is FORCE, e.g. 'British Transport "
        "Police' (repeatable; counted as rejected, reason 'excluded on request')",
    )
    parser.add_argument("--progress", action="store_true", help="show progress bars")
    parser.add_argument("--json", action="store_true", help="print the summary as JSON")
    parser.set_defaults(handler=_ingest)

    remove = subparsers.add_parser(
        "remove",
        help="remove stored input files (their rows; other files' copies of them stay)",
        description=_REMOVE_HELP,
    )
    remove.add_argument(
        "names", nargs="+", metavar="NAME", help="stored file name, as status lists it"
    )
    remove.set_defaults(handler=_remove)

    boundaries = subparsers.add_parser(
        "boundaries",
        help="add area layers, their denominators and names, and layers dissolved from parents",
    )
    actions = boundaries.add_subparsers(dest="action", metavar="ACTION", required=True)
    add = actions.add_parser(
        "add", help="add (or replace) an area layer from boundary files", description=_ADD_HELP
    )
    add.add_argument("layer", help="layer name, e.g. ward, beat, lsoa")
    add.add_argument(
        "paths", nargs="+", type=Path, metavar="PATH",
        help="GeoJSON, TopoJSON, Shapefile (or zip), GeoPackage, KML, FileGDB; FILE:LAYER "
        "names a layer of a file holding several",
    )  # fmt: skip
    add.add_argument(
        "--source-layer", metavar="NAME",
        help="the layer to read from a file holding several (GeoPackage, zip of Shapefiles, "
        "KML folders, FileGDB); the error for such a file lists its layers",
    )  # fmt: skip
    code = add.add_mutually_exclusive_group()
    code.add_argument("--code-col", help="column holding the area code (detected for ONS files)")
    code.add_argument(
        "--code-from-filename", action="store_true",
        help="each file holds one area whose code is the file name without its extension "
        "(police.uk neighbourhoods: DC01.kml -> DC01)",
    )  # fmt: skip
    add.add_argument("--name-col", help="column holding the area name")
    add.add_argument(
        "--names", type=Path, metavar="CSV", help="CSV code,name naming the areas (e.g. beats)"
    )
    add.add_argument(
        "--crs", help="CRS of the coordinates when the file states none or a wrong one"
    )
    add.add_argument(
        "--parent-from-filename",
        action="store_true",
        help="each area's parent is its file name before the first '_' (E07000096_wards.geojson "
        "-> E07000096): per-district ward files, later dissolved into districts",
    )
    add.add_argument("--progress", action="store_true", help="show progress bars")
    add.set_defaults(handler=_boundaries_add)
    dissolve = actions.add_parser(
        "dissolve",
        help="a layer of the parents of another (wards -> districts, beats -> sectors)",
        description=_DISSOLVE_HELP,
    )
    dissolve.add_argument("layer", help="name of the new layer, e.g. district, sector")
    dissolve.add_argument(
        "--from", dest="from_layer", required=True, metavar="LAYER", help="a stored layer"
    )
    dissolve.add_argument("--names", type=Path, metavar="CSV", help="CSV code,name of new areas")
    dissolve.add_argument("--progress", action="store_true", help="show a progress bar")
    dissolve.set_defaults(handler=_boundaries_dissolve)
    denominators = actions.add_parser(
        "denominators", help="population, households and parent per area from a CSV"
    )
    denominators.add_argument("layer", help="a stored layer name")
    denominators.add_argument("csv", type=Path, help="CSV with code and population/households")
    denominators.set_defaults(handler=_boundaries_denominators)
    names = actions.add_parser(
        "names", help="rename the areas of a stored layer from a CSV code,name"
    )
    names.add_argument("layer", help="a stored layer name")
    names.add_argument("csv", type=Path, help="CSV with columns code,name")
    names.set_defaults(handler=_boundaries_names)

    status = subparsers.add_parser("status", help="what the store holds")
    status.add_argument("--json", action="store_true", help="everything, as JSON")
    status.set_defaults(handler=_status)


_INGEST_HELP = (
    "Load police.uk street-level CSVs, DfT STATS19 collision CSVs, or any CSV described by a "
    "TOML mapping; assign each incident to every stored area layer; store it. Re-ingesting a "
    "file changes nothing; a newer file with the same name (or the same file with other "
    "forces left out) replaces the stored one, and is refused if it lacks a month that one "
    "holds. A police.uk file that is another version of a month stored under another name is "
    "refused: remove the older first ('remove')."
)


_ADD_HELP = (
    "Read one or more boundary files (any CRS; ONS code/name columns detected) into one layer, "
    "store it and assign every stored incident to it. Codes must be unique across the files. "
    "Coordinates that cannot be in the file's CRS are refused with the CRS they look like. "
    "A file with several layers needs --source-layer (or FILE:LAYER). "
    "Districts from per-district ward files: `boundaries add ward --parent-from-filename "
    "wards/*_wards.geojson`, then `boundaries dissolve district --from ward`. "
    "police.uk neighbourhoods: `boundaries add beat --code-from-filename --names "
    "neighbourhoods.csv hertfordshire/*.kml`."
)
_DISSOLVE_HELP = (
    "Merge the areas of a stored layer by their parent code into a new layer (population and "
    "households summed) and assign every stored incident to it."
)


def _ingest(args: argparse.Namespace, settings: Settings) -> int:
    from geo_service import ingest

    progress = _progress(args)
    summary = ingest.ingest_files(
        _store(settings), args.kind, args.paths, mapping=args.mapping,
        exclude_forces=args.exclude_force, progress=progress, scheduler=settings.scheduler,
    )  # fmt: skip
    if args.json:
        json.dump(summary.as_dict(), sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
        return 0
    for line in summary.lines():
        print(line)
    if summary.rejects_path is not None:
        print(f"rejected rows (file, line, column, value, reason): {summary.rejects_path}")
    return 0


def _remove(args: argparse.Namespace, settings: Settings) -> int:
    from geo_service import ingest

    for removed in ingest.remove_files(_store(settings), args.names):
        print(removed.line())
    return 0


def _boundaries_add(args: argparse.Namespace, settings: Settings) -> int:
    from geo_service import ingest

    store = _store(settings)
    report = ingest.add_layer(
        store, args.layer, args.paths, code_col=args.code_col, name_col=args.name_col,
        crs=args.crs, source_layer=args.source_layer,
        code_from_filename=args.code_from_filename,
        parent_from_filename=args.parent_from_filename, names_csv=args.names,
        progress=_progress(args),
    )  # fmt: skip
    files = f"{len(args.paths)} files" if len(args.paths) > 1 else report.path
    print(
        f"layer {args.layer!r}: {report.features} areas from {files} "
        f"(code {report.code_column}, name {report.name_column}, CRS {report.source_crs}"
        f"{f': {report.crs_origin}' if report.crs_origin else ''})"
    )
    if len(args.paths) == 1 and report.source_layer not in (None, Path(report.path).stem):
        print(f"read the file's layer {report.source_layer!r}")
    if report.parent_column:
        print(f"parent from: {report.parent_column}")
    print(f"transformation: {report.transformation}")
    if report.repaired:
        print(f"repaired invalid polygons: {', '.join(report.repaired)}")
    if report.overlaps:
        print(f"overlapping areas: {len(report.overlaps)} pairs")
    if report.gaps_m2:
        print(f"gaps between areas: {len(report.gaps_m2)} ({sum(report.gaps_m2):.0f} m²)")
    _print_assigned(store, args.layer)
    return 0


def _boundaries_dissolve(args: argparse.Namespace, settings: Settings) -> int:
    from geo_service import ingest

    store = _store(settings)
    layer = ingest.dissolve_layer(
        store, args.layer, from_layer=args.from_layer, names_csv=args.names,
        progress=_progress(args),
    )  # fmt: skip
    print(
        f"layer {args.layer!r}: {len(layer)} areas dissolved from {args.from_layer!r} "
        f"({layer.geometry.area.sum() / 1e6:.2f} km²); population for "
        f"{int(layer['population'].notna().sum())}, households for "
        f"{int(layer['households'].notna().sum())}"
    )
    _print_assigned(store, args.layer)
    return 0


def _print_assigned(store: Store, name: str) -> None:
    layer = store.status()["layers"][name]
    print(
        f"stored incidents in an area: {layer['incidents_in_an_area']}; "
        f"located outside every area: {layer['located_outside_every_area']}"
    )


def _boundaries_denominators(args: argparse.Namespace, settings: Settings) -> int:
    from geo_service import ingest

    layer = ingest.add_denominators(_store(settings), args.layer, args.csv)
    print(
        f"layer {args.layer!r}: population for {int(layer['population'].notna().sum())} of "
        f"{len(layer)} areas, households for {int(layer['households'].notna().sum())}, "
        f"parent for {int(layer['parent'].notna().sum())}"
    )
    return 0


def _boundaries_names(args: argparse.Namespace, settings: Settings) -> int:
    from geo_service import ingest

    layer = ingest.name_areas(_store(settings), args.layer, args.csv)
    renamed = int((layer["name"] != layer["code"]).sum())
    print(
        f"layer {args.layer!r}: {renamed} of {len(layer)} areas have a name other than their code"
    )
    return 0


def _store(settings: Settings) -> Store:
    # Imported here: the store's reader imports pandas, which ``status`` does without.
    from geo_service.store import Store

    return Store(settings.store)


def _progress(args: argparse.Namespace) -> Any:
    # Imported here: the output helpers import pandas, which ``status`` does without.
    from geo_service.cli._output import show_progress

    return show_progress(args)


def _status(args: argparse.Namespace, settings: Settings) -> int:
    from geo_service.store.status import read_status

    status = read_status(settings.store)
    if args.json:
        json.dump(status, sys.stdout, indent=2, default=str)
        sys.stdout.write("\n")
        return 0
    _print_status(status)
    return 0


def _print_status(status: dict[str, Any]) -> None:
    print(f"store {status['store']} (version {status['version'] or 'empty'})")
    if status["demo"]:
        print("the SYNTHETIC demo (its layers are recorded as synthetic)")
    print(f"incidents: {status['incidents']} ({status['without_location']} without location)")
    for source, info in status["sources"].items():
        _print_source(source, info)
    for name, layer in status["layers"].items():
        print(
            f"\nlayer {name}: {layer['areas']} areas; population for {layer['with_population']}, "
            f"households for {layer['with_households']}; incidents in an area "
            f"{layer['incidents_in_an_area']}, "
            f"located outside {layer['located_outside_every_area']}"
        )
    live = [f for f in status["files"] if not f.get("superseded_by")]
    print(f"\nfiles: {len(live)} stored ({len(status['files']) - len(live)} superseded)")
    print(f"rejected rows in stored files: {status['rejects']['live_files']}")
    for path in status["rejects"]["files"]:
        print(f"  {path}")


def _print_source(source: str, info: dict[str, Any]) -> None:
    """One source: months held and missing, rows and unlocated per month and category, detail."""
    missing = info["missing_months"]
    print(
        f"\n{source}: {info['incidents']} incidents, {info['first_month']}..{info['last_month']}; "
        f"months missing: {', '.join(missing) if missing else 'none'}"
    )
    by_month = [
        {**{k: v for k, v in row.items() if k != "unlocated_share"},
         "unlocated %": f"{round(100 * row['unlocated_share'] * 10) / 10:.1f}"}
        for row in info["by_month_category"]
    ]  # fmt: skip
    print(_text_table(by_month, numeric=("rows", "unlocated", "unlocated %")))
    detail = [
        {"category": category, "rows": info["categories"][category],
         "subcategories": "yes" if carries["subcategories"] else "no",
         "times": "yes" if carries["times"] else "no"}
        for category, carries in info["detail"].items()
    ]  # fmt: skip
    print(_text_table(detail, numeric=("rows",)))


def _text_table(rows: Sequence[Mapping[str, Any]], *, numeric: Sequence[str] = ()) -> str:
    """``rows`` (of equal keys) as aligned text, as pandas' ``to_string(index=False)`` prints a
    table (built here so ``status`` needs no pandas): a header of the keys, a ``numeric``
    column's with a space before it, then each column right-aligned to its widest entry, the
    columns one space apart."""
    columns = list(rows[0])
    header = [f" {c}" if c in numeric else c for c in columns]
    cells = [[str(row[c]) for c in columns] for row in rows]
    widths = [max(len(h), *(len(r[i]) for r in cells)) for i, h in enumerate(header)]
    return "\n".join(
        " ".join(v.rjust(w) for v, w in zip(line, widths, strict=True)) for line in [header, *cells]
    )
