"""The app as the server runs it: Streamlit's pages (``main.py``), the routes the pages ask (see
:mod:`lakehouse.app.live_watch`), and the HTML page served with the server's address in it (see
:mod:`lakehouse.app.index_page`).

``lakehouse app`` runs this file with ``streamlit run``, which finds ``app`` below and serves it with uvicorn,
taking every ``--server.*`` option as it does for a plain script. Tests run ``main.py`` itself in AppTest.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from lakehouse.app import index_page, live_watch

app = st.App(Path(__file__).resolve().with_name("main.py"), routes=[*index_page.routes(), *live_watch.routes()])
