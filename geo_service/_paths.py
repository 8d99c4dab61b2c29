"""Where the project's top-level folders (templates/, static/, boundaries/) are found.

In a checkout (and an editable install) they sit beside the package; a built wheel carries copies
inside the package under ``_site/`` (see ``[tool.hatch.build.targets.wheel.force-include]``).
"""

from __future__ import annotations

from pathlib import Path

_PACKAGE = Path(__file__).resolve().parent


def project_folder(name: str) -> Path:
    """The top-level folder ``name`` of a checkout, else its copy packaged in the wheel."""
    beside = _PACKAGE.parent / name
    return beside if beside.is_dir() else _PACKAGE / "_site" / name
