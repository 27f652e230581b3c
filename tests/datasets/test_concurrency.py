"""Two real processes writing the same dataset and moving the same tags at once: nothing is lost.

Both workers start each phase together behind a barrier: they race to create the dataset with their first
append, append the rest, then move one tag back and forth with force and race to set another without.
"""

from __future__ import annotations

import multiprocessing
import queue
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import lakehouse
from lakehouse.catalog import datasets_catalog
from lakehouse.errors import TagExists

APPENDS = 6
MOVES = 4
TIMEOUT = 60  # seconds a worker waits for the other at a barrier


def _worker(root: str, worker: int, barrier: Any, results: Any) -> None:
    lh = lakehouse.connect(root, actor=f"worker-{worker}")
    ds = lh.dataset("shared")
    out: dict[str, Any] = {"worker": worker}
    try:
        barrier.wait(TIMEOUT)
        out["versions"] = [
            ds.write(pl.DataFrame({"worker": [worker], "i": [i]}), description=f"w{worker}-{i}").version
            for i in range(APPENDS)
        ]
        barrier.wait(TIMEOUT)
        # Worker 0 moves the tag through even versions, worker 1 through odd ones: every call is a change.
        out["moves"] = [ds.tag("prod", version=2 * i + worker, force=True).seq for i in range(MOVES)]
        barrier.wait(TIMEOUT)
        try:
            out["rc"] = ds.tag("rc", version=worker).version
        except TagExists as e:
            out["rc"] = str(e)
    except Exception as e:  # report instead of dying silently
        out["error"] = f"{type(e).__name__}: {e}"
    results.put(out)


@pytest.mark.slow
def test_two_processes_append_and_tag_at_once(tmp_path: Path) -> None:
    ctx = multiprocessing.get_context("spawn")
    barrier, results = ctx.Barrier(2), ctx.Queue()
    root = str(tmp_path / "lh")
    workers = [ctx.Process(target=_worker, args=(root, w, barrier, results)) for w in (0, 1)]
    for p in workers:
        p.start()
    try:
        outs = sorted((results.get(timeout=3 * TIMEOUT) for _ in workers), key=lambda o: o["worker"])
    except queue.Empty:
        pytest.fail("a worker did not report back in time")
    finally:
        for p in workers:
            p.join(10)
            if p.is_alive():
                p.terminate()
    assert [o.get("error") for o in outs] == [None, None]

    lh = lakehouse.connect(root)
    ds = lh.dataset("shared")
    # No append lost or doubled; each landed in its own version.
    data = ds.read()
    assert sorted(data.iter_rows()) == sorted((w, i) for w in (0, 1) for i in range(APPENDS))
    versions = outs[0]["versions"] + outs[1]["versions"]
    assert sorted(versions) == list(range(2 * APPENDS))
    assert all(a < b for o in outs for a, b in zip(o["versions"], o["versions"][1:], strict=False))
    history = ds.history()
    assert len(history) == 2 * APPENDS
    for o in outs:
        for i, number in enumerate(o["versions"]):
            v = ds.version(number)
            assert (v.created_by, v.description, v.rows_added) == (f"worker-{o['worker']}", f"w{o['worker']}-{i}", 1)
    # The race to create it registered the dataset once.
    events = datasets_catalog.events(lh.layout).filter(pl.col("name") == "shared")
    assert events.get_column("event").to_list() == ["created"]

    # Every forced move is in the history, with one unbroken chain of seq numbers and from/to versions.
    moves = ds.tag_history("prod")
    assert [e.seq for e in moves] == list(range(1, 2 * MOVES + 1))
    assert sorted(outs[0]["moves"] + outs[1]["moves"]) == list(range(1, 2 * MOVES + 1))
    assert moves[0].previous_version is None
    for before, after in zip(moves, moves[1:], strict=False):
        assert after.previous_version == before.version
        assert after.event == "moved"
    assert sorted(e.actor for e in moves) == ["worker-0"] * MOVES + ["worker-1"] * MOVES
    assert ds.tags()["prod"] == moves[-1].version

    # Setting a tag without force at the same time: one wins, the other is told and changes nothing.
    won = [o for o in outs if isinstance(o["rc"], int)]
    lost = [o for o in outs if isinstance(o["rc"], str)]
    assert len(won) == 1
    assert len(lost) == 1
    assert "already points at version" in lost[0]["rc"]
    assert ds.tags()["rc"] == won[0]["rc"]
    assert [e.seq for e in ds.tag_history("rc")] == [1]
