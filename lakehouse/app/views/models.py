"""Models: registered models, their versions with alias badges, the aliases' history, and each version's
lineage (the run that built it with its params and final metrics, and the dataset versions it trained on)."""

from __future__ import annotations

import polars as pl
import streamlit as st

from lakehouse.app import files, params
from lakehouse.app import model_queries as mq
from lakehouse.app import run_queries as rq
from lakehouse.app.shell import empty_lakehouse, error, guarded, table

st.title("Models")

stamp = mq.models_stamp()
registered = mq.models(stamp)
if not registered:
    empty_lakehouse("registered models")
    st.caption("Register one with `lh.register_model(name, f'runs:/{run_id}/model')` or `lakehouse models register`.")
    st.stop()


def when(value: object) -> str:
    return value.strftime("%Y-%m-%d %H:%M UTC") if hasattr(value, "strftime") else ""


overview = pl.DataFrame(
    [
        {
            "model": m.name,
            "latest": None if m.latest_version is None else f"v{m.latest_version}",
            "versions": m.version_count,
            "aliases": ", ".join(f"{a} → v{v}" for a, v in m.aliases.items()),
            "description": m.description,
            "updated": when(m.updated_at),
        }
        for m in registered
    ]
)
table(overview, key="models_table")

names = [m.name for m in registered]
asked = params.raw("model")
index = 0
if asked is not None:
    if asked in names:
        index = names.index(asked)
    else:
        error(f"`model={asked}` in the URL: no registered model {asked!r}; showing {names[0]!r}")
name = st.selectbox("Model", names, index=index, key=f"model_picker:{asked}")
assert name is not None
st.query_params["model"] = name
info = registered[names.index(name)]

st.subheader(name)
if info.description:
    st.caption(info.description)
if info.aliases:
    st.markdown(" ".join(f":green-badge[{alias} → v{version}]" for alias, version in info.aliases.items()))

with guarded("Versions"):
    found = mq.versions(name, stamp)
    rows = [
        {
            "version": f"v{v.version}",
            "aliases": ", ".join(v.aliases),
            "run": v.run_id,
            "source": v.source,
            "description": v.description,
            "registered": when(v.created_at),
            "by": v.created_by,
        }
        for v in reversed(found)
    ]
    st.subheader("Versions")
    table(pl.DataFrame(rows), key="model_versions_table")

with guarded("Alias history"):
    st.subheader("Alias history")
    changes = mq.alias_history(name, stamp)
    if not changes:
        st.caption("No alias was ever set on this model.")
    else:
        history = pl.DataFrame(
            [
                {
                    "when": when(c.at),
                    "alias": c.alias,
                    "change": c.change,
                    "from": None if c.previous_version is None else f"v{c.previous_version}",
                    "to": None if c.version is None else f"v{c.version}",
                    "by": c.actor,
                    "reason": c.reason,
                }
                for c in reversed(changes)
            ]
        )
        table(history, key="alias_history_table")

with guarded("Version lineage"):
    st.subheader("Lineage")
    numbers = [v.version for v in reversed(found)]
    asked_version = params.raw("version")
    chosen = 0
    if asked_version is not None:
        wanted = asked_version.removeprefix("v")
        if wanted.isdigit() and int(wanted) in numbers:
            chosen = numbers.index(int(wanted))
        else:
            error(f"`version={asked_version}` in the URL: model {name!r} has no live version {asked_version!r}")
    number = st.selectbox(
        "Version", numbers, index=chosen, format_func=lambda n: f"v{n}", key=f"version_picker:{name}:{asked_version}"
    )
    if number is not None:
        st.query_params["version"] = f"v{number}"
        lineage = mq.lineage(f"{name}:v{number}", mq.lineage_stamp())
        st.markdown("**Files**")
        held = files.version_files(f"{name}:v{number}", files.version_files_stamp())
        if held.is_empty():
            st.caption(f"No files are logged under the source `{lineage.version.source}`.")
        else:
            owner = lineage.version.run_id if lineage.version.logged_model_id is None else None
            files.panel(owner, held, key="version_files", images=False)
        run = lineage.run
        if run is None:
            st.caption(f"The source `{lineage.version.source}` names no run under this root.")
        else:
            st.page_link(
                "views/run.py",
                label=f"Run {run.name or run.id} ({run.status})",
                icon=":material/monitoring:",
                query_params={"run": run.id},
            )
            left, right = st.columns(2)
            with left:
                st.markdown("**Params**")
                items = sorted(lineage.params.items())
                table(
                    pl.DataFrame({"param": [k for k, _ in items], "value": [v for _, v in items]}), key="lineage_params"
                )
            with right:
                st.markdown("**Final metrics**")
                items_m = sorted(lineage.metrics.items())
                metrics = pl.DataFrame({"metric": [k for k, _ in items_m], "last": [v for _, v in items_m]})
                table(metrics, key="lineage_metrics")
            st.markdown("**Dataset versions used**")
            if not lineage.inputs:
                st.caption("The run recorded no dataset inputs.")
            artifacts = rq.wandb_artifacts(rq.wandb_artifacts_stamp())
            # A W&B artifact version used (lakehouse.wandb) is no dataset: it links to the run that logged it.
            producers = dict(artifacts.select("ref", "logged_by").iter_rows())
            links = st.columns(max(1, min(len(lineage.inputs), 4)))
            for i, used in enumerate(lineage.inputs[:4]):
                producer = producers.get(used.version_ref)
                if producer is not None:
                    links[i].page_link(
                        "views/run.py",
                        label=used.version_ref,
                        icon=":material/deployed_code:",
                        query_params={"run": producer},
                    )
                    continue
                links[i].page_link(
                    "views/datasets.py",
                    label=used.version_ref,
                    icon=":material/dataset:",
                    query_params={"dataset": used.dataset, "tab": "Preview", "ref": used.version_ref},
                )
