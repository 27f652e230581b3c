"""Shared fixtures: a fresh lakehouse root per test on real Delta tables."""

from __future__ import annotations

from pathlib import Path

import pytest

import lakehouse


@pytest.fixture(autouse=True)
def _isolated_settings(monkeypatch: pytest.MonkeyPatch, tmp_path: Path) -> None:
    """Keep tests away from the developer's LAKEHOUSE_* variables and ./conf."""
    for name in [n for n in __import__("os").environ if n.startswith("LAKEHOUSE_")]:
        monkeypatch.delenv(name)
    monkeypatch.setenv("LAKEHOUSE_ACTOR", "tester")


@pytest.fixture
def root(tmp_path: Path) -> Path:
    return tmp_path / "lh"


@pytest.fixture
def lh(root: Path) -> lakehouse.Lakehouse:
    return lakehouse.connect(root)
