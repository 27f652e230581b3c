"""Fixtures for the app's tests: small real lakehouses on disk and an AppTest harness."""

from __future__ import annotations

import base64
import json
import os
import sys
import time
import wave
from collections.abc import Callable
from dataclasses import dataclass
from html.parser import HTMLParser
from pathlib import Path
from typing import Any

import numpy as np
import polars as pl
import pytest
from streamlit.testing.v1 import AppTest

import lakehouse
from lakehouse.app import run_queries as rq
from lakehouse.app import server as app_server
from lakehouse.app import styling
from lakehouse.app.components import curves as curves_component

APP = app_server.ENTRY_POINT
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


def build_files(root: Path, folder: Path) -> None:
    """``pics``: v0 holds 5 PNGs in a folder per label, a WAV and a text file; v1 changes, adds, removes one."""
    from PIL import Image

    lh = lakehouse.connect(root)
    for i, (label, shade) in enumerate([("cat", 10), ("cat", 60), ("dog", 110), ("dog", 160), ("owl", 210)]):
        (folder / label).mkdir(parents=True, exist_ok=True)
        Image.new("RGB", (200, 100), (shade, 0, 0)).save(folder / label / f"{i}.png")
    (folder / "notes").mkdir()
    (folder / "notes" / "readme.txt").write_text("first line\nsecond line\n" + "more\n" * 20)
    with wave.open(str(folder / "notes" / "beep.wav"), "wb") as wav:
        wav.setnchannels(1)
        wav.setsampwidth(2)
        wav.setframerate(8000)
        wav.writeframes(b"\x00\x10" * 800)
    ds = lh.dataset("pics")
    ds.add_files(folder, labels=lambda p: p.split("/")[0], created_by="alice")
    Image.new("RGB", (200, 100), (0, 0, 255)).save(folder / "cat" / "0.png")  # changed
    Image.new("L", (8, 8), 255).save(folder / "owl" / "5.png")  # added (tiny: scaled up)
    (folder / "dog" / "3.png").unlink()  # removed
    ds.sync_files(folder, labels=lambda p: p.split("/")[0], labelled_by="bob")


@dataclass(frozen=True)
class DemoRuns:
    """Ids of the runs :func:`build_runs` made, by name."""

    ids: dict[str, str]
    live: lakehouse.Run  # still RUNNING: its handle stays open while the tests look at it


def build_runs(root: Path) -> DemoRuns:
    """Runs in two experiments with params, tags, inputs and curves; ``mlp-fast`` overfits; one run is live."""
    lh = lakehouse.connect(root)
    ids: dict[str, str] = {}
    specs = [
        ("mlp-fast", "digits-mlp", {"lr": 0.1, "units": 32, "optimizer": "adam"}, ["digits:prod"], 0.02),
        ("mlp-slow", "digits-mlp", {"lr": 0.01, "units": 32, "optimizer": "adam"}, ["digits:prod"], 0.0),
        ("mlp-wide", "digits-mlp", {"lr": 0.01, "units": 128, "optimizer": "adam"}, ["digits:raw"], 0.0),
        ("mlp-sgd", "digits-mlp", {"lr": 0.05, "units": 32, "optimizer": "sgd"}, ["digits:v1"], 0.0),
        ("cnn-base", "digits-cnn", {"lr": 0.001, "filters": 8}, ["digits:prod", "labels:v0"], 0.0),
    ]
    for name, experiment, params, inputs, drift in specs:
        rate = float(params["lr"]) * 10
        with lh.start_run(
            experiment=experiment, name=name, params=params, tags={"team": "vision"}, inputs=inputs
        ) as run:
            for step in range(30):
                loss = 1 / (1 + rate * step)
                run.log({"loss": loss, "val_loss": loss + drift * step, "accuracy": 1 - loss / 2}, step=step)
            ids[name] = run.id
    failed = lh.start_run(
        experiment="digits-mlp", name="mlp-broken", params={"lr": 10.0, "units": 32, "optimizer": "adam"}
    )
    failed.log({"loss": float("nan")}, step=0)
    failed.finish("FAILED")
    ids["mlp-broken"] = failed.id
    live = lh.start_run(
        experiment="digits-mlp",
        name="mlp-live",
        params={"lr": 0.2, "units": 16, "optimizer": "adam"},
        inputs=["digits:raw"],
    )
    for step in range(12):
        live.log({"loss": 1 / (1 + step), "val_loss": 1 / (1 + step) + 0.04 * step}, step=step)
    live.flush()
    ids["mlp-live"] = live.id
    return DemoRuns(ids=ids, live=live)


@pytest.fixture(scope="session")
def demo(tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, DemoRuns]:
    """A lakehouse like the demo's: the datasets of :func:`build_datasets` and the runs of :func:`build_runs`."""
    root = tmp_path_factory.mktemp("app-demo") / "lh"
    build_datasets(root)
    return root, build_runs(root)


@pytest.fixture(scope="session")
def demo_lakehouse(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """The real sample a newcomer gets from ``lakehouse demo``: digits datasets and real Keras runs."""
    from lakehouse.demo import sample

    root = tmp_path_factory.mktemp("app-sample") / "lh"
    assert sample.build(root).built
    return root


@pytest.fixture(scope="session")
def datasets_root(tmp_path_factory: pytest.TempPathFactory) -> Path:
    root = tmp_path_factory.mktemp("app-datasets") / "lh"
    build_datasets(root)
    return root


OpenApp = Callable[..., AppTest]
_COMPONENTS: list[Any] = []


@pytest.fixture
def open_app(monkeypatch: pytest.MonkeyPatch) -> OpenApp:
    """``open_app(root, page=None, **query)``: the app on ``root`` as a fresh browser tab would load it."""
    # AppTest runs the script as ``__main__`` and leaves it there; later tests that spawn processes would
    # re-run apps/app.py in every child. Put pytest's own ``__main__`` back afterwards.
    monkeypatch.setitem(sys.modules, "__main__", sys.modules["__main__"])

    def _open(root: Path, page: str | None = None, **query: str | list[str]) -> AppTest:
        monkeypatch.setenv("LAKEHOUSE_ROOT", str(root))
        at = AppTest.from_file(APP, default_timeout=TIMEOUT)
        # Each AppTest scans every installed package for Streamlit components on its first run (a second or
        # more here); the app's one component (lakehouse.curves) is found by the first scan, which serves
        # every test.
        if _COMPONENTS:
            at._bidi_component_manager = _COMPONENTS[0]
        if page is not None:
            at.run()
            at.switch_page(page)
        at.query_params.update(query)
        at.run()
        if not _COMPONENTS and at._bidi_component_manager is not None:
            _COMPONENTS.append(at._bidi_component_manager)
        assert not at.exception, [e.value for e in at.exception]
        return at

    return _open


def errors(at: AppTest) -> list[str]:
    return [e.value for e in at.error]


def metrics(at: AppTest) -> dict[str, str]:
    return {m.label: m.value for m in at.metric}


_TABLES = ("dataframe", "table")


def frames(at: AppTest) -> dict[str, pl.DataFrame]:
    """Every table on the page by its key (the app puts each ``st.dataframe`` and ``st.table`` in a keyed
    container)."""
    found: dict[str, pl.DataFrame] = {}

    def walk(node: Any) -> None:
        key = getattr(node, "key", None)
        for child in getattr(node, "children", {}).values():
            if key and getattr(child, "type", None) in _TABLES:
                found[str(key)] = pl.from_pandas(child.value)
            walk(child)

    walk(at._tree)
    return found


def steady_clock(seconds: float) -> None:
    """Wait, if need be, until the lost-check clock in the Live page's stamp (it turns every
    ``LOST_CHECK_SECONDS``) will not turn for ``seconds``: a test comparing stamps must not see it turn."""
    left = rq.LOST_CHECK_SECONDS - time.time() % rq.LOST_CHECK_SECONDS
    if left < seconds:
        time.sleep(left + 0.05)


def charts(at: AppTest) -> dict[str, dict[str, Any]]:
    """The curves component's charts on the page by title: each payload decoded as the browser decodes it,
    every series with its ``x`` and ``y`` columns as lists."""
    out = {}
    for element in at.get("bidi_component"):
        if element.proto.component_name != curves_component.NAME:
            continue  # the Live page's watcher
        header, column = curves_component.decode(element.proto.bytes)
        for series in header["series"]:
            series["x"] = (column(series["x"]) + header["x_origin"]).tolist()
            series["y"] = column(series["y"]).tolist()
        out[header["title"]] = header
    return out


def figures(at: AppTest) -> dict[str, dict[str, Any]]:
    """The plotly figures on the page by title (the SQL result chart), typed arrays decoded to lists."""
    out = {}
    for element in at.get("plotly_chart"):
        spec = json.loads(element.proto.spec)
        for trace in spec["data"]:
            for axis in ("x", "y"):
                if isinstance(trace.get(axis), dict) and "bdata" in trace[axis]:
                    raw = base64.b64decode(trace[axis]["bdata"])
                    trace[axis] = np.frombuffer(raw, dtype=np.dtype(trace[axis]["dtype"])).tolist()
        out[spec["layout"]["title"]["text"]] = spec
    return out


@dataclass(frozen=True)
class HtmlTable:
    """A table the app draws as HTML: its header, rows of cell texts, and which cells are shaded."""

    header: list[str]
    rows: list[list[str]]
    shaded: set[tuple[int, int]]  # (row, column) in ``rows``


class _TableParser(HTMLParser):
    def __init__(self) -> None:
        super().__init__()
        self.header: list[str] = []
        self.rows: list[list[str]] = []
        self.shaded: set[tuple[int, int]] = set()
        self._cell: list[str] | None = None
        self._in_head = False

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        if tag == "thead":
            self._in_head = True
        elif tag == "tr" and not self._in_head:
            self.rows.append([])
        elif tag in ("td", "th"):
            self._cell = []
            if tag == "td" and dict(attrs).get("class") == styling.SHADED:
                self.shaded.add((len(self.rows) - 1, len(self.rows[-1])))

    def handle_endtag(self, tag: str) -> None:
        if tag == "thead":
            self._in_head = False
        elif tag in ("td", "th") and self._cell is not None:
            text = "".join(self._cell).replace("\u25a0", "").strip()
            (self.header if self._in_head else self.rows[-1]).append(text)
            self._cell = None

    def handle_data(self, data: str) -> None:
        if self._cell is not None:
            self._cell.append(data)


def html_table(at: AppTest, key: str) -> HtmlTable:
    """The HTML table (``st.html``) inside the container keyed ``key``."""
    found: list[str] = []

    def walk(node: Any) -> None:
        for child in getattr(node, "children", {}).values():
            if getattr(node, "key", None) == key and getattr(child, "type", None) == "html":
                found.append(child.proto.body)
            walk(child)

    walk(at._tree)
    assert found, f"no HTML table {key!r} on the page"
    parser = _TableParser()
    parser.feed(found[0])
    return HtmlTable(parser.header, parser.rows, parser.shaded)


def table_element(at: AppTest, key: str) -> Any:
    """The ``st.dataframe`` (or ``st.table``) element inside the container keyed ``key``."""
    found: list[Any] = []

    def walk(node: Any) -> None:
        for child in getattr(node, "children", {}).values():
            if getattr(node, "key", None) == key and getattr(child, "type", None) in _TABLES:
                found.append(child)
            walk(child)

    walk(at._tree)
    assert found, f"no table {key!r} on the page"
    return found[0]


def tree_state(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` with its size and modification time: equal before and after means untouched."""
    return {
        str(p.relative_to(root)): (p.stat().st_size, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }
