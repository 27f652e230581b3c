"""``lakehouse app --json`` as a real server process, for the tests that serve the app."""

from __future__ import annotations

import json
import subprocess
import urllib.parse
import urllib.request
from collections.abc import Iterator
from contextlib import contextmanager
from pathlib import Path
from typing import Any


@contextmanager
def serving(cli: str, *args: str, cwd: Path | None = None, env: dict[str, str]) -> Iterator[tuple[Any, dict[str, Any]]]:
    """Start ``cli app *args --port 0 --json``; yield the process and what it printed once its server answered.

    Whatever the test does, the process is gone afterwards (killed if it still runs).
    """
    proc = subprocess.Popen(
        [cli, "app", *args, "--port", "0", "--json"],
        cwd=cwd,
        env={**env, "PYTHONUNBUFFERED": "1"},
        stdout=subprocess.PIPE,
        stderr=subprocess.DEVNULL,
    )
    try:
        assert proc.stdout is not None
        text = ""
        while not text.rstrip().endswith("}"):
            line = proc.stdout.readline().decode()
            assert line, "lakehouse app exited before printing its URL"
            text += line
        yield proc, json.loads(text)
    finally:
        if proc.poll() is None:
            proc.kill()
            proc.wait()
        if proc.stdout is not None:
            proc.stdout.close()


def assert_answers(url: str) -> None:
    """Streamlit's health endpoint says ok, the app's page is served, and so is the Live page's route."""
    with urllib.request.urlopen(url + "/_stcore/health", timeout=10) as response:
        assert response.read() == b"ok"
    with urllib.request.urlopen(url, timeout=10) as response:
        assert response.status == 200
    assert live_stamp(url)


def live_stamp(url: str, *, seen: str | None = None, wait: float | str | None = None) -> str:
    """The server's answer to the Live page's question: the digest of what that page shows (with ``seen``,
    once it differs from that one or ``wait`` seconds have passed)."""
    query = urllib.parse.urlencode({k: v for k, v in {"seen": seen, "wait": wait}.items() if v is not None})
    with urllib.request.urlopen(f"{url}/api/lakehouse/live-stamp?{query}", timeout=60) as response:
        assert response.headers["Cache-Control"] == "no-store"
        return str(json.loads(response.read())["stamp"])
