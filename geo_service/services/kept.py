"""Backtests and patrol zones kept beside a store version, so a fresh process does not re-run them.

A patrol map states how well its forecast did (the default map's hit rate against the naive
baselines), and the area and category pages draw patrol zones; both rest on the forecasts'
rolling-origin backtest (:func:`geo_service.services.evaluation.forecast_backtest`), about two
CPU seconds a category on a district store. A published version never changes, so the backtest
of a (version, category group, options) is computed once and kept in the version's folder as
``backtest-<key>.parquet``, beside its ``summary.parquet``, by the store's own reader-writer
for derived tables (:func:`geo_service.store.status.kept_table`). The same holds for a hotspot
map's backtested accuracy (``accuracy-<key>.parquet``) and for a category's patrol zones
(``patrol-<key>.parquet``, whose inputs include the stored reference layers that name the
zones' streets), through :func:`kept_value`.

A kept file is never trusted blindly: it holds the digest of the manifest it was computed for,
every input it was computed from (the group's definition, the options, :data:`FORMAT`) and a
digest of its own rows, and is used only while they all agree; otherwise (copied from another
version, edited, of an older format, unreadable) it is computed again and replaced. A store
that cannot be written is only read, and a store held in memory (tests) is always computed
afresh. Deleting the files loses nothing.
"""

from __future__ import annotations

import hashlib
import json
from collections.abc import Callable, Sequence
from dataclasses import asdict
from pathlib import Path
from typing import Any, TypeVar

import pandas as pd

from geo_service.analysis.evaluation import Accuracy
from geo_service.analysis.forecast import DefaultChoice
from geo_service.categories import CategoryGroup
from geo_service.services.context import StoreLike, group_named
from geo_service.services.evaluation import ForecastBacktest, forecast_backtest
from geo_service.services.options import EvaluateOptions
from geo_service.store.layout import version_path

#: Raised when what a kept file holds, or how it is computed, changes: older files are redone.
FORMAT = 6
#: Name of a kept backtest file in a version's folder (``{key}``: digest of its inputs).
BACKTEST_FILE = "backtest-{key}.parquet"
#: Columns of a kept backtest: the forecast summary's, then ``meta`` (the same JSON each row).
SUMMARY_COLUMNS = (
    "method", "coverage", "origins", "hit_rate", "pai", "area_share", "oracle_hit_rate",
    "pooled_hit_rate",
)  # fmt: skip
_META = "meta"


def kept_forecast_backtest(
    store: StoreLike, groups: Sequence[CategoryGroup], opts: EvaluateOptions
) -> ForecastBacktest:
    """:func:`~geo_service.services.evaluation.forecast_backtest`, read from the version's
    kept file while it agrees with the manifest and the inputs, else computed and kept.

    Parameters
    ----------
    store
        The store read (a :class:`geo_service.store.Store` keeps the result; any other store
        is computed afresh).
    groups
        The settings' category groups.
    opts
        Category and backtest options.

    Returns
    -------
    ForecastBacktest
        Equal to a fresh computation.

    Raises
    ------
    InputError, DataError, NotFoundError, StoreDamagedError
        As :func:`~geo_service.services.evaluation.forecast_backtest` and the store's reads.
    """
    folder = _version_dir(store)
    if folder is None:
        return forecast_backtest(store, groups, opts)
    from geo_service.store.status import kept_table

    inputs = _inputs(store, groups, opts)
    key = hashlib.sha256(json.dumps(inputs, sort_keys=True).encode()).hexdigest()[:24]
    frame = kept_table(
        folder / BACKTEST_FILE.format(key=key),
        lambda kept: _agrees(kept, inputs),
        lambda: _to_frame(forecast_backtest(store, groups, opts), inputs),
    )
    return _from_frame(frame)


def _version_dir(store: StoreLike) -> Path | None:
    """The published (or pinned) version's folder of an on-disk store, else None."""
    root, manifest = getattr(store, "root", None), getattr(store, "manifest", None)
    version = store.version()
    if root is None or manifest is None or version is None:
        return None
    return version_path(Path(root), version)


def _inputs(
    store: StoreLike, groups: Sequence[CategoryGroup], opts: EvaluateOptions
) -> dict[str, Any]:
    """Everything the backtest depends on: the manifest (so the data and layers), the group's
    definition, the options and :data:`FORMAT`."""
    manifest = store.manifest().to_json()  # type: ignore[attr-defined]
    return {
        "format": FORMAT,
        "manifest": hashlib.sha256(manifest.encode()).hexdigest(),
        "group": repr(group_named(store, groups, opts.category)),
        "options": repr(opts),
    }


def _to_frame(result: ForecastBacktest, inputs: dict[str, Any]) -> pd.DataFrame:
    frame = result.forecast_summary[list(SUMMARY_COLUMNS)].reset_index(drop=True)
    meta = {
        "inputs": inputs,
        "rows": _rows_digest(frame),
        "category": result.category,
        "cell_m": result.cell_m,
        "first_origin": result.first_origin,
        "last_origin": result.last_origin,
        "horizon_months": result.horizon_months,
        "default": asdict(result.default),
    }
    return frame.assign(**{_META: json.dumps(meta, sort_keys=True)})


def _rows_digest(frame: pd.DataFrame) -> str:
    """SHA-256 of a summary's values (pandas' fixed-key row hashes), so an edited row shows."""
    hashed = pd.util.hash_pandas_object(frame[list(SUMMARY_COLUMNS)], index=False)
    return hashlib.sha256(hashed.to_numpy().tobytes()).hexdigest()


def _agrees(frame: pd.DataFrame, inputs: dict[str, Any]) -> bool:
    """Whether a kept frame has the expected columns and was computed from ``inputs``."""
    if list(frame.columns) != [*SUMMARY_COLUMNS, _META] or frame.empty:
        return False
    metas = frame[_META].unique()
    try:
        meta = json.loads(str(metas[0])) if len(metas) == 1 else {}
    except ValueError:
        return False
    return meta.get("inputs") == inputs and meta.get("rows") == _rows_digest(frame)


def _from_frame(frame: pd.DataFrame) -> ForecastBacktest:
    meta = json.loads(str(frame[_META].iloc[0]))
    summary = frame[list(SUMMARY_COLUMNS)].reset_index(drop=True)
    return ForecastBacktest(
        category=str(meta["category"]),
        cell_m=float(meta["cell_m"]),
        first_origin=str(meta["first_origin"]),
        last_origin=str(meta["last_origin"]),
        horizon_months=int(meta["horizon_months"]),
        default=DefaultChoice(**meta["default"]),
        forecast_summary=summary,
    )


#: Name of a kept hotspot-map accuracy file in a version's folder (``{key}``: digest of inputs).
ACCURACY_FILE = "accuracy-{key}.parquet"
#: Name of a kept patrol-zones file in a version's folder (``{key}``: digest of inputs).
PATROL_FILE = "patrol-{key}.parquet"

T = TypeVar("T")


def kept_accuracy(
    store: StoreLike, inputs: dict[str, Any], compute: Callable[[], Accuracy | None]
) -> Accuracy | None:
    """A hotspot map's backtested accuracy (:func:`geo_service.services.hotspots.hotspot_map`),
    read from the version's kept file while it agrees with the manifest and ``inputs``, else
    ``compute``d and kept (``None``, a backtest the data refuses, is kept as such).

    Parameters
    ----------
    store
        The store read (a :class:`geo_service.store.Store` keeps the result; any other store
        is computed afresh).
    inputs
        Everything besides the store's data the accuracy depends on (the group's definition,
        the study period, layer and cell, the map's kind and parameters, the backtest's
        months and coverage), JSON-ready.
    compute
        The backtest.

    Returns
    -------
    Accuracy or None
        Equal to ``compute()``.
    """

    def load(value: Any) -> Accuracy | None:
        return None if value is None else Accuracy(**value)

    return kept_value(
        store, ACCURACY_FILE, inputs, compute,
        dump=lambda found: None if found is None else asdict(found), load=load,
        column="accuracy",
    )  # fmt: skip


def kept_value(
    store: StoreLike,
    file_name: str,
    inputs: dict[str, Any],
    compute: Callable[[], T],
    *,
    dump: Callable[[T], Any],
    load: Callable[[Any], T],
    column: str,
) -> T:
    """A result kept as one JSON value in the version's folder: read while it agrees with the
    manifest and ``inputs``, else ``compute``d and kept.

    Parameters
    ----------
    store
        The store read (a :class:`geo_service.store.Store` keeps the result; any other store
        is computed afresh).
    file_name
        The file's name with ``{key}`` (a digest of the manifest and ``inputs``).
    inputs
        Everything besides the store's data the result depends on, JSON-ready.
    compute
        Computes the result.
    dump, load
        The result to a JSON-ready value and back; ``load(dump(x))`` must equal ``x``.
    column
        The kept table's value column.

    Returns
    -------
    T
        Equal to ``compute()``; a kept value that is edited, of other inputs, or that ``load``
        refuses (ValueError, TypeError, KeyError) is computed again and replaced.
    """
    folder = _version_dir(store)
    if folder is None:
        return compute()
    from geo_service.store.status import kept_table

    manifest = store.manifest().to_json()  # type: ignore[attr-defined]
    full = {
        "format": FORMAT,
        "manifest": hashlib.sha256(manifest.encode()).hexdigest(),
        **inputs,
    }
    key = hashlib.sha256(json.dumps(full, sort_keys=True).encode()).hexdigest()[:24]
    # the value computed, or the one read while checking the kept file: never loaded twice
    ready: list[T] = []

    def computed() -> pd.DataFrame:
        found = compute()
        ready.append(found)
        value = json.dumps(dump(found), sort_keys=True)
        meta = {"inputs": full, "rows": hashlib.sha256(value.encode()).hexdigest()}
        return pd.DataFrame({column: [value], _META: [json.dumps(meta, sort_keys=True)]})

    def agrees(frame: pd.DataFrame) -> bool:
        if list(frame.columns) != [column, _META] or len(frame) != 1:
            return False
        text = str(frame[column].iloc[0])
        try:
            meta = json.loads(str(frame[_META].iloc[0]))
        except ValueError:
            return False
        digest = hashlib.sha256(text.encode()).hexdigest()
        if not isinstance(meta, dict) or (meta.get("inputs"), meta.get("rows")) != (full, digest):
            return False
        try:
            ready.append(load(json.loads(text)))
        except (ValueError, TypeError, KeyError):
            return False
        return True

    kept_table(folder / file_name.format(key=key), agrees, computed)
    return ready[-1]
