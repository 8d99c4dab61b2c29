"""DfT STATS19 code lists and decoding of coded fields given as codes or as labels.

STATS19 files come with DfT codes (``3``) or with the DfT labels decoded (``A``), as in the
Kaggle ``Accident_Information.csv`` or the R ``stats19`` package's formatted tables. Each coded
field is decoded the same way: a value equal to a DfT code, or to a DfT label ignoring case and
surrounding spaces, is taken as that label; a DfT "no value" entry (code -1, "Data missing or out
of range", "unknown (self reported)", ...) is missing without a word; anything else is missing
and named in one warning per file and field. Codes written as decimals (``3.0``, as spreadsheets
and pandas write integer columns with gaps) are read as the integer code.

Private to :mod:`geo_service.sources.stats19`.
"""

from __future__ import annotations

import logging
from collections.abc import Mapping
from dataclasses import dataclass
from functools import lru_cache
from importlib import resources
from pathlib import Path

import numpy as np
import pandas as pd
import pyarrow as pa
import pyarrow.compute as pc

# Log as the STATS19 loader, whose messages these are.
logger = logging.getLogger("geo_service.sources.stats19")

_EXAMPLES = 10
#: The DfT speed_limit entries that mean "not known" (codes and case-folded labels).
_NO_SPEED_LIMIT = ("-1", "99", "data missing or out of range", "unknown (self reported)")


def code_lists() -> dict[str, dict[str, str]]:
    """The shipped DfT code lists: variable -> code -> label."""
    return {name: dict(codes) for name, codes in _code_lists().items()}


@lru_cache(maxsize=1)
def _code_lists() -> dict[str, tuple[tuple[str, str], ...]]:
    source = resources.files("geo_service").joinpath("data/stats19_codes.csv")
    with source.open("r", encoding="utf-8") as handle:
        table = pd.read_csv(handle, dtype=str, keep_default_na=False)
    table["label"] = table["label"].str.strip()
    return {
        str(variable): tuple(zip(group["code"], group["label"], strict=True))
        for variable, group in table.groupby("variable", sort=False)
    }


def is_no_value(code: str, label: str) -> bool:
    """Whether a DfT code list entry means "not known" rather than a value."""
    text = label.casefold()
    return code == "-1" or text.startswith(("unknown", "data missing")) or text == "unallocated"


@dataclass(frozen=True)
class CodedField:
    """How one coded field decodes: the DfT variables whose lists apply, which labels are kept.

    ``keep`` limits the labels stored (e.g. only "Urban" and "Rural" of urban_or_rural_area);
    other DfT entries of the list are missing without a warning, like the "no value" entries.
    """

    variables: tuple[str, ...]
    keep: tuple[str, ...] | None = None

    def table(self) -> dict[str, str | None]:
        """Accepted text (codes and case-folded labels) -> stored label (None: no value)."""
        lists = _code_lists()
        out: dict[str, str | None] = {}
        for variable in self.variables:
            for code, label in lists[variable]:
                stored = None if is_no_value(code, label) else label
                if self.keep is not None and label not in self.keep:
                    stored = None
                out.setdefault(code, stored)
                out.setdefault(label.casefold(), stored)
        return out


def decode(
    values: pa.Array, spec: CodedField, *, path: Path, column: str
) -> tuple[pa.Array, np.ndarray]:
    """DfT labels for ``values`` (codes or labels), and the mask of values given as labels.

    Unknown values become missing and are named in one warning for ``column`` of ``path``.
    """
    table = spec.table()
    text = normalised(values)
    keys = pa.array(list(table), type=pa.string())
    position = pc.index_in(text, value_set=keys)
    labels = pc.take(pa.array(list(table.values()), type=pa.string()), position)
    given = ~np.asarray(text.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    known = ~np.asarray(position.is_null().to_numpy(zero_copy_only=False), dtype=bool)
    warn_unknown(path, column, values, given & ~known)
    as_label = known & ~np.asarray(
        pc.fill_null(pc.match_substring_regex(text, r"^-?\d+$"), True), dtype=bool
    )
    return labels, as_label


def normalised(values: pa.Array) -> pa.Array:
    """Trimmed, case-folded text; ``3.0`` -> ``3``; empty text -> null."""
    text = pc.utf8_lower(pc.utf8_trim_whitespace(values.cast(pa.string())))
    text = pc.replace_substring_regex(text, r"^(-?\d+)\.0+$", r"\1")
    return pc.if_else(pc.equal(text, ""), pa.scalar(None, pa.string()), text)


def warn_unknown(
    path: Path,
    column: str,
    values: pa.Array,
    unknown: np.ndarray,
    *,
    expected: str = "a DfT code or label of the field",
) -> None:
    """One warning naming the distinct values of ``values`` where ``unknown`` is true."""
    if not unknown.any():
        return
    picked = values.filter(pa.array(unknown)).to_pylist()
    distinct = sorted({str(v).strip() for v in picked})
    more = f" and {len(distinct) - _EXAMPLES} more" if len(distinct) > _EXAMPLES else ""
    logger.warning(
        "%s: %s: %d row(s) with a value that is not %s, left missing: %s%s",
        path,
        column,
        int(unknown.sum()),
        expected,
        ", ".join(distinct[:_EXAMPLES]),
        more,
    )


def labelled_fields(path: Path, fields: Mapping[str, np.ndarray]) -> None:
    """Log (info) which fields of ``path`` carried DfT labels instead of codes."""
    named = [column for column, as_label in fields.items() if as_label.any()]
    if named:
        logger.info("%s: DfT labels instead of codes in %s (decoded)", path, ", ".join(named))


def highway_codes(values: pa.Array | None) -> pa.Array | None:
    """Highway authority codes: a DfT highway authority name becomes its ONS code.

    Codes (``E10000015``) are kept as given, since the DfT list lags boundary changes; a name
    the list holds once ("Hertfordshire") becomes its code; other text is kept as given. The DfT
    "-1" is missing.
    """
    if values is None:
        return None
    pairs = _code_lists()["local_authority_highway"]
    names = pd.Series([label.casefold() for _, label in pairs])
    unique = ~names.duplicated(keep=False)
    table = {n: code for (code, _), n, u in zip(pairs, names, unique, strict=True) if u}
    text = pc.utf8_trim_whitespace(values.cast(pa.string()))
    keys = pa.array(list(table), type=pa.string())
    position = pc.index_in(pc.utf8_lower(text), value_set=keys)
    coded = pc.take(pa.array(list(table.values()), type=pa.string()), position)
    kept = pc.coalesce(coded, text)
    missing = pc.fill_null(pc.is_in(text, value_set=pa.array(["-1", ""])), False)
    return pc.if_else(missing, pa.scalar(None, pa.string()), kept)


def speed_limits(values: pa.Array | None, *, n: int, path: Path, column: str) -> pd.array:
    """Speed limits in mph (Int64): ``30``, ``30.0``, ``30 mph``; DfT -1/99 and labels missing.

    Other values (text, or numbers outside 5..70 mph) are missing and named in one warning.
    """
    if values is None:
        return pd.arrays.IntegerArray(np.zeros(n, np.int64), np.ones(n, dtype=bool))
    text = pd.Series(normalised(values).to_pandas(), dtype="str")
    digits = text.str.replace(r"\s*mph$", "", regex=True)
    numbers = pd.to_numeric(digits, errors="coerce")
    valid = numbers.between(5, 70) & (numbers % 1 == 0)
    unknown = text.notna() & ~valid & ~text.isin(_NO_SPEED_LIMIT)
    expected = "a speed limit in mph (5 to 70) or a DfT code or label"
    warn_unknown(path, column, values, unknown.to_numpy(dtype=bool), expected=expected)
    return pd.array(numbers.where(valid).astype("Float64"), dtype="Int64")


def probabilities(values: pa.Array | None, *, n: int, path: Path, column: str) -> np.ndarray:
    """Numbers in 0..1 as float64 (NaN when empty, -1, or out of range, the last warned)."""
    if values is None:
        return np.full(n, np.nan)
    text = pd.Series(normalised(values).to_pandas(), dtype="str")
    numbers = pd.to_numeric(text, errors="coerce")
    valid = numbers.between(0.0, 1.0)
    unknown = text.notna() & ~valid & text.ne("-1")
    expected = "a probability from 0 to 1"
    warn_unknown(path, column, values, unknown.to_numpy(dtype=bool), expected=expected)
    return numbers.where(valid).to_numpy(dtype=float, na_value=np.nan)
