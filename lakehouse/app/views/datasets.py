"""Datasets: every dataset, its version history, schemas, previews, diffs, tags and the runs that used it."""

from __future__ import annotations

import polars as pl
import streamlit as st

from lakehouse.app import charts, file_grid, filters, paging, params
from lakehouse.app import dataset_queries as q
from lakehouse.app import file_queries as fq
from lakehouse.app import run_queries as rq
from lakehouse.app.shell import empty_lakehouse, guarded, handle, stamp, table

st.title("Datasets")

#: Files of each kind (added, removed, changed) the Diff tab shows as thumbnails.
DIFF_THUMBS = 24

versions = stamp("datasets/", "_catalog/")
datasets = q.overview(versions)
if datasets.is_empty():
    empty_lakehouse("datasets")
    st.stop()

table(datasets, key="datasets_table")

names = datasets.get_column("dataset").to_list()
# Selected by default: the dataset with the most history (then the most recently changed).
richest = datasets.with_columns(pl.col("latest").str.strip_prefix("v").cast(pl.Int64).alias("n"))
richest = richest.sort("n", "updated", descending=True).get_column("dataset")[0]
name = params.choice(
    "Dataset",
    names,
    key="dataset",
    index=names.index(richest),
    explain=lambda n: handle().dataset(n).latest_version,
)
assert name is not None
own = stamp(f"datasets/{name}", "_catalog/tags", "tracking/inputs")
history = q.history(name, own)
numbers = history.get_column("version").to_list()  # newest first
live_tags, tag_events = q.tags(name, own)

history_tab, schema_tab, preview_tab, files_tab, diff_tab, tags_tab, runs_tab = st.tabs(
    ["History", "Schema", "Preview", "Files", "Diff", "Tags", "Runs"], key="tab", bind="query-params"
)


def _explain_version(text: str) -> None:
    handle().resolve(f"{name}:{text}")


if history_tab.open:
    with history_tab, guarded("History"):
        latest = history.row(0, named=True)
        a, b, c, d = st.columns(4)
        a.metric("Latest version", f"v{latest['version']}")
        b.metric("Rows", f"{latest['number_of_samples']:,}")
        c.metric("Versions", len(numbers))
        d.metric("Tags", len(live_tags))
        st.plotly_chart(charts.dataset_timeline(history, title=f"{name}: rows per version"), key="timeline")
        table(
            history,
            key="history_table",
            column_config={
                "created_at": st.column_config.DatetimeColumn("created at", format="YYYY-MM-DD HH:mm:ss"),
                "number_of_samples": st.column_config.NumberColumn("samples"),
            },
        )

if schema_tab.open:
    with schema_tab, guarded("Schema"):
        version = params.choice(
            "Version", numbers, key="schema_version", format_func=lambda v: f"v{v}", explain=_explain_version
        )
        assert version is not None
        table(q.schema(name, version, own), key="schema_table")

if preview_tab.open:
    with preview_tab, guarded("Preview"):
        refs = [f"{name}:latest"] + [f"{name}:{t}" for t in live_tags.get_column("tag")]
        refs += [f"{name}:v{v}" for v in numbers]
        # A link may carry any ref the grammar allows (``name@2026-11-01T12:00:00Z`` too), not only
        # the listed ones; a bad one is explained by the error resolving it raises.
        given = params.raw("ref")
        picked_ref = st.selectbox("Version or tag", refs, key="ref", bind="query-params")
        target = given if given is not None and given not in refs else picked_ref
        assert target is not None
        preview = q.preview(target, own)
        st.caption(f"`{preview.ref}` · {preview.num_rows:,} rows · first {min(preview.num_rows, q.PREVIEW_ROWS)} shown")
        table(preview.rows, key="preview_table")

if files_tab.open:
    with files_tab, guarded("Files"):
        version_box, label_box, size_box, number_box = st.columns([1, 3, 1, 1], vertical_alignment="bottom")
        with version_box:
            files_version = params.choice(
                "Version", numbers, key="files_version", format_func=lambda v: f"v{v}", explain=_explain_version
            )
        assert files_version is not None
        if not fq.is_files(name, files_version, own):
            st.info(
                f"`{name}` is a table, not a file dataset. Make one from a folder of images, audio or text with "
                "`lakehouse datasets add-files NAME FOLDER`."
            )
        else:
            ref = f"{name}:v{files_version}"
            listed = fq.listing(ref, own)
            label = fq.label_column(listed)
            values = [] if label is None else sorted(str(v) for v in listed.get_column(label).drop_nulls().unique())
            picked = label_box.multiselect(
                f"Filter by {label or 'label'}", values, key="files_label", disabled=label is None, bind="query-params"
            )
            shown = fq.with_labels(listed, column=label, labels=picked)
            size = size_box.selectbox(
                "Files per page", fq.PAGE_SIZES, index=1, key="files_page_size", bind="query-params"
            )
            pages = paging.page_count(shown.height, size)
            if st.session_state.get("files_page", 1) > pages:  # fewer files than before (a filter)
                st.session_state.files_page = pages
            number = int(
                number_box.number_input(
                    "Page", min_value=1, max_value=pages, value=1, key="files_page", bind="query-params"
                )
            )
            page = shown.slice((number - 1) * size, size)
            first = (number - 1) * size + 1 if page.height else 0
            st.caption(
                f"`{ref}` · files {first:,}–{first + page.height - 1 if page.height else 0:,} of {shown.height:,}"
                + (f" (of {listed.height:,} in the version)" if shown.height != listed.height else "")
                + f" · page {number} of {pages}"
            )
            file_grid.show(fq.cells(ref, tuple(page.get_column("path")), own), key="files_grid")

if diff_tab.open:
    with diff_tab, guarded("Diff"):
        left, right, keys = st.columns([1, 1, 2])
        with left:
            a_version = params.choice(
                "From version",
                numbers,
                key="a",
                index=min(1, len(numbers) - 1),
                format_func=lambda v: f"v{v}",
                explain=_explain_version,
            )
        with right:
            b_version = params.choice(
                "To version", numbers, key="b", format_func=lambda v: f"v{v}", explain=_explain_version
            )
        assert a_version is not None
        assert b_version is not None
        columns = [c for c in q.schema(name, b_version, own).get_column("column") if c]
        both_files = fq.is_files(name, a_version, own) and fq.is_files(name, b_version, own)
        # Files are matched by path (their key); tables by an id column if they have one.
        guess = ["path"] if both_files else [c for c in columns if c == "id" or c.endswith("_id")][:1]
        with keys:
            key = st.multiselect(
                "Key columns (match rows by key to find changed rows)", columns, default=guess, key="diff_key"
            )
        view = q.diff(name, a_version, b_version, tuple(key), own)
        s = view.summary
        m1, m2, m3, m4 = st.columns(4)
        m1.metric("Added rows", f"{s['added']:,}")
        m2.metric("Removed rows", f"{s['removed']:,}")
        m3.metric("Changed rows", f"{s['changed']:,}" if key else "—", help="Needs key columns.")
        m4.metric("Schema changes", len(s["schema_changes"]))
        if s["schema_changes"]:
            st.code("\n".join(s["schema_changes"]), language=None)
        if s["added"] == s["removed"] == s["changed"] == 0 and not s["schema_changes"]:
            st.success(f"v{a_version} and v{b_version} hold the same rows.")
        if both_files:
            # Files: what was added, removed or changed, as the files themselves (the first few of each).
            old_ref, new_ref = f"{name}:v{a_version}", f"{name}:v{b_version}"
            for title, source_ref, frame, grid_key in (
                ("Added files", new_ref, view.added, "diff_added_files"),
                ("Removed files", old_ref, view.removed, "diff_removed_files"),
                (f"Changed files, before (v{a_version})", old_ref, view.changed, "diff_changed_before"),
                (f"Changed files, after (v{b_version})", new_ref, view.changed, "diff_changed_after"),
            ):
                if frame.height:
                    st.subheader(title)
                    paths = tuple(frame.get_column("path").head(DIFF_THUMBS))
                    file_grid.show(fq.cells(source_ref, paths, own), key=grid_key)
        for label, frame, total in (
            ("Added", view.added, s["added"]),
            ("Removed", view.removed, s["removed"]),
            ("Changed", view.changed, s["changed"]),
        ):
            if total:
                st.subheader(
                    f"{label} rows" + (f" (first {frame.height} of {total:,})" if total > frame.height else "")
                )
                table(frame, key=f"diff_{label.lower()}")

if tags_tab.open:
    with tags_tab, guarded("Tags"):
        if live_tags.is_empty() and tag_events.is_empty():
            st.info(f"`{name}` has no tags. Tag a version with `lakehouse datasets tag {name} TAG --version N`.")
        else:
            st.subheader("Current tags")
            table(live_tags, key="tags_table")
            st.subheader("Tag history")
            table(tag_events, key="tag_history_table")

if runs_tab.open:
    with runs_tab, guarded("Runs"):
        used = rq.usage(name, rq.runs_stamp())
        if used.is_empty():
            st.info(
                f"No run recorded `{name}` as an input yet. Runs record the versions they train on with "
                f"`lh.start_run(inputs=['{name}:prod'])` or the Keras callback's `inputs=`."
            )
        else:
            counts = dict(used.iter_rows())
            busiest = max(counts, key=lambda v: counts[v])
            chosen = params.choice(
                "Version",
                list(counts),
                key="runs_version",
                index=list(counts).index(busiest),
                format_func=lambda v: f"v{v}",
                explain=_explain_version,
            )
            st.caption(" · ".join(f"v{v}: {n} run{'s' if n != 1 else ''}" for v, n in counts.items()))
            assert chosen is not None
            runs = rq.lineage(f"{name}:v{chosen}", rq.lineage_stamp())
            shown = filters.display(runs, metrics_first=True)
            table(
                shown,
                key="lineage_table",
                column_config={"start_time": st.column_config.DatetimeColumn("started", format="YYYY-MM-DD HH:mm")},
            )
            ids = runs.get_column("run_id").to_list()
            if len(ids) > 1:
                st.page_link(
                    "views/compare.py",
                    label=f"Compare these {len(ids)} runs",
                    icon=":material/compare_arrows:",
                    query_params={"runs": ",".join(ids[:12])},
                )
