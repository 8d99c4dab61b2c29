"""The TOML mapping that describes a CSV export for the mapped loader: parse and validate.

Every problem in a mapping (unknown keys, wrong types, missing required keys, severities that
are not Fatal/Serious/Slight) is collected and reported in one :class:`InputError`. See
``docs/sources.md`` for the format.
"""

from __future__ import annotations

import re
import tomllib
from collections.abc import Mapping
from dataclasses import dataclass
from pathlib import Path

from geo_service.errors import InputError
from geo_service.schema import SEVERITIES

TOP_KEYS = {
    "name",
    "description",
    "columns",
    "category",
    "subcategory",
    "severity",
    "outside_great_britain",
    "missing",
}
TEXT_FIELDS = ("location", "area_hint", "lsoa", "outcome", "junction", "urban_rural")
NUMBER_FIELDS = ("casualties", "speed_limit")
ROAD_FIELDS = ("road_1", "road_2")
COLUMN_KEYS = {
    "id",
    "date",
    "date_format",
    "time",
    "time_format",
    "month",
    "x",
    "y",
    "lon",
    "lat",
    "crs",
    "precision",
    *TEXT_FIELDS,
    *NUMBER_FIELDS,
    *ROAD_FIELDS,
}
#: Coordinate keys that take one column or an ordered list (exact first, fall-backs after).
COORDINATE_KEYS = ("x", "y", "lon", "lat")
CLASS_KEYS = {"value", "column", "values", "default", "rules"}
_NAME = re.compile(r"^[a-z0-9][a-z0-9_-]*$")


@dataclass(frozen=True)
class Rule:
    """``value`` when ``column`` is one of ``values`` (first matching rule wins)."""

    column: str
    values: tuple[str, ...]
    value: str


@dataclass(frozen=True)
class Classifier:
    """How a category, subcategory or severity is derived for each row."""

    fixed: str | None = None
    column: str | None = None
    table: Mapping[str, str] | None = None
    default: str | None = None
    rules: tuple[Rule, ...] = ()

    def columns(self) -> list[str]:
        """File columns this classifier reads."""
        named = [self.column] if self.column else []
        return named + [rule.column for rule in self.rules]


@dataclass(frozen=True)
class ColumnMapping:
    """A validated mapping."""

    path: Path
    name: str
    description: str
    columns: Mapping[str, str | tuple[str, ...]]
    category: Classifier
    subcategory: Classifier | None
    severity: Classifier | None
    keep_outside_gb: bool
    #: Field texts that mean "no value" in every column, besides the empty field.
    missing: tuple[str, ...] = ()

    @property
    def source(self) -> str:
        """The ``source`` value of incidents loaded with this mapping."""
        return f"mapped:{self.name}"

    def coordinate_pairs(self) -> tuple[tuple[str, str], ...]:
        """The (x, y) or (lon, lat) column pairs, in the order they are tried."""
        first, second = ("lon", "lat") if "lon" in self.columns else ("x", "y")
        if first not in self.columns:
            return ()
        xs, ys = (_as_tuple(self.columns[key]) for key in (first, second))
        return tuple(zip(xs, ys, strict=True))

    def precision_labels(self) -> tuple[str, ...] | None:
        """``location_precision`` of rows located by each pair (None: not recorded)."""
        pairs = self.coordinate_pairs()
        given = self.columns.get("precision")
        if given is not None:
            return _as_tuple(given)
        if len(pairs) < 2:
            return None
        return ("exact", *(f"fall-back ({x}, {y})" for x, y in pairs[1:]))

    def file_columns(self) -> list[str]:
        """Every file column the mapping reads, in a stable order."""
        names: list[str] = []
        for key, value in self.columns.items():
            if key in ("date_format", "time_format", "crs", "precision"):
                continue
            names.extend([value] if isinstance(value, str) else value)
        for classifier in (self.category, self.subcategory, self.severity):
            if classifier is not None:
                names.extend(classifier.columns())
        return list(dict.fromkeys(names))


def _as_tuple(value: str | tuple[str, ...]) -> tuple[str, ...]:
    return (value,) if isinstance(value, str) else value


def shipped_mappings() -> dict[str, Path]:
    """The mappings shipped in ``geo_service/data/mappings``, by name (file stem)."""
    folder = Path(__file__).resolve().parents[1] / "data" / "mappings"
    return {p.stem: p for p in sorted(folder.glob("*.toml"))}


def mapping_path(name_or_path: str | Path) -> Path:
    """``name_or_path`` when it is a file, else the shipped mapping of that name.

    Raises
    ------
    InputError
        When it is neither (listing the shipped names).
    """
    path = Path(name_or_path)
    if path.is_file():
        return path
    shipped = shipped_mappings()
    name = path.name.removesuffix(".toml")
    if path.parent == Path(".") and name in shipped:
        return shipped[name]
    raise InputError(
        f"--mapping {str(name_or_path)!r}: no such file, nor a shipped mapping; shipped: "
        f"{', '.join(shipped)}"
    )


def read_mapping(path: str | Path) -> ColumnMapping:
    """Read and validate the mapping TOML at ``path`` (or the shipped mapping of that name,
    :func:`mapping_path`); all problems are raised together."""
    path = mapping_path(path)
    try:
        document = tomllib.loads(path.read_text("utf-8"))
    except OSError as exc:
        raise InputError(f"{path}: cannot read mapping file ({exc.strerror})") from exc
    except (tomllib.TOMLDecodeError, UnicodeDecodeError) as exc:
        raise InputError(f"{path}: mapping is not valid TOML ({exc})") from exc
    problems: list[str] = []
    _unknown(problems, "top level", document, TOP_KEYS)
    name = document.get("name")
    if not isinstance(name, str) or not _NAME.match(name):
        problems.append("'name' is required: lower-case letters, digits, '-' or '_'")
    columns = _columns(problems, document.get("columns"))
    category = _classifier(problems, "category", document.get("category"), required=True)
    subcategory = _classifier(problems, "subcategory", document.get("subcategory"))
    severity = _classifier(problems, "severity", document.get("severity"))
    if severity is not None:
        _check_severities(problems, severity)
    outside = document.get("outside_great_britain", "reject")
    if outside not in ("reject", "keep"):
        problems.append('\'outside_great_britain\' must be "reject" or "keep"')
    missing = _missing(problems, document.get("missing", []))
    if problems or category is None:
        raise InputError(f"{path}: invalid mapping:\n  - " + "\n  - ".join(problems))
    return ColumnMapping(
        path=path,
        name=str(name),
        description=str(document.get("description", "")),
        columns=columns,
        category=category,
        subcategory=subcategory,
        severity=severity,
        keep_outside_gb=outside == "keep",
        missing=missing,
    )


def _missing(problems: list[str], values: object) -> tuple[str, ...]:
    """The ``missing = [...]`` list: non-empty texts (the empty field is always missing)."""
    if not isinstance(values, list) or not all(isinstance(v, str) and v for v in values):
        problems.append("'missing' must be a list of non-empty texts read as no value")
        return ()
    return tuple(values)


def _unknown(
    problems: list[str], where: str, table: Mapping[str, object], allowed: set[str]
) -> None:
    unknown = sorted(set(table) - allowed)
    if unknown:
        problems.append(f"{where}: unknown key(s) {unknown}; allowed: {sorted(allowed)}")


def _columns(problems: list[str], table: object) -> dict[str, str | tuple[str, ...]]:
    if not isinstance(table, dict):
        problems.append("[columns] table is required")
        return {}
    _unknown(problems, "[columns]", table, COLUMN_KEYS)
    columns: dict[str, str | tuple[str, ...]] = {}
    for key, value in table.items():
        pair_ok = key in ("time", *ROAD_FIELDS) and _is_pair(value)
        list_ok = key in (*COORDINATE_KEYS, "precision") and _is_text_list(value)
        if isinstance(value, str) and value:
            columns[key] = value
        elif pair_ok or list_ok:
            columns[key] = tuple(value)
        else:
            kind = "a column name or [first, second]" if key in ("time", *ROAD_FIELDS) else "text"
            if key in COORDINATE_KEYS:
                kind = "a column name or a list of them (exact first, fall-backs after)"
            problems.append(f"[columns] {key}: expected {kind}, got {value!r}")
    _check_column_set(problems, columns)
    _check_coordinate_lists(problems, columns)
    crs = columns.get("crs")
    if isinstance(crs, str):
        import pyproj

        try:
            pyproj.CRS.from_user_input(crs)
        except pyproj.exceptions.CRSError:
            problems.append(f"[columns] crs: {crs!r} is not a coordinate reference system")
    return columns


def _is_text_list(value: object) -> bool:
    return isinstance(value, list) and bool(value) and all(isinstance(v, str) and v for v in value)


def _check_coordinate_lists(problems: list[str], columns: Mapping[str, object]) -> None:
    """Fall-back lists pair up one to one, and precision labels name every pair."""
    for first, second in (("x", "y"), ("lon", "lat")):
        a, b = columns.get(first), columns.get(second)
        if a is None or b is None:
            continue
        sizes = [1 if isinstance(v, str) else len(v) for v in (a, b) if isinstance(v, str | tuple)]
        if len(set(sizes)) > 1:
            problems.append(
                f"[columns] {first} and {second} must list as many columns each "
                f"(pairs are tried in order), got {sizes[0]} and {sizes[1]}"
            )
        labels = columns.get("precision")
        if labels is not None and sizes:
            count = (
                1 if isinstance(labels, str) else len(labels) if isinstance(labels, tuple) else 0
            )
            if count != sizes[0]:
                problems.append(
                    f"[columns] precision must give one label per coordinate pair ({sizes[0]}), "
                    f"got {count}"
                )
    if "precision" in columns and not any(k in columns for k in COORDINATE_KEYS):
        problems.append("[columns] precision needs x/y or lon/lat")


def _is_pair(value: object) -> bool:
    return isinstance(value, list) and len(value) == 2 and all(isinstance(v, str) for v in value)


def _check_column_set(problems: list[str], columns: Mapping[str, object]) -> None:
    if "id" not in columns:
        problems.append("[columns] id is required (a column unique within the source)")
    if "date" not in columns and "month" not in columns:
        problems.append("[columns] date or month is required")
    has_xy = "x" in columns or "y" in columns
    has_lonlat = "lon" in columns or "lat" in columns
    if has_xy and has_lonlat:
        problems.append("[columns] give x/y or lon/lat, not both")
    for first, second in (("x", "y"), ("lon", "lat")):
        if (first in columns) != (second in columns):
            problems.append(f"[columns] {first} and {second} go together")
    if "time" in columns and "date" not in columns:
        problems.append("[columns] time needs date")


def _classifier(
    problems: list[str], where: str, table: object, *, required: bool = False
) -> Classifier | None:
    if table is None:
        if required:
            problems.append(f"[{where}] is required")
        return None
    if not isinstance(table, dict):
        problems.append(f"[{where}] must be a table")
        return None
    _unknown(problems, f"[{where}]", table, CLASS_KEYS)
    fixed, column, default = table.get("value"), table.get("column"), table.get("default")
    values = table.get("values")
    if (fixed is None) == (column is None):
        problems.append(f"[{where}] needs exactly one of 'value' (fixed) or 'column'")
    for key, item in (("value", fixed), ("column", column), ("default", default)):
        if item is not None and not (isinstance(item, str) and item):
            problems.append(f"[{where}] {key}: expected text, got {item!r}")
    if values is not None and not (
        isinstance(values, dict) and all(isinstance(v, str) for v in values.values())
    ):
        problems.append(f'[{where}] values: expected a table of "raw" = "label"')
        values = None
    rules = _rules(problems, where, table.get("rules", []))
    return Classifier(
        fixed=fixed if isinstance(fixed, str) else None,
        column=column if isinstance(column, str) else None,
        table=dict(values) if values is not None else None,
        default=default if isinstance(default, str) else None,
        rules=rules,
    )


def _rules(problems: list[str], where: str, entries: object) -> tuple[Rule, ...]:
    if not isinstance(entries, list):
        problems.append(f"[{where}] rules: expected a list of [[{where}.rules]] tables")
        return ()
    rules = []
    for i, entry in enumerate(entries):
        here = f"[[{where}.rules]] #{i + 1}"
        when = entry.get("when") if isinstance(entry, dict) else None
        value = entry.get("value") if isinstance(entry, dict) else None
        if isinstance(entry, dict):
            _unknown(problems, here, entry, {"when", "value"})
        if isinstance(when, dict):
            _unknown(problems, f"{here} when", when, {"column", "in"})
        listed = when.get("in") if isinstance(when, dict) else None
        column = when.get("column") if isinstance(when, dict) else None
        if (
            not isinstance(column, str)
            or not isinstance(listed, list)
            or not all(isinstance(v, str) for v in listed)
            or not isinstance(value, str)
        ):
            problems.append(f'{here}: expected when = {{ column = "...", in = ["..."] }}, value')
            continue
        rules.append(Rule(column=column, values=tuple(listed), value=value))
    return tuple(rules)


def _check_severities(problems: list[str], severity: Classifier) -> None:
    produced = [severity.fixed, severity.default, *(r.value for r in severity.rules)]
    produced += list((severity.table or {}).values())
    wrong = sorted({p for p in produced if p is not None and p not in SEVERITIES})
    if wrong:
        problems.append(f"[severity] results {wrong} are not among {list(SEVERITIES)}")
