"""A short run's finish: the same results through its fast paths (small batches, checkpoints on a thread)."""

from __future__ import annotations

import math
from pathlib import Path

import pyarrow as pa
from hypothesis import given, settings
from hypothesis import strategies as st

import lakehouse
from lakehouse import storage
from lakehouse.query.summaries import SummaryBook
from lakehouse.tracking import writer
from lakehouse.tracking.spool import Segment, decode, encode

_values = st.sampled_from([math.nan, 0.0, -1.0, 1.0, 2.5, math.inf, -math.inf])
_call = st.tuples(
    st.sampled_from(["run-a", "run-b"]),
    st.integers(0, 3),  # step: ties on purpose
    st.sampled_from([5, 6]),  # timestamp (µs): ties on purpose
    st.lists(st.sampled_from(["x", "y", "z"]), min_size=1, max_size=3, unique=True).map(tuple),
).flatmap(lambda c: st.tuples(st.just(c), st.lists(_values, min_size=len(c[3]), max_size=len(c[3]))))


def _summaries(batches: list[list[writer.Call]], *, small: bool, monkeypatch: object) -> list[tuple[object, ...]]:
    monkeypatch.setattr(writer, "_SMALL_BATCH", 10_000 if small else -1)  # type: ignore[attr-defined]
    book, out = SummaryBook(), []
    for seq, calls in enumerate(batches, start=1):
        points = writer.points_table(calls, [])
        if points is None:
            continue
        assert (points.rows is not None) is small
        out.append((points.table.to_pylist(), book.update(points, writer_id="w", seq=seq).to_pylist()))
    return [repr(o) for o in out]  # repr: NaN equals NaN


@settings(max_examples=150, deadline=None)
@given(st.lists(st.lists(_call, max_size=12), min_size=1, max_size=3))
def test_small_batches_summarise_exactly_as_polars_does(raw: list[list[tuple[tuple, list[float]]]]) -> None:
    """Counts, NaN-free bounds and MLflow's latest point (first logged among equals) by either path."""
    import pytest

    batches = [[(r, s, t, keys, tuple(v)) for (r, s, t, keys), v in calls] for calls in raw]
    with pytest.MonkeyPatch.context() as mp:
        assert _summaries(batches, small=True, monkeypatch=mp) == _summaries(batches, small=False, monkeypatch=mp)


def test_small_spool_parts_round_trip_uncompressed_and_large_ones_compressed() -> None:
    small = pa.table({"x": [1.0, 2.0]})
    large = pa.table({"x": [0.5] * 5000})
    for data in (small, large):
        segment = Segment(writer="w", seq=1, parts={"metrics": data})
        assert decode(encode(segment)).parts["metrics"].equals(data)
    assert len(encode(Segment(writer="w", seq=1, parts={"metrics": large}))) < 5000 * 8 / 10


def test_checkpoints_follow_on_their_own_thread(root: Path) -> None:
    lh = lakehouse.connect(root, checkpoint_interval=2)
    for step in range(3):
        with lh.start_run(experiment="e") as run:
            run.log({"loss": 1.0}, step=step)
    assert storage.wait_for_checkpoints(timeout=30)
    for table in (lh.layout.runs, lh.layout.metrics, lh.layout.metric_summaries):
        assert (Path(table) / "_delta_log" / "_last_checkpoint").is_file(), table
    assert lh.runs().height == 3


def test_a_fresh_process_spools_and_commits_a_few_points_without_importing_pandas(tmp_path: Path) -> None:
    """pyarrow's conversion of Python values imports pandas on first use (about a second, in which a freshly
    forked training process would spool nothing): a small batch is built from buffers instead."""
    import subprocess
    import sys

    script = (
        "import sys, lakehouse\n"
        f"lh = lakehouse.connect({str(tmp_path / 'lh')!r})\n"
        "with lh.start_run(experiment='e', params={'lr': 0.1}) as run:\n"
        "    run.log({'loss': 0.5, 'acc': 1}, step=0)\n"
        "assert lh.metrics(run.id).height == 2\n"
        "print('pandas' in sys.modules)\n"
    )
    done = subprocess.run([sys.executable, "-c", script], capture_output=True, text=True, timeout=120, check=True)
    assert done.stdout.strip() == "False", done.stderr
