"""The strategic-assessment document: :mod:`~geo_service.report.document` gathers its tables and
figures, :mod:`~geo_service.report.text` words its sentences, ``templates/`` lays it out."""

from geo_service.report.document import DEFAULT_PRIORITIES, Peers, build_report

__all__ = ["DEFAULT_PRIORITIES", "Peers", "build_report"]
