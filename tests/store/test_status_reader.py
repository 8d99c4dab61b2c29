"""``status`` read from the manifest and the kept tables with Arrow alone (no pandas).

The reference is the status as it was computed before: pandas group-bys over the store's
summary and area counts, and the source tables printed with ``DataFrame.to_string``. Both the
JSON document and the text must be the same, on the demo store and on the real Hertfordshire
store (``<repo>/../herts-store``, or ``GEO_SERVICE_BENCH_STORE``; skipped when absent).
"""

from __future__ import annotations

import contextlib
import io
import json
import os
import shutil
import subprocess
import sys
from dataclasses import asdict
from pathlib import Path
from typing import Any

import pandas as pd
import pytest

from geo_service.cli import main
from geo_service.store import Store
from geo_service.store import status as store_status
from geo_service.store.layout import version_path

REPO = Path(__file__).resolve().parents[2]
HERTS = Path(os.environ.get("GEO_SERVICE_BENCH_STORE", REPO.parent / "herts-store"))


# ------------------------------------------------------------- the previous computation
def _reference(store: Store) -> dict[str, Any]:
    """The status document computed with pandas, as ``store_status`` did before."""
    manifest = store.manifest()
    summary = store.summary()
    layers = manifest.layer_names()
    counts = store_status._stored_area_counts(store, manifest, layers) if layers else None
    return {
        "store": str(store.root),
        "version": store.version(),
        "created_at": manifest.created_at,
        "updated_at": manifest.published_at,
        "demo": manifest.is_demo(),
        "incidents": int(summary["rows"].sum()),
        "without_location": int(summary["unlocated"].sum()),
        "sources": {str(s): _source(rows) for s, rows in summary.groupby("source", sort=True)},
        "counts": [
            {
                "source": r.source,
                "category": r.category,
                "month": r.month,
                "incidents": int(r.rows),
                "unlocated": int(r.unlocated),
            }
            for r in summary.sort_values(["source", "category", "month"]).itertuples()
        ],
        "layers": {n: _layer(store, n, counts) for n in layers},
        "files": [store_status._plain(asdict(f)) for f in manifest.files],
        "ingests": [store_status._plain(asdict(i)) for i in manifest.ingests],
        "rejects": {
            "live_files": sum(f.rejects for f in manifest.live_files()),
            "files": [i.rejects_file for i in manifest.ingests if i.rejects_file],
        },
    }


def _source(rows: pd.DataFrame) -> dict[str, Any]:
    months = rows.groupby("month", sort=True)["rows"].sum()
    held = [str(m) for m in months.index]
    span = pd.period_range(held[0], held[-1], freq="M").strftime("%Y-%m").tolist()
    detail = rows.groupby("category", sort=True)[["rows", "with_subcategory", "with_time"]].sum()
    total, unlocated = int(rows["rows"].sum()), int(rows["unlocated"].sum())
    return {
        "incidents": total,
        "without_location": unlocated,
        "unlocated_share": unlocated / total if total else None,
        "first_month": held[0],
        "last_month": held[-1],
        "missing_months": [m for m in span if m not in set(held)],
        "months": {str(k): int(v) for k, v in months.items()},
        "categories": {str(k): int(v) for k, v in detail["rows"].items()},
        "detail": {
            str(c): {"subcategories": bool(r.with_subcategory > 0), "times": bool(r.with_time > 0)}
            for c, r in detail.iterrows()
        },
        "by_month_category": [
            {
                "month": r.month,
                "category": r.category,
                "rows": int(r.rows),
                "unlocated": int(r.unlocated),
                "unlocated_share": int(r.unlocated) / int(r.rows),
            }
            for r in rows.itertuples()
        ],
    }


def _layer(store: Store, name: str, counts: pd.DataFrame | None) -> dict[str, Any]:
    assert counts is not None
    layer = store.layer_table(name, ["code", "population", "households"])
    mine = counts[counts["layer"] == name]
    in_area = mine[mine["code"].notna()]
    by_area = in_area.groupby("code")["rows"].sum()
    outside = mine.loc[mine["code"].isna() & mine["located"].astype(bool), "rows"].sum()
    return store_status.layer_record(store.manifest().layers[name]) | {
        "areas": len(layer),
        "with_population": int(layer["population"].notna().sum()),
        "with_households": int(layer["households"].notna().sum()),
        "incidents_in_an_area": int(in_area["rows"].sum()),
        "located_outside_every_area": int(outside),
        "incidents_by_area": {
            str(c): int(n) for c, n in by_area.reindex(sorted(layer["code"]), fill_value=0).items()
        },
    }


def _reference_tables(status: dict[str, Any]) -> list[str]:
    """The source tables as pandas printed them."""
    out = []
    for info in status["sources"].values():
        by_month = pd.DataFrame(info["by_month_category"])
        by_month["unlocated %"] = (100 * by_month.pop("unlocated_share")).round(1)
        out.append(by_month.to_string(index=False, na_rep="-"))
        detail = pd.DataFrame(
            [
                {"category": c, "rows": info["categories"][c],
                 "subcategories": "yes" if d["subcategories"] else "no",
                 "times": "yes" if d["times"] else "no"}
                for c, d in info["detail"].items()
            ]
        )  # fmt: skip
        out.append(detail.to_string(index=False, na_rep="-"))
    return out


def _cli(root: Path, *args: str) -> str:
    with contextlib.redirect_stdout(io.StringIO()) as out:
        assert main(["--store", str(root), "status", *args]) == 0
    return out.getvalue()


def _check_same(root: Path) -> None:
    expected = _reference(Store(root))
    assert store_status.read_status(root) == expected
    assert store_status.store_status(Store(root)) == expected
    assert json.loads(_cli(root, "--json")) == json.loads(json.dumps(expected, default=str))
    text = _cli(root)
    for table in _reference_tables(expected):
        assert table + "\n" in text


# --------------------------------------------------------------------------------- tests
def test_status_read_without_pandas_equals_the_pandas_computation(demo_store: Store) -> None:
    expected = _reference(demo_store)
    assert expected["layers"] and expected["incidents"] > 0  # a store worth comparing
    _check_same(demo_store.root)


def test_status_of_the_hertfordshire_store_equals_the_pandas_computation() -> None:
    if not (HERTS / "CURRENT").is_file():
        pytest.skip(f"no Hertfordshire store at {HERTS} (set GEO_SERVICE_BENCH_STORE)")
    _check_same(HERTS)


def test_status_command_imports_no_pandas_when_the_kept_tables_agree(demo_store: Store) -> None:
    _cli(demo_store.root)  # the kept tables exist
    script = (
        "import sys; from geo_service.cli import main; "
        f"main(['--store', {str(demo_store.root)!r}, '-q', 'status', '--json']); "
        "print([m for m in ('pandas', 'geopandas', 'shapely') if m in sys.modules], "
        "file=sys.stderr)"
    )
    done = subprocess.run(
        [sys.executable, "-c", script], capture_output=True, text=True, check=True,
        env={**os.environ, "PYTHONPATH": str(REPO)},
    )  # fmt: skip
    assert done.stderr.strip().splitlines()[-1] == "[]"


@pytest.mark.parametrize("kept", [store_status.SUMMARY_FILE, store_status.AREA_COUNTS_FILE])
@pytest.mark.parametrize("change", ["missing", "disagrees"])
def test_status_computes_a_kept_table_again_when_missing_or_disagreeing(
    demo_store: Store, tmp_path: Path, kept: str, change: str
) -> None:
    _cli(demo_store.root)
    root = tmp_path / "store"
    shutil.copytree(demo_store.root, root, symlinks=True)
    path = version_path(root, (root / "CURRENT").read_text("utf-8").strip()) / kept
    expected = _reference(Store(root))
    if change == "missing":
        path.unlink()
    else:
        frame = pd.read_parquet(path)
        frame.loc[0, "rows"] += 1  # one row more than the manifest lists
        frame.to_parquet(path, index=False)
    assert store_status.read_status(root) == expected | {"store": str(root)}
    assert path.is_file()  # kept again, now agreeing
    assert store_status.read_status(root) == expected | {"store": str(root)}
