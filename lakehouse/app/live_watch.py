"""Telling an open Live page that what it shows has changed, without running the page to find out.

The server answers one small read-only route, :data:`ROUTE` (joined to Streamlit's ``server.baseUrlPath``), with
the digest of :func:`run_queries.live_stamp`: the versions of the run and point tables and the lost-check clock.
The page mounts :func:`watch` with the digest it was drawn at; the browser asks the route every refresh and
reruns the page only when the answer differs.

Why a route and not a Streamlit fragment with ``run_every``: a fragment run is a browser round trip over the
websocket, a script run and a React update, which made an idle Live page cost 6-7 % of a core at a refresh of one
second (a bare Streamlit page with a one-second fragment costs 3-4 % on its own). A GET answered from the
tables' logs costs a fraction of that, and nothing on the page moves while nothing changed.
"""

from __future__ import annotations

import functools
import hashlib
from typing import Any

import streamlit as st
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from lakehouse.app import run_queries as rq
from lakehouse.app.shell import Stamp
from lakehouse.errors import LakehouseError

ROUTE = "/api/lakehouse/live-stamp"
NAME = "lakehouse.live_watch"

# The browser side: ask the route every `seconds` while the tab is visible; on a new answer, set the trigger
# (which reruns the page) and remember it, so one change asks for one rerun. A failed request (the server
# restarting, a reload) is tried again next time.
_JS = """
export default function watch({ data, setTriggerValue }) {
  const { url, shown, seconds } = data;
  let seen = shown;
  let stopped = false;
  let timer;
  async function check() {
    if (stopped) return;
    if (!document.hidden) {
      try {
        const response = await fetch(url, { cache: "no-store", headers: { Accept: "application/json" } });
        if (response.ok) {
          const { stamp } = await response.json();
          if (!stopped && stamp !== seen) {
            seen = stamp;
            setTriggerValue("changed", stamp);
          }
        }
      } catch (error) {
        // the next check tries again
      }
    }
    if (!stopped) timer = setTimeout(check, seconds * 1000);
  }
  timer = setTimeout(check, seconds * 1000);
  return () => {
    stopped = true;
    clearTimeout(timer);
  };
}
"""


def digest(stamp: Stamp) -> str:
    """A short fingerprint of ``stamp``: what the route answers and what the page was drawn at."""
    return hashlib.sha256(repr(stamp).encode()).hexdigest()[:20]


def path() -> str:
    """The route's path on this server (under ``server.baseUrlPath`` when one is set)."""
    base = str(st.get_option("server.baseUrlPath") or "").strip("/")
    return f"/{base}{ROUTE}" if base else ROUTE


def stamp_endpoint(request: Request) -> JSONResponse:
    """``GET`` → ``{"stamp": digest}`` of what the Live page shows now; never cached by the browser.

    A plain function: Starlette runs it on a worker thread, so listing the tables' logs never blocks the
    websocket loop.
    """
    headers = {"Cache-Control": "no-store"}
    try:
        return JSONResponse({"stamp": digest(rq.live_stamp())}, headers=headers)
    except LakehouseError as e:
        return JSONResponse({"error": str(e)}, status_code=503, headers=headers)


def routes() -> list[Route]:
    """The routes the app's server adds to Streamlit's."""
    return [Route(path(), stamp_endpoint, methods=["GET"])]


@functools.cache
def _component() -> Any:
    return st.components.v2.component(NAME, js=_JS)


def watch(shown: Stamp, *, seconds: int) -> None:
    """Rerun the page when the route's answer differs from ``shown`` (the stamp the page was drawn at)."""
    _component()(
        data={"url": path(), "shown": digest(shown), "seconds": seconds},
        key="live_watch",
        height=0,
        on_changed_change=lambda: None,
    )
