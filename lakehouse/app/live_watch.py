"""Telling an open Live page that what it shows has changed, without running the page to find out.

The server answers one small read-only route, :data:`ROUTE` (joined to Streamlit's ``server.baseUrlPath``), with
the digest of :func:`run_queries.live_stamp`: the versions of the run and point tables and the lost-check clock.
The page mounts :func:`watch` with the digest it was drawn at. The browser asks the route with that digest
(``?seen=``); the server holds the request, checking every ``app.refresh_seconds``, and answers as soon as the
digest differs or after ``wait`` seconds anyway; the browser reruns the page on a new digest and asks again.

Why: a Streamlit fragment with ``run_every`` is a websocket round trip, a script run and a React update every
refresh, which made an idle Live page cost 6-7 % of a core at one second (a bare Streamlit page with a one-second
fragment costs 3-4 % on its own). A request every second was cheaper but still cost the browser about 13 ms of
CPU per second; one held request costs it next to nothing, and the server one listing of the tables' logs per
refresh (docs/BENCHMARKS.md).
"""

from __future__ import annotations

import asyncio
import functools
import hashlib
import math
import signal
from typing import Any

import streamlit as st
from starlette.concurrency import run_in_threadpool
from starlette.requests import Request
from starlette.responses import JSONResponse
from starlette.routing import Route

from lakehouse.app import run_queries as rq
from lakehouse.app.shell import Stamp, handle
from lakehouse.errors import LakehouseError

ROUTE = "/api/lakehouse/live-stamp"
NAME = "lakehouse.live_watch"
# How long one request waits for a change before answering anyway: under the 30-60 s after which proxies
# commonly drop a quiet connection.
WAIT_SECONDS = 25.0
MAX_WAIT_SECONDS = 60.0
_HEADERS = {"Cache-Control": "no-store"}

# The browser side: ask with the digest the page was drawn at; on a new answer set the trigger (which reruns the
# page) and remember it, so one change asks for one rerun; then ask again. A failed request (the server
# restarting) is retried after a refresh interval. Unmounting or new data aborts the request in flight.
_JS = """
export default function watch({ data, setTriggerValue }) {
  const { url, shown, seconds } = data;
  const controller = new AbortController();
  let seen = shown;
  let timer;
  const pause = () => new Promise((resolve) => { timer = setTimeout(resolve, seconds * 1000); });
  (async () => {
    while (!controller.signal.aborted) {
      try {
        const response = await fetch(`${url}?seen=${encodeURIComponent(seen)}`, {
          cache: "no-store",
          headers: { Accept: "application/json" },
          signal: controller.signal,
        });
        if (!response.ok) throw new Error(String(response.status));
        const { stamp } = await response.json();
        if (stamp !== seen) {
          seen = stamp;
          setTriggerValue("changed", stamp);
        }
      } catch (error) {
        if (!controller.signal.aborted) await pause();
      }
    }
  })();
  return () => {
    controller.abort();
    clearTimeout(timer);
  };
}
"""


class _BadRequest(ValueError):
    pass


def digest(stamp: Stamp) -> str:
    """A short fingerprint of ``stamp``: what the route answers and what the page was drawn at."""
    return hashlib.sha256(repr(stamp).encode()).hexdigest()[:20]


def path() -> str:
    """The route's path on this server (under ``server.baseUrlPath`` when one is set)."""
    base = str(st.get_option("server.baseUrlPath") or "").strip("/")
    return f"/{base}{ROUTE}" if base else ROUTE


async def stamp_endpoint(request: Request) -> JSONResponse:
    """``GET [?seen=<digest>&wait=<seconds>]`` → ``{"stamp": digest}`` of what the Live page shows now.

    Without ``seen`` it answers at once. With it, it answers when the digest differs from ``seen``, or after
    ``wait`` seconds (default :data:`WAIT_SECONDS`) with the same one, or when the browser goes away. The
    tables' logs are listed on a worker thread, so a held request never blocks the server's loop.
    """
    try:
        seen, wait = _parse(request)
        loop = asyncio.get_running_loop()
        deadline = loop.time() + wait
        every = max(0.2, float((await run_in_threadpool(handle)).settings.app_refresh_seconds))
        while True:
            now = digest(await run_in_threadpool(rq.live_stamp))
            remaining = deadline - loop.time()
            changed_or_due = seen is None or now != seen or remaining <= 0
            if changed_or_due or await request.is_disconnected() or _server_stopping():
                return JSONResponse({"stamp": now}, headers=_HEADERS)
            await asyncio.sleep(min(every, remaining))
    except _BadRequest as e:
        return JSONResponse({"error": str(e)}, status_code=400, headers=_HEADERS)
    except LakehouseError as e:
        return JSONResponse({"error": str(e)}, status_code=503, headers=_HEADERS)


def _server_stopping() -> bool:
    """Whether the server has been asked to stop (Ctrl-C, SIGTERM).

    The server (uvicorn) finishes the requests in flight before it exits, so a held request must end itself.
    uvicorn keeps its exit flag on the object whose method handles the signal; without such a handler (another
    server) this says no, and a held request ends at its ``wait``. A test stops a server holding a request.
    """
    handler = signal.getsignal(signal.SIGTERM)
    return bool(getattr(getattr(handler, "__self__", None), "should_exit", False))


def _parse(request: Request) -> tuple[str | None, float]:
    seen = request.query_params.get("seen")
    text = request.query_params.get("wait")
    try:
        wait = WAIT_SECONDS if text is None else float(text)
    except ValueError:
        wait = math.nan
    if not 0 <= wait <= MAX_WAIT_SECONDS:  # also false for NaN
        msg = f"wait must be a number of seconds from 0 to {MAX_WAIT_SECONDS:g}, got {text!r}"
        raise _BadRequest(msg)
    return seen, wait


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
