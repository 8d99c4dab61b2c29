"""The strategic-assessment report read from the store's area cube is the report read from its
rows, byte for byte.

A :class:`~geo_service.store.Store` hands :func:`report_document` its cube's counted rows (the
study layer's and the peer layer's) and the rows of its collision sources (the severity
tables); the same store seen through :class:`RowsOnly` (not a Store) hands it every row. On a
synthetic store of police.uk-like rows (months only), a force extract and fire rows with dates
and times and STATS19-like collisions with severities, with a peer layer and a force left out,
and on the real Hertfordshire police.uk months (skipped when the shared data is absent), both
documents must be equal; figures in them are checked against plain pandas counts of the rows
written.
"""

from __future__ import annotations

import html
import re
import shutil
from collections.abc import Iterator, Sequence
from pathlib import Path
from typing import Any

import geopandas as gpd
import numpy as np
import pandas as pd
import pytest
from shapely.geometry import box

from geo_service import schema
from geo_service.analysis.periods import Period, comparison_periods
from geo_service.categories import load_groups
from geo_service.cli import main
from geo_service.services.options import ViewOptions
from geo_service.services.report import ReportOptions, report_document
from geo_service.store import FileRecord, LayerInfo, Store
from tests.stores import RowsOnly, herts_copy

X0, Y0, SIDE = 500_000.0, 200_000.0, 1000.0
WARDS = ("W1", "W2", "W3", "W4")  # west to east; district D1 = W1 + W2, D2 = W3 + W4
END = "2022-07"
MONTHS = [str(p) for p in pd.period_range("2019-08", END, freq="M")]
POLICE, BTP = "Test Police", "British Transport Police"
RTC = "Road traffic collision"
SPIKE = pd.Timestamp("2022-03-05 21:00")  # 14 deliberate fires in W2 within the hour


class Watched(Store):
    """A store recording what its partitions were asked for."""

    asked: list[dict[str, Any]]

    def incidents(self, **kw: Any) -> pd.DataFrame:
        self.asked.append(kw)
        return super().incidents(**kw)


def _text(document: str) -> str:
    body = re.sub(r"<(style|svg)\b.*?</\1>", " ", document, flags=re.S)
    return html.unescape(re.sub(r"\s+", " ", re.sub(r"<[^>]+>", " ", body)))


def _section(document: str, name: str) -> str:
    return _text(document.split(f"<h2>{name}</h2>")[1].split("<h2>")[0])


# ----------------------------------------------------------------------------- synthetic
def _layers() -> dict[str, gpd.GeoDataFrame]:
    ward = gpd.GeoDataFrame(
        {"code": list(WARDS), "name": [f"Ward {w}" for w in WARDS],
         "parent": pd.array(["D1", "D1", "D2", "D2"], dtype="str"),
         "population": [3000.0, 2000.0, 4000.0, 2500.0],
         "households": [1200.0, 900.0, 1500.0, 1000.0]},
        geometry=[box(X0 + i * SIDE, Y0, X0 + (i + 1) * SIDE, Y0 + SIDE) for i in range(4)],
        crs=schema.CRS,
    )  # fmt: skip
    district = gpd.GeoDataFrame(
        {"code": ["D1", "D2"], "name": ["North", "South"], "parent": pd.array([None, None], "str"),
         "population": [5000.0, 6500.0], "households": [2100.0, 2500.0]},
        geometry=[box(X0, Y0, X0 + 2 * SIDE, Y0 + SIDE), box(X0 + 2 * SIDE, Y0, X0 + 4 * SIDE,
                                                              Y0 + SIDE)],
        crs=schema.CRS,
    )  # fmt: skip
    return {"ward": ward, "district": district}


def _placed(frame: pd.DataFrame) -> pd.DataFrame:
    """The wards and districts of each row by arithmetic (the layers are 1 km squares); an
    unlocated row keeps the area its ``placed`` column gives (as an LSOA code places it)."""
    x = frame["x"].to_numpy()
    col = np.floor((x - X0) / SIDE)
    inside = np.isfinite(x) & (col >= 0) & (col < 4)
    index = np.nan_to_num(col).astype(int).clip(0, 3)
    ward = np.where(inside, np.array(WARDS)[index], frame["placed"].to_numpy(dtype=object))
    district = np.where(pd.isna(ward), None, np.where(np.isin(ward, WARDS[:2]), "D1", "D2"))
    return frame.drop(columns="placed").assign(
        area_ward=pd.array(ward, dtype="str"), area_district=pd.array(district, dtype="str")
    )


def _xs(rng: np.random.Generator, k: int, *, outside: float, unlocated: float) -> np.ndarray:
    """Eastings over the four wards, a share ``outside`` east of them, ``unlocated`` missing."""
    x = rng.uniform(X0, X0 + 4 * SIDE, k)
    x[rng.random(k) < outside] = X0 + 4 * SIDE + 500.0
    x[rng.random(k) < unlocated] = np.nan
    return x


def _police_uk(rng: np.random.Generator) -> pd.DataFrame:
    """Months only (no date, time or sub-type); 5 % reported by BTP; 4 % unlocated (a tenth of
    those placed in W1 by their LSOA), 3 % east of the wards; ASB grows in W3."""
    rows = []
    rates = {"Burglary": 6, "Vehicle crime": 8, "Drugs": 3, "Robbery": 1,
             "Violence and sexual offences": 12, "Criminal damage and arson": 5}  # fmt: skip
    for m, month in enumerate(MONTHS):
        for category, rate in {**rates, "Anti-social behaviour": 15}.items():
            k = int(rng.poisson(rate))
            rows.append(pd.DataFrame({"category": category, "month": month,
                                      "x": _xs(rng, k, outside=0.03, unlocated=0.04)}))  # fmt: skip
        rows.append(pd.DataFrame({"category": "Anti-social behaviour", "month": month,
                                  "x": X0 + 2 * SIDE + 400.0 + np.arange(m // 3)}))  # fmt: skip
    frame = pd.concat(rows, ignore_index=True)
    k = len(frame)
    frame["reported_by"] = np.where(rng.random(k) < 0.05, BTP, POLICE)
    frame["placed"] = np.where(np.isnan(frame["x"]) & (rng.random(k) < 0.1), "W1", None)
    return frame.assign(source="police_uk")


def _dated(rng: np.random.Generator, months: Sequence[str], rate: float) -> pd.DataFrame:
    """Rows on random days and minutes of ``months``, about ``rate`` a month."""
    starts = pd.to_datetime([f"{m}-01" for m in months])
    k = int(rng.poisson(rate * len(months)))
    first = starts[rng.integers(0, len(months), k)]
    days = pd.Series(first).dt.days_in_month.to_numpy()
    at = first + pd.to_timedelta(rng.integers(0, days * 24 * 60), unit="min")
    return pd.DataFrame({"occurred_at": at.astype("datetime64[us]")})


def _force(rng: np.random.Generator) -> pd.DataFrame:
    """A force extract: dated and timed burglaries and violence with their sub-types."""
    frame = _dated(rng, MONTHS, 20)
    k = len(frame)
    burglary = rng.random(k) < 0.4
    frame["category"] = np.where(burglary, "Burglary", "Violence and sexual offences")
    frame["subcategory"] = np.where(
        burglary,
        rng.choice(["Burglary dwelling", "Burglary other"], k),
        rng.choice(["Violence with injury", "Violence without injury", "Harassment"], k),
    )
    frame["time_known"] = rng.random(k) < 0.9
    frame["x"] = _xs(rng, k, outside=0.0, unlocated=0.02)
    return frame.assign(source="force_crime", reported_by=POLICE, placed=None)


def _fire(rng: np.random.Generator) -> pd.DataFrame:
    """Deliberate fires on dates (a fifth without a time of day: at midnight), inside the wards
    or unlocated (so unallocated), and 14 in W2 on the evening of :data:`SPIKE`."""
    frame = _dated(rng, MONTHS, 18)
    k = len(frame)
    frame["time_known"] = rng.random(k) < 0.8
    frame["occurred_at"] = frame["occurred_at"].where(
        frame["time_known"], frame["occurred_at"].dt.floor("D")
    )
    frame["subcategory"] = rng.choice(["Grassland", "Refuse", "Vehicle"], k)
    frame["x"] = _xs(rng, k, outside=0.0, unlocated=0.05)
    spike = pd.DataFrame(
        {"occurred_at": SPIKE + pd.to_timedelta(np.arange(14) * 4, unit="min"), "time_known": True,
         "subcategory": "Refuse", "x": X0 + SIDE + 300.0 + np.arange(14)}
    )  # fmt: skip
    frame = pd.concat([frame, spike.astype({"occurred_at": "datetime64[us]"})], ignore_index=True)
    return frame.assign(source="fire", category="Deliberate fire", placed=None)


def _stats19(rng: np.random.Generator) -> pd.DataFrame:
    """Collisions to Jun 22 (a month before the others end): the sub-type repeats the severity
    (blank for a tenth), 2 % have no severity, 5 % lie east of the wards, a tenth are
    reported by BTP (as a mapped source may say)."""
    frame = _dated(rng, MONTHS[:-1], 14)
    k = len(frame)
    severity = rng.choice(["Slight", "Serious", "Fatal"], k, p=[0.8, 0.17, 0.03])
    frame["severity"] = np.where(rng.random(k) < 0.02, None, severity)
    frame["subcategory"] = np.where(rng.random(k) < 0.1, None, frame["severity"])
    frame["time_known"] = True
    frame["x"] = _xs(rng, k, outside=0.05, unlocated=0.0)
    frame["reported_by"] = np.where(rng.random(k) < 0.1, BTP, None)
    return frame.assign(source="stats19", category=RTC, placed=None)


def _write(store: Store, frame: pd.DataFrame, name: str) -> None:
    frame = frame.assign(
        incident_id=[f"{name}:{i}" for i in range(len(frame))], y=Y0 + 500.0,
        source_file=name, source_line=np.arange(len(frame)) + 2,
    )  # fmt: skip
    if "occurred_at" in frame.columns and "month" not in frame.columns:
        frame["month"] = frame["occurred_at"].dt.strftime("%Y-%m")
    months = tuple(sorted(frame["month"].unique().tolist()))
    source = str(frame["source"].iloc[0])
    record = FileRecord(f"/in/{name}", name, source, f"sha-{name}", len(frame), 0, 0, months)
    conformed = schema.conform(_placed(frame))
    store.write_incidents(conformed, [record], rejects=pd.DataFrame(), kind="mapped")


@pytest.fixture(scope="module")
def synthetic(tmp_path_factory: pytest.TempPathFactory) -> Iterator[tuple[Watched, pd.DataFrame]]:
    """The synthetic store (seed 7) and every row written to it."""
    store = Watched(tmp_path_factory.mktemp("report-cube") / "store")
    store.asked = []
    for name, layer in _layers().items():
        store.write_layer(name, layer, info=LayerInfo(path="squares"))
    rng = np.random.default_rng(7)
    for name, make in (("police.csv", _police_uk), ("force.csv", _force), ("fire.csv", _fire),
                       ("stats19.csv", _stats19)):  # fmt: skip
        _write(store, make(rng), name)
    yield store, store.incidents()
    shutil.rmtree(store.root, ignore_errors=True)


def _both(store: Store, opts: ReportOptions) -> tuple[str, str]:
    """The document from the cube and from the rows."""
    groups = load_groups()
    return report_document(store, groups, opts), report_document(RowsOnly(store), groups, opts)


PEERS = ReportOptions(
    view=ViewOptions(period_end=END, months=12, layer="ward", exclude_forces=(BTP,)),
    peer_layer="district", peer_code="D1", title="Synthetic <assessment>",
)  # fmt: skip


@pytest.mark.parametrize(
    "opts",
    [
        PEERS,
        ReportOptions(view=ViewOptions(period_end=END, months=6, layer="district")),
        ReportOptions(
            view=ViewOptions(
                period_end="2022-05",
                months=1,
                layer="ward",
                against="year-earlier",
                exclude_forces=("test police", "Nobody"),
            ),
            peer_layer="ward",
            peer_code="W3",
            highest_first=True,
        ),
    ],
    ids=["ward-peers-district-btp-left-out", "district-6-months", "ward-1-month-year-earlier"],
)
def test_synthetic_report_from_the_cube_is_the_report_from_the_rows(
    synthetic: tuple[Watched, pd.DataFrame], opts: ReportOptions
) -> None:
    store, _rows = synthetic
    store.asked.clear()
    groups = load_groups()
    cubed = report_document(store, groups, opts)
    # No row is read: the cube counts the tables (the severity tables too), and the
    # repeat-collision sites read the kept collisions near the layer.
    assert store.asked == []
    assert cubed == report_document(RowsOnly(store), groups, opts)
    # through its rows, the store is read for the collision source's partitions alone: their
    # months (the latest held), then the rule's window
    store.asked.clear()
    report_document(RowsOnly(store), groups, opts)
    collision_reads = [kw for kw in store.asked if kw.get("categories") == [RTC]]
    assert [kw["sources"] for kw in collision_reads] == [("stats19",)] * 2
    assert collision_reads[0]["columns"] == ["month"]
    assert (collision_reads[1]["month_from"], collision_reads[1]["month_to"]) == (
        "2019-07", "2022-06"
    )  # fmt: skip


def _in_period(frame: pd.DataFrame, period: Period) -> pd.Series:
    return frame["month"].between(period.start, period.end)


def test_synthetic_report_figures_are_the_rows_counted(
    synthetic: tuple[Watched, pd.DataFrame],
) -> None:
    store, rows = synthetic
    document = report_document(store, load_groups(), PEERS)
    assert document == report_document(RowsOnly(store), load_groups(), PEERS)
    kept = rows.loc[rows["reported_by"].ne(BTP).to_numpy(dtype=bool, na_value=True)]
    borough = kept.loc[kept["area_ward"].notna()]
    # severity table: the collisions' July-June years in the wards, by severity
    previous, current = comparison_periods("2022-06", months=12)
    collisions = borough.loc[borough["category"] == RTC]
    text = _section(document, "Road traffic collisions")
    for severity in ("Slight", "Serious", "Fatal"):
        counts = [
            int((_in_period(collisions, p) & (collisions["severity"] == severity)).sum())
            for p in (previous, current)
        ]
        assert re.search(rf"{severity} {counts[0]} {counts[1]} ", text), severity
    totals = [int(_in_period(collisions, p).sum()) for p in (previous, current)]
    assert re.search(rf"Grand Total {totals[0]} {totals[1]} ", text)
    # the unusual day and the busiest weekday and hour of the deliberate fires
    previous, current = comparison_periods(END, months=12)
    fires = borough.loc[(borough["category"] == "Deliberate fire") & _in_period(borough, current)]
    dated = fires.loc[fires["occurred_at"].notna()]
    on_day = int((dated["occurred_at"].dt.normalize() == SPIKE.normalize()).sum())
    march = int((dated["month"] == "2022-03").sum())
    text = _section(document, "Deliberate fires")
    assert (
        f"5 March 2022 recorded {on_day} deliberate fires, above the month's average of "
        f"{march / 31:.1f} per day."
    ) in text
    weekdays = dated["occurred_at"].dt.day_of_week.value_counts().reindex(range(7), fill_value=0)
    busiest = pd.Timestamp("2024-01-01") + pd.Timedelta(days=int(weekdays.idxmax()))  # a Monday
    share = 100.0 * weekdays.max() / len(dated)
    assert f"most fell on a {busiest:%A} ({share:.1f}%)" in text
    hours = dated.loc[dated["time_known"], "occurred_at"].dt.hour.value_counts()
    hour = int(hours.reindex(range(24), fill_value=0).idxmax())
    assert f"the busiest hour was {hour:02d}:00-{(hour + 1) % 24:02d}:00" in text
    # the peer position: D1 against D2, every ASB incident of the current period
    asb = kept.loc[(kept["category"] == "Anti-social behaviour") & _in_period(kept, current)]
    per_district = asb["area_district"].value_counts()
    position = "2nd of 2" if per_district["D1"] > per_district["D2"] else "1st of 2"
    assert f"{position} for the number of ASB incidents" in _section(document, "ASB incidents")
    # the force left out, over the months compared
    btp = rows.loc[(rows["reported_by"] == BTP) & rows["month"].between(previous.start, END)]
    assert f"Rows reported by {BTP} are left out ({len(btp):,} in the months compared)." in document


# ----------------------------------------------------------------------------- real data
@pytest.fixture(scope="module")
def hertfordshire(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Iterator[Store]:
    """The 13 Hertfordshire police.uk months over the county's wards (per-district files) and
    the districts dissolved from them."""
    root = tmp_path_factory.mktemp("herts-report") / "store"
    wards = sorted((shared_data / "ons-boundaries-uk-geojson" / "hertfordshire" / "wards").glob(
        "*_wards.geojson"
    ))  # fmt: skip
    months = shared_data / "police-uk-hertfordshire-street"
    base = ["--store", str(root), "-q"]
    assert main([*base, "boundaries", "add", "ward", "--parent-from-filename",
                 *map(str, wards)]) == 0  # fmt: skip
    assert main([*base, "boundaries", "dissolve", "district", "--from", "ward"]) == 0
    assert main([*base, "ingest", "police-uk", str(months)]) == 0
    yield Store(root)
    shutil.rmtree(root, ignore_errors=True)


HERTS_VIEWS = [
    ReportOptions(
        view=ViewOptions(
            period_end="2022-01",
            months=6,
            layer="ward",
            exclude_forces=("British Transport Police",),
        ),
        peer_layer="district",
        peer_code="E07000096",
    ),
    ReportOptions(
        view=ViewOptions(period_end="2022-01", months=1, layer="district", against="year-earlier")
    ),
    ReportOptions(view=ViewOptions(period_end="2022-01", months=12, layer="ward")),
]


def test_hertfordshire_report_from_the_cube_is_the_report_from_the_rows(
    hertfordshire: Store,
) -> None:
    for opts in HERTS_VIEWS:
        cubed, rows = _both(hertfordshire, opts)
        assert cubed == rows
    # the looking-back row of ASB: the incidents in a ward, counted with plain pandas
    document = report_document(hertfordshire, load_groups(), HERTS_VIEWS[0])
    raw = hertfordshire.incidents(columns=["category", "month", "area_ward"])
    asb = raw.loc[(raw["category"] == "Anti-social behaviour") & raw["area_ward"].notna()]
    counts = [int(_in_period(asb, p).sum()) for p in comparison_periods("2022-01", months=6)]
    text = _text(document)
    assert counts[0] > 1000 and re.search(rf"ASB incidents {counts[0]} {counts[1]} ", text)


def test_kept_hertfordshire_store_report_from_the_cube(tmp_path: Path) -> None:
    store = herts_copy(tmp_path)
    for layer in store.layer_names():
        peers = {"peer_layer": "district", "peer_code": "E07000096"}
        opts = ReportOptions(view=ViewOptions(period_end="2022-01", months=6, layer=layer),
                             **(peers if layer != "district" else {}))  # fmt: skip
        cubed, rows = _both(store, opts)
        assert cubed == rows, layer
