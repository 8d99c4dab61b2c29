"""A category's hotspot maps kept beside a store version, so each area page does not redraw them.

A category page and every area page showing that category draw the same four maps of the whole
study area (density, DBSCAN clusters, Gi* cells, emerging hot spots:
:func:`geo_service.services.hotspots.category_hotspots`), about half a CPU second on a district
store. A published version never changes, so the maps of a (version, group, options) are drawn
once and kept in the version's folder as ``hotspots-<key>.parquet`` through
:func:`geo_service.services.kept.kept_value`: read back only while the manifest, the groups'
definitions, the options and :data:`~geo_service.services.kept.FORMAT` agree and the kept value
is unedited. Each map's features are kept as GeoParquet (exact geometries and column types),
its surfaces as ``.npy`` arrays, its notes and accuracy as JSON.
"""

from __future__ import annotations

import base64
import io
import json
from collections.abc import Sequence
from dataclasses import asdict, replace
from typing import Any

import geopandas as gpd
import numpy as np

from geo_service.analysis.evaluation import Accuracy
from geo_service.analysis.grid import Grid
from geo_service.categories import CategoryGroup
from geo_service.services.context import StoreLike
from geo_service.services.hotspots import CategoryHotspots, HotspotMap, category_hotspots
from geo_service.services.kept import kept_value
from geo_service.services.options import ViewOptions

#: Name of a kept category-maps file in a version's folder (``{key}``: digest of its inputs).
HOTSPOTS_FILE = "hotspots-{key}.parquet"
#: The maps of :class:`~geo_service.services.hotspots.CategoryHotspots`, in order.
MAPS = ("kde", "dbscan", "gistar", "emerging")


def kept_category_hotspots(
    store: StoreLike, groups: Sequence[CategoryGroup], group: CategoryGroup, opts: ViewOptions
) -> CategoryHotspots:
    """:func:`~geo_service.services.hotspots.category_hotspots`, read from the version's kept
    file while it agrees with the manifest and the inputs, else drawn and kept.

    Parameters
    ----------
    store
        The store read (a :class:`geo_service.store.Store` keeps the maps; any other store is
        computed afresh).
    groups
        The settings' category groups.
    group
        The category group mapped.
    opts
        Period end, months, comparison, layer and forces left out (``print_view`` changes no
        map, so both layouts share one file).

    Returns
    -------
    CategoryHotspots
        Equal to a fresh drawing: the same features, column types, notes, accuracy, surfaces
        and grid.

    Raises
    ------
    InputError, DataError, NotFoundError, StoreDamagedError
        As :func:`~geo_service.services.hotspots.category_hotspots` and the store's reads.
    """
    inputs = {
        "hotspots": repr(group),
        "groups": [repr(g) for g in groups],
        "options": repr(replace(opts, print_view=False)),
    }
    return kept_value(
        store, HOTSPOTS_FILE, inputs, lambda: category_hotspots(store, groups, group, opts),
        dump=_maps_to_json, load=_maps_from_json, column="hotspots",
    )  # fmt: skip


def _maps_to_json(found: CategoryHotspots) -> dict[str, Any]:
    return {
        "grid": _grid_to_json(found.grid),
        **{name: _map_to_json(getattr(found, name)) for name in MAPS},
    }


def _maps_from_json(value: dict[str, Any]) -> CategoryHotspots:
    maps = {name: _map_from_json(value[name]) for name in MAPS}
    return CategoryHotspots(grid=_grid_from_json(value["grid"]), **maps)


def _map_to_json(found: HotspotMap | None) -> dict[str, Any] | None:
    if found is None:
        return None
    buffer = io.BytesIO()
    found.frame.to_parquet(buffer, index=True)
    return {
        "method": found.method,
        "frame": _text(buffer.getvalue()),
        # as text: the kept value is written with sorted keys, and the notes' order is what the
        # map's GeoJSON and legend print, so a map read back must keep it
        "meta": json.dumps(_plain(found.meta)),
        "grid": _grid_to_json(found.grid),
        "accuracy": None if found.accuracy is None else asdict(found.accuracy),
        **{k: _array_to_json(getattr(found, k)) for k in ("surface", "previous_surface", "breaks")},
    }


def _map_from_json(value: dict[str, Any] | None) -> HotspotMap | None:
    if value is None:
        return None
    frame = gpd.read_parquet(io.BytesIO(_bytes(value["frame"])))
    accuracy = value["accuracy"]
    return HotspotMap(
        method=str(value["method"]),
        frame=frame,
        meta=json.loads(value["meta"]),
        grid=_grid_from_json(value["grid"]),
        accuracy=None if accuracy is None else Accuracy(**accuracy),
        **{k: _array_from_json(value[k]) for k in ("surface", "previous_surface", "breaks")},
    )


def _grid_to_json(grid: Grid) -> dict[str, Any]:
    if type(grid) is not Grid:  # the page's maps are square cells; a hexagon grid is not kept
        raise TypeError(f"only square grids are kept, not {type(grid).__name__}")
    return {
        "x0": grid.x0, "y0": grid.y0, "cell_m": grid.cell_m, "nx": grid.nx, "ny": grid.ny,
        "inside": _array_to_json(grid.inside),
    }  # fmt: skip


def _grid_from_json(value: dict[str, Any]) -> Grid:
    inside = _array_from_json(value["inside"])
    if inside is None or inside.shape != (value["ny"], value["nx"]):
        raise ValueError("a kept grid's mask does not match its size")
    inside.flags.writeable = False
    return Grid(
        x0=float(value["x0"]), y0=float(value["y0"]), cell_m=float(value["cell_m"]),
        nx=int(value["nx"]), ny=int(value["ny"]), inside=inside,
    )  # fmt: skip


def _array_to_json(array: np.ndarray | None) -> str | None:
    if array is None:
        return None
    buffer = io.BytesIO()
    np.save(buffer, np.asarray(array), allow_pickle=False)
    return _text(buffer.getvalue())


def _array_from_json(text: str | None) -> np.ndarray | None:
    return None if text is None else np.load(io.BytesIO(_bytes(text)), allow_pickle=False)


def _plain(value: Any) -> Any:
    """``value`` with numpy scalars as Python ones and tuples as lists (JSON's own types)."""
    if isinstance(value, dict):
        return {str(k): _plain(v) for k, v in value.items()}
    if isinstance(value, (list, tuple)):
        return [_plain(v) for v in value]
    if isinstance(value, np.generic):
        return value.item()
    return value


def _text(data: bytes) -> str:
    return base64.b64encode(data).decode("ascii")


def _bytes(text: str) -> bytes:
    return base64.b64decode(text.encode("ascii"), validate=True)
