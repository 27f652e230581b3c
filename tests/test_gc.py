"""The cycle collector's pause around a folder's listing and reads."""

from __future__ import annotations

import gc

import pytest

from lakehouse import _gc


def test_the_collector_is_off_inside_and_as_before_after() -> None:
    assert gc.isenabled()
    with _gc.paused():
        assert not gc.isenabled()
    assert gc.isenabled()
    with pytest.raises(ValueError, match="inside"), _gc.paused():
        raise ValueError("inside")
    assert gc.isenabled()


def test_a_collector_switched_off_by_the_caller_stays_off() -> None:
    gc.disable()
    try:
        with _gc.paused():
            assert not gc.isenabled()
        assert not gc.isenabled()
    finally:
        gc.enable()
