"""``lakehouse app``: serve the read-only analytics app on this machine."""

from __future__ import annotations

import sys
from typing import Annotated

import typer

from lakehouse.app import server as app_server
from lakehouse.cli import _common as c


def app_command(
    root: c.RootOpt = None,
    port: Annotated[
        int | None, typer.Option("--port", help="Port to serve on (default: app.port, 8501; 0 picks a free one).")
    ] = None,
    host: Annotated[
        str | None, typer.Option("--host", help="Address to listen on (default: app.host, 127.0.0.1).")
    ] = None,
    json_out: c.JsonOpt = False,
) -> None:
    """Serve the analytics app (datasets, experiments, run comparison) until Ctrl-C."""
    lh = c.connect(root)
    chosen_host = host or lh.settings.app_host
    chosen_port = lh.settings.app_port if port is None else port

    def ready(server: app_server.Server) -> None:
        info = {"url": server.url, "root": str(server.root), "pid": server.process.pid}
        c.emit(
            info,
            json_out,
            lambda: (
                f"lakehouse app on [bold]{server.root}[/] at [bold link={server.url}]{server.url}[/] (Ctrl-C stops it)"
            ),
        )
        c.console.file.flush()
        sys.stdout.flush()

    local = lh.root.local
    if not json_out and local is not None and not local.is_dir():
        c.err_console.print(f"note: {lh.root} does not exist yet; the app will show how to fill it")
    code = app_server.serve(lh.root, host=chosen_host, port=chosen_port, on_ready=ready)
    if code:
        raise typer.Exit(code)
