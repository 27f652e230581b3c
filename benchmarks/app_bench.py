"""App benchmarks: page renders on a lakehouse of 10,000 runs and 100M metric points.

    python benchmarks/app_bench.py                  # full sizes: 10,000 runs, 100M points (generation ~3 min)
    python benchmarks/app_bench.py --quick          # 1,000 runs, ~2M points (about two minutes)
    python benchmarks/app_bench.py --workdir DIR --keep    # keep the generated lakehouse; run again to reuse it

Goals (issue #5): the Experiments page renders in ≤ 2 s and a 12-run comparison in ≤ 2 s. Issue #19 (the curves
component): Compare with 12 runs × 10,000 points fully drawn in Chromium ≤ 1.3× the one-table app from a new tab
and ≤ 1.0 s after the click on "Compare 12 runs"; 100 runs × 100,000 points ≤ 2.5 s; on Live a committed point
drawn ≤ 1 s after the commit, with ≤ 5 % of one core used while the page sits idle. The browser suite also draws
the same two 12-curve charts with uPlot (the component), ECharts and plotly in the one-table app: the measured
comparison of the chart libraries.

A render is one full script run of the page in Streamlit's AppTest (query, filtering, building every
element and serialising the tables and figures) — what the server does before the browser can draw.
With ``--browser`` (on by default when /usr/bin/chromium exists) the same pages are also loaded in headless
Chromium from a ``lakehouse app`` server, timed until the page has settled, as a user sees it.

Each measurement is printed next to its anchor, measured in the same run:
- the public API calls the page makes, alone (``lh.runs()``; ``lh.compare()`` + ``lh.metrics(max_points)``),
  so the ratio is the app's own overhead;
- for curves, a plain ``polars.scan_delta`` of the fact table filtered to the runs (no partition index), the
  cost without the query layer's per-run file index.

"cold" = every cache dropped (the app's, the query layer's warm tables); "warm" = a new visitor while nothing
changed (caches keyed by table versions hit); "new commit" = the first load after one more run was committed.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import signal
import statistics
import subprocess
import sys
import tempfile
import time
import uuid
import warnings
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
from bench_report import write_json

import lakehouse
from lakehouse import storage
from lakehouse.app import server as app_server
from lakehouse.catalog.tables import METRIC_SUMMARIES, METRICS, RUN_EVENTS, RUN_INPUTS

APP = app_server.ENTRY_POINT
EXPERIMENT = "sweep"
KEYS = ("loss", "val_loss")
PARAMS = 20
MARKER = "app-bench.json"


@dataclass(frozen=True)
class Sizes:
    runs: int
    long_runs: int  # runs with long_points points each (the rest share the remaining points)
    long_points: int
    points: int  # total points in the fact table
    repeat: int


FULL = Sizes(runs=10_000, long_runs=100, long_points=100_000, points=100_000_000, repeat=5)
QUICK = Sizes(runs=1_000, long_runs=12, long_points=20_000, points=2_000_000, repeat=3)


@dataclass
class Result:
    name: str
    seconds: float
    anchor: float | None = None
    anchor_name: str = ""
    goal: float | None = None
    notes: dict[str, Any] = field(default_factory=dict)

    def line(self) -> str:
        text = f"  {self.name}: {self.seconds * 1e3:,.0f} ms"
        if self.anchor is not None:
            text += f"   | {self.anchor_name}: {self.anchor * 1e3:,.0f} ms   ratio {self.seconds / self.anchor:,.2f}x"
        if self.goal is not None:
            text += f"   [goal ≤ {self.goal:g} s: {'met' if self.seconds <= self.goal else 'MISSED'}]"
        return text + (f"   {self.notes}" if self.notes else "")


# --- the lakehouse ---------------------------------------------------------------------------------------------


def generate(root: Path, sizes: Sizes) -> dict[str, list[str]]:
    """Write the runs, their inputs, metric summaries and points straight into the tracking tables, in large
    batches (one data file per run in the fact table: the layout `lakehouse maintain` converges to)."""
    lh = lakehouse.connect(root)
    data = lh.dataset("bench-digits")
    for v in range(3):
        data.write(pl.DataFrame({"id": [v], "label": [v]}), description=f"version {v}")
    ids = [uuid.uuid4().hex for _ in range(sizes.runs)]
    long_ids, short_ids = ids[: sizes.long_runs], ids[sizes.long_runs :]
    short_points = (sizes.points - sizes.long_runs * sizes.long_points) // max(len(short_ids), 1)
    started = time.perf_counter()
    base = datetime(2026, 1, 1, tzinfo=UTC)
    env = json.dumps({"user": "bench", "host": "bench-host", "git_commit": "0" * 40, "python": "3.11"})

    # Runs: created, params, tags, environment, status; in commits of 2,000 runs.
    for offset in range(0, len(ids), 2_000):
        events: list[dict[str, Any]] = []
        inputs: list[dict[str, Any]] = []
        for i, rid in enumerate(ids[offset : offset + 2_000]):
            n = offset + i
            at = datetime.fromtimestamp(base.timestamp() + n * 60, tz=UTC)
            common = {"run_id": rid, "at": at, "writer": "bench", "seq": n}
            events.append(
                {**common, "kind": "created", "experiment": EXPERIMENT, "name": f"run-{n:05d}", "value": "train"}
            )
            params = {"lr": str(10 ** -(1 + n % 4)), "units": str(32 << (n % 4)), "optimizer": ("adam", "sgd")[n % 2]}
            params.update({f"p{p:02d}": str((n * 7 + p) % 13) for p in range(PARAMS - len(params))})
            events.extend({**common, "kind": "param", "key": k, "value": v} for k, v in params.items())
            events.append({**common, "kind": "tag", "key": "team", "value": ("vision", "speech")[n % 2]})
            events.append({**common, "kind": "environment", "value": env})
            events.append({**common, "kind": "status", "value": "FINISHED"})
            inputs.append(
                {
                    "run_id": rid,
                    "dataset": "bench-digits",
                    "version": n % 3,
                    "ref": f"bench-digits:v{n % 3}",
                    "context": None,
                    "at": at,
                }
            )
        storage.write(
            lh.layout.runs,
            RUN_EVENTS.from_rows(events),
            mode="append",
            configuration=RUN_EVENTS.properties(lh.settings),
        )
        storage.write(
            lh.layout.inputs,
            RUN_INPUTS.from_rows(inputs),
            mode="append",
            configuration=RUN_INPUTS.properties(lh.settings),
        )
    print(f"    runs: {len(ids):,} ({time.perf_counter() - started:.0f}s)", flush=True)

    # Points, and the summaries computed from them, in commits of about 5M points.
    written = 0
    for group, points_per_run in ((long_ids, sizes.long_points), (short_ids, short_points)):
        steps = points_per_run // len(KEYS)
        per_commit = max(1, 5_000_000 // points_per_run)
        for offset in range(0, len(group), per_commit):
            chunk = group[offset : offset + per_commit]
            frame = _points(chunk, steps, base)
            storage.write(
                lh.layout.metrics,
                frame.to_arrow().cast(METRICS.schema),
                mode="append",
                partition_by=["run_id"],
                configuration=METRICS.properties(lh.settings),
            )
            summaries = (
                frame.group_by("run_id", "key")
                .agg(
                    pl.len().cast(pl.Int64).alias("count"),
                    pl.col("value").min().alias("min"),
                    pl.col("value").max().alias("max"),
                    pl.col("value").sort_by("step").last().alias("last"),
                    pl.col("step").max().alias("last_step"),
                    pl.col("timestamp").max().alias("last_timestamp"),
                )
                .with_columns(pl.lit("bench").alias("writer"), pl.lit(1, pl.Int64).alias("seq"))
                .select(list(METRIC_SUMMARIES.schema.names))
            )
            storage.write(
                lh.layout.metric_summaries,
                summaries.to_arrow().cast(METRIC_SUMMARIES.schema),
                mode="append",
                configuration=METRIC_SUMMARIES.properties(lh.settings),
            )
            written += frame.height
            print(f"    points: {written / 1e6:,.1f}M ({time.perf_counter() - started:.0f}s)", flush=True)
    lh.maintain()  # compact the small event tables and checkpoint, as a healthy lakehouse is
    info = {"long": long_ids, "short": short_ids, "points": [written]}
    (root / MARKER).write_text(json.dumps(info))
    return info


def _points(run_ids: list[str], steps: int, base: datetime) -> pl.DataFrame:
    """``steps`` points of each key for each run: decaying curves with a little deterministic noise."""
    frame = pl.DataFrame(
        {
            "run_id": pl.Series(run_ids).repeat_by(len(KEYS) * steps).explode(),
            "key": pl.concat([pl.Series(list(KEYS)).repeat_by(steps).explode()] * len(run_ids)),
            "step": pl.concat([pl.int_range(0, steps, eager=True).cast(pl.Int64)] * (len(run_ids) * len(KEYS))),
        }
    )
    seed = pl.col("run_id").hash().mod(1000).cast(pl.Float64) / 1000
    noise = ((pl.col("step") * 7919 + pl.col("run_id").hash().mod(97)) % 101).cast(pl.Float64) / 2000
    decay = 1.0 / (1.0 + pl.col("step").cast(pl.Float64) * (0.001 + seed * 0.01))
    value = pl.when(pl.col("key") == "loss").then(decay + noise).otherwise(decay * 1.1 + noise + 0.05)
    return frame.with_columns(
        (pl.lit(int(base.timestamp() * 1_000_000)) + pl.col("step") * 1_000_000)
        .cast(pl.Datetime("us", "UTC"))
        .alias("timestamp"),
        value.alias("value"),
    ).select("run_id", "key", "step", "timestamp", "value")


# --- measuring -------------------------------------------------------------------------------------------------


def forget_everything() -> None:
    import streamlit as st

    st.cache_data.clear()
    st.cache_resource.clear()
    lakehouse.state.forget()


def render(page: str | None, query: dict[str, str]) -> float:
    """Seconds of one full script run of ``page`` (with URL ``query``) in a fresh AppTest session."""
    from streamlit.testing.v1 import AppTest

    at = AppTest.from_file(str(APP), default_timeout=600)
    if page is not None:
        at.run()
        at.switch_page(page)
    at.query_params.update(query)
    start = time.perf_counter()
    at.run()
    seconds = time.perf_counter() - start
    if at.exception or at.error:
        msg = f"{page} {query}: {[e.value for e in at.exception]} {[e.value for e in at.error]}"
        raise RuntimeError(msg)
    return seconds


def timed(fn: Callable[[], object]) -> float:
    start = time.perf_counter()
    fn()
    return time.perf_counter() - start


def cold(fn: Callable[[], object], repeat: int) -> float:
    times = []
    for _ in range(repeat):
        forget_everything()
        times.append(timed(fn))
    return statistics.median(times)


def warm(fn: Callable[[], object], repeat: int) -> float:
    fn()
    return statistics.median(timed(fn) for _ in range(repeat))


def page_warm(page: str | None, query: dict[str, str], repeat: int) -> float:
    """A new visitor while nothing changed: caches already hold this page's reads."""
    render(page, query)
    return statistics.median(render(page, query) for _ in range(repeat))


def page_cold(page: str | None, query: dict[str, str], repeat: int) -> float:
    """Like a first visitor after a server start: the Datasets page loaded first, then caches dropped."""
    from streamlit.testing.v1 import AppTest

    times = []
    for _ in range(repeat):
        at = AppTest.from_file(str(APP), default_timeout=600)
        at.run()
        if page is not None:
            at.switch_page(page)
        at.query_params.update(query)
        forget_everything()
        start = time.perf_counter()
        at.run()
        times.append(time.perf_counter() - start)
        assert not at.exception, [e.value for e in at.exception]
    return statistics.median(times)


def bench_experiments(root: Path, sizes: Sizes) -> list[Result]:
    lh = lakehouse.connect(root)
    page = "views/experiments.py"
    api = lambda: lh.runs(EXPERIMENT)  # noqa: E731
    out = [
        Result(
            f"Experiments page, {sizes.runs:,} runs, cold",
            page_cold(page, {}, sizes.repeat),
            cold(api, sizes.repeat),
            "lh.runs() cold",
            2.0,
        ),
        Result(
            f"Experiments page, {sizes.runs:,} runs, warm",
            page_warm(page, {}, sizes.repeat),
            warm(api, sizes.repeat),
            "lh.runs() warm",
            2.0,
        ),
        Result(
            "Experiments page, text search 'sgd', warm",
            page_warm(page, {"q": "sgd"}, sizes.repeat),
            goal=2.0,
        ),
    ]
    times = []
    for _ in range(sizes.repeat):
        with lh.start_run(experiment=EXPERIMENT, params={"lr": 0.5}) as run:
            run.log({"loss": 1.0})
        times.append(render(page, {}))
    out.append(Result("Experiments page, first load after a new run committed", statistics.median(times), goal=2.0))
    return out


def bench_compare(root: Path, sizes: Sizes, ids: list[str], label: str) -> list[Result]:
    lh = lakehouse.connect(root)
    max_points = lh.settings.app_max_points
    query = {"runs": ",".join(ids)}
    assert lh.runs(run_ids=ids).height == len(ids)

    def api() -> None:
        lh.compare(ids)
        lh.metrics(ids, keys=list(KEYS), max_points=max_points)

    def naive() -> None:
        pl.scan_delta(str(lh.layout.metrics)).filter(pl.col("run_id").is_in(ids)).collect()

    page = "views/compare.py"
    return [
        Result(
            f"Compare page, {label}, cold",
            page_cold(page, query, sizes.repeat),
            cold(api, sizes.repeat),
            "lh.compare + lh.metrics(max_points) cold",
            2.0,
        ),
        Result(
            f"Compare page, {label}, warm",
            page_warm(page, query, sizes.repeat),
            warm(api, sizes.repeat),
            "same API calls warm",
            2.0,
        ),
        Result(
            f"  anchor: polars scan_delta of the fact table for those runs ({label})",
            cold(naive, max(1, sizes.repeat // 2)),
        ),
    ]


def _serve(command: list[str], env: dict[str, str] | None = None) -> tuple[subprocess.Popen[bytes], str]:
    """Start a server that prints its URL as JSON (``lakehouse app --json``)."""
    # A session of its own, so stopping it can stop the whole group (the anchor's launcher has a child).
    server = subprocess.Popen(
        command, stdout=subprocess.PIPE, stderr=subprocess.DEVNULL, env=env, start_new_session=True
    )
    assert server.stdout is not None
    text = ""
    while not text.rstrip().endswith("}"):
        line = server.stdout.readline().decode()
        if not line:
            msg = f"server exited: {command}"
            raise RuntimeError(msg)
        text += line
    return server, json.loads(text)["url"]


# Drawn by the anchor app for ?chart=uplot|echarts|plotly: two charts of 12 curves × 2,000 points, what the
# Compare page draws of 12 runs (app.max_points = 2,000 per curve), with each library Streamlit can load.
ANCHOR_CURVES = 12
ANCHOR_POINTS = 2_000
ANCHOR_SCRIPT = f"""
import math
import streamlit as st

st.title("anchor")
st.dataframe({{"a": [1, 2, 3]}})
chart = st.query_params.get("chart")
steps = list(range({ANCHOR_POINTS}))
curves = [[1 / (1 + (r + 1) * 0.002 * x) + 0.01 * math.sin(x / 7 + r) for x in steps] for r in range({ANCHOR_CURVES})]
for title in ("loss", "val_loss") if chart else ():
    if chart == "uplot":
        import polars as pl
        from lakehouse.app import curves as lc

        points = pl.DataFrame({{
            "run_id": [str(r) for r in range(len(curves)) for _ in steps],
            "key": title,
            "step": [x for _ in curves for x in steps],
            "timestamp": [None] * (len(curves) * len(steps)),
            "value": [v for c in curves for v in c],
        }}, schema_overrides={{"timestamp": pl.Datetime("us", "UTC")}})
        labels = {{str(r): f"run-{{r}}" for r in range(len(curves))}}
        colors = {{str(r): lc.PALETTE[r] for r in range(len(curves))}}
        lc.draw(lc.lines(points, title, labels=labels, colors=colors), key=title)
    elif chart == "echarts":
        st.echarts_chart({{
            "animation": False,
            "title": {{"text": title}},
            "tooltip": {{"trigger": "axis"}},
            "legend": {{"bottom": 0}},
            "xAxis": {{"type": "value"}},
            "yAxis": {{"type": "value"}},
            "series": [
                {{"type": "line", "name": f"run-{{r}}", "showSymbol": False, "data": list(map(list, zip(steps, c)))}}
                for r, c in enumerate(curves)
            ],
        }}, height=320)
    elif chart == "plotly":
        import plotly.graph_objects as go

        lines = [go.Scatter(x=steps, y=c, mode="lines", name=f"run-{{r}}") for r, c in enumerate(curves)]
        st.plotly_chart(go.Figure(lines))
"""


def _stop(process: subprocess.Popen[bytes]) -> None:
    """Stop a server started by ``_serve`` and its whole process group."""
    os.killpg(process.pid, signal.SIGTERM)
    process.wait(timeout=30)
    if process.stdout is not None:
        process.stdout.close()


def _anchor_app(folder: Path) -> list[str]:
    """A one-table Streamlit app served like ours: what any page load costs before our page does anything
    (``?chart=...`` adds two charts drawn with one chart library, see ``ANCHOR_SCRIPT``)."""
    script = folder / "anchor.py"
    script.write_text(ANCHOR_SCRIPT)
    port = app_server.free_port("127.0.0.1")
    flags = [f"--{k}={v}" for k, v in {**app_server._STREAMLIT_FLAGS, "server.port": port}.items()]
    launcher = (
        "import json, subprocess, sys, time, urllib.request\n"
        f"p = subprocess.Popen({[sys.executable, '-m', 'streamlit', 'run', str(script), *flags]!r}, "
        "stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)\n"
        "while True:\n"
        "    try:\n"
        f"        urllib.request.urlopen('http://127.0.0.1:{port}/_stcore/health', timeout=2); break\n"
        "    except Exception:\n"
        "        time.sleep(0.2)\n"
        f"print(json.dumps({{'url': 'http://127.0.0.1:{port}'}}), flush=True)\n"
        "p.wait()\n"
    )
    return [sys.executable, "-c", launcher]


Waiter = Callable[[Any], None]


def table_drawn(page: Any) -> None:
    page.locator('[data-testid="stDataFrame"]').first.wait_for()


def curves_drawn(count: int) -> Waiter:
    """``count`` charts of the curves component have their canvas (the component draws on mount)."""

    def wait(page: Any) -> None:
        table_drawn(page) if count == 0 else page.locator(".lh-chart canvas").nth(count - 1).wait_for()

    return wait


def compare_drawn(page: Any) -> None:
    """Compare's first screen: its two metric charts and the params table (the first section's tab); the
    other sections are tabs drawn when picked."""
    curves_drawn(2)(page)
    page.locator(".st-key-params_table table").wait_for()


def echarts_drawn(count: int) -> Waiter:
    def wait(page: Any) -> None:
        page.locator('[data-testid="stEChartsChart"][aria-busy="false"]').nth(count - 1).wait_for()

    return wait


def plotly_drawn(count: int) -> Waiter:
    def wait(page: Any) -> None:
        page.locator('[data-testid="stPlotlyChart"] .main-svg').nth(count - 1).wait_for()

    return wait


def _load(context: Any, url: str, drawn: Waiter) -> tuple[float, float]:
    """Seconds from opening ``url`` in a new tab until the script run is over, and until it is fully drawn."""
    from tests.app.test_browser import settle

    page = context.new_page()
    start = time.perf_counter()
    page.goto(url)
    page.locator('[data-testid="stApp"][data-test-script-state="notRunning"]').wait_for()
    finished = time.perf_counter() - start
    settle(page)
    drawn(page)
    elapsed = time.perf_counter() - start
    page.close()
    return finished, elapsed


def _alternating(context: Any, loads: dict[str, tuple[str, Waiter]], repeat: int) -> dict[str, tuple[float, float]]:
    """Medians of ``repeat`` loads of each URL, taken in turns (A, B, C, A, B, C...) after one warm-up round,
    so a change in the machine's load hits every variant alike."""
    times: dict[str, list[tuple[float, float]]] = {name: [] for name in loads}
    for attempt in range(repeat + 1):
        for name, (url, drawn) in loads.items():
            measured = _load(context, url, drawn)
            if attempt:  # the first round warms the servers' caches
                times[name].append(measured)
    return {
        name: (statistics.median(t[0] for t in got), statistics.median(t[1] for t in got))
        for name, got in times.items()
    }


def _click_to_compare(context: Any, url: str, names: list[str], repeat: int) -> float:
    """Median seconds from the click on "Compare N runs" (the runs picked on the Experiments page) until the
    Compare page is drawn."""
    from tests.app.test_browser import settle

    times = []
    for attempt in range(repeat + 1):
        page = context.new_page()
        # The sweep by name: a kept lakehouse also holds the Live suite's newer experiment, the page's default.
        page.goto(url + f"/experiments?experiment={EXPERIMENT}")
        settle(page)
        picker = page.locator('[data-testid="stMultiSelect"]').filter(has_text="Selected runs").locator("input")
        for name in names:
            picker.click()
            picker.fill(name)
            page.get_by_role("option", name=name).first.click()  # Enter would take "Select all N matches"
            settle(page, clicked=True)
            page.keyboard.press("Escape")  # closed, so the next click opens the list again
        link = page.get_by_role("link", name=f"Compare {len(names)} runs")
        link.wait_for()
        start = time.perf_counter()
        link.click()
        page.wait_for_url("**/compare?runs=*")
        settle(page)
        compare_drawn(page)
        if attempt:
            times.append(time.perf_counter() - start)
        page.close()
    return statistics.median(times)


def _cpu_seconds_of_children() -> float:
    """CPU seconds (user + system) used so far by every process below this one: the app server, Chromium and
    its renderers, Playwright's driver."""
    parents: dict[int, int] = {}
    used: dict[int, float] = {}
    tick = os.sysconf("SC_CLK_TCK")
    for entry in Path("/proc").iterdir():
        if not entry.name.isdigit():
            continue
        try:
            fields = (entry / "stat").read_text().rsplit(")", 1)[1].split()
        except OSError:
            continue
        parents[int(entry.name)] = int(fields[1])
        used[int(entry.name)] = (int(fields[11]) + int(fields[12])) / tick
    mine = {os.getpid()}
    grew = True
    while grew:
        below = {pid for pid, parent in parents.items() if parent in mine} - mine
        grew = bool(below)
        mine |= below
    return sum(used[pid] for pid in mine if pid != os.getpid())


def bench_browser(root: Path, sizes: Sizes, twelve: list[str], hundred: list[str]) -> list[Result]:
    """End to end: `lakehouse app` serving, headless Chromium loading a page until it is fully drawn; the
    anchor is the same load of a one-table Streamlit app served the same way, in turns with it."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from playwright.sync_api import sync_playwright

    from tests.app.test_browser import CHROMIUM_ARGS

    cli = str(Path(sys.executable).with_name("lakehouse"))
    server, url = _serve([cli, "app", "--root", str(root), "--port", "0", "--json"])
    folder = Path(tempfile.mkdtemp())
    anchor_server, anchor_url = _serve(_anchor_app(folder))
    out = []
    try:
        with sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                str(folder / "profile"), executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True
            )
            context.set_default_timeout(180_000)
            # The chart libraries side by side: the same two 12-curve charts in the one-table app.
            libraries = _alternating(
                context,
                {
                    "one-table app": (anchor_url + "/", table_drawn),
                    "+ 2 charts, uPlot (curves component)": (anchor_url + "/?chart=uplot", curves_drawn(2)),
                    "+ 2 charts, ECharts (st.echarts_chart)": (anchor_url + "/?chart=echarts", echarts_drawn(2)),
                    "+ 2 charts, plotly (st.plotly_chart)": (anchor_url + "/?chart=plotly", plotly_drawn(2)),
                },
                sizes.repeat,
            )
            load = round(os.getloadavg()[0], 1)
            bare = libraries.pop("one-table app")
            for name, (_, drawn) in libraries.items():
                out.append(
                    Result(f"one-table app {name}: fully drawn", drawn, bare[1], "one-table app", None, {"load": load})
                )
            pages = _alternating(
                context,
                {
                    "anchor": (anchor_url + "/", table_drawn),
                    "experiments": (url + "/experiments", table_drawn),
                    "compare": (url + "/compare?runs=" + ",".join(twelve), compare_drawn),
                },
                sizes.repeat,
            )
            load = round(os.getloadavg()[0], 1)
            anchor = pages["anchor"]
            label = f"12 runs × {sizes.points // sizes.runs:,} points"
            for name, goal, (ran, drawn) in (
                (f"Experiments page in Chromium, {sizes.runs:,} runs", 2.0, pages["experiments"]),
                (f"Compare page in Chromium, {label}", anchor[1] * 1.3, pages["compare"]),
            ):
                out.append(Result(name + ": script done", ran, anchor[0], "one-table app", None, {"load": load}))
                out.append(Result(name + ": fully drawn", drawn, anchor[1], "one-table app", goal, {"load": load}))
            hundred_url = url + "/compare?runs=" + ",".join(hundred)
            big = _alternating(context, {"compare 100": (hundred_url, compare_drawn)}, sizes.repeat)
            out.append(
                Result(
                    f"Compare page in Chromium, {len(hundred)} runs × {sizes.long_points:,} points: fully drawn",
                    big["compare 100"][1],
                    goal=2.5,
                    notes={"load": round(os.getloadavg()[0], 1)},
                )
            )
            context.close()
    finally:
        for process in (server, anchor_server):
            _stop(process)
        shutil.rmtree(folder, ignore_errors=True)
    return out


def bench_click(root: Path, sizes: Sizes, names: list[str]) -> list[Result]:
    """The Compare page drawn after the click on "Compare 12 runs" on the Experiments page (runs picked there)."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from playwright.sync_api import sync_playwright

    from tests.app.test_browser import CHROMIUM_ARGS

    cli = str(Path(sys.executable).with_name("lakehouse"))
    server, url = _serve([cli, "app", "--root", str(root), "--port", "0", "--json"])
    folder = Path(tempfile.mkdtemp())
    try:
        with sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                str(folder / "profile"), executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True
            )
            context.set_default_timeout(180_000)
            clicked = _click_to_compare(context, url, names, sizes.repeat)
            context.close()
    finally:
        _stop(server)
        shutil.rmtree(folder, ignore_errors=True)
    label = f"12 runs × {sizes.points // sizes.runs:,} points"
    notes = {"load": round(os.getloadavg()[0], 1)}
    return [
        Result(f"Compare page in Chromium, {label}: drawn after the click on Compare", clicked, goal=1.0, notes=notes)
    ]


def bench_live(root: Path, sizes: Sizes) -> list[Result]:
    """The Live page following a run that commits a point now and then, with the page re-read every second and
    every ``app.refresh_seconds`` (if that is not 1)."""
    refreshes = sorted({1, lakehouse.connect(root).settings.app_refresh_seconds})
    return [result for refresh in refreshes for result in _live(root, sizes, refresh)]


def _live(root: Path, sizes: Sizes, refresh: int) -> list[Result]:
    """How long after a commit the point is in the chart (the page stamps each draw with the wall clock), and
    the CPU that server, browser and driver use while the page sits open and nothing is committed."""
    sys.path.insert(0, str(Path(__file__).resolve().parents[1]))
    from playwright.sync_api import sync_playwright

    from tests.app.test_browser import CHROMIUM_ARGS, settle

    lh = lakehouse.connect(root)
    run = lh.start_run(experiment="live-bench", name=f"live-{refresh}s")
    for step in range(100):
        run.log({"loss": 1 / (1 + step)}, step=step)
    run.flush()
    cli = str(Path(sys.executable).with_name("lakehouse"))
    env = {**os.environ, "LAKEHOUSE_APP_REFRESH_SECONDS": str(refresh)}
    server, url = _serve([cli, "app", "--root", str(root), "--port", "0", "--json"], env=env)
    folder = Path(tempfile.mkdtemp())
    window = 30.0
    try:
        with sync_playwright() as pw:
            context = pw.chromium.launch_persistent_context(
                str(folder / "profile"), executable_path="/usr/bin/chromium", args=CHROMIUM_ARGS, headless=True
            )
            context.set_default_timeout(180_000)
            page = context.new_page()
            page.goto(f"{url}/live?run={run.id}")
            settle(page)
            chart = page.locator('.lh-chart[data-title="loss"]')
            chart.locator("canvas").wait_for()
            time.sleep(3)
            before, started = _cpu_seconds_of_children(), time.perf_counter()
            time.sleep(window)
            idle = (_cpu_seconds_of_children() - before) / (time.perf_counter() - started)
            delays = []
            for i in range(sizes.repeat * 4):
                time.sleep(refresh * 0.37 * (i % 5))  # commits at different phases of the refresh
                step = 100 + i
                run.log({"loss": 1 / (1 + step)}, step=step)
                run.flush()
                committed = time.time()
                while chart.get_attribute("data-last-x") != str(step):
                    time.sleep(0.05)
                delays.append(int(chart.get_attribute("data-drawn-at") or 0) / 1000 - committed)
            context.close()
    finally:
        run.finish()
        _stop(server)
        shutil.rmtree(folder, ignore_errors=True)
    notes = {"load": round(os.getloadavg()[0], 1), "max_ms": round(max(delays) * 1e3)}
    return [
        Result(
            f"Live page, refresh {refresh} s: a committed point drawn (median)",
            statistics.median(delays),
            None,
            "",
            1.0,
            notes,
        ),
        Result(
            f"Live page, refresh {refresh} s, open and idle: CPU ms per second, server + Chromium (goal 5 % of a core)",
            idle,
            goal=0.05,
            notes={"window_s": window, "load": notes["load"]},
        ),
    ]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--quick", action="store_true", help="small sizes (about two minutes)")
    parser.add_argument("--workdir", type=Path, default=None, help="where the lakehouse goes (default: a temp folder)")
    parser.add_argument("--keep", action="store_true", help="keep the workdir afterwards (and reuse it next time)")
    parser.add_argument("--browser", action=argparse.BooleanOptionalAction, default=Path("/usr/bin/chromium").exists())
    parser.add_argument("--json-out", type=Path, default=None, help="also write the results as JSON")
    parser.add_argument("--only", default="", help="comma-separated subset: experiments, compare, browser, click, live")
    args = parser.parse_args()
    sizes = QUICK if args.quick else FULL
    warnings.filterwarnings("ignore")
    # Streamlit's loggers keep their own level: silence AppTest's "no runtime" notes on every render.
    import streamlit.logger

    streamlit.logger.set_log_level("error")
    workdir = args.workdir or Path(tempfile.mkdtemp(prefix="lakehouse-app-bench-"))
    root = workdir / ("lh-quick" if args.quick else "lh-full")
    os.environ["LAKEHOUSE_ROOT"] = str(root)
    machine = (
        f"{os.cpu_count()} cores, Python {platform.python_version()}, polars {pl.__version__}, "
        f"load average {os.getloadavg()[0]:.1f} at start"
    )
    print(f"app benchmark ({'quick' if args.quick else 'full'}) — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — {machine}")
    results: list[Result] = []
    try:
        if (root / MARKER).exists():
            info = json.loads((root / MARKER).read_text())
            print(f"== reusing {root}")
        else:
            shutil.rmtree(root, ignore_errors=True)
            print(f"== generating {sizes.runs:,} runs and {sizes.points / 1e6:,.0f}M points in {root}", flush=True)
            info = generate(root, sizes)
        print(f"   {info['points'][0]:,} points in the fact table", flush=True)
        twelve_short = info["short"][:: max(1, len(info["short"]) // 12)][:12]
        # The newest twelve: on the Experiments page's first page, where the browser picks them to compare.
        newest = info["short"][-12:]
        newest_names = lakehouse.connect(root).runs(run_ids=newest).get_column("name").to_list()
        suites: list[tuple[str, Callable[[], list[Result]]]] = [
            ("experiments", lambda: bench_experiments(root, sizes)),
            (
                "compare 12",
                lambda: bench_compare(root, sizes, twelve_short, f"12 runs × {sizes.points // sizes.runs:,} points"),
            ),
            (
                "compare 12 long",
                lambda: bench_compare(root, sizes, info["long"][:12], f"12 runs × {sizes.long_points:,} points"),
            ),
            (
                "compare 100 long",
                lambda: bench_compare(
                    root,
                    sizes,
                    info["long"][:100],
                    f"{min(100, len(info['long']))} runs × {sizes.long_points:,} points",
                ),
            ),
        ]
        if args.browser:
            suites.append(("browser", lambda: bench_browser(root, sizes, newest, info["long"][:100])))
            suites.append(("click", lambda: bench_click(root, sizes, newest_names)))
            suites.append(("live", lambda: bench_live(root, sizes)))
        wanted = [w.strip() for w in args.only.split(",") if w.strip()]
        for name, suite in suites:
            if wanted and not any(name.startswith(w) for w in wanted):
                continue
            print(f"== {name}", flush=True)
            for r in suite():
                results.append(r)
                print(r.line(), flush=True)
    finally:
        if not args.keep and args.workdir is None:
            shutil.rmtree(workdir, ignore_errors=True)
    print("\nsummary")
    for r in results:
        print(r.line())
    if args.json_out:
        write_json(args.json_out, machine=machine, quick=args.quick, results=[r.__dict__ for r in results])


if __name__ == "__main__":
    main()
