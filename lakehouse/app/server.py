"""Serving the Streamlit analytics app (``lakehouse/app/main.py``) on one lakehouse root.

The app reads the root from ``LAKEHOUSE_ROOT``, which is set here for the server process only, so the
visitor's browser can never point it elsewhere. Streamlit is imported by the server process, not here.
"""

from __future__ import annotations

import importlib.util
import os
import signal
import socket
import subprocess
import sys
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from lakehouse._optional import import_optional
from lakehouse.errors import InvalidArgument, LakehouseError, NotFound
from lakehouse.location import Location

ENTRY_POINT = Path(__file__).resolve().with_name("main.py")
# What the server runs: the pages of ENTRY_POINT plus the app's own routes (an ASGI app Streamlit serves).
SERVED = Path(__file__).resolve().with_name("asgi_app.py")
READY_TIMEOUT_SECONDS = 90.0

# Streamlit options that make it a quiet local server: no browser, no telemetry (a closed network must
# not stall on it), no file watching, and errors shown without tracebacks.
_STREAMLIT_FLAGS = {
    "server.headless": "true",
    "browser.gatherUsageStats": "false",
    "server.fileWatcherType": "none",
    "server.runOnSave": "false",
    "client.showErrorDetails": "none",
    "client.toolbarMode": "viewer",
    # Streamlit runs a full garbage collection after every script run, fragment runs included: 60-90 ms of
    # CPU with polars, pyarrow and the caches loaded, which made an idle Live page (a fragment run every
    # refresh) cost 9 % of a core. Frames are freed by reference counting anyway; Python's own collector
    # still runs as allocations call for it.
    "runner.postScriptGC": "false",
}


@dataclass(frozen=True)
class Server:
    """A running app server."""

    url: str
    root: Location
    process: subprocess.Popen[bytes]


def entry_point() -> Path:
    """The file the server runs, which ships inside the package with the app's main script."""
    for needed in (ENTRY_POINT, SERVED):
        if not needed.is_file():
            msg = f"the analytics app is not at {str(needed)!r}; this installation of lakehouse is incomplete"
            raise NotFound(msg)
    return SERVED


def _require(module: str) -> None:
    """Fail early, with the extra to install, if the server process could not import ``module``.

    Only looked up, not imported: the server process imports it, and importing Streamlit here as well would
    add a second to every start.
    """
    if importlib.util.find_spec(module) is None:
        import_optional(module, extra="app", purpose="the analytics app")  # raises NotInstalled


def free_port(host: str) -> int:
    """A port nobody listens on right now (the OS picks it)."""
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        s.bind((host, 0))
        return int(s.getsockname()[1])


def _check_port(host: str, port: int) -> None:
    if not 0 < port < 65536:
        msg = f"port must be between 1 and 65535 (or 0 for any free port), got {port}"
        raise InvalidArgument(msg)
    with socket.socket(socket.AF_INET, socket.SOCK_STREAM) as s:
        # Like the server itself: a port left in TIME_WAIT by the previous run (restarted right after Ctrl-C)
        # is free to listen on; only a listening socket makes the bind fail.
        s.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)
        try:
            s.bind((host, port))
        except OSError as e:
            msg = f"cannot serve on {host}:{port}: {e.strerror or e}; pass another --port (0 picks a free one)"
            raise InvalidArgument(msg) from e


def command(root: Location, *, host: str, port: int) -> list[str]:
    """The ``streamlit run`` command line for the app."""
    flags = [f"--{k}={v}" for k, v in {**_STREAMLIT_FLAGS, "server.address": host, "server.port": port}.items()]
    return [sys.executable, "-m", "streamlit", "run", str(entry_point()), *flags]


def start(root: Location, *, host: str, port: int) -> Server:
    """Start the app server on ``root`` and return once it answers (``port=0``: any free port).

    The server's own output goes to our stderr, so stdout stays clean for ``--json``.
    """
    for module in ("streamlit", "plotly"):
        _require(module)
    port = free_port(host) if port == 0 else port
    _check_port(host, port)
    env = {**os.environ, "LAKEHOUSE_ROOT": str(root)}
    process = subprocess.Popen(
        command(root, host=host, port=port),
        env=env,
        stdin=subprocess.DEVNULL,
        stdout=sys.stderr.fileno(),
        preexec_fn=_die_with_parent if sys.platform == "linux" else None,
    )
    display_host = f"[{host}]" if ":" in host else host
    server = Server(url=f"http://{display_host}:{port}", root=root, process=process)
    _wait_ready(server)
    return server


def _die_with_parent() -> None:
    """In the child: get SIGTERM when the parent dies, so no server outlives ``lakehouse app``."""
    import ctypes

    pr_set_pdeathsig = 1
    ctypes.CDLL("libc.so.6", use_errno=True).prctl(pr_set_pdeathsig, signal.SIGTERM)


def _wait_ready(server: Server) -> None:
    deadline = time.monotonic() + READY_TIMEOUT_SECONDS
    while time.monotonic() < deadline:
        if server.process.poll() is not None:
            code = server.process.returncode
            msg = f"the app server exited with code {code} before it was ready (its output is above)"
            raise LakehouseError(msg)
        try:
            with urllib.request.urlopen(f"{server.url}/_stcore/health", timeout=2) as response:
                if response.status == 200:
                    return
        except (urllib.error.URLError, OSError):
            pass
        time.sleep(0.2)
    stop(server)
    msg = f"the app server did not answer at {server.url} within {READY_TIMEOUT_SECONDS:.0f} s"
    raise LakehouseError(msg)


def stop(server: Server, *, timeout: float = 10.0) -> None:
    """Stop the server (politely, then for good)."""
    if server.process.poll() is None:
        server.process.terminate()
        try:
            server.process.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            server.process.kill()
            server.process.wait()


def serve(root: Location, *, host: str, port: int, on_ready: Callable[[Server], None]) -> int:
    """Run the app server in the foreground until it exits, Ctrl-C or SIGTERM; returns its exit code."""
    server = start(root, host=host, port=port)

    def _terminated(signum: int, frame: object) -> None:
        raise KeyboardInterrupt

    previous = signal.signal(signal.SIGTERM, _terminated)
    try:
        on_ready(server)
        return server.process.wait()
    except KeyboardInterrupt:
        return 0
    finally:
        stop(server)
        signal.signal(signal.SIGTERM, previous)
