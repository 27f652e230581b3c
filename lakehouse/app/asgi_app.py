"""The app as the server runs it: Streamlit's pages (``main.py``) plus the routes the pages ask (see
:mod:`lakehouse.app.live_watch`).

``lakehouse app`` runs this file with ``streamlit run``, which finds ``app`` below and serves it with uvicorn,
taking every ``--server.*`` option as it does for a plain script. Tests run ``main.py`` itself in AppTest.
"""

from __future__ import annotations

from pathlib import Path

import streamlit as st

from lakehouse.app import live_watch

app = st.App(Path(__file__).resolve().with_name("main.py"), routes=live_watch.routes())
