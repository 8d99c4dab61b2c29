"""The notebooks' code runs against the demo store, so they stay true to the API."""

from __future__ import annotations

import json
from pathlib import Path

import pytest

from geo_service.store import Store

NOTEBOOKS = sorted((Path(__file__).resolve().parents[1] / "notebooks").glob("*.ipynb"))


@pytest.mark.parametrize("path", NOTEBOOKS, ids=lambda p: p.name)
def test_notebook_code_runs_on_the_demo(path: Path, demo_store: Store) -> None:
    notebook = json.loads(path.read_text("utf-8"))
    code = "\n".join(
        "".join(cell["source"]) for cell in notebook["cells"] if cell["cell_type"] == "code"
    )
    assert 'Path("../data/store")' in code, "notebooks open the store make run builds"
    code = code.replace('Path("../data/store")', f"Path({str(demo_store.root)!r})")
    namespace: dict[str, object] = {}
    exec(compile(code, str(path), "exec"), namespace)
    table = namespace["table"]
    top = table.iloc[0]
    assert (top["code"], top["previous"], top["current"]) == ("D2A", 7, 33)
    assert "hit rate" in namespace["accuracy"].statement()
