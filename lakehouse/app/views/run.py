"""Run: one run's params, tags, status, environment, metric curves, the dataset versions it used and the W&B
artifact versions it used or logged."""

from __future__ import annotations

import polars as pl
import streamlit as st

from lakehouse.app import curve_panel, curves, files
from lakehouse.app import run_queries as rq
from lakehouse.app.shell import guarded, handle, table

st.title("Run")

versions = rq.runs_stamp()
recent = rq.all_runs_or_stop(versions)
run_id = rq.run_in_url(recent)
options = recent.head(rq.PICKER_LIMIT).get_column("run_id").to_list()
if run_id is not None and run_id not in options:
    options.insert(0, run_id)
names = dict(zip(recent.get_column("run_id").to_list(), recent.get_column("name").to_list(), strict=True))
picked = st.selectbox(
    "Run",
    options,
    index=options.index(run_id) if run_id is not None else 0,
    format_func=lambda r: rq.label({"run_id": r, "name": names.get(r)}),
    key=f"run_picker:{run_id}",
)
assert picked is not None
st.query_params["run"] = picked
info = rq.run_info(picked, versions)

badge = {"RUNNING": "blue", "FINISHED": "green", "FAILED": "red", "KILLED": "orange"}.get(info.status, "gray")
st.subheader(f"{info.name or info.id} :{badge}-badge[{info.status}]")
facts = st.columns(5)
facts[0].metric("Experiment", info.experiment or "default")
facts[1].metric("Status", info.status + (" (lost)" if info.lost else ""))
facts[2].metric("Duration", f"{info.duration_s:.1f} s" if info.duration_s is not None else "running")
facts[3].metric("Last step", "—" if info.last_step is None else f"{info.last_step:,}")
facts[4].metric("Points", f"{sum(m.count for m in info.metrics.values()):,}")
started = info.start_time.strftime("%Y-%m-%d %H:%M:%S UTC") if info.start_time else "—"
st.caption(f"run id `{info.id}` · started {started} · job type {info.job_type or '—'} · {info.lifecycle}")
if info.status in ("FAILED", "KILLED") and info.error:
    st.warning(f"**{info.status.title()}**: {info.error}", icon=":material/report:")
if info.lost:
    st.warning(rq.lost_warning(info), icon=":material/hourglass_disabled:")
if info.status == "RUNNING":
    st.page_link("views/live.py", label="Watch it live", icon=":material/timer:", query_params={"run": info.id})

with guarded("Metric curves"):
    st.subheader("Metrics")
    keys = curves.default_keys(list(info.metrics), limit=len(info.metrics))
    if not keys:
        st.caption("This run logged no metrics.")
    else:
        drawing = curve_panel.controls("run", st.columns([2, 1, 1]), horizontal=True)
        max_points = handle().settings.app_max_points
        points = rq.points((info.id,), tuple(keys), max_points, rq.points_stamp())
        labels = {info.id: info.name or info.id[:8]}
        colors = rq.colors(versions)
        curve_panel.grid(
            points, keys, labels=labels, colors=colors, options=drawing, key_prefix="run_curve", height=280
        )
        summary = pl.DataFrame(
            [
                {
                    "metric": m.key,
                    "last": m.last,
                    "min": m.min,
                    "max": m.max,
                    "points": m.count,
                    "last step": m.last_step,
                }
                for m in info.metrics.values()
            ]
        )
        table(summary, key="run_metrics_table")

left, right = st.columns(2)
with left, guarded("Params"):
    st.subheader("Params")
    if info.params:
        table(pl.DataFrame({"param": list(info.params), "value": list(info.params.values())}), key="run_params_table")
    else:
        st.caption("No params.")
with right, guarded("Tags"):
    st.subheader("Tags")
    if info.tags:
        table(pl.DataFrame({"tag": list(info.tags), "value": list(info.tags.values())}), key="run_tags_table")
    else:
        st.caption("No tags.")

artifact_versions = rq.wandb_artifacts(rq.wandb_artifacts_stamp())
artifact_refs = set(artifact_versions.get_column("ref").to_list())
datasets_used = [i for i in info.inputs if i.version_ref not in artifact_refs]

with guarded("Inputs"):
    st.subheader("Dataset versions used")
    if not datasets_used:
        st.caption("This run recorded no dataset inputs.")
    else:
        inputs = pl.DataFrame(
            [
                {"dataset": i.dataset, "version": i.version, "asked for": i.ref, "context": i.context, "at": i.at}
                for i in datasets_used
            ]
        )
        table(inputs, key="run_inputs_table")
        links = st.columns(min(len(datasets_used), 4))
        for i, used in enumerate(datasets_used[:4]):
            links[i].page_link(
                "views/datasets.py",
                label=f"{used.version_ref}",
                icon=":material/dataset:",
                query_params={"dataset": used.dataset, "tab": "Preview", "ref": used.version_ref},
            )

with guarded("W&B artifacts"):
    # Versions this run used (its inputs) or logged (it holds their files), as lakehouse.wandb records them.
    asked = {i.version_ref: i.ref for i in info.inputs if i.version_ref in artifact_refs}
    mine = artifact_versions.filter(pl.col("ref").is_in(list(asked)) | (pl.col("logged_by") == info.id))
    if not mine.is_empty():
        st.subheader("W&B artifacts")
        shown = mine.select(
            pl.format("{}:v{}", "name", "version").alias("artifact"),
            pl.concat_list(
                pl.when(pl.col("logged_by") == info.id).then(pl.lit("logged")),
                pl.when(pl.col("ref").is_in(list(asked))).then(pl.lit("used")),
            )
            .list.drop_nulls()
            .list.join(", ")
            .alias("role"),
            pl.col("ref").replace_strict(asked, default=None, return_dtype=pl.String).alias("asked for"),
            "type",
            pl.col("aliases").list.join(", "),
            "logged_by",
            "logged_at",
        )
        table(shown, key="run_wandb_artifacts_table")
        producers = [r for r in mine.get_column("logged_by").unique(maintain_order=True).to_list() if r != info.id]
        links = st.columns(max(1, min(len(producers), 4)))
        for i, producer in enumerate(producers[:4]):
            links[i].page_link(
                "views/run.py",
                label=f"logged by {producer}",
                icon=":material/monitoring:",
                query_params={"run": producer},
            )

with guarded("Artifacts"):
    st.subheader("Artifacts")
    logged = files.run_artifacts(info.id, files.artifacts_stamp())
    if logged.is_empty():
        st.caption("This run logged no files (`run.log_artifact(path)` keeps one).")
    else:
        files.panel(info.id, logged, key="run_artifacts")

with guarded("Environment"):
    st.subheader("Environment")
    env = dict(info.environment)
    packages = env.pop("packages", None)
    git = {k: env.pop(k) for k in list(env) if k.startswith("git_")}
    a, b = st.columns(2)
    with a:
        st.caption("Where it ran")
        st.json(env, expanded=True)
    with b:
        st.caption("Git")
        st.json(git or {"git_commit": None}, expanded=True)
    if packages:
        with st.expander(f"Packages ({len(packages)})"):
            table(
                pl.DataFrame({"package": list(packages), "version": [str(v) for v in packages.values()]}),
                key="run_packages_table",
            )
