"""The app's HTML page, served with its server's address written in, so a new tab connects at the first try.

Streamlit's page finds its server by asking for ``<the page's path>/_stcore/health``: on any page but the
first (``/compare``, ``/run``...) that answers 404, and the page tries the root only after a pause. Opening
Compare in a new tab spent 100–130 ms that way before its websocket opened (docs/BENCHMARKS.md, 2026-12-07).
Streamlit reads ``window.__streamlit.BACKEND_BASE_URL`` (what a host embedding an app sets) and then asks
there first, so this module serves Streamlit's own ``index.html`` for every page's path with that one setting
added: the root of the app (under ``server.baseUrlPath`` when one is set). Everything else is Streamlit's.
"""

from __future__ import annotations

import functools
import json
from pathlib import Path

import streamlit as st
from starlette.requests import Request
from starlette.responses import HTMLResponse
from starlette.routing import Route
from streamlit import file_util

from lakehouse.app.page_list import PAGES

_HEAD = "<head>"


@functools.cache
def html(base: str) -> str:
    """Streamlit's ``index.html`` with the server's base URL set first thing in its head (``base``: the
    ``server.baseUrlPath``, without slashes)."""
    page = Path(file_util.get_static_dir(), "index.html").read_text(encoding="utf-8")
    if _HEAD not in page:  # another page layout: serve it as it is, the browser finds the server anyway
        return page
    address = f"location.origin + {json.dumps('/' + base if base else '/')}"
    setting = f"<script>window.__streamlit = {{BACKEND_BASE_URL: {address}}};</script>"
    return page.replace(_HEAD, _HEAD + setting, 1)


def _base() -> str:
    return str(st.get_option("server.baseUrlPath") or "").strip("/")


async def index(request: Request) -> HTMLResponse:
    # no-cache, as Streamlit serves it: the page names the bundles of the Streamlit version installed
    return HTMLResponse(html(_base()), headers={"Cache-Control": "no-cache"})


def routes() -> list[Route]:
    """A route per page (the root and each page's path, under the base path)."""
    base = _base()
    prefix = f"/{base}" if base else ""
    paths = [f"{prefix}/{p.url_path}" if p.url_path else f"{prefix}/" for p in PAGES]
    return [Route(path, index, methods=["GET", "HEAD"]) for path in paths]
