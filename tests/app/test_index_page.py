"""The HTML page the server sends for each page's path: Streamlit's, with the server's base URL in it."""

from __future__ import annotations

import asyncio
import json

from starlette.requests import Request

from lakehouse.app import index_page
from lakehouse.app.page_list import PAGES


def test_the_page_names_the_apps_root_before_any_script_runs() -> None:
    plain = index_page.html("")
    assert plain.index("window.__streamlit") < plain.index('type="module"')
    assert 'BACKEND_BASE_URL: location.origin + "/"' in plain
    assert f"BACKEND_BASE_URL: location.origin + {json.dumps('/team/lakehouse')}" in index_page.html("team/lakehouse")


def test_a_route_per_page_serves_it_uncached() -> None:
    routes = index_page.routes()
    assert [r.path for r in routes] == ["/", *(f"/{p.url_path}" for p in PAGES if p.url_path)]
    request = Request({"type": "http", "method": "GET", "path": "/compare", "headers": [], "query_string": b""})
    answer = asyncio.run(index_page.index(request))
    assert answer.headers["cache-control"] == "no-cache"
    assert b"window.__streamlit" in answer.body
