"""Area layers: read and validate (:mod:`~geo_service.boundaries.read`), derive denominators and
coarser layers (:mod:`~geo_service.boundaries.derive`)."""

from geo_service.boundaries.derive import (
    DENOMINATORS,
    dissolve_layer,
    polygonal_part,
    read_denominators,
)
from geo_service.boundaries.read import (
    LAYER_COLUMNS,
    LayerReport,
    find_gaps,
    find_overlaps,
    read_layer,
)

__all__ = [
    "DENOMINATORS",
    "LAYER_COLUMNS",
    "LayerReport",
    "dissolve_layer",
    "find_gaps",
    "find_overlaps",
    "polygonal_part",
    "read_denominators",
    "read_layer",
]
