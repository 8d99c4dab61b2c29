"""Settings: one frozen dataclass built from a TOML file and ``GEO_SERVICE_*`` variables.

Precedence, lowest first: defaults, the TOML file (``--config`` or ``GEO_SERVICE_CONFIG``),
environment variables, command-line flags (applied by the CLI with :func:`dataclasses.replace`).
Settings are passed in explicitly; nothing reads them from a global.
"""

from __future__ import annotations

import os
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from pathlib import Path

from geo_service.categories import CategoryGroup, load_groups
from geo_service.engine import check_scheduler
from geo_service.errors import InputError

ENV_PREFIX = "GEO_SERVICE_"
#: The ways of writing positions among peers (:attr:`Settings.positions`).
POSITIONS: tuple[str, ...] = ("highest-last", "highest-first")


@dataclass(frozen=True)
class Settings:
    """Everything configurable about one geo_service installation."""

    #: Directory of the embedded store (for a store given as an fsspec URL: its local working
    #: copy, see :func:`store_folder`).
    store: Path = Path("data/store")
    #: TOML file of category groups; None uses the packaged defaults.
    categories: Path | None = None
    #: TOML file of the risk matrix the report rates groups with; None uses the packaged one.
    risk: Path | None = None
    #: Map tiles: "none" (the default: a plain background, so no third party learns which
    #: streets are looked at), "openstreetmap", or a URL template; only an explicit choice
    #: fetches tiles. "auto", the former default, means "none".
    tiles: str = "none"
    #: Attribution shown for a custom tile URL template.
    tile_attribution: str = ""
    #: Address and port the web service binds to.
    host: str = "127.0.0.1"
    port: int = 5000
    #: Host names the web service answers (the request's Host header, port ignored); any other
    #: gets 400 before any work. A leading dot allows a domain and every name below it.
    allowed_hosts: tuple[str, ...] = ("127.0.0.1", "localhost", "[::1]")
    #: Worker threads of the web service.
    threads: int = 8
    #: Most memory the web service's cache of results and pages may hold, megabytes.
    cache_mb: int = 512
    #: Most area pages of the default layer computed ahead at start and after each ingest.
    warm_areas: int = 300
    #: How the report writes positions among peers: "highest-last" (the Home Office / iQuanta
    #: convention the published assessments use: the highest of 10 is "10th of 10") or
    #: "highest-first" (the highest is "1st of 10").
    positions: str = "highest-last"
    #: Where ingest loads and joins its batches (:mod:`geo_service.engine`): None in this
    #: process; "local" a Dask cluster on this machine; "tcp://host:port" an existing Dask
    #: scheduler. Needs ``pip install 'geo_service[dask]'``.
    scheduler: str | None = None

    def groups(self) -> tuple[CategoryGroup, ...]:
        """The category groups of :attr:`categories` (the packaged ones when it is None).

        Raises
        ------
        InputError
            When the file cannot be read or a group is malformed.
        """
        return load_groups(self.categories)


def load_settings(
    config_file: Path | None = None, *, environ: Mapping[str, str] | None = None
) -> Settings:
    """Build settings from an optional TOML file and ``GEO_SERVICE_*`` environment variables."""
    env = os.environ if environ is None else environ
    named = env.get(ENV_PREFIX + "CONFIG")
    path = config_file or (Path(named) if named else None)
    from_file = _read_toml(path) if path is not None else {}
    from_env = {
        field.name: env[ENV_PREFIX + field.name.upper()]
        for field in fields(Settings)
        if ENV_PREFIX + field.name.upper() in env
    }
    # Each value is checked under the name of where it came from: an error about a
    # GEO_SERVICE_* variable must not send the user to the settings file, nor the reverse.
    settings = _coerce(from_file, where=str(path)) if path is not None else Settings()
    return _coerce(from_env, where="environment", base=settings)


def store_folder(value: str, *, where: str) -> Path:
    """The local folder of a store given as a path or a ``file://`` URL, or the local working
    copy of a store at another fsspec URL (``memory://``, ``s3://bucket/store``), which the
    store brings up to date and publishes back (:mod:`geo_service.store.remote_write`).

    Taken from the text, before :class:`~pathlib.Path` would fold ``file:///srv/store`` into
    the relative folder ``file:/srv/store`` (and an empty store there would be read, or
    written, instead of the one named).

    Raises
    ------
    InputError
        No fsspec file system is known for the URL's scheme (its package is not installed).
    """
    scheme, found, rest = value.partition("://")
    if not found or not scheme.replace("+", "").replace(".", "").replace("-", "").isalnum():
        return Path(value)
    if scheme.lower() == "file":
        return Path(rest)
    from geo_service.store.remote_write import working_copy  # fsspec: only for a URL

    try:
        return working_copy(value)
    except InputError as exc:
        raise InputError(f"{where}: {exc.message}") from exc


def _read_toml(path: Path) -> dict[str, object]:
    try:
        document = tomllib.loads(Path(path).read_text("utf-8"))
    except OSError as exc:
        raise InputError(f"{path}: cannot read settings file ({exc.strerror})") from exc
    except tomllib.TOMLDecodeError as exc:
        raise InputError(f"{path}: not valid TOML ({exc})") from exc
    return dict(document.get("geo_service", document))


#: Whole-number settings and their allowed ranges (inclusive).
_WHOLE: dict[str, tuple[int, int]] = {
    "port": (1, 65535),
    "threads": (1, 256),
    "cache_mb": (16, 1_048_576),
    "warm_areas": (0, 100_000),
}


def _whole(name: str, value: object, *, where: str) -> int:
    low, high = _WHOLE[name]
    try:
        number = int(str(value))
    except ValueError:
        number = low - 1
    if not low <= number <= high:
        raise InputError(
            f"{where}: {name} must be a whole number from {low} to {high}, got {value!r}"
        )
    return number


def _hosts(value: object, *, where: str) -> tuple[str, ...]:
    """Host names from a TOML list or a comma-separated string."""
    items = value if isinstance(value, list | tuple) else str(value).split(",")
    names = tuple(str(item).strip().lower() for item in items if str(item).strip())
    if not names or any(not isinstance(item, str) for item in items):
        raise InputError(
            f"{where}: allowed_hosts must be host names such as 127.0.0.1, localhost, [::1], "
            f"got {value!r}"
        )
    return names


def _coerce(values: Mapping[str, object], *, where: str, base: Settings | None = None) -> Settings:
    known = {f.name for f in fields(Settings)}
    unknown = sorted(set(values) - known)
    if unknown:
        raise InputError(f"{where}: unknown setting(s) {unknown}; allowed: {sorted(known)}")
    settings = Settings() if base is None else base
    converted: dict[str, object] = {}
    for name, value in values.items():
        if name == "store":
            converted[name] = store_folder(str(value), where=where) if value != "" else None
        elif name in ("categories", "risk"):
            converted[name] = Path(str(value)) if value not in (None, "") else None
        elif name in _WHOLE:
            converted[name] = _whole(name, value, where=where)
        elif name == "scheduler":
            converted[name] = check_scheduler(str(value), where=where)
        elif name == "allowed_hosts":
            converted[name] = _hosts(value, where=where)
        elif name == "positions":
            if value not in POSITIONS:
                raise InputError(
                    f"{where}: positions must be one of {', '.join(POSITIONS)}, got {value!r}"
                )
            converted[name] = str(value)
        else:
            converted[name] = str(value)
    if converted.get("store") is None:
        converted.pop("store", None)
    return replace(settings, **converted)  # type: ignore[arg-type]
