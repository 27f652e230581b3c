"""Live: a running run's curves, redrawn as soon as new points are committed, so overfitting shows before the
run ends.

The page is drawn by full script runs only. While auto-refresh is on, the browser holds one request to the
server, which checks every ``app.refresh_seconds`` whether a table the page reads has a new commit and answers
then (:mod:`lakehouse.app.live_watch`: a listing of the tables' logs, no table is loaded, no script run); the
page reruns only on that answer. An idle page therefore costs the server one such check per refresh and the
browser nothing, and a new point is drawn one refresh after its commit at most.
"""

from __future__ import annotations

from datetime import UTC, datetime

import polars as pl
import streamlit as st

from lakehouse.app import curves, live_watch
from lakehouse.app import run_queries as rq
from lakehouse.app.shell import guarded, handle

# A running run this long without a new point has probably lost its process (killed, machine gone).
SILENT_SECONDS = 600

st.title("Live")

# Read before anything the page draws: a commit landing while the page is drawn changes the stamp again, so
# the next check reruns the page rather than missing it.
seen = rq.live_stamp()
versions = rq.runs_stamp()
runs = rq.all_runs_or_stop(versions)
wanted = rq.run_in_url(runs)
running = runs.filter(pl.col("status") == "RUNNING")
options = running.get_column("run_id").to_list()
if wanted is not None and wanted not in options:
    options.insert(0, wanted)  # a run that just finished stays on screen with its final curves
if not options:
    st.info(
        "No run is running right now. Runs appear here while they train and log through lakehouse "
        "(`run.log(...)` or the Keras callback); finished runs are on the Run page.",
        icon=":material/timer_off:",
    )
    st.stop()

names = dict(zip(runs.get_column("run_id").to_list(), runs.get_column("name").to_list(), strict=True))
picker, toggle = st.columns([3, 1])
picked = picker.selectbox(
    "Running run",
    options,
    index=options.index(wanted) if wanted in options else 0,
    format_func=lambda r: rq.label({"run_id": r, "name": names.get(r)}),
    key=f"live_picker:{wanted}",
)
assert picked is not None
st.query_params["run"] = picked
interval = handle().settings.app_refresh_seconds
auto = toggle.toggle(f"Auto-refresh every {interval} s", value=True, key="live_auto")


def overfitting(points: pl.DataFrame, key: str) -> str | None:
    """A warning when ``val_<key>`` has risen for a while from its best step while ``key`` kept falling."""
    val = points.filter(pl.col("key") == f"val_{key}").sort("step")
    train = points.filter(pl.col("key") == key).sort("step")
    if val.height < 3 or train.height < 3:
        return None
    best = val.row(int(val.get_column("value").arg_min() or 0), named=True)
    last = val.row(-1, named=True)
    after = train.filter(pl.col("step") >= best["step"]).get_column("value")
    # Noise is not a trend: ask for a few steps past the best and a rise of at least 2 %.
    rising = last["step"] - best["step"] >= 3 and last["value"] > best["value"] * 1.02
    if rising and after.len() > 1 and after[-1] < after[0]:
        return (
            f"`val_{key}` has risen since step {best['step']} ({best['value']:.4g} → {last['value']:.4g}) "
            f"while `{key}` kept falling: the model is overfitting."
        )
    return None


def live(run_id: str) -> None:
    with guarded("The live view"):
        info = rq.run_info(run_id, versions)
        points = rq.points((run_id,), None, handle().settings.app_max_points, rq.points_stamp())
        newest = points.get_column("timestamp").max() if points.height else None
        facts = st.columns(4)
        facts[0].metric("Status", info.status + (" (lost)" if info.lost else ""))
        facts[1].metric("Last step", "—" if info.last_step is None else f"{info.last_step:,}")
        facts[2].metric("Points", f"{sum(m.count for m in info.metrics.values()):,}")
        # A time, not an age: the page is not redrawn while nothing changes, and an age would go stale.
        facts[3].metric("Last point", f"{newest:%H:%M:%S} UTC" if isinstance(newest, datetime) else "—")
        age = (datetime.now(UTC) - newest).total_seconds() if isinstance(newest, datetime) else None
        if info.status != "RUNNING":
            st.success(f"The run ended: {info.status}. Its full record is on the Run page.")
        elif info.lost:
            st.warning(rq.lost_warning(info), icon=":material/hourglass_disabled:")
        elif age is not None and age > SILENT_SECONDS:
            st.warning(
                f"No new point for {age / 60:.0f} min. Its process still sends heartbeats, so it is alive and only "
                "quiet (evaluating, waiting for data); if they stop, the run shows as lost and "
                "`lakehouse runs recover --stale` marks it FAILED.",
                icon=":material/hourglass_disabled:",
            )
        keys = sorted(points.get_column("key").unique().to_list())
        paired = [k for k in keys if not k.startswith("val_") and f"val_{k}" in keys]
        alone = [k for k in keys if k not in paired and not (k.startswith("val_") and k[4:] in paired)]
        for key in paired:
            warning = overfitting(points, key)
            if warning:
                st.warning(warning, icon=":material/trending_up:")
        cells = st.columns(2)
        labels = {run_id: info.name or run_id[:8]}
        colors = rq.colors(versions)
        for i, key in enumerate([*paired, *alone]):
            with cells[i % 2]:
                if key in paired:
                    chart = curves.train_vs_validation(points, key, color=colors.get(run_id, curves.PALETTE[0]))
                else:
                    chart = curves.lines(points, key, labels=labels, colors=colors)
                # Keyed: a refresh gives the same chart new columns instead of a new chart.
                curves.draw(chart, key=f"live_curve:{key}")
        if not keys:
            st.caption("No metrics logged yet; they appear here as soon as the run's first batch is committed.")
        checked = f"; checked for new points every {interval} s" if auto else ""
        st.caption(f"Drawn at {datetime.now(UTC):%H:%M:%S} UTC{checked}.")


live(picked)
if auto:
    live_watch.watch(seen, seconds=interval)
