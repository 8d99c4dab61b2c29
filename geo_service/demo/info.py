"""Telling whether a store holds the synthetic demo, for pages that must say so.

The demo's layers are recorded as synthetic in the store's manifest when the demo writes them
(:meth:`geo_service.store.Store.is_demo`); the pages then say the geography is synthetic and
draw no map tiles. :data:`SYNTHETIC_NOTE` is the wording the demo's own files carry, and
:func:`demo_roads` finds the road lines written beside the demo's beats.
"""

from __future__ import annotations

from pathlib import Path

import geopandas as gpd

from geo_service.demo.geography import SYNTHETIC_NOTE
from geo_service.schema import CRS
from geo_service.store import Store

__all__ = ["SYNTHETIC_NOTE", "demo_roads"]


def demo_roads(store: Store) -> gpd.GeoDataFrame | None:
    """The demo's named road lines (ref, name, road_class; EPSG:27700), or None if not a demo.

    Read from beside the boundary file of a synthetic layer
    (``<out>/boundaries/demo_roads.geojson``, written with the beats by
    :func:`geo_service.demo.build.write_demo`).
    """
    for info in store.manifest().layers.values():
        if not info.synthetic or info.path is None:
            continue
        roads = Path(info.path).with_name("demo_roads.geojson")
        if roads.is_file():
            return gpd.read_file(roads).set_crs(CRS, allow_override=True)
    return None
