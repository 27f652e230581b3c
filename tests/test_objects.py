"""The content-addressed object store and its file seam, on real files under a real root."""

from __future__ import annotations

import hashlib
import json
import os
import subprocess
import sys
import time
from datetime import UTC, datetime, timedelta
from pathlib import Path

import pytest

from lakehouse import Location
from lakehouse.errors import CorruptObject, InvalidArgument, ObjectNotFound
from lakehouse.fileio import CHUNK, STAGING, Files, Writable
from lakehouse.known_digests import CAPACITY, RECORDED_FROM, SETTLED_NS, KnownDigests, record_path
from lakehouse.objects import PREFIX, ObjectStore, object_key
from tests.objects_child import kill_mid_put
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


def settle(path: Path) -> None:
    """Wait until ``path`` last changed long enough ago for its fingerprint to be remembered."""
    st = path.stat()
    wait_ns = max(st.st_mtime_ns, st.st_ctime_ns) + SETTLED_NS - time.time_ns()
    time.sleep(max(0, wait_ns) / 1e9 + 0.05)


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
    settle(source)
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
    staging_dir = root / STAGING

    def copying() -> list[Path]:
        return [p for p in staging_dir.glob("*") if p.stat().st_size > 0] if staging_dir.exists() else []

    partial = kill_mid_put(str(root), str(source), copying)
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
    settle(source)
    first = store.put_file(source)
    seen: list[int] = []
    assert store.put_file(source, progress=seen.append) == first
    assert seen == []  # known by its fingerprint: not even read
    source.write_bytes(b"b" * 1000)  # same size, new content (and mtime / ctime)
    second = store.put_file(source, progress=seen.append)
    assert second.digest == hashlib.sha256(b"b" * 1000).hexdigest()
    assert sum(seen) == 1000  # read once: hashed while the kernel copied it


def test_a_file_changing_while_stored_is_refused(store: ObjectStore, tmp_path: Path) -> None:
    source = tmp_path / "growing.bin"
    source.write_bytes(os.urandom(3 * CHUNK))
    hashed = [0]

    def meddle(n: int) -> None:  # a trainer still writing the checkpoint while it is logged
        hashed[0] += n
        if CHUNK <= hashed[0] < 2 * CHUNK:  # the first chunk is hashed and being copied
            with source.open("ab") as out:
                out.write(b"more")

    with pytest.raises(InvalidArgument, match="changed while it was being stored"):
        store.put_file(source, progress=meddle)
    assert list(store.objects()) == []
    assert list(Files(tmp_path / "root").list(STAGING)) == []


# --- one pass over a new file, and digests known across processes -------------------------------------------


@pytest.mark.parametrize("size", [0, 1, CHUNK - 1, CHUNK, 2 * CHUNK + 1])
def test_the_digest_of_one_pass_is_the_digest_of_the_file(store: ObjectStore, tmp_path: Path, size: int) -> None:
    source = tmp_path / "weights.bin"
    source.write_bytes(os.urandom(size))
    seen: list[int] = []
    ref = store.put_file(source, progress=seen.append)
    with source.open("rb") as f:
        assert ref.digest == hashlib.file_digest(f, "sha256").hexdigest()
    assert (ref.size, sum(seen)) == (size, size)  # every byte read once
    assert (tmp_path / "root" / ref.key).read_bytes() == source.read_bytes()
    assert list(Files(tmp_path / "root").list(STAGING)) == []


def test_content_already_stored_under_a_new_name_adds_no_object(store: ObjectStore, tmp_path: Path) -> None:
    first, second = tmp_path / "a.bin", tmp_path / "b.bin"
    first.write_bytes(os.urandom(CHUNK + 5))
    second.write_bytes(first.read_bytes())
    ref = store.put_file(first)
    before = {k: v[0] for k, v in files_under(tmp_path / "root" / PREFIX).items()}
    assert store.put_file(second) == ref  # unknown file: copied while hashed, then the copy is dropped
    assert {k: v[0] for k, v in files_under(tmp_path / "root" / PREFIX).items()} == before
    assert list(Files(tmp_path / "root").list(STAGING)) == []
    third = tmp_path / "c.bin"
    third.write_bytes(first.read_bytes())
    seen: list[int] = []
    wrote = written_bytes()
    assert store.put_file(third, progress=seen.append, expected=ref.digest) == ref  # a caller that hashed it
    # Read to confirm, not staged: the object's 8 MiB are not written again. (Other threads of this process,
    # such as a writer of an earlier test's root, may write a few hundred bytes meanwhile: wchar counts them.)
    assert written_bytes() - wrote < 64 << 10
    assert sum(seen) == ref.size


CHILD_PUT = """
import json, sys
from pathlib import Path
from lakehouse.objects import ObjectStore

def wchar():
    return int(next(l for l in Path("/proc/self/io").read_text().splitlines() if l.startswith("wchar:")).split()[1])

seen = []
before = wchar()
ref = ObjectStore(sys.argv[1]).put_file(sys.argv[2], progress=seen.append)
wrote = wchar() - before
print(json.dumps({"digest": ref.digest, "read": sum(seen), "wrote": wrote}))
"""


def put_in_a_new_process(root: Path, source: Path) -> dict[str, object]:
    """Put ``source`` into ``root`` from a fresh interpreter: its digest, the bytes it read and wrote."""
    out = subprocess.run([sys.executable, "-c", CHILD_PUT, str(root), str(source)], capture_output=True, text=True)
    assert out.returncode == 0, out.stderr
    result: dict[str, object] = json.loads(out.stdout)
    return result


def object_files(root: Path) -> dict[str, int]:
    """Every file under ``root`` by inode (a re-used object is touched, so its mtime moves; its inode does not)."""
    return {k: v[0] for k, v in files_under(root).items()}


def test_a_new_process_knows_an_unchanged_file_without_reading_it(tmp_path: Path) -> None:
    root = tmp_path / "root"
    source = tmp_path / "ckpt.bin"
    source.write_bytes(os.urandom(RECORDED_FROM + 1))
    settle(source)
    ref = ObjectStore(root).put_file(source)
    record = root / record_path()
    assert record.is_file()
    before = object_files(root), record.stat().st_mtime_ns
    again = put_in_a_new_process(root, source)
    assert again == {"digest": ref.digest, "read": 0, "wrote": 0}  # not read, not a byte written
    assert (object_files(root), record.stat().st_mtime_ns) == before  # the record is not rewritten either


def test_a_changed_file_with_its_old_size_and_mtime_is_hashed_again(tmp_path: Path) -> None:
    """Bytes rewritten in place with size and mtime put back (os.utime): the change time still differs."""
    root = tmp_path / "root"
    rewritten, replaced = tmp_path / "rewritten.bin", tmp_path / "replaced.bin"
    for f in (rewritten, replaced):
        f.write_bytes(os.urandom(RECORDED_FROM + 1))
    settle(rewritten)
    settle(replaced)
    store = ObjectStore(root)
    old = {f: (store.put_file(f), f.stat()) for f in (rewritten, replaced)}
    with rewritten.open("r+b") as out:  # same inode, same size, other bytes
        out.write(b"changed")
    newer = tmp_path / "newer.bin"  # a new file renamed over the old one: a new inode
    newer.write_bytes(os.urandom(RECORDED_FROM + 1))
    newer.replace(replaced)
    for f in (rewritten, replaced):
        os.utime(f, ns=(old[f][1].st_atime_ns, old[f][1].st_mtime_ns))
        assert (f.stat().st_size, f.stat().st_mtime_ns) == (old[f][1].st_size, old[f][1].st_mtime_ns)
        expected = hashlib.sha256(f.read_bytes()).hexdigest()
        assert expected != old[f][0].digest
        assert put_in_a_new_process(root, f)["digest"] == expected  # the record's entry does not match
        seen: list[int] = []
        assert store.put_file(f, progress=seen.append).digest == expected  # nor does this process's
        assert sum(seen) == f.stat().st_size


def test_a_file_stored_just_after_it_changed_is_not_remembered(store: ObjectStore, tmp_path: Path) -> None:
    """A second write within the same timestamp tick would keep the fingerprint: such a file is hashed each time."""
    source = tmp_path / "fresh.bin"
    source.write_bytes(os.urandom(RECORDED_FROM + 1))
    first = store.put_file(source)
    stat = source.stat()
    with source.open("r+b") as out:
        out.write(b"same tick")
    os.utime(source, ns=(stat.st_atime_ns, stat.st_mtime_ns))
    seen: list[int] = []
    second = store.put_file(source, progress=seen.append)
    assert second.digest == hashlib.sha256(source.read_bytes()).hexdigest() != first.digest
    assert sum(seen) == source.stat().st_size
    assert not (tmp_path / "root" / record_path()).exists()


def test_the_record_is_a_bounded_cache_that_fails_safe(tmp_path: Path) -> None:
    root = tmp_path / "root"
    files = Files(root)
    record = root / record_path()
    record.parent.mkdir(parents=True)
    record.write_bytes(b"\x00 not json")
    source = tmp_path / "ckpt.bin"
    source.write_bytes(os.urandom(RECORDED_FROM))
    settle(source)
    ref = ObjectStore(root).put_file(source)  # an unreadable record: hashed, stored, and the record replaced
    assert put_in_a_new_process(root, source) == {"digest": ref.digest, "read": 0, "wrote": 0}
    old_ns = time.time_ns() - 10 * SETTLED_NS
    full = [[str(tmp_path / f"f{i}"), 1, i, RECORDED_FROM, old_ns, old_ns, f"{i:064x}"] for i in range(CAPACITY)]
    record.write_text(json.dumps({"format": 1, "files": full}))  # as full as it gets
    known = KnownDigests()
    for i in range(CAPACITY, CAPACITY + 3):  # the oldest entries go first
        fingerprint = (1, i, RECORDED_FROM, old_ns, old_ns)
        known.remember(files, tmp_path / f"f{i}", fingerprint, f"{i:064x}", now_ns=time.time_ns())
    rows = json.loads(record.read_bytes())["files"]
    assert len(rows) == CAPACITY
    assert rows[-1] == [
        str(tmp_path / f"f{CAPACITY + 2}"),
        1,
        CAPACITY + 2,
        RECORDED_FROM,
        old_ns,
        old_ns,
        f"{CAPACITY + 2:064x}",
    ]
    assert rows[0][0] == str(tmp_path / "f3")
    fresh = KnownDigests()
    assert fresh.get(files, tmp_path / "f3", (1, 3, RECORDED_FROM, old_ns, old_ns)) == f"{3:064x}"
    assert fresh.get(files, tmp_path / "f3", (1, 3, RECORDED_FROM, old_ns, old_ns + 1)) is None  # any field differs
    assert fresh.get(files, tmp_path / "f2", (1, 2, RECORDED_FROM, old_ns, old_ns)) is None  # dropped
    rows[-1][-1] = "not a digest"
    record.write_text(json.dumps({"format": 1, "files": rows}))
    assert KnownDigests().get(files, tmp_path / f"f{CAPACITY + 2}", tuple(rows[-1][1:6])) is None


def test_a_bucket_root_keeps_its_record_in_the_bucket(bucket_root: str, tmp_path: Path) -> None:
    """On a bucket root a new file is hashed before it is sent, and the record is an object of the bucket."""
    from lakehouse import state

    source = tmp_path / "ckpt.bin"
    source.write_bytes(os.urandom(RECORDED_FROM + 1))
    settle(source)
    seen: list[int] = []
    ref = ObjectStore(bucket_root).put_file(source, progress=seen.append)
    assert ref.digest == hashlib.sha256(source.read_bytes()).hexdigest()
    assert sum(seen) == 2 * ref.size  # hashed, then sent
    assert Files(bucket_root).exists(record_path())
    state.forget(bucket_root)  # as a new process: the record is read from the bucket
    seen.clear()
    assert ObjectStore(bucket_root).put_file(source, progress=seen.append) == ref
    assert seen == []
