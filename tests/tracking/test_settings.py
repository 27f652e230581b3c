"""Tracking settings: declared once, read from the environment and keyword arguments with their types."""

from __future__ import annotations

from pathlib import Path

import pytest

import lakehouse
from lakehouse.errors import ConfigError
from lakehouse.tracking.writer import get_writer, spool_root
from tests.tracking.conftest import tables_state


def test_tracking_settings_from_environment_and_arguments(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    monkeypatch.setenv("LAKEHOUSE_FLUSH_INTERVAL", "0.5")
    monkeypatch.setenv("LAKEHOUSE_SPOOL_FSYNC", "no")
    monkeypatch.setenv("LAKEHOUSE_SPOOL_DIR", str(tmp_path / "spool"))
    lh = lakehouse.connect(tmp_path / "lh", flush_points=1000)
    assert lh.settings.flush_interval == 0.5
    assert lh.settings.spool_fsync is False
    assert lh.settings.flush_points == 1000
    assert spool_root(lh.settings, lh.layout) == tmp_path / "spool"


def test_default_spool_is_under_the_root_per_host(tmp_path: Path) -> None:
    lh = lakehouse.connect(tmp_path / "lh")
    folder = spool_root(lh.settings, lh.layout)
    assert folder.parent == Path(lh.root) / "_spool"
    assert folder.name


@pytest.mark.parametrize(("name", "value"), [("LAKEHOUSE_FLUSH_INTERVAL", "soon"), ("LAKEHOUSE_SPOOL_FSYNC", "maybe")])
def test_bad_values_are_config_errors(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        lakehouse.connect(tmp_path / "lh")


def test_a_second_connection_with_other_writer_settings_is_refused(root: Path) -> None:
    first = lakehouse.connect(root, flush_interval=0.5, maintenance_commits=0)
    with first.start_run(name="first") as run:
        run.log({"loss": 1.0}, step=0)
    first.flush()
    before = tables_state(first)
    again = lakehouse.connect(root, flush_interval=0.5, maintenance_commits=0, actor="someone-else")
    assert get_writer(again.layout, again.settings) is get_writer(first.layout, first.settings)

    other = lakehouse.connect(root, flush_interval=60, maintenance_commits=0)
    with pytest.raises(ConfigError, match=r"runs with flush_interval=0\.5; this connection asks for flush_interval=60"):
        other.start_run(name="second")
    assert tables_state(first) == before  # nothing was started
    assert first.runs().get_column("name").to_list() == ["first"]


def test_a_closed_writer_makes_way_for_new_settings(root: Path) -> None:
    first = lakehouse.connect(root, flush_interval=0.5, maintenance_commits=0)
    get_writer(first.layout, first.settings).close()
    other = lakehouse.connect(root, flush_interval=60, maintenance_commits=0)
    with other.start_run(name="second"):
        pass
    assert get_writer(other.layout, other.settings).settings.flush_interval == 60
    assert other.runs().get_column("status").to_list() == ["FINISHED"]
