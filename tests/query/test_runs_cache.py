"""``lh.runs()`` served from the read model of a root: the same frame a fresh fold gives, for every filter, with
``lost`` as of each read even when no table changed, and never changed by what a caller does to a result."""

from __future__ import annotations

import time
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

import polars as pl
import pytest

import lakehouse
from lakehouse import storage
from lakehouse.catalog.tables import METRIC_SUMMARIES, RUN_EVENTS, RUN_INPUTS
from lakehouse.errors import InvalidArgument
from lakehouse.query import frames
from lakehouse.query.runs import CATEGORICAL, FIXED_COLUMNS, Tables, fold

pytestmark = pytest.mark.roots  # every test on a local root and on a bucket root

FILTERS: list[dict[str, Any]] = [
    {},
    {"include_deleted": True},
    {"experiment": "a"},
    {"experiment": ["a", "b"], "include_deleted": True},
    {"status": "FINISHED"},
    {"status": ["FAILED", "RUNNING"]},
    {"tags": {"team": "x"}},
    {"tags": {"missing": "x"}},
    {"run_ids": []},
    {"where": pl.col("metrics.m.last") > 1.0},
    # An aggregation sees only the runs the other filters kept, as before the model was cached.
    {"where": pl.col("metrics.m.last") == pl.col("metrics.m.last").max(), "experiment": "b"},
    {"where": pl.col("metrics.m.last") == pl.col("metrics.m.last").max(), "include_deleted": True},
]


@pytest.fixture
def runs(lh: lakehouse.Lakehouse) -> dict[str, str]:
    ids = {}
    for n, (experiment, status) in enumerate([("a", "FINISHED"), ("a", "FAILED"), ("b", "FINISHED"), ("b", None)]):
        run = lh.start_run(experiment=experiment, name=f"r{n}", params={"p": n}, tags={"team": "xy"[n % 2]})
        run.log({"m": float(n)})
        if status is not None:
            run.finish(status)  # type: ignore[arg-type]
        else:
            run.flush()
        ids[f"r{n}"] = run.id
    lh.delete_run(ids["r2"])
    lh.flush()
    return ids


@pytest.mark.parametrize("filters", FILTERS, ids=[repr(f) for f in FILTERS])
def test_every_filter_of_a_warm_read_gives_what_a_fresh_fold_gives(
    lh: lakehouse.Lakehouse, runs: dict[str, str], filters: dict[str, Any]
) -> None:
    first, warm = lh.runs(**filters), lh.runs(**filters)
    fresh = fold(Tables.load(lh.layout), lost_after=lh.settings.lost_after, **filters)
    assert first.equals(fresh)
    assert warm.equals(fresh)
    assert warm.columns == fresh.columns


def test_a_bad_filter_is_still_refused_on_a_warm_read(lh: lakehouse.Lakehouse, runs: dict[str, str]) -> None:
    lh.runs()
    with pytest.raises(InvalidArgument, match="invalid status filter 'DONE'"):
        lh.runs(status="DONE")  # type: ignore[arg-type]
    with pytest.raises(InvalidArgument, match="experiment must be a string"):
        lh.runs(experiment=[1])  # type: ignore[list-item]


def test_a_result_changed_in_place_leaves_the_next_read_as_it_was(
    lh: lakehouse.Lakehouse, runs: dict[str, str]
) -> None:
    for filters in ({}, {"include_deleted": True}):
        expected = fold(Tables.load(lh.layout), lost_after=lh.settings.lost_after, **filters)
        mine = lh.runs(**filters)
        mine.columns = [f"x{i}" for i in range(mine.width)]
        mine.replace_column(0, pl.Series("x0", ["changed"] * mine.height))
        mine.hstack([pl.Series("extra", [1] * mine.height)], in_place=True)
        after = lh.runs(**filters)
        assert after.equals(expected)
        assert after.columns == expected.columns


def test_a_run_turns_lost_on_a_warm_read_as_time_passes_without_any_commit(root: Path) -> None:
    # The writer beats rarely, so nothing is committed while the reader waits: only the time changes.
    writer = lakehouse.connect(root, heartbeat_interval=3600)
    # Lost after 3 s: long enough for the first read to come before it, even on a bucket on a loaded machine.
    reader = lakehouse.connect(root, heartbeat_interval=3600, lost_after=3.0)
    patient = lakehouse.connect(root, heartbeat_interval=3600, lost_after=3600)
    run = writer.start_run(name="quiet")
    run.log({"m": 1.0})
    run.flush()
    versions = [storage.latest_version(p) for p in (reader.layout.runs, reader.layout.metric_summaries)]
    row = reader.runs().row(0, named=True)
    assert (row["status"], row["lost"]) == ("RUNNING", False)
    seen: datetime = row["last_seen"]
    time.sleep(max(0.0, 3.2 - (datetime.now(UTC) - seen).total_seconds()))

    assert reader.runs().row(0, named=True)["lost"] is True
    assert reader.runs(status="RUNNING").get_column("lost").to_list() == [True]
    assert patient.runs().row(0, named=True)["lost"] is False  # another lost_after on the same root's model
    assert reader.runs().row(0, named=True)["lost"] is True
    assert [storage.latest_version(p) for p in (reader.layout.runs, reader.layout.metric_summaries)] == versions
    assert reader.runs().equals(fold(Tables.load(reader.layout), lost_after=3.0))

    run.finish()
    row = reader.runs().row(0, named=True)
    assert (row["status"], row["lost"]) == ("FINISHED", False)


def test_runs_with_new_keys_folded_into_a_warm_model_read_as_a_fresh_fold_arranges_them(
    lh: lakehouse.Lakehouse, runs: dict[str, str]
) -> None:
    lh.runs()  # the model holds the four runs; the next read folds only what the appends touched
    with lh.start_run(experiment="c", name="late", params={"a_first": 1, "z_last": 2}, tags={"new": "t"}) as run:
        run.log({"aa": 1.0, "zz": 2.0})
    warm = lh.runs(include_deleted=True)
    fresh = fold(Tables.load(lh.layout), lost_after=lh.settings.lost_after, include_deleted=True)
    assert warm.equals(fresh)
    assert warm.columns == fresh.columns
    assert warm.columns[: len(FIXED_COLUMNS)] == list(FIXED_COLUMNS)
    assert [c for c in warm.columns if c.startswith(("params.", "tags."))] == [
        "params.a_first",
        "params.p",
        "params.z_last",
        "tags.new",
        "tags.team",
    ]
    assert [c for c in warm.columns if c.startswith("metrics.")] == [
        f"metrics.{key}.{stat}" for key in ("aa", "m", "zz") for stat in ("last", "min", "max")
    ]
    assert warm.get_column("run_id").to_list()[0] == run.id  # newest first
    # last_seen is each run's newest event or point, as lh.run() tells it one run at a time.
    for row in warm.iter_rows(named=True):
        assert row["last_seen"] == lh.run(row["run_id"]).last_seen


def test_a_cold_load_reads_the_tables_side_by_side_and_gives_what_one_by_one_gives(
    lh: lakehouse.Lakehouse, runs: dict[str, str]
) -> None:
    requests = [
        (lh.layout.runs, RUN_EVENTS, CATEGORICAL["runs"]),
        (lh.layout.metric_summaries, METRIC_SUMMARIES, CATEGORICAL["summaries"]),
        (lh.layout.inputs, RUN_INPUTS, CATEGORICAL["inputs"]),  # no run had inputs: no table yet
    ]
    one_by_one = [frames.versioned_frame(path, spec, categorical=c) for path, spec, c in requests]
    lh.forget()
    cold = frames.versioned_frames(requests)
    warm = frames.versioned_frames(requests)
    for (frame, version), (cold_frame, cold_version), (warm_frame, warm_version) in zip(
        one_by_one, cold, warm, strict=True
    ):
        assert cold_frame.equals(frame)
        assert cold_version == version
        assert warm_frame is cold_frame  # warm: the same frame, not read again
        assert warm_version == version
    assert [frame.height > 0 for frame, _ in cold] == [True, True, False]
    # New commits to two of the tables: those two are refreshed (side by side), the third answers from memory.
    with lh.start_run(experiment="a", name="one more") as run:
        run.log({"m": 9.0})
    refreshed = frames.versioned_frames(requests)
    lh.forget()
    fresh = [frames.versioned_frame(path, spec, categorical=c) for path, spec, c in requests]
    for (frame, version), (fresh_frame, fresh_version) in zip(refreshed, fresh, strict=True):
        assert frame.sort(frame.columns).equals(fresh_frame.sort(fresh_frame.columns))
        assert version == fresh_version
    assert [v != before_v for (_, v), (_, before_v) in zip(refreshed, cold, strict=True)] == [True, True, False]
