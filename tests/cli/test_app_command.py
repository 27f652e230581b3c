"""``lakehouse app``: a real server process, its errors, and its shutdown."""

from __future__ import annotations

import os
import signal
import socket
import sys
import time
import urllib.error
import urllib.request
from pathlib import Path

import pytest

import lakehouse
from lakehouse.app import server as app_server
from lakehouse.cli import main
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
    """What an open Live page asks every refresh: the same answer while nothing is committed, a new one after."""
    lh = lakehouse.connect(tmp_path / "lh")
    run = lh.start_run(experiment="e", name="training")
    run.log({"loss": 1.0}, step=0)
    run.flush()
    with serving(CLI[0], "--root", str(tmp_path / "lh"), env=dict(os.environ)) as (_, info):
        idle = live_stamp(info["url"])
        assert live_stamp(info["url"]) == idle
        run.log({"loss": 0.5}, step=1)
        run.flush()
        assert live_stamp(info["url"]) != idle
        # Only GET, only this path: the server's routes are read-only.
        with pytest.raises(urllib.error.HTTPError) as refused:
            urllib.request.urlopen(urllib.request.Request(info["url"] + "/api/lakehouse/live-stamp", method="POST"))
        assert refused.value.code == 405
        refused.value.close()
    run.finish()


def _alive(pid: int) -> bool:
    try:
        os.kill(pid, 0)
    except ProcessLookupError:
        return False
    # A zombie (exited, not yet reaped by its parent) counts as gone.
    stat = Path(f"/proc/{pid}/stat")
    return stat.exists() and stat.read_text().split(") ")[-1][:1] != "Z"
