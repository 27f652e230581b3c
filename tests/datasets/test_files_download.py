"""Downloads of file datasets into empty folders: files written straight under their names, and a download
killed midway finished by running it again."""

from __future__ import annotations

import hashlib
import os
import subprocess
import sys
from pathlib import Path

import pytest

import lakehouse
from lakehouse.datasets.files import MARKER
from lakehouse.errors import InvalidArgument
from tests.file_trees import tree_state

REPO = Path(__file__).resolve().parents[2]
# More than the rows a download has in flight at once (1,000): a download stopped at its first progress
# report cannot have written them all.
FILES = 1100

# Downloads the version into the folder and exits without any cleanup, as a kill would, at the first progress
# report (the other writer threads may be in the middle of a file).
KILLED_DOWNLOAD = """
import os, sys
import lakehouse
lh = lakehouse.connect(sys.argv[1])
lh.download(sys.argv[2], sys.argv[3], progress=lambda n: os._exit(9))
"""

# Every file-dataset call of a fresh process, with only lakehouse imported: pyarrow's conversion of Python
# values imports pandas (seconds), which none of them needs.
NO_PANDAS = """
import sys
from pathlib import Path
import lakehouse
root, folder, out = sys.argv[1:4]
lh = lakehouse.connect(root, inline_file_bytes=2000)
ds = lh.dataset("docs")
ds.add_files(folder)
(Path(folder) / "d0" / "f0.bin").write_bytes(b"changed")
(Path(folder) / "d1" / "f1.bin").unlink()
assert ds.sync_files(folder) is not None
ds.files()
ds.read_file("d0/f0.bin")
ds.download(out, ref=0)
print("pandas" in sys.modules)
"""


@pytest.fixture
def lh(tmp_path: Path) -> lakehouse.Lakehouse:
    return lakehouse.connect(tmp_path / "lh", inline_file_bytes=2000)


def make_files(folder: Path, count: int = FILES) -> Path:
    """``count`` small files of distinct random bytes, in ten folders; one of them large (an object)."""
    for i in range(count):
        path = folder / f"d{i % 10}" / f"f{i}.bin"
        path.parent.mkdir(parents=True, exist_ok=True)
        path.write_bytes(os.urandom(3000 if i == 7 else 100 + i))
    return folder


def digests(folder: Path) -> dict[str, str]:
    return {
        p.relative_to(folder).as_posix(): hashlib.sha256(p.read_bytes()).hexdigest()
        for p in folder.rglob("*")
        if p.is_file()
    }


def test_a_download_into_an_empty_folder_writes_every_file_and_leaves_no_marker(
    lh: lakehouse.Lakehouse, tmp_path: Path
) -> None:
    folder = make_files(tmp_path / "src")
    lh.dataset("docs").add_files(folder)
    out = tmp_path / "out"
    out.mkdir()
    report = lh.download("docs:v0", out)
    assert (report.written, report.skipped) == (FILES, 0)
    assert digests(out) == digests(folder)  # no marker, no hidden partial file
    assert report.bytes_written == sum(p.stat().st_size for p in folder.rglob("*") if p.is_file())


def test_a_download_killed_midway_is_finished_by_running_it_again(lh: lakehouse.Lakehouse, tmp_path: Path) -> None:
    folder = make_files(tmp_path / "src")
    lh.dataset("docs").add_files(folder)
    out = tmp_path / "out"
    killed = subprocess.run(
        [sys.executable, "-c", KILLED_DOWNLOAD, str(lh.root), "docs:v0", str(out)],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert killed.returncode == 9, killed.stderr
    assert (out / MARKER).is_file()  # the mark of a download that did not finish
    written = sorted(p for p in out.rglob("*.bin"))
    assert 0 < len(written) < FILES
    # A kill in the middle of a file leaves it cut short under its own name.
    cut = written[0]
    cut.write_bytes(cut.read_bytes()[:10])
    report = lh.download("docs:v0", out)
    assert report.written + report.skipped == FILES
    assert report.written >= FILES - len(written) + 1
    assert digests(out) == digests(folder)
    assert not (out / MARKER).exists()


def test_the_marker_of_another_version_does_not_lift_the_conflict_check(
    lh: lakehouse.Lakehouse, tmp_path: Path
) -> None:
    folder = make_files(tmp_path / "src")
    ds = lh.dataset("docs")
    ds.add_files(folder)
    (folder / "d0" / "f0.bin").write_bytes(b"second version")
    ds.sync_files(folder)
    out = tmp_path / "out"
    lh.download("docs:v0", out)
    (out / MARKER).write_text('{"dataset": "docs", "version": 0}')  # as a killed download of v0 leaves it
    before = tree_state(out)
    with pytest.raises(InvalidArgument, match=r"'d0/f0.bin' with other content; pass overwrite=True"):
        ds.download(out, ref=1)
    assert tree_state(out) == before
    # The same version's own marker: the files it left are its own, and a rerun finishes without overwrite.
    (out / "d0" / "f0.bin").write_bytes(b"cut")
    report = ds.download(out, ref=0)
    assert (report.written, report.skipped) == (1, FILES - 1)
    assert not (out / MARKER).exists()


def test_file_dataset_calls_do_not_import_pandas(tmp_path: Path) -> None:
    folder = make_files(tmp_path / "src", 30)
    done = subprocess.run(
        [sys.executable, "-c", NO_PANDAS, str(tmp_path / "lh"), str(folder), str(tmp_path / "out")],
        cwd=REPO,
        capture_output=True,
        text=True,
        check=False,
    )
    assert done.returncode == 0, done.stderr
    assert done.stdout.strip() == "False"
