"""Reading the project's TOML configuration files (category groups, risk matrix)."""

from __future__ import annotations

import tomllib
from importlib import resources
from pathlib import Path
from typing import Any

from geo_service.errors import InputError


def read_toml(path: Path | None, *, packaged: str, what: str) -> tuple[dict[str, Any], str]:
    """The document at ``path``, or the packaged ``geo_service/<packaged>`` when ``path`` is None.

    Returns the document and where it came from, for error messages. An unreadable file or invalid
    TOML raises :class:`InputError` naming the file and ``what`` it should hold.
    """
    if path is None:
        text = resources.files("geo_service").joinpath(packaged).read_text("utf-8")
        where = f"geo_service/{packaged}"
    else:
        try:
            text = Path(path).read_text("utf-8")
        except OSError as exc:
            raise InputError(f"{path}: cannot read {what} ({exc.strerror})") from exc
        where = str(path)
    try:
        return tomllib.loads(text), where
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{where}: not valid TOML ({exc})") from exc
