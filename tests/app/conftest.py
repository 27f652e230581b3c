"""Fixtures for the app's tests: small real lakehouses on disk and an AppTest harness."""

from __future__ import annotations

import os
from collections.abc import Callable
from pathlib import Path
from typing import Any

import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

import lakehouse

APP = Path(__file__).resolve().parents[2] / "apps" / "app.py"
TIMEOUT = 60


def build_datasets(root: Path) -> None:
    """A keyed dataset in four versions (raw, relabelled, extended with a column, grown) with tags."""
    os.environ.setdefault("LAKEHOUSE_ACTOR", "tester")
    lh = lakehouse.connect(root)
    ds = lh.dataset("digits")
    ds.write(
        pl.DataFrame({"image_id": [0, 1, 2, 3], "label": [0, 1, 2, 3]}),
        created_by="alice",
        description="raw scan",
        metadata={"source": "sklearn"},
    )
    ds.write(
        pl.DataFrame({"image_id": [1, 3], "label": [7, 9]}),
        mode="upsert",
        key="image_id",
        labelled_by="bob",
        description="relabelled",
    )
    ds.write(
        pl.DataFrame({"image_id": [4, 5], "label": [4, 5], "augmented": [True, True]}),
        schema_mode="merge",
        description="augmented",
    )
    ds.tag("raw", 0)
    ds.tag("prod", 1)
    ds.tag("prod", 2, force=True)
    lh.dataset("labels").write(pl.DataFrame({"label": [0, 1], "name": ["zero", "one"]}), description="label names")


@pytest.fixture(scope="session")
def datasets_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("app-datasets") / "lh"
    build_datasets(root)
    return root


OpenApp = Callable[..., AppTest]


@pytest.fixture
def open_app(monkeypatch: pytest.MonkeyPatch) -> OpenApp:
    """``open_app(root, page=None, **query)``: the app on ``root`` as a fresh browser tab would load it."""

    def _open(root: Path, page: str | None = None, **query: str | list[str]) -> AppTest:
        monkeypatch.setenv("LAKEHOUSE_ROOT", str(root))
        at = AppTest.from_file(APP, default_timeout=TIMEOUT)
        if page is not None:
            at.run()
            at.switch_page(page)
        at.query_params.update(query)
        at.run()
        assert not at.exception, [e.value for e in at.exception]
        return at

    return _open


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


def frames(at: AppTest) -> dict[str, pl.DataFrame]:
    """Every table on the page by its key (the app puts each ``st.dataframe`` in a keyed container)."""
    found: dict[str, pl.DataFrame] = {}

    def walk(node: Any) -> None:
        key = getattr(node, "key", None)
        for child in getattr(node, "children", {}).values():
            if key and getattr(child, "type", None) == "dataframe":
                found[str(key)] = pl.from_pandas(child.value)
            walk(child)

    walk(at._tree)
    return found


def tree_state(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` with its size and modification time: equal before and after means untouched."""
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }
