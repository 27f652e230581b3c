"""SQL: ask the lakehouse anything. An editor, the result as a table and a chart, the names with their columns,
and the showcase queries as examples. Read-only like every page (the SQL guard refuses anything but a query),
and bounded: a row limit and a time limit per query, so one query cannot hold the server."""

from __future__ import annotations

import polars as pl
import streamlit as st

from lakehouse.app import charts
from lakehouse.app import sql_queries as sq
from lakehouse.app.shell import guarded, table

st.title("SQL")

versions = sq.stamp_all()
examples = sq.examples(versions)

with st.sidebar:
    st.subheader("Names")
    st.caption('Datasets by ref in double quotes: `"digits:v2"`, `"digits:prod"`, `"digits:v1..v2"` (changed rows).')
    with guarded("The list of names"):
        for name, about in sq.tables(versions).items():
            with st.expander(name):
                st.caption(about)
                table(sq.columns(name, versions), key=f"sql_columns_{name}")


def _use_example() -> None:
    chosen = st.session_state.get("sql_example")
    for example in examples:
        if example.title == chosen:
            st.session_state.sql = example.query


st.selectbox(
    "Example queries",
    [e.title for e in examples],
    index=None,
    placeholder="pick an example to load it into the editor",
    key="sql_example",
    on_change=_use_example,
)
if "sql" not in st.session_state:
    st.session_state.sql = st.query_params.get("sql") or (examples[0].query if examples else sq.FIRST_QUERY)
query = st.text_area("Query", key="sql", height=220)
limits = st.columns([1, 1, 4], vertical_alignment="bottom")
max_rows = int(limits[0].number_input("Row limit", min_value=1, max_value=sq.MAX_ROWS, value=1000, key="sql_rows"))
seconds = float(
    limits[1].number_input("Time limit (s)", min_value=1, max_value=sq.MAX_SECONDS, value=10, key="sql_seconds")
)
limits[2].caption("Read-only: CREATE, INSERT, DELETE, file functions and the like are refused.")

if query.strip():
    with guarded("The query"):
        result = sq.run(query, max_rows, seconds, versions)
        shown = result.frame
        st.caption(
            f"{shown.height:,} rows · {result.seconds * 1000:,.0f} ms"
            + (f" · only the first {max_rows:,} rows (the row limit)" if result.truncated else "")
        )
        table(shown, key="sql_result")
        numbers = charts.numeric_columns(shown)
        if numbers and shown.height:
            kinds = st.columns([1, 2, 3])
            kind = kinds[0].radio("Chart", charts.RESULT_CHARTS, horizontal=True, key="sql_chart")
            others = [c for c in shown.columns if not isinstance(shown.schema[c], pl.List | pl.Struct)]
            x = kinds[1].selectbox("x", others, index=0, key="sql_x")
            default = [c for c in numbers if c != x][-1:] or numbers[:1]  # the last number: often the answer
            ys = kinds[2].multiselect("y", numbers, default=default, key="sql_y")
            if ys and x is not None:
                st.plotly_chart(charts.result_chart(shown, kind=kind, x=x, ys=ys, title="result"))
