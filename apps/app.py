"""The lakehouse analytics app (Streamlit, read-only). Start it with ``lakehouse app [--root DIR]``.

Pages live in ``views/``; what they share (connection, cached queries, charts, messages) in ``lhapp/``.
The lakehouse root comes from the settings (``LAKEHOUSE_ROOT``, which ``lakehouse app`` sets), never from
the page: nothing a visitor types can point the app at another folder.
"""

from __future__ import annotations

import streamlit as st

from lhapp import shell

st.set_page_config(page_title="lakehouse", page_icon=":material/database:", layout="wide")

pages = [
    st.Page("views/datasets.py", title="Datasets", icon=":material/dataset:", url_path="datasets", default=True),
]
page = st.navigation(pages)
shell.sidebar()
with shell.guarded(page.title):
    page.run()
