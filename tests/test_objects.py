"""The content-addressed object store and its file seam, on real files under a real root."""

from __future__ import annotations

import hashlib
import os
import signal
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lakehouse import Location
from lakehouse.errors import CorruptObject, InvalidArgument, ObjectNotFound
from lakehouse.fileio import CHUNK, STAGING, Files, Writable
from lakehouse.objects import PREFIX, ObjectStore, object_key
from tests.roots import seam

CHILD = Path(__file__).with_name("objects_child.py")


@pytest.fixture
def store(tmp_path: Path) -> ObjectStore:
    return ObjectStore(tmp_path / "root")


def files_under(root: Path) -> dict[str, tuple[int, int]]:
    """Every file under ``root`` with (inode, mtime_ns): equal results mean nothing was written. In a bucket,
    (size, modification time in ns) of every object: objects have no inode, and are never changed in place."""
    if "://" in str(root):
        return {f.path: (f.size, int(f.modified.timestamp() * 1e9)) for f in seam(root).list_all()}
    root = Path(root)
    if not root.exists():
        return {}
    return {
        p.relative_to(root).as_posix(): (p.stat().st_ino, p.stat().st_mtime_ns)
        for p in sorted(root.rglob("*"))
        if p.is_file()
    }


def written_bytes() -> int:
    """Bytes this process has passed to write() so far (Linux /proc accounting)."""
    for line in Path("/proc/self/io").read_text().splitlines():
        if line.startswith("wchar:"):
            return int(line.split()[1])
    raise AssertionError("no wchar in /proc/self/io")


def flip_byte(path: Path, offset: int = 3) -> None:
    if "://" in str(path):  # an object in a bucket: written again whole, one byte changed
        where = Location.of(path)
        files = seam(where.parent)
        with files.open_read(where.name) as stream:
            changed = bytearray(stream.read())
        changed[offset] ^= 0xFF

        def write(out: Writable) -> None:
            out.write(bytes(changed))

        files.write_atomic(where.name, write)
        return
    path = Path(path)
    data = bytearray(path.read_bytes())
    data[offset] ^= 0xFF
    os.chmod(path, 0o644)
    path.write_bytes(bytes(data))


def test_put_stores_once_under_its_digest(store: ObjectStore, tmp_path: Path) -> None:
    source = tmp_path / "model.bin"
    payload = os.urandom(2 * CHUNK + 17)  # two whole chunks and a partial one
    source.write_bytes(payload)
    ref = store.put_file(source)
    assert ref.digest == hashlib.sha256(payload).hexdigest()
    assert ref.size == len(payload)
    assert ref.key == f"{PREFIX}/{ref.digest[:2]}/{ref.digest[2:]}"
    assert (tmp_path / "root" / ref.key).read_bytes() == payload
    assert store.read_bytes(ref.digest) == payload
    with store.open(ref.digest) as reader:
        assert reader.read(10) == payload[:10]
        assert reader.read() == payload[10:]
    out = store.download(ref.digest, tmp_path / "out.bin")
    assert out.read_bytes() == payload
    assert [o.digest for o in store.objects()] == [ref.digest]
    assert list(Files(tmp_path / "root").list(STAGING)) == []


def test_put_of_an_unchanged_file_writes_nothing(store: ObjectStore, tmp_path: Path) -> None:
    source = tmp_path / "ckpt.bin"
    source.write_bytes(os.urandom(4 << 20))
    ref = store.put_file(source)
    stored = tmp_path / "root" / ref.key
    inode = stored.stat().st_ino
    before = written_bytes()
    assert store.put_file(source) == ref
    assert written_bytes() - before < 4096  # nothing but bookkeeping: the 4 MiB are not written again
    assert stored.stat().st_ino == inode
    assert list(Files(tmp_path / "root").list(STAGING)) == []


def test_a_corrupt_object_is_never_handed_out(store: ObjectStore, tmp_path: Path) -> None:
    source = tmp_path / "weights.bin"
    source.write_bytes(os.urandom(100_000))
    ref = store.put_file(source)
    flip_byte(tmp_path / "root" / ref.key)
    with pytest.raises(CorruptObject, match=ref.key):
        store.read_bytes(ref.digest)
    with pytest.raises(CorruptObject, match=ref.key), store.open(ref.digest) as reader:
        reader.read()
    dest = tmp_path / "dl" / "weights.bin"
    dest.parent.mkdir()
    with pytest.raises(CorruptObject, match=ref.key):
        store.download(ref.digest, dest)
    assert list(dest.parent.iterdir()) == []  # neither the file nor a partial one


def test_missing_objects_and_bad_digests(store: ObjectStore, tmp_path: Path) -> None:
    digest = "ab" * 32
    with pytest.raises(ObjectNotFound, match=object_key(digest)):
        store.read_bytes(digest)
    with pytest.raises(ObjectNotFound):
        store.download(digest, tmp_path / "x")
    assert not (tmp_path / "x").exists()
    for bad in ["AB" * 32, "ab" * 31, "../" + "a" * 61, ""]:
        with pytest.raises(InvalidArgument, match="sha256"):
            store.read_bytes(bad)


@pytest.mark.parametrize("kind", ["missing", "folder"])
def test_bad_sources_store_nothing(store: ObjectStore, tmp_path: Path, kind: str) -> None:
    source = tmp_path / "thing"
    if kind == "folder":
        source.mkdir()
    with pytest.raises(InvalidArgument, match="thing"):
        store.put_file(source)
    assert files_under(tmp_path / "root") == {}


@pytest.mark.parametrize("path", ["../escape", "/abs", "a/../../b", "a//b", ""])
def test_the_file_seam_refuses_paths_leaving_the_root(tmp_path: Path, path: str) -> None:
    with pytest.raises(InvalidArgument, match="inside the root"):
        Files(tmp_path).exists(path)


def test_sweep_removes_only_old_unreferenced_objects(store: ObjectStore, tmp_path: Path) -> None:
    kept = store.put_bytes(b"referenced")
    dropped = store.put_bytes(b"nobody refers to me")
    staging = tmp_path / "root" / STAGING / "dead-write"
    staging.write_bytes(b"half")
    later = datetime.now(UTC) + timedelta(seconds=5)
    earlier = datetime.now(UTC) - timedelta(hours=1)
    assert store.sweep({kept.digest}, older_than=earlier, dry_run=False) == []  # everything is younger
    listed = store.sweep({kept.digest}, older_than=later, dry_run=True)
    assert sorted(listed) == sorted([dropped.key, f"{STAGING}/dead-write"])
    assert store.exists(dropped.digest)
    assert staging.exists()
    assert sorted(store.sweep({kept.digest}, older_than=later, dry_run=False)) == sorted(listed)
    assert [o.digest for o in store.objects()] == [kept.digest]
    assert not staging.exists()


def test_kill_during_a_large_put_leaves_no_object(tmp_path: Path) -> None:
    """A writer SIGKILLed mid-copy leaves a staging file only: no object under its final name, no index row."""
    root = tmp_path / "lh"
    source = tmp_path / "big.bin"
    with source.open("wb") as out:
        for _ in range(24):
            out.write(os.urandom(1 << 20))
    child = subprocess.Popen([sys.executable, str(CHILD), str(root), str(source)])
    staging_dir = root / STAGING
    try:
        deadline = time.monotonic() + 60
        while time.monotonic() < deadline:
            partial = [p for p in staging_dir.glob("*") if p.stat().st_size > 0] if staging_dir.exists() else []
            if partial:
                break
            assert child.poll() is None, "the child ended before it was killed"
            time.sleep(0.02)
        else:
            raise AssertionError("the child never started copying")
        child.send_signal(signal.SIGKILL)
        child.wait(timeout=30)
    finally:
        if child.poll() is None:
            child.kill()
    store = ObjectStore(root)
    assert list(store.objects()) == []
    assert partial[0].stat().st_size < source.stat().st_size
    import lakehouse

    lh = lakehouse.connect(root)
    assert not Path(lh.layout.artifacts).exists()  # the index commit never happened
    later = datetime.now(UTC) + timedelta(seconds=5)
    assert store.sweep(set(), older_than=later, dry_run=False) == [f"{STAGING}/{partial[0].name}"]
    assert store.put_file(source).size == source.stat().st_size  # and the next put stores it whole


def test_an_unchanged_file_is_not_hashed_again_a_changed_one_is(store: ObjectStore, tmp_path: Path) -> None:
    source = tmp_path / "ckpt.bin"
    source.write_bytes(b"a" * 1000)
    first = store.put_file(source)
    seen: list[int] = []
    assert store.put_file(source, progress=seen.append) == first
    assert seen == []  # known by its fingerprint: not even read
    source.write_bytes(b"b" * 1000)  # same size, new content (and mtime / ctime)
    second = store.put_file(source, progress=seen.append)
    assert second.digest == hashlib.sha256(b"b" * 1000).hexdigest()
    assert sum(seen) == 2000  # hashed, then copied


def test_a_file_changing_while_stored_is_refused(store: ObjectStore, tmp_path: Path) -> None:
    source = tmp_path / "growing.bin"
    source.write_bytes(os.urandom(3 * CHUNK))
    hashed = [0]

    def meddle(n: int) -> None:  # a trainer still writing the checkpoint while it is logged
        hashed[0] += n
        if 3 * CHUNK < hashed[0] <= 4 * CHUNK:  # the first chunk of the copy is done
            with source.open("ab") as out:
                out.write(b"more")

    with pytest.raises(InvalidArgument, match="changed while it was being stored"):
        store.put_file(source, progress=meddle)
    assert list(store.objects()) == []
    assert list(Files(tmp_path / "root").list(STAGING)) == []
