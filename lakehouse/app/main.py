"""The lakehouse analytics app (Streamlit, read-only). Start it with ``lakehouse app [--root DIR]``.

Pages live in ``views/``; what they share (connection, cached queries, charts, messages) beside this file.
The lakehouse root comes from the settings (``LAKEHOUSE_ROOT``, which ``lakehouse app`` sets), never from
the page: nothing a visitor types can point the app at another folder.
"""

from __future__ import annotations

import streamlit as st

from lakehouse.app import shell
from lakehouse.app.page_list import PAGES

st.set_page_config(page_title="lakehouse", page_icon=":material/database:", layout="wide")

pages = [
    st.Page(p.script, title=p.title, icon=p.icon, url_path=p.url_path or None, default=not p.url_path) for p in PAGES
]
page = st.navigation(pages)
shell.sidebar()
with shell.guarded(page.title):
    page.run()
