"""Tracking settings: declared once, read from the environment and keyword arguments with their types."""

from __future__ import annotations

from pathlib import Path

import pytest

import lakehouse
from lakehouse.errors import ConfigError
from lakehouse.tracking.writer import spool_root


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
    assert folder.parent == lh.root / "_spool"
    assert folder.name


@pytest.mark.parametrize(("name", "value"), [("LAKEHOUSE_FLUSH_INTERVAL", "soon"), ("LAKEHOUSE_SPOOL_FSYNC", "maybe")])
def test_bad_values_are_config_errors(monkeypatch: pytest.MonkeyPatch, tmp_path: Path, name: str, value: str) -> None:
    monkeypatch.setenv(name, value)
    with pytest.raises(ConfigError, match=name):
        lakehouse.connect(tmp_path / "lh")
