"""geo_service: hotspot maps and beat-level change tables for Community Safety Partnerships."""

__version__ = "0.1.0"
