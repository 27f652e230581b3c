"""The lakehouse analytics app (Streamlit, read-only). Start it with ``lakehouse app [--root DIR]``.

Pages live in ``views/``; what they share (connection, cached queries, charts, messages) beside this file.
The lakehouse root comes from the settings (``LAKEHOUSE_ROOT``, which ``lakehouse app`` sets), never from
the page: nothing a visitor types can point the app at another folder.
"""

from __future__ import annotations

import streamlit as st

from lakehouse.app import shell

st.set_page_config(page_title="lakehouse", page_icon=":material/database:", layout="wide")

pages = [
    st.Page("views/datasets.py", title="Datasets", icon=":material/dataset:", default=True),
    st.Page("views/experiments.py", title="Experiments", icon=":material/table_chart:", url_path="experiments"),
    st.Page("views/compare.py", title="Compare", icon=":material/compare_arrows:", url_path="compare"),
    st.Page("views/run.py", title="Run", icon=":material/monitoring:", url_path="run"),
    st.Page("views/live.py", title="Live", icon=":material/timer:", url_path="live"),
    st.Page("views/models.py", title="Models", icon=":material/model_training:", url_path="models"),
    st.Page("views/sql.py", title="SQL", icon=":material/terminal:", url_path="sql"),
]
page = st.navigation(pages)
shell.sidebar()
with shell.guarded(page.title):
    page.run()
