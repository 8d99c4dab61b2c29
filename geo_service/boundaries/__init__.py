"""Area layers: read and validate (:mod:`~geo_service.boundaries.read`, with the layer choice of
:mod:`~geo_service.boundaries.container` and the CRS plausibility check of
:mod:`~geo_service.boundaries.crs_check`; overlaps and gaps in
:mod:`~geo_service.boundaries.topology`), derive denominators, names and coarser layers
(:mod:`~geo_service.boundaries.derive`)."""

from geo_service.boundaries.derive import (
    DENOMINATORS,
    dissolve_layer,
    named_areas,
    polygonal_part,
    read_denominators,
)
from geo_service.boundaries.read import LAYER_COLUMNS, LayerReport, read_layer
from geo_service.boundaries.topology import find_gaps, find_overlaps

__all__ = [
    "DENOMINATORS",
    "LAYER_COLUMNS",
    "LayerReport",
    "dissolve_layer",
    "find_gaps",
    "find_overlaps",
    "named_areas",
    "polygonal_part",
    "read_denominators",
    "read_layer",
]
