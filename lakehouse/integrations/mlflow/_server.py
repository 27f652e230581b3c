"""Flush when the MLflow server's uvicorn worker stops gracefully.

``mlflow server`` runs its workers under uvicorn. On SIGTERM a worker finishes its requests, then uvicorn
re-raises the signal with its default action, so the process dies without running ``atexit`` handlers and
whatever the metrics writer still buffers (up to ``flush_interval`` of logging) would be lost. Wrapping
``uvicorn.Server.shutdown`` (looked up when the shutdown begins, after the requests in flight completed)
lets the worker commit everything before that. Workers under gunicorn or waitress exit normally and the
writer's ``atexit`` handler flushes.
"""

from __future__ import annotations

import functools
import sys
from collections.abc import Callable
from typing import Any

_MARK = "_lakehouse_flushes"


def flush_on_uvicorn_shutdown(flush: Callable[[], object]) -> bool:
    """Make uvicorn servers of this process call ``flush`` at the end of a graceful shutdown.

    Returns True if uvicorn is loaded (the hook is in place), False otherwise.
    """
    module = sys.modules.get("uvicorn.server")
    server = getattr(module, "Server", None)
    if server is None:
        return False
    original = server.shutdown
    if getattr(original, _MARK, False):
        return True

    @functools.wraps(original)
    async def shutdown(self: Any, *args: Any, **kwargs: Any) -> None:
        try:
            await original(self, *args, **kwargs)
        finally:
            flush()

    setattr(shutdown, _MARK, True)
    server.shutdown = shutdown
    return True
