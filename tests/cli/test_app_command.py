"""``lakehouse app``: a real server process, its errors, and its shutdown."""

from __future__ import annotations

import contextlib
import os
import signal
import socket
import sys
import threading
import time
import urllib.error
import urllib.request
from collections.abc import Callable
from pathlib import Path

import pytest

import lakehouse
from lakehouse.app import server as app_server
from lakehouse.cli import main
from tests.app.conftest import steady_clock
from tests.cli.app_process import assert_answers, live_stamp, serving

CLI = [str(Path(sys.executable).with_name("lakehouse"))]


def test_help_names_the_options(capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["app", "--help"]) == 0
    out = capsys.readouterr().out
    assert "--port" in out
    assert "--host" in out
    assert "--root" in out


def test_a_busy_port_is_one_clear_error(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    with socket.socket() as busy:
        busy.bind(("127.0.0.1", 0))
        busy.listen()
        port = busy.getsockname()[1]
        assert main(["app", "--root", str(tmp_path), "--port", str(port)]) == 1
    err = capsys.readouterr().err
    assert f"cannot serve on 127.0.0.1:{port}" in err
    assert "Traceback" not in err


def test_a_port_just_released_can_be_served_again() -> None:
    """Restarting right after Ctrl-C: the old server's connections linger in TIME_WAIT, the port is free."""
    with socket.socket() as listener:
        listener.setsockopt(socket.SOL_SOCKET, socket.SO_REUSEADDR, 1)  # as Streamlit's server does
        listener.bind(("127.0.0.1", 0))
        listener.listen()
        port = listener.getsockname()[1]
        with socket.create_connection(("127.0.0.1", port)):
            accepted, _ = listener.accept()
            accepted.close()  # the server side closes first, so its end of the connection waits in TIME_WAIT
    app_server._check_port("127.0.0.1", port)  # does not raise


def test_an_impossible_port_is_refused(tmp_path: Path, capsys: pytest.CaptureFixture[str]) -> None:
    assert main(["app", "--root", str(tmp_path), "--port", "70000"]) == 1
    assert "port must be between 1 and 65535" in capsys.readouterr().err


@pytest.mark.slow
def test_serves_the_app_and_stops_with_its_server_on_sigterm(tmp_path: Path) -> None:
    with serving(CLI[0], "--root", str(tmp_path / "lh"), env=dict(os.environ)) as (proc, info):
        assert info["root"] == str(tmp_path / "lh")
        assert_answers(info["url"])
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        deadline = time.monotonic() + 10
        while _alive(info["pid"]) and time.monotonic() < deadline:
            time.sleep(0.1)
        assert not _alive(info["pid"]), "the Streamlit server outlived lakehouse app"


@pytest.mark.slow
def test_the_live_route_answers_a_new_stamp_after_a_commit_only(tmp_path: Path) -> None:
    """What an open Live page asks: the same answer while nothing is committed, a new one after; a request that
    names the answer it has is held until the tables change, and the server still stops at once."""
    lh = lakehouse.connect(tmp_path / "lh")
    run = lh.start_run(experiment="e", name="training")
    run.log({"loss": 1.0}, step=0)
    run.flush()
    with serving(CLI[0], "--root", str(tmp_path / "lh"), env=dict(os.environ)) as (proc, info):
        url = info["url"]
        steady_clock(15)  # the stamps below are compared within one turn of the lost-check clock
        idle = live_stamp(url)
        assert live_stamp(url) == idle
        started = time.monotonic()
        assert live_stamp(url, seen=idle, wait=2) == idle  # nothing changed: answered at the end of its wait
        assert 1.5 < time.monotonic() - started < 10

        def commit_soon() -> None:
            time.sleep(1.5)
            run.log({"loss": 0.5}, step=1)
            run.flush()

        committer = threading.Thread(target=commit_soon)
        committer.start()
        started = time.monotonic()
        after = live_stamp(url, seen=idle)  # held until the commit, well before its 25 s
        committer.join()
        assert after != idle
        assert time.monotonic() - started < 10

        for bad in ("-1", "61", "soon", "nan"):
            with pytest.raises(urllib.error.HTTPError) as refused:
                live_stamp(url, seen=after, wait=bad)
            assert refused.value.code == 400
            assert f"got {bad!r}" in refused.value.read().decode()
            refused.value.close()
        # Only GET: the server's routes are read-only.
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(urllib.request.Request(url + "/api/lakehouse/live-stamp", method="POST"))
        assert refused.value.code == 405
        refused.value.close()

        # A page left open holds a request; stopping the server ends it instead of waiting for it.
        held = threading.Thread(target=lambda: _quietly(lambda: live_stamp(url, seen=after, wait=50)))
        held.start()
        time.sleep(1.0)
        started = time.monotonic()
        proc.send_signal(signal.SIGTERM)
        assert proc.wait(timeout=30) == 0
        assert time.monotonic() - started < 8  # without the check: 10 s and more
        held.join()
    run.finish()


def _quietly(call: Callable[[], object]) -> None:
    with contextlib.suppress(OSError):
        call()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(") ")[-1][:1] != "Z"
