"""Load -> validate -> join -> store, for incident files and for area layers.

:mod:`~geo_service.ingest.incidents` holds the use cases (:func:`ingest_files`,
:func:`remove_files`, :func:`add_layer`, :func:`dissolve_layer`, :func:`add_denominators`);
:mod:`~geo_service.ingest.files` the steps of an incident ingest and
:mod:`~geo_service.ingest.layers` those of a layer.
"""

from geo_service.ingest.incidents import (
    FileSummary,
    IngestSummary,
    add_denominators,
    add_layer,
    dissolve_layer,
    ingest_files,
    name_areas,
    remove_files,
)

__all__ = [
    "FileSummary",
    "IngestSummary",
    "add_denominators",
    "add_layer",
    "dissolve_layer",
    "ingest_files",
    "name_areas",
    "remove_files",
]
