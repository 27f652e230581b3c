"""The app's connection follows the settings it was started with, read once per change, not per call."""

from __future__ import annotations

import os
from pathlib import Path

import pytest

from lakehouse.app import shell


def test_the_root_follows_the_variable_and_the_config_file(tmp_path: Path, monkeypatch: pytest.MonkeyPatch) -> None:
    config = tmp_path / "lakehouse.toml"
    config.write_text(f'root = "{tmp_path / "from-file"}"\n')
    monkeypatch.setenv("LAKEHOUSE_CONFIG", str(config))
    monkeypatch.setenv("LAKEHOUSE_ROOT", str(tmp_path / "from-variable"))
    assert shell.handle().root.uri == str(tmp_path / "from-variable")
    monkeypatch.delenv("LAKEHOUSE_ROOT")
    assert shell.handle().root.uri == str(tmp_path / "from-file")
    config.write_text(f'root = "{tmp_path / "edited"}"\n')
    os.utime(config, ns=(1, 1))  # a changed modification time, whatever the clock's resolution
    assert shell.handle().root.uri == str(tmp_path / "edited")
