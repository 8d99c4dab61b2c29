"""Telling whether a store holds the synthetic demo, for pages that must say so.

The web layer shows :data:`SYNTHETIC_NOTE` on every page of a demo store and draws the demo's
road lines (:func:`demo_roads`) on a plain background instead of map tiles.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd

from geo_service.demo.geography import SYNTHETIC_NOTE
from geo_service.schema import CRS
from geo_service.store import Store

__all__ = ["SYNTHETIC_NOTE", "demo_roads", "is_demo_store"]

_DEMO_LAYER_FILES = ("demo_beats.geojson", "demo_sectors.geojson")


def is_demo_store(store: Store) -> bool:
    """True when the store's area layers are the demo's synthetic beats or sectors."""
    layers = store.manifest().get("layers", {})
    names = {Path(str(info.get("path", ""))).name for info in layers.values()}
    return bool(names & set(_DEMO_LAYER_FILES))


def demo_roads(store: Store) -> gpd.GeoDataFrame | None:
    """The demo's named road lines (ref, name, road_class; EPSG:27700), or None if not a demo.

    Read from beside the beats file the demo ingested (``<out>/boundaries/demo_roads.geojson``).
    """
    layers = store.manifest().get("layers", {})
    for info in layers.values():
        path = Path(str(info.get("path", "")))
        roads = path.with_name("demo_roads.geojson")
        if path.name in _DEMO_LAYER_FILES and roads.is_file():
            return gpd.read_file(roads).set_crs(CRS, allow_override=True)
    return None
