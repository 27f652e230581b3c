"""The spool and recovery: checksums, corrupt segments, exactly once across 'crash' windows, live writers."""

from __future__ import annotations

import fcntl
import os
import time
from pathlib import Path

import polars as pl
import pytest

import lakehouse
from lakehouse.errors import TrackingWarning
from lakehouse.tracking import commit as committing
from lakehouse.tracking.spool import (
    SETUP_SUFFIX,
    CorruptSegment,
    OwnedSpool,
    Segment,
    WriterSpool,
    claim,
    decode,
    encode,
    writer_folders,
)
from lakehouse.tracking.writer import get_writer, points_table, spool_root
from tests.tracking.conftest import points, table_rows


def _segment(writer: str, seq: int, run_id: str, steps: range) -> Segment:
    calls = [(run_id, s, 1_700_000_000_000_000 + s, ("v",), (float(s),)) for s in steps]
    batch = points_table(calls, [])
    assert batch is not None
    return Segment(writer=writer, seq=seq, parts={"metrics": batch.table})


def _dead_writer(lh: lakehouse.Lakehouse, writer_id: str, segments: list[Segment]) -> Path:
    """A writer folder with segments whose process is gone (its lock released)."""
    spool = OwnedSpool(spool_root(lh.settings, lh.layout), writer_id, root=lh.layout.root)
    for segment in segments:
        spool.write(segment, fsync=False)
    spool.release(remove=False)
    return spool.folder


def test_segment_round_trip_and_checksum() -> None:
    segment = _segment("w", 3, "r", range(10))
    blob = encode(segment)
    back = decode(blob)
    assert (back.writer, back.seq) == ("w", 3)
    assert back.parts["metrics"].equals(segment.parts["metrics"])
    damaged = bytearray(blob)
    damaged[len(blob) // 2] ^= 0xFF
    with pytest.raises(CorruptSegment, match="checksum"):
        decode(bytes(damaged))
    with pytest.raises(CorruptSegment, match="truncated"):
        decode(blob[:5])


def test_recovery_commits_exactly_once_across_every_crash_window(lh: lakehouse.Lakehouse) -> None:
    """A dead writer left: seg 1 (committed and deleted), seg 2 (committed, file left: died before deleting),
    segs 3 and 4 (never committed). The partly committed segment is the next test."""
    writer = "deadhost-1-aaaa"
    seg1, seg2, seg4 = (
        _segment(writer, 1, "r", range(0, 10)),
        _segment(writer, 2, "r", range(10, 20)),
        _segment(writer, 4, "r", range(30, 40)),
    )
    seg3 = _segment(writer, 3, "r", range(20, 30))
    for seg in (seg1, seg2):
        committing.commit_part(
            lh.layout.metrics,
            committing.SPECS["metrics"],
            seg.parts["metrics"],
            lh.settings,
            writer_id=writer,
            seq=seg.seq,
        )
    folder = _dead_writer(lh, writer, [seg2, seg3, seg4])
    report = lh.recover()
    assert report.writers_recovered == (writer,)
    assert (report.segments_committed, report.segments_already_committed, report.points_committed) == (2, 1, 20)
    assert points(lh).get_column("step").to_list() == list(range(40))
    assert not folder.exists()
    again = lh.recover()  # idempotent
    assert again.segments_committed == 0
    assert points(lh).height == 40


def test_partially_committed_segment_commits_only_the_missing_part(lh: lakehouse.Lakehouse) -> None:
    writer = "deadhost-2-bbbb"
    run = lh.start_run(name="partial")
    run.log({"v": 1.0})
    run.flush()
    base = _segment(writer, 1, run.id, range(5))
    events = committing.SPECS["runs"].from_rows(
        [
            {
                "run_id": run.id,
                "kind": "tag",
                "at": lakehouse.tracking.run.now_utc(),
                "key": "k",
                "value": "v",
                "writer": writer,
                "seq": 1,
            }
        ]
    )
    segment = Segment(writer=writer, seq=1, parts={"runs": events, "metrics": base.parts["metrics"]})
    committing.commit_part(lh.layout.runs, committing.SPECS["runs"], events, lh.settings, writer_id=writer, seq=1)
    _dead_writer(lh, writer, [segment])
    report = lh.recover()
    assert report.segments_committed == 1
    assert report.points_committed == 5
    runs_rows = table_rows(lh.layout.runs)
    assert runs_rows is not None
    assert runs_rows.filter(pl.col("writer") == writer).height == 1
    assert lh.run(run.id).tags == {"k": "v"}
    run.finish()


def test_corrupt_segment_is_moved_aside_with_a_warning(lh: lakehouse.Lakehouse) -> None:
    writer = "deadhost-3-cccc"
    folder = _dead_writer(lh, writer, [_segment(writer, 1, "r", range(3)), _segment(writer, 2, "r", range(3, 6))])
    path = folder / "000000000001.seg"
    blob = bytearray(path.read_bytes())
    blob[-10] ^= 0xFF
    path.write_bytes(bytes(blob))
    with pytest.warns(TrackingWarning, match="corrupt"):
        report = lh.recover()
    assert report.segments_quarantined == 1
    assert report.segments_committed == 1
    assert points(lh).get_column("step").to_list() == [3, 4, 5]  # never half-committed
    corrupt = spool_root(lh.settings, lh.layout) / "_corrupt"
    assert [p.name for p in corrupt.iterdir()] == [f"{writer}-000000000001.seg"]


def test_segments_of_a_live_writer_are_left_alone(lh: lakehouse.Lakehouse) -> None:
    spool = OwnedSpool(spool_root(lh.settings, lh.layout), "livehost-4-dddd", root=lh.layout.root)
    spool.write(_segment("livehost-4-dddd", 1, "r", range(3)), fsync=False)
    report = lh.recover()
    assert report.writers_alive == ("livehost-4-dddd",)
    assert report.segments_committed == 0
    assert table_rows(lh.layout.metrics) is None
    spool.release(remove=False)  # the "process" dies
    assert lh.recover().segments_committed == 1


def test_half_written_segment_is_not_a_segment(lh: lakehouse.Lakehouse) -> None:
    folder = _dead_writer(lh, "deadhost-5-eeee", [])
    (folder / ".000000000001.seg.tmp").write_bytes(b"LHSPOOL1 half")
    report = lh.recover()
    assert report.segments_committed == 0
    assert report.segments_quarantined == 0
    assert not folder.exists()


def test_next_run_start_recovers_dead_writers(root: Path) -> None:
    lh = lakehouse.connect(root, flush_interval=0.05, maintenance_commits=0)
    _dead_writer(lh, "deadhost-6-ffff", [_segment("deadhost-6-ffff", 1, "old-run", range(7))])
    with lh.start_run() as run:  # starts the writer thread, which recovers in the background
        run.log({"x": 1.0})
    writer = get_writer(lh.layout, lh.settings)
    deadline = time.monotonic() + 30
    while writer_folders(spool_root(lh.settings, lh.layout)) != [writer._own_spool().folder]:
        assert time.monotonic() < deadline, "the dead writer's folder was not recovered"
        time.sleep(0.05)
    assert points(lh).filter(pl.col("run_id") == "old-run").height == 7


def test_unwritable_root_never_stops_training_and_keeps_data_in_the_spool(tmp_path: Path) -> None:
    blocker = tmp_path / "not-a-folder"
    blocker.write_text("a file where the root should be")
    spool = tmp_path / "spool"
    lh = lakehouse.connect(blocker / "lh", spool_dir=str(spool), flush_interval=60, maintenance_commits=0)
    run = lh.start_run(name="offline")
    for step in range(50):
        run.log({"loss": 1.0 / (step + 1)}, step=step)  # never raises
    with pytest.warns(TrackingWarning, match="kept in the spool"):
        finished = run.finish()  # the commit fails: a warning, not an exception
    assert finished is False
    assert not run.active
    writer = get_writer(lh.layout, lh.settings)
    assert writer.pending_segments >= 1
    assert writer.last_error
    segments = sorted(p.name for p in (spool / writer.writer_id).glob("*.seg"))
    assert segments
    # The storage comes back: the writer's retries (here a flush) commit everything, exactly once.
    blocker.unlink()
    assert lh.flush()
    info = lh.run(run.id)
    assert info.status == "FINISHED"
    assert info.metrics["loss"].count == 50
    assert points(lh).get_column("step").to_list() == list(range(50))
    assert list((spool / writer.writer_id).glob("*.seg")) == []


def test_a_recovery_killed_before_or_after_failing_the_open_runs_fails_them_once(lh: lakehouse.Lakehouse) -> None:
    """The windows of a recovery killed after its segments: open runs not failed yet, or failed but not forgotten."""
    writer = "deadhost-8-hhhh"
    run = lh.start_run(name="left-open")
    run.flush()
    folder = _dead_writer(lh, writer, [])  # every segment committed and deleted by a recovery that then died
    WriterSpool(folder).note_open_runs((run.id,))
    assert lh.recover().runs_failed == (run.id,)
    folder.mkdir()
    WriterSpool(folder).note_open_runs((run.id,))  # as left by a recovery killed before it forgot them
    again = lh.recover()
    assert again.runs_failed == ()
    assert not folder.exists()
    runs_rows = table_rows(lh.layout.runs)
    assert runs_rows is not None
    failed = runs_rows.filter((pl.col("run_id") == run.id) & (pl.col("value") == "FAILED"))
    assert failed.height == 1
    assert lh.run(run.id).status == "FAILED"


def test_a_folder_being_set_up_is_never_claimed_and_an_abandoned_one_is_removed(lh: lakehouse.Lakehouse) -> None:
    spool = spool_root(lh.settings, lh.layout)
    starting = spool / f".livehost-9-iiii{SETUP_SUFFIX}"  # a writer between making and locking its folder
    abandoned = spool / f".deadhost-9-jjjj{SETUP_SUFFIX}"  # a writer killed while setting its folder up
    for folder in (starting, abandoned):
        folder.mkdir(parents=True)
        (folder / "lock").touch()
    old = time.time() - 120
    os.utime(abandoned, (old, old))
    report = lh.recover()
    assert writer_folders(spool) == []
    assert (report.writers_recovered, report.writers_alive) == ((), ())
    assert starting.exists()  # young: its writer may be about to lock it
    assert not abandoned.exists()
    with open(starting / "lock", "ab") as held:  # the writer holds it now, however long its setup takes
        fcntl.flock(held.fileno(), fcntl.LOCK_EX)
        os.utime(starting, (old, old))
        lh.recover()
        assert starting.exists()
    lh.recover()
    assert not starting.exists()


def test_a_writer_folder_is_locked_from_the_moment_it_bears_its_name(lh: lakehouse.Lakehouse) -> None:
    spool = OwnedSpool(spool_root(lh.settings, lh.layout), "livehost-10-kkkk", root=lh.layout.root)
    assert spool.folder.name == "livehost-10-kkkk"
    assert sorted(p.name for p in spool.folder.parent.iterdir()) == ["livehost-10-kkkk"]  # no setup left
    assert spool.owner()["writer"] == "livehost-10-kkkk"
    with claim(spool.folder) as owned:
        assert owned is None
    spool.release(remove=True)
    assert not spool.folder.exists()


def test_a_finished_run_may_stay_noted_open_until_the_next_start_and_recovery_leaves_it_finished(
    lh: lakehouse.Lakehouse,
) -> None:
    """A finish does not rewrite the open-runs note (one file less per short run): the note then lists a run the
    table shows FINISHED, which recovery leaves alone; the next start rewrites the note to the open runs."""
    writer = get_writer(lh.layout, lh.settings)
    folder = spool_root(lh.settings, lh.layout) / writer.writer_id
    first = lh.start_run(name="short")
    first.log({"loss": 1.0})
    first.flush()
    assert WriterSpool(folder).open_runs() == [first.id]
    first.finish()
    assert WriterSpool(folder).open_runs() == [first.id]  # still noted: harmless, see below
    second = lh.start_run(name="next")
    second.flush()
    assert WriterSpool(folder).open_runs() == [second.id]  # a start rewrites the note: only the open run
    second.finish()
    dead = _dead_writer(lh, "deadhost-7-gggg", [])  # a dead writer whose note lists both finished runs
    WriterSpool(dead).note_open_runs((first.id, second.id))
    assert lh.recover().runs_failed == ()
    assert (lh.run(first.id).status, lh.run(second.id).status) == ("FINISHED", "FINISHED")
