"""The services read the same in-memory store the web tests serve (see tests/web/conftest.py)."""

from tests.web.conftest import frame, store  # noqa: F401 - pytest fixtures
