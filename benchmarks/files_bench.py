"""File datasets beside DVC: adding a folder of small files, syncing it, materialising an old version, training.

Each figure is printed next to its anchor, measured in the same run, alternating A and B:

* **add** — ``ds.add_files(folder)`` of N small files (1–10 KB of random bytes) into a new dataset against
  ``dvc add`` of the same folder in a new DVC repository (goal ≥ 10× faster).
* **sync unchanged** — ``ds.sync_files(folder)`` of the unchanged folder (goal ≤ 1 s); ``dvc add`` again beside it.
* **sync 1 %** — after rewriting 1 % of the files: ``ds.sync_files`` against ``dvc add``, and as a fraction of
  the first add (goal ≤ 5 %).
* **materialise** — ``ds.download(empty, ref=0)`` of the first version against ``dvc checkout`` of the first
  version's ``.dvc`` file into an empty workspace (goal ≥ 5× faster).
* **loader** — a ``DataLoader`` with 4 workers over ``FileDataset`` (bytes) against the same loader over the
  files on local disk (goal ≥ 0.8× as fast).

DVC is not a dependency of lakehouse: its pins would move ours. The benchmark installs it into its own virtual
environment (``benchmarks/.venv-dvc``, made with uv on first use) and runs its CLI from there.

``python benchmarks/files_bench.py`` runs 100,000 files; ``--files N`` another count; ``--quick`` 2,000.
``--workdir DIR`` puts the folder, the DVC repository, the lakehouse roots and the materialised copies under
``DIR`` (default: the system's temporary folder): both tools create one file per file (DVC's cache, our
materialised copy), so the file system's cost of creating a file weighs on both, and it differs between
folders of one machine.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import subprocess
import sys
import tempfile
import time
from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np

import lakehouse

HERE = Path(__file__).resolve().parent
DVC_VENV = HERE / ".venv-dvc"
DVC_VERSION = "dvc==3.*"


def dvc_executable() -> Path:
    """The ``dvc`` CLI from the benchmark's own environment (created on first use)."""
    exe = DVC_VENV / "bin" / "dvc"
    if not exe.exists():
        uv = Path(sys.executable).with_name("uv")
        subprocess.run([str(uv), "venv", "-q", "--python", "3.11", str(DVC_VENV)], check=True)
        subprocess.run(
            [str(uv), "pip", "install", "-q", "--python", str(DVC_VENV / "bin/python"), DVC_VERSION], check=True
        )
    return exe


def make_files(folder: Path, count: int, *, seed: int = 0) -> None:
    """``count`` files of 1–10 KB of random bytes, 100 to a folder."""
    rng = np.random.default_rng(seed)
    sizes = rng.integers(1024, 10 * 1024 + 1, count)
    for i, size in enumerate(sizes):
        sub = folder / f"d{i // 100:04d}"
        if i % 100 == 0:
            sub.mkdir(parents=True, exist_ok=True)
        (sub / f"f{i:06d}.bin").write_bytes(rng.bytes(int(size)))


def change_files(folder: Path, fraction: float, *, seed: int) -> int:
    files = sorted(folder.rglob("*.bin"))
    rng = np.random.default_rng(seed)
    chosen = rng.choice(len(files), max(1, int(len(files) * fraction)), replace=False)
    for i in chosen:
        files[i].write_bytes(rng.bytes(int(rng.integers(1024, 10 * 1024 + 1))))
    return len(chosen)


def file_creation_ms(folder: Path, count: int = 2000) -> float:
    """Milliseconds to create (and write 4 KB to) one file in ``folder``: what both tools pay per file."""
    probe = folder / "creation-probe"
    probe.mkdir()
    data = b"x" * 4096
    start = time.perf_counter()
    for i in range(count):
        (probe / str(i)).write_bytes(data)
    seconds = time.perf_counter() - start
    shutil.rmtree(probe)
    return seconds / count * 1000


def keep_aside(path: Path, aside: Path) -> None:
    """Move ``path`` out of the way instead of deleting it: after 100,000 files are deleted, ext4 creates
    files several times slower for minutes (its inode allocator skips recently freed inodes), which would
    weigh on the next measurement that creates files. Everything goes with the work folder at the end."""
    shutil.move(path, aside)


def timed(fn: Callable[[], Any]) -> tuple[float, Any]:
    """Seconds ``fn`` took, and what it returned. The disk is written back first (``os.sync``): no step pays
    for the writes of the step before it, which is often the other tool's."""
    os.sync()
    start = time.perf_counter()
    out = fn()
    return time.perf_counter() - start, out


def run(cmd: list[str], cwd: Path) -> None:
    subprocess.run(cmd, cwd=cwd, check=True, stdout=subprocess.DEVNULL, stderr=subprocess.DEVNULL)


class PlainFiles:
    """The anchor loader's dataset: the same files read from local disk, as bytes."""

    def __init__(self, paths: list[str]) -> None:
        self.paths = paths

    def __len__(self) -> int:
        return len(self.paths)

    def __getitem__(self, index: int) -> bytes:
        return Path(self.paths[index]).read_bytes()


def count_bytes(batch: list[bytes]) -> int:
    return sum(len(b) for b in batch)


def loader_seconds(dataset: Any) -> float:
    import torch

    loader = torch.utils.data.DataLoader(dataset, batch_size=256, num_workers=4, collate_fn=count_bytes)
    start = time.perf_counter()
    total = sum(loader)
    assert total > 0
    return time.perf_counter() - start


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--files", type=int, default=100_000)
    parser.add_argument("--quick", action="store_true", help="2,000 files")
    parser.add_argument("--repeats", type=int, default=3, help="A/B pairs per measurement")
    parser.add_argument("--workdir", type=Path, default=None, help="where to work (default: the temp folder)")
    args = parser.parse_args()
    count = 2000 if args.quick else args.files
    dvc = str(dvc_executable())
    dvc_version = subprocess.run([dvc, "--version"], capture_output=True, text=True, check=True).stdout.strip()
    load_before = os.getloadavg()
    print(
        f"files benchmark: {count} files of 1-10 KB, {args.repeats} A/B pair(s); {platform.platform()}, "
        f"{os.cpu_count()} CPUs, load {load_before[0]:.1f}; dvc {dvc_version}; {time.strftime('%Y-%m-%d %H:%M UTC')}"
    )
    results: dict[str, list[float]] = {}

    def note(key: str, seconds: float) -> None:
        results.setdefault(key, []).append(seconds)

    if args.workdir is not None:
        args.workdir.mkdir(parents=True, exist_ok=True)
    with tempfile.TemporaryDirectory(prefix="files-bench-", dir=args.workdir) as tmp:
        work = Path(tmp)
        print(f"working in {work} ({file_creation_ms(work):.3f} ms per file created there)")
        repo = work / "repo"
        data = repo / "data"
        make_files(data, count)
        for r in range(args.repeats):
            # --- add: a new dataset against a new DVC repository, same folder -------------------------------
            root = work / f"lh{r}"
            lh = lakehouse.connect(root)
            ds = lh.dataset("files")
            note("add lakehouse", timed(lambda ds=ds: ds.add_files(data))[0])
            for leftover in (repo / ".dvc", repo / "data.dvc", repo / ".dvcignore"):
                if leftover.exists():  # set aside, not deleted (see keep_aside)
                    keep_aside(leftover, work / f"old{r}-{leftover.name}")
            run([dvc, "init", "--no-scm", "-q"], repo)
            note("add dvc", timed(lambda: run([dvc, "add", "-q", "data"], repo))[0])
            shutil.copy(repo / "data.dvc", work / "v0.dvc")
            # --- sync of the unchanged folder --------------------------------------------------------------
            seconds, version = timed(lambda ds=ds: ds.sync_files(data))
            assert version is None
            note("sync unchanged lakehouse", seconds)
            note("sync unchanged dvc", timed(lambda: run([dvc, "add", "-q", "data"], repo))[0])
            # --- sync after 1 % changed (the same files for both) ------------------------------------------
            changed = change_files(data, 0.01, seed=100 + r)
            seconds, version = timed(lambda ds=ds: ds.sync_files(data))
            assert version is not None
            assert version.rows_updated == changed, (version, changed)
            note("sync 1% lakehouse", seconds)
            note("sync 1% dvc", timed(lambda: run([dvc, "add", "-q", "data"], repo))[0])
            # --- materialise the first version into an empty folder ----------------------------------------
            out = work / f"out{r}"
            note("materialise lakehouse", timed(lambda ds=ds, out=out: ds.download(out, ref=0))[0])
            shutil.copy(work / "v0.dvc", repo / "data.dvc")
            shutil.move(data, work / f"data-now{r}")

            def checkout() -> None:
                run([dvc, "checkout", "-q", "data.dvc"], repo)

            note("materialise dvc", timed(checkout)[0])
            keep_aside(data, work / f"checkout{r}")
            shutil.move(work / f"data-now{r}", data)
            run([dvc, "add", "-q", "data"], repo)  # the workspace and its .dvc file agree again
            # --- training loader: the version against the same files on disk --------------------------------
            from lakehouse.integrations.torch import FileDataset

            version_data = FileDataset("files:v1", lakehouse=lh, decode="bytes", target=None)
            plain = PlainFiles([str(data / p) for p in version_data.paths])
            note("loader lakehouse", loader_seconds(version_data))
            note("loader plain files", loader_seconds(plain))
            shutil.rmtree(root)
    load_after = os.getloadavg()
    med = {k: statistics.median(v) for k, v in results.items()}
    where = args.workdir or tempfile.gettempdir()
    print(f"\nmedians of {args.repeats} (load {load_before[0]:.1f} → {load_after[0]:.1f}; workdir {where}):")
    rows = [
        ("add", "add lakehouse", "add dvc", "≥ 10× faster"),
        ("sync unchanged", "sync unchanged lakehouse", "sync unchanged dvc", "≤ 1 s"),
        ("sync 1 % changed", "sync 1% lakehouse", "sync 1% dvc", "≤ 5 % of add"),
        ("materialise v0", "materialise lakehouse", "materialise dvc", "≥ 5× faster"),
        ("DataLoader, 4 workers", "loader lakehouse", "loader plain files", "≥ 0.8× as fast"),
    ]
    print("| measure | lakehouse (s) | anchor (s) | anchor / lakehouse | goal |")
    print("|---|---|---|---|---|")
    for label, ours, anchor, goal in rows:
        print(f"| {label} | {med[ours]:.2f} | {med[anchor]:.2f} | {med[anchor] / med[ours]:.2f}× | {goal} |")
    print(f"sync 1 % / add: {med['sync 1% lakehouse'] / med['add lakehouse']:.1%}")


if __name__ == "__main__":
    main()
