"""A damaged store names the damage and never shows a figure; check finds it, repair mends it.

Each fault is made by hand on a copy of a small store (Burglary 5 in January 2020, 9 in January
2021, two wards): what a sync tool, a file manager, a full disk or an editor does to the files.
"""

from __future__ import annotations

import json
import shutil
from collections.abc import Callable
from pathlib import Path

import pyarrow.parquet as pq
import pytest

from geo_service.cli import main
from geo_service.store import Store
from geo_service.store.verify import check_store
from tests.reliability.store_fixtures import build_store

JAN21 = "incidents/source=police_uk/month=2021-01/part.parquet"
SUMMARY = ["summary", "--layer", "ward", "--months", "1", "--format", "csv"]
DAMAGED = (
    ". The store is damaged (files were moved, copied, changed or deleted outside geo-service) "
    "and nothing is computed from it: `geo-service check` lists every problem, "
    "`geo-service repair` fixes what can be fixed (or restore the store from a backup)\n"
)


@pytest.fixture(scope="module")
def built(tmp_path_factory: pytest.TempPathFactory) -> Path:
    return build_store(tmp_path_factory.mktemp("faults"))


@pytest.fixture
def root(built: Path, tmp_path: Path) -> Path:
    return Path(shutil.copytree(built / "store", tmp_path / "store"))


def _version_dir(root: Path) -> Path:
    return root / "_versions" / (root / "CURRENT").read_text().strip()


def _run(root: Path, args: list[str], capsys: pytest.CaptureFixture[str]) -> tuple[int, str, str]:
    code = main(["--store", str(root), *args])
    out, err = capsys.readouterr()
    return code, out, err


def _burglary(out: str) -> list[str]:
    return next(line for line in out.splitlines() if line.startswith("Burglary,")).split(",")


def test_intact_store_gives_its_figures_and_checks_clean(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    code, out, _ = _run(root, SUMMARY, capsys)
    assert code == 0 and _burglary(out)[1:4] == ["5", "9", "4"]
    code, out, _ = _run(root, ["check"], capsys)
    assert code == 0 and out.splitlines()[-1] == "the store is intact"
    assert "versions/v000001 (kept earlier version): intact" in out


# ----------------------------------------------------------------- faults and their errors
def _missing(vdir: Path) -> str:
    (vdir / JAN21).unlink()
    return f"{JAN21} (9 rows listed) is missing"


def _extra_copy(vdir: Path) -> str:
    shutil.copy(vdir / JAN21, vdir / JAN21.replace("part.parquet", "part (1).parquet"))
    return "incidents/source=police_uk/month=2021-01/part (1).parquet is not in the manifest"


def _truncated(vdir: Path) -> str:
    size = (vdir / JAN21).stat().st_size
    with open(vdir / JAN21, "r+b") as handle:
        handle.truncate(size // 2)
    return f"{JAN21} is {size // 2} bytes; the manifest lists {size} (changed or cut short)"


def _footer_changed(vdir: Path) -> str:
    data = bytearray((vdir / JAN21).read_bytes())
    data[-20] ^= 0x01  # inside the footer; same size
    (vdir / JAN21).write_bytes(bytes(data))
    return f"{JAN21} has changed: its Parquet footer differs from the manifest's"


def _rewritten_same_rows(vdir: Path) -> str:
    table = pq.read_table(vdir / JAN21)
    pq.write_table(table.sort_by("incident_id"), vdir / JAN21, compression="zstd")
    size = (vdir / JAN21).stat().st_size
    return f"{JAN21} is {size} bytes; the manifest lists "


def _manifest_rows_edited(vdir: Path) -> str:
    manifest = json.loads((vdir / "manifest.json").read_text())
    manifest["partitions"]["police_uk/2021-01"]["rows"] = 10
    (vdir / "manifest.json").write_text(json.dumps(manifest))
    return f"{JAN21}: the manifest lists 10 rows, its checksum record 9 (the manifest was edited)"


def _manifest_entry_removed(vdir: Path) -> str:
    manifest = json.loads((vdir / "manifest.json").read_text())
    del manifest["partitions"]["police_uk/2021-01"]
    (vdir / "manifest.json").write_text(json.dumps(manifest))
    return f"{JAN21} is not in the manifest"


def _layer_missing(vdir: Path) -> str:
    (vdir / "layers/ward.parquet").unlink()
    return "layers/ward.parquet (2 areas listed) is missing"


FAULTS: dict[str, Callable[[Path], str]] = {
    "missing partition": _missing,
    "extra copy": _extra_copy,
    "truncated": _truncated,
    "footer changed": _footer_changed,
    "rewritten with the same rows": _rewritten_same_rows,
    "manifest rows edited": _manifest_rows_edited,
    "manifest entry removed": _manifest_entry_removed,
    "layer missing": _layer_missing,
}


@pytest.mark.parametrize("fault", list(FAULTS))
def test_fault_is_named_with_exit_2_and_no_figure(
    fault: str, root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    vdir = _version_dir(root)
    problem = FAULTS[fault](vdir)
    code, out, err = _run(root, SUMMARY, capsys)
    assert (code, out) == (2, "")
    prefix = f"geo-service: error: store version {vdir} does not match its manifest: {problem}"
    assert err.startswith(prefix) and err.endswith(DAMAGED)
    assert err.count("\n") == 1
    code, out, _ = _run(root, ["check"], capsys)
    assert code == 2 and f"problem: {problem}" in out
    assert out.splitlines()[-1].endswith("run `geo-service repair` to fix what can be fixed")


def test_missing_partition_error_text_in_full(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    vdir = _version_dir(root)
    _missing(vdir)
    code, out, err = _run(root, ["status"], capsys)
    assert (code, out) == (2, "")
    assert err == (
        f"geo-service: error: store version {vdir} does not match its manifest: "
        f"{JAN21} (9 rows listed) is missing{DAMAGED}"
    )


def test_changed_data_byte_fails_the_read_and_the_check(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    """Same size and footer: the open check passes, the page CRC stops the read."""
    vdir = _version_dir(root)
    data = bytearray((vdir / JAN21).read_bytes())
    footer = int.from_bytes(data[-8:-4], "little") + 8
    for at in range(4, len(data) - footer, 16):  # every column's pages; footer untouched
        data[at] ^= 0xFF
    (vdir / JAN21).write_bytes(bytes(data))
    code, out, err = _run(root, SUMMARY, capsys)
    assert (code, out) == (2, "")
    assert err.startswith(f"geo-service: error: {vdir / JAN21}: partition unreadable (")
    assert err.endswith("`geo-service repair` fixes what can be fixed\n") and err.count("\n") == 1
    code, out, _ = _run(root, ["check"], capsys)
    assert code == 2 and f"problem: {JAN21} has changed: its SHA-256 is " in out


def test_unreadable_manifest_is_named(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    vdir = _version_dir(root)
    (vdir / "manifest.json").write_text('{"version": 2, "files": [')
    code, out, err = _run(root, SUMMARY, capsys)
    assert (code, out) == (2, "")
    assert err.startswith(f"geo-service: error: {vdir}/manifest.json: store manifest unreadable")


def test_missing_current_is_damage_not_an_empty_store(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (root / "CURRENT").unlink()
    code, out, err = _run(root, SUMMARY, capsys)
    assert (code, out) == (2, "")
    assert err == (
        "geo-service: error: CURRENT (the name of the published version) is missing, but the "
        "store holds version(s) v000001, v000002; `geo-service repair` publishes the newest "
        "intact one\n"
    )
    code, out, _ = _run(root, ["repair"], capsys)
    assert code == 0 and "repaired: published v000002" in out
    assert _burglary(_run(root, SUMMARY, capsys)[1])[1:3] == ["5", "9"]


def test_stale_summary_file_is_never_shown(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    """A kept summary disagreeing with the manifest is counted again, never shown."""
    vdir = _version_dir(root)
    Store(root).summary()  # writes the kept summary
    frame = pq.read_table(vdir / "summary.parquet").to_pandas()
    frame.loc[frame["month"] == "2021-01", "rows"] *= 2
    frame.to_parquet(vdir / "summary.parquet", index=False)
    code, out, _ = _run(root, ["check"], capsys)
    assert code == 2
    assert "problem: summary.parquet (kept counts per month and category) disagrees" in out
    code, out, _ = _run(root, ["repair"], capsys)
    assert code == 0 and "repaired: rebuilt summary.parquet" in out
    assert check_store(root).clean
    frame.to_parquet(vdir / "summary.parquet", index=False)  # stale again: a read recounts
    assert int(Store(root).summary()["rows"].sum()) == 14
    assert check_store(root).clean


# -------------------------------------------------------------------------------- repair
def test_repair_moves_a_stray_copy_aside(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    _extra_copy(_version_dir(root))
    code, out, _ = _run(root, ["repair"], capsys)
    assert code == 0
    assert "repaired: moved incidents/source=police_uk/month=2021-01/part (1).parquet" in out
    assert list((root / "removed").rglob("part (1).parquet"))
    assert _burglary(_run(root, SUMMARY, capsys)[1])[1:3] == ["5", "9"]


def test_repair_restores_a_renamed_original(root: Path, capsys: pytest.CaptureFixture[str]) -> None:
    vdir = _version_dir(root)
    (vdir / JAN21).rename(vdir / JAN21.replace("part.parquet", "part (1).parquet"))
    code, out, _ = _run(root, ["repair"], capsys)
    assert code == 0 and f"repaired: restored {JAN21} from an identical copy" in out
    assert _burglary(_run(root, SUMMARY, capsys)[1])[1:3] == ["5", "9"]
    assert check_store(root).clean


def test_repair_drops_the_damaged_month_and_names_its_file_to_ingest_again(
    built: Path, root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    _truncated(_version_dir(root))
    code, out, _ = _run(root, ["repair"], capsys)
    assert code == 0
    assert (
        "repaired: published v000003: v000002 without its damaged month(s) police_uk 2021-01" in out
    )
    again = [line for line in out.splitlines() if line.startswith("ingest again: ")]
    assert len(again) == 1 and "2021-01-test-street.csv (police_uk, 9 rows of 2021-01" in again[0]
    code, out, _ = _run(root, ["status", "--json"], capsys)
    police = json.loads(out)["sources"]["police_uk"]
    assert code == 0 and police["months"] == {"2020-01": 5}  # no month of invented zeros
    new = built / "in/2021-01-test-street.csv"
    assert _run(root, ["ingest", "police-uk", str(new)], capsys)[0] == 0
    assert _burglary(_run(root, SUMMARY, capsys)[1])[1:3] == ["5", "9"]
    assert check_store(root).clean


def test_repair_falls_back_to_the_newest_intact_version(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    (_version_dir(root) / "manifest.json").write_text("{")
    code, out, _ = _run(root, ["repair"], capsys)
    assert code == 0
    assert "repaired: published v000001, the newest intact version, in place of v000002" in out
    assert (
        "ingest again: the files ingested after v000001 (the manifest of v000002 is unreadable, "
        "so they cannot be named)"
    ) in out
    assert Store(root).manifest().partitions == {} and check_store(root).clean


def test_repair_records_checksums_of_an_older_store(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    vdir = _version_dir(root)
    manifest = json.loads((vdir / "manifest.json").read_text())
    del manifest["checksums"]
    (vdir / "manifest.json").write_text(json.dumps(manifest))
    code, out, _ = _run(root, ["check"], capsys)
    assert code == 0 and "written before file checksums were recorded" in out
    code, out, _ = _run(root, ["repair"], capsys)
    assert code == 0 and "recorded the checksums of 3 files in v000002's manifest" in out
    _truncated(vdir)
    assert _run(root, SUMMARY, capsys)[0] == 2


# ---------------------------------------------------------------------------------- web
def test_web_answers_a_damaged_store_with_503_and_no_figure(root: Path) -> None:
    from geo_service.config import Settings
    from geo_service.web import create_app

    vdir = _version_dir(root)
    problem = _missing(vdir)
    app = create_app(Settings(store=root, tiles="none"))
    app.config.update(TESTING=True)
    client = app.test_client()
    answer = client.get("/api/summary.json")
    assert answer.status_code == 503
    assert answer.get_json()["error"].startswith(
        f"store version {vdir} does not match its manifest: {problem}"
    )
    page = client.get("/")
    assert page.status_code == 503
    assert "(9 rows listed) is missing" in page.get_data(as_text=True)


def test_web_never_serves_a_cached_figure_after_damage(
    root: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    from geo_service.config import Settings
    from geo_service.web import create_app

    monkeypatch.setattr("geo_service.store.store._RECHECK_S", 0.0)  # no 1 s grace in a test
    app = create_app(Settings(store=root, tiles="none"))
    app.config.update(TESTING=True)
    client = app.test_client()
    assert client.get("/api/summary.json").status_code == 200  # computed and cached
    _extra_copy(_version_dir(root))
    answer = client.get("/api/summary.json")
    assert answer.status_code == 503
    assert "part (1).parquet is not in the manifest" in answer.get_json()["error"]


def test_dot_files_are_never_read_only_noted_and_moved_aside(
    root: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    folder = _version_dir(root) / "incidents/source=police_uk/month=2021-01"
    (folder / ".DS_Store").write_bytes(b"\0\0\0\1Bud1")
    code, out, _ = _run(root, SUMMARY, capsys)
    assert code == 0 and _burglary(out)[1:3] == ["5", "9"]
    code, out, _ = _run(root, ["check"], capsys)
    assert code == 0
    assert "note: incidents/source=police_uk/month=2021-01/.DS_Store is not in the manifest" in out
    code, out, _ = _run(root, ["repair"], capsys)
    assert code == 0 and not (folder / ".DS_Store").exists()
