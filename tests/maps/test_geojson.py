"""Light GeoJSON: simplified in metres, rounded lon/lat, text escaped only when asked."""

from __future__ import annotations

import geopandas as gpd
import numpy as np
import pandas as pd
import shapely

from geo_service.maps.geojson import dissolve_cells, light_geojson


def _wiggly() -> gpd.GeoDataFrame:
    # A 2 km square whose south edge has 200 vertices wiggling by 5 m: noise under 20 m.
    xs = np.linspace(500_000, 502_000, 200)
    south = [(x, 200_000 + (5.0 if i % 2 else 0.0)) for i, x in enumerate(xs)]
    ring = [*south, (502_000, 202_000), (500_000, 202_000)]
    return gpd.GeoDataFrame(
        {
            "code": ["A"],
            "name": ["<script>x</script>"],
            "n": [np.nan],
            "k": pd.array([3], dtype="Int64"),
        },
        geometry=[shapely.Polygon(ring)],
        crs="EPSG:27700",
    )


def test_simplified_rounded_and_reprojected() -> None:
    data = light_geojson(_wiggly())
    ring = data["features"][0]["geometry"]["coordinates"][0]
    assert len(ring) <= 6  # the wiggle is gone at 20 m
    for lon, lat in ring:
        assert round(lon, 6) == lon and round(lat, 6) == lat
        assert -0.6 < lon < -0.5 and 51.6 < lat < 51.8  # around (500000, 200000) in lon/lat
    full = light_geojson(_wiggly(), tolerance_m=0)
    assert len(full["features"][0]["geometry"]["coordinates"][0]) == 203


def test_properties_json_ready_and_escaping() -> None:
    raw = light_geojson(_wiggly())["features"][0]["properties"]
    assert raw == {"code": "A", "name": "<script>x</script>", "n": None, "k": 3}
    escaped = light_geojson(_wiggly(), escape_html=True)["features"][0]["properties"]
    assert escaped["name"] == "&lt;script&gt;x&lt;/script&gt;"


def test_dissolve_cells_sums_the_cells_of_each_part() -> None:
    # Three 100 m cells with counts 5, 7, 11: the first two touch, the third stands apart.
    # Merged by hand: one outline of 5 + 7 = 12 and one of 11.
    cells = gpd.GeoDataFrame(
        {"label": ["Hot"] * 3, "count": [5, 7, 11]},
        geometry=[
            shapely.box(0, 0, 100, 100),
            shapely.box(100, 0, 200, 100),
            shapely.box(500, 500, 600, 600),
        ],
        crs="EPSG:27700",
    )
    merged = dissolve_cells(cells, by="label", total="count")
    assert len(merged) == 2
    by_area = dict(zip(merged.geometry.area.round(), merged["count"], strict=True))
    assert by_area == {20_000.0: 12, 10_000.0: 11}


def test_shapes_drawn_again_are_the_same_and_other_shapes_are_not_confused() -> None:
    from geo_service.maps import geojson
    from geo_service.projection import transformer

    layer = _wiggly()
    first = light_geojson(layer)
    again = light_geojson(layer.assign(code="B"))  # the same shapes, other properties
    assert again["features"][0]["geometry"] == first["features"][0]["geometry"]
    assert again["features"][0]["properties"]["code"] == "B"
    # independently: pyproj's own transform of the simplified ring, rounded to 6 places
    simple = shapely.simplify(layer.geometry.iloc[0], 20.0, preserve_topology=True)
    xs, ys = np.asarray(simple.exterior.coords).T
    lon, lat = transformer("EPSG:27700", "EPSG:4326").transform(xs, ys)
    ring = first["features"][0]["geometry"]["coordinates"][0]
    assert np.allclose(np.asarray(ring), np.c_[lon, lat], atol=5e-7, rtol=0)
    moved = layer.set_geometry(layer.translate(xoff=1000.0))
    shifted = light_geojson(moved)["features"][0]["geometry"]["coordinates"][0]
    assert shifted != ring  # a moved shape is drawn afresh, not answered from the kept one
    # a geometry dict handed out is a copy: changing it does not change the next answer
    first["features"][0]["geometry"]["type"] = "Changed"
    assert light_geojson(layer)["features"][0]["geometry"]["type"] == "Polygon"
    assert len(geojson._LIGHT) <= geojson._LIGHT_KEPT


def test_to_lonlat_is_geopandas_to_crs() -> None:
    from geo_service.projection import to_lonlat

    shapes = gpd.GeoSeries(
        [shapely.Point(530_000, 180_000), _wiggly().geometry.iloc[0], None], crs="EPSG:27700"
    )
    moved = to_lonlat(shapes.to_numpy())
    expected = shapes.to_crs("EPSG:4326").to_numpy()
    assert moved[2] is None
    assert all(shapely.equals_exact(moved[:2], expected[:2], tolerance=1e-12))
