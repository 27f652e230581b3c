"""Run artifacts: logged into the object store, indexed in tracking/artifacts, read back verified."""

from __future__ import annotations

import hashlib
import os
import time
from pathlib import Path

import polars as pl
import pytest

import lakehouse
from lakehouse import storage
from lakehouse.errors import ArtifactNotFound, CorruptObject, InvalidArgument, RunNotActive
from lakehouse.known_digests import RECORDED_FROM
from lakehouse.objects import object_key
from tests.test_objects import files_under, flip_byte, settle, written_bytes

pytestmark = pytest.mark.roots  # every test on a local root and on a bucket root


def sha256(data: bytes) -> str:
    return hashlib.sha256(data).hexdigest()


def state(lh: lakehouse.Lakehouse) -> tuple[int | None, dict[str, tuple[int, int]]]:
    """The index's version and every file under _objects: equal states mean nothing was written."""
    return storage.peek_version(lh.layout.artifacts), files_under(lh.root / "_objects")


@pytest.fixture
def run(lh: lakehouse.Lakehouse) -> lakehouse.Run:
    handle = lh.start_run(experiment="art")
    handle.flush()
    return handle


@pytest.fixture
def folder(tmp_path: Path) -> Path:
    base = tmp_path / "out"
    (base / "plots").mkdir(parents=True)
    (base / "config.yaml").write_text("lr: 0.1\n")
    (base / "plots" / "loss.png").write_bytes(b"\x89PNG fake")
    return base


def test_log_list_and_read(lh: lakehouse.Lakehouse, run: lakehouse.Run, tmp_path: Path, folder: Path) -> None:
    model = tmp_path / "model.keras"
    model.write_bytes(os.urandom(50_000))
    logged = run.log_artifact(model)
    assert (logged.path, logged.size) == ("model.keras", 50_000)
    run.log_artifact(model, name="best/model.keras")
    run.log_artifacts(folder, prefix="outputs")
    listing = lh.artifacts(run.id[:8])
    assert listing.columns == ["path", "size", "digest", "logged_at"]
    assert listing.get_column("path").to_list() == [
        "best/model.keras",
        "model.keras",
        "outputs/config.yaml",
        "outputs/plots/loss.png",
    ]
    assert listing.equals(run.artifacts())
    assert len(list(lh.layout.objects.objects())) == 3  # the model is stored once under two paths
    artifact = lh.artifact(run.id, "outputs/config.yaml")
    assert artifact.read_bytes() == b"lr: 0.1\n"
    with artifact.open() as reader:
        assert reader.read() == b"lr: 0.1\n"
    dest = tmp_path / "dl"
    dest.mkdir()
    assert run.artifact("model.keras").download(dest).read_bytes() == model.read_bytes()
    assert (dest / "model.keras").exists()
    assert lh.artifact(run.id, "best/model.keras").download(tmp_path / "new" / "m.keras").exists()


def test_logging_again_replaces_and_deduplicates(lh: lakehouse.Lakehouse, tmp_path: Path) -> None:
    ckpt = tmp_path / "ckpt.bin"
    ckpt.write_bytes(b"epoch 1")
    with lh.start_run(experiment="a") as first:
        first.log_artifact(ckpt)
        objects_before = files_under(lh.root / "_objects")
        first.log_artifact(ckpt)  # unchanged: same object, nothing rewritten
        after = files_under(lh.root / "_objects")  # same files, same inodes (only touched)
        assert {k: v[0] for k, v in after.items()} == {k: v[0] for k, v in objects_before.items()}
        ckpt.write_bytes(b"epoch 2")
        first.log_artifact(ckpt)
    assert lh.artifact(first.id, "ckpt.bin").read_bytes() == b"epoch 2"
    with lh.start_run(experiment="b") as second:
        second.log_artifact(ckpt)
    assert lh.artifact(second.id, "ckpt.bin").digest == lh.artifact(first.id, "ckpt.bin").digest
    assert len(list(lh.layout.objects.objects())) == 2


def test_relogging_an_unchanged_file_from_a_new_process_writes_only_the_index_event(
    lh: lakehouse.Lakehouse, run: lakehouse.Run, tmp_path: Path
) -> None:
    """Known by its fingerprint from the root's record: no byte of the file is read or written again. Like
    ``mlflow.log_artifact`` of the same file, the call is recorded (one index event: ``logged_at`` moves)."""
    ckpt = tmp_path / "ckpt.bin"
    ckpt.write_bytes(os.urandom(RECORDED_FROM + 1))
    settle(ckpt)
    first = run.log_artifact(ckpt)
    lh.forget()  # as a new process would: the record is read from the root again
    before = {k: v[0] for k, v in files_under(lh.root).items()}  # by inode: a re-used object is only touched
    index_version = storage.peek_version(lh.layout.artifacts)
    wrote = written_bytes()
    again = run.log_artifact(ckpt)
    wrote = written_bytes() - wrote
    after = {k: v[0] for k, v in files_under(lh.root).items()}
    assert (again.digest, again.size) == (first.digest, first.size)
    assert {k: v for k, v in after.items() if k in before} == before  # nothing rewritten, objects included
    added = set(after) - set(before)
    assert added
    assert all(k.startswith("tracking/artifacts/") for k in added)  # one Delta commit of the index, nothing else
    assert storage.peek_version(lh.layout.artifacts) == (index_version or 0) + 1
    assert wrote < 64 << 10  # the commit's few KiB, not the 8 MiB file
    assert lh.artifacts(run.id).get_column("path").to_list() == ["ckpt.bin"]


def test_delete_artifact(lh: lakehouse.Lakehouse, run: lakehouse.Run, tmp_path: Path) -> None:
    f = tmp_path / "plot.png"
    f.write_bytes(b"png")
    run.log_artifact(f)
    lh.delete_artifact(run.id, "plot.png")
    assert lh.artifacts(run.id).height == 0
    with pytest.raises(ArtifactNotFound, match="plot.png"):
        lh.delete_artifact(run.id, "plot.png")
    run.log_artifact(f)
    assert lh.artifacts(run.id).get_column("path").to_list() == ["plot.png"]


def test_the_index_is_a_delta_table_polars_reads(lh: lakehouse.Lakehouse, run: lakehouse.Run, folder: Path) -> None:
    run.log_artifacts(folder)
    rows = pl.read_delta(str(lh.layout.artifacts))
    assert set(rows.get_column("path")) == {"config.yaml", "plots/loss.png"}
    assert rows.get_column("deleted").to_list() == [False, False]
    assert storage.protocol(lh.layout.artifacts)["min_writer_version"] == 2


def test_unknown_artifact_names_the_nearest(lh: lakehouse.Lakehouse, run: lakehouse.Run, folder: Path) -> None:
    run.log_artifacts(folder)
    with pytest.raises(ArtifactNotFound, match=r"config\.yml.*did you mean 'config\.yaml'"):
        lh.artifact(run.id, "config.yml")


# --- bad input: a clear error naming the thing, and nothing written -----------------------------------------


@pytest.mark.parametrize("name", ["../escape.txt", "a/../../b", "/etc/passwd", "C:\\x", "a//b", "./a", "", "a\nb"])
def test_names_leaving_the_run_are_refused(
    lh: lakehouse.Lakehouse, run: lakehouse.Run, tmp_path: Path, name: str
) -> None:
    f = tmp_path / "f.txt"
    f.write_text("x")
    before = state(lh)
    with pytest.raises(InvalidArgument, match="artifact path"):
        run.log_artifact(f, name=name)
    with pytest.raises(InvalidArgument, match="artifact p"):
        run.log_artifacts(tmp_path, prefix=name or "/")
    assert state(lh) == before


def test_missing_files_and_folders_in_the_wrong_place(
    lh: lakehouse.Lakehouse, run: lakehouse.Run, tmp_path: Path, folder: Path
) -> None:
    before = state(lh)
    with pytest.raises(InvalidArgument, match="nope.bin.*does not exist"):
        run.log_artifact(tmp_path / "nope.bin")
    with pytest.raises(InvalidArgument, match="is a folder"):
        run.log_artifact(folder)
    with pytest.raises(InvalidArgument, match="config.yaml.*is a file"):
        run.log_artifacts(folder / "config.yaml")
    with pytest.raises(InvalidArgument, match="nowhere.*does not exist"):
        run.log_artifacts(tmp_path / "nowhere")
    assert state(lh) == before


@pytest.mark.parametrize("target", ["file", "folder"])
def test_symlinks_out_of_a_logged_folder_are_refused(
    lh: lakehouse.Lakehouse, run: lakehouse.Run, tmp_path: Path, folder: Path, target: str
) -> None:
    secret = tmp_path / "secret"
    if target == "file":
        secret.write_text("not yours")
    else:
        secret.mkdir()
        (secret / "key").write_text("not yours")
    (folder / "plots" / "link").symlink_to(secret)
    before = state(lh)
    with pytest.raises(InvalidArgument, match=r"plots/link.*symbolic link.*outside"):
        run.log_artifacts(folder)
    assert state(lh) == before


def test_symlinks_inside_a_logged_folder_are_followed(
    lh: lakehouse.Lakehouse, run: lakehouse.Run, folder: Path
) -> None:
    (folder / "latest.yaml").symlink_to(folder / "config.yaml")
    (folder / "plots-again").symlink_to(folder / "plots")
    run.log_artifacts(folder)
    assert lh.artifacts(run.id).get_column("path").to_list() == ["config.yaml", "latest.yaml", "plots/loss.png"]
    assert lh.artifact(run.id, "latest.yaml").read_bytes() == b"lr: 0.1\n"


def test_a_corrupt_object_is_an_error_naming_artifact_and_object(
    lh: lakehouse.Lakehouse, run: lakehouse.Run, tmp_path: Path, folder: Path
) -> None:
    run.log_artifacts(folder)
    artifact = lh.artifact(run.id, "plots/loss.png")
    flip_byte(lh.root / object_key(artifact.digest))
    before = state(lh)
    pattern = rf"plots/loss\.png.*{artifact.digest[2:12]}.*corrupt"
    with pytest.raises(CorruptObject, match=pattern):
        artifact.read_bytes()
    with pytest.raises(CorruptObject, match=pattern):
        artifact.download(tmp_path / "got.png")
    assert not (tmp_path / "got.png").exists()
    assert state(lh) == before


def test_a_finished_run_handle_logs_no_artifacts(lh: lakehouse.Lakehouse, tmp_path: Path) -> None:
    f = tmp_path / "f.txt"
    f.write_text("x")
    with lh.start_run() as run:
        pass
    before = state(lh)
    with pytest.raises(RunNotActive):
        run.log_artifact(f)
    assert state(lh) == before


# --- retention: vacuum removes the objects nothing refers to -------------------------------------------------


def age(lh: lakehouse.Lakehouse, hours: float) -> None:
    """Make every object look ``hours`` old (what a store that has been in use for a while looks like)."""
    then = time.time() - hours * 3600
    for path in (Path(lh.root) / "_objects").rglob("*"):
        if path.is_file():
            os.utime(path, (then, then))


@pytest.mark.local_only("ages objects by setting their modification times, which a bucket does not allow")
def test_vacuum_removes_only_unreferenced_old_objects(lh: lakehouse.Lakehouse, tmp_path: Path) -> None:
    ckpt, plot, kept = tmp_path / "ckpt.bin", tmp_path / "plot.png", tmp_path / "kept.txt"
    ckpt.write_bytes(b"epoch 1")
    plot.write_bytes(b"png")
    kept.write_bytes(b"kept")
    with lh.start_run(experiment="r") as run:
        run.log_artifact(ckpt)
        old_ckpt = run.artifact("ckpt.bin").digest
        run.log_artifact(plot)
        run.log_artifact(kept)
        ckpt.write_bytes(b"epoch 2")
        run.log_artifact(ckpt)  # replaces: the epoch-1 object is no longer referred to
    lh.delete_artifact(run.id, "plot.png")
    plot_digest = sha256(b"png")
    age(lh, hours=3)
    young = lh.layout.objects.put_bytes(b"a write in flight: its index row is not committed yet")
    unreferenced = sorted([object_key(old_ckpt), object_key(plot_digest)])

    dry = lh.maintain(vacuum=True, dry_run=True, retention_hours=1).table("_objects")
    assert sorted(dry.vacuumed) == unreferenced
    assert len(list(lh.layout.objects.objects())) == 5  # a dry run deletes nothing

    report = lh.maintain(vacuum=True, retention_hours=1).table("_objects")
    assert sorted(report.vacuumed) == unreferenced
    assert (report.files_before, report.files_after) == (5, 3)
    left = {o.digest for o in lh.layout.objects.objects()}
    assert left == {lh.artifact(run.id, "ckpt.bin").digest, lh.artifact(run.id, "kept.txt").digest, young.digest}
    assert lh.artifact(run.id, "ckpt.bin").read_bytes() == b"epoch 2"


@pytest.mark.local_only("ages objects by setting their modification times, which a bucket does not allow")
def test_vacuum_keeps_objects_of_deleted_runs(lh: lakehouse.Lakehouse, tmp_path: Path) -> None:
    f = tmp_path / "model.bin"
    f.write_bytes(b"weights")
    with lh.start_run(experiment="r") as run:
        run.log_artifact(f)
    lh.delete_run(run.id)  # restorable, so its files stay
    lh.flush()
    age(lh, hours=3)
    assert lh.maintain(vacuum=True, retention_hours=1).table("_objects").vacuumed == ()
    assert lh.artifact(run.id, "model.bin").read_bytes() == b"weights"


@pytest.mark.local_only("ages objects by setting their modification times, which a bucket does not allow")
def test_maintenance_without_vacuum_leaves_objects(lh: lakehouse.Lakehouse, tmp_path: Path) -> None:
    lh.layout.objects.put_bytes(b"orphan")
    age(lh, hours=3)
    report = lh.maintain(retention_hours=1).table("_objects")
    assert report.vacuumed == ()
    assert report.skipped == "objects are only removed by vacuum"
    assert len(list(lh.layout.objects.objects())) == 1


def test_download_reports_progress(lh: lakehouse.Lakehouse, run: lakehouse.Run, tmp_path: Path) -> None:
    f = tmp_path / "big.bin"
    f.write_bytes(os.urandom(3 << 20))
    logged = run.log_artifact(f)
    seen: list[int] = []
    logged.download(tmp_path / "copy.bin", progress=seen.append)
    assert sum(seen) == 3 << 20
