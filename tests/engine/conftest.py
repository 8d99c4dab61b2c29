"""Fixtures of the engine tests: the store tests' two square wards."""

from tests.store.conftest import ward_file

__all__ = ["ward_file"]
