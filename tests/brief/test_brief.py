"""The briefing pack opened as a reader would: pages counted and text read with poppler
(pdfinfo, pdftotext), the first page rendered to an image of A4 proportions (pdftoppm)."""

from __future__ import annotations

import shutil
import subprocess
from pathlib import Path

import pytest

from geo_service.cli import main
from geo_service.store import Store

pytestmark = pytest.mark.skipif(
    shutil.which("pdftotext") is None, reason="poppler-utils (pdftotext, pdftoppm) not installed"
)


def _brief(store: Store, out: Path, *argv: str) -> None:
    code = main(["--store", str(store.root), "-q", "brief", "--category", "Dwelling burglary",
                 "--out", str(out), *argv])  # fmt: skip
    assert code == 0


def test_pdf_has_map_statement_and_zone_table(demo_store: Store, tmp_path: Path) -> None:
    out = tmp_path / "brief.pdf"
    _brief(demo_store, out)
    info = subprocess.run(["pdfinfo", str(out)], capture_output=True, text=True, check=True)
    pages = int(next(x for x in info.stdout.splitlines() if x.startswith("Pages:")).split()[1])
    # 26 zones at 5 % on the demo: 12 under the map, the other 14 on a second page.
    assert pages == 2
    assert "pts (A4)" in info.stdout
    text = subprocess.run(
        ["pdftotext", "-layout", str(out), "-"], capture_output=True, text=True, check=True
    ).stdout
    assert "Patrol zones: Dwelling burglary, forecast for Aug 2013" in text
    assert "a map drawn at random would hold 5 %" in text
    assert "DEMONSTRATION DATA" in text
    assert "2 km" in text and "N" in text  # scale bar and north arrow
    assert "Leighton Buzzard Road" in text  # the demo's reference roads, labelled
    assert "PAI" in text and "Hit rate" in text
    assert "(continued)" in text
    assert "zones 13 to 26 follow on the next pages" in " ".join(text.split())


def test_png_first_page_and_one_area(demo_store: Store, tmp_path: Path) -> None:
    pdf = tmp_path / "beat.pdf"
    _brief(demo_store, pdf, "--area", "beat:D1A")
    text = subprocess.run(["pdftotext", "-l", "1", str(pdf), "-"], check=True,
                          capture_output=True, text=True).stdout  # fmt: skip
    assert "Patrol zones in Hemel Hempstead Central (D1A)" in " ".join(text.split())
    subprocess.run(["pdftoppm", "-r", "40", "-png", "-f", "1", "-l", "1", str(pdf),
                    str(tmp_path / "page")], check=True)  # fmt: skip
    image = next(tmp_path.glob("page*.png")).read_bytes()
    width, height = int.from_bytes(image[16:20], "big"), int.from_bytes(image[20:24], "big")
    assert height / width == pytest.approx(842 / 595, rel=0.02)
    png = tmp_path / "brief.png"
    _brief(demo_store, png)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"


def test_pdf_needs_a_file(demo_store: Store, capsys) -> None:
    code = main(["--store", str(demo_store.root), "brief", "--category", "Dwelling burglary",
                 "--format", "pdf"])  # fmt: skip
    assert code == 2
    assert "give it with --out FILE.pdf" in capsys.readouterr().err
