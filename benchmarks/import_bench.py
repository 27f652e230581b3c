"""TensorBoard import end to end, beside tbparse reading the same files into pandas, in one run.

    python benchmarks/import_bench.py             # 100 runs x 10 scalars x 10,000 steps (10M points)
    python benchmarks/import_bench.py --quick     # 10 runs x 10 scalars x 1,000 steps
    python benchmarks/import_bench.py --runs 20 --repeat 3
    python benchmarks/import_bench.py --anchor-runs 10   # tbparse on 10 of the runs (it reads ~10k points/s)

The log dir is written once (and kept in --logdir for later runs) by a writer that produces the records
``SummaryWriter.add_scalar`` writes (checked byte for byte against a real SummaryWriter before anything is
timed): PyTorch's own writer needs about 100 us per scalar, two hours for 10M points. Each repeat is one pair,
alternating which side goes first: ``import_logdir`` into a fresh lakehouse root (reading, decoding, the Delta
commits of the runs and every point, flushed) and ``tbparse.SummaryReader(logdir).scalars`` (reading the same
files into a pandas frame, nothing written). Reported: medians of points per second and their ratio.
"""

from __future__ import annotations

import argparse
import os
import platform
import shutil
import statistics
import struct
import tempfile
import time
import warnings
from datetime import UTC, datetime
from pathlib import Path

import google_crc32c

warnings.filterwarnings("ignore")  # tbparse and tensorboard notices are not what we measure

import lakehouse  # noqa: E402
from lakehouse.integrations.tensorboard import import_logdir  # noqa: E402

T0 = 1_700_000_000.0


def _masked(data: bytes) -> bytes:
    crc = google_crc32c.value(data)
    return struct.pack("<I", (((crc >> 15) | (crc << 17)) + 0xA282EAD8) & 0xFFFFFFFF)


def _record(data: bytes) -> bytes:
    length = struct.pack("<Q", len(data))
    return length + _masked(length) + data + _masked(data)


def _varint(n: int) -> bytes:
    out = bytearray()
    while True:
        byte = n & 0x7F
        n >>= 7
        if n:
            out.append(byte | 0x80)
        else:
            out.append(byte)
            return bytes(out)


def _scalar_event(tag: str, step: int, wall: float, value: float) -> bytes:
    """The bytes of ``Event(wall_time, step, summary=Summary(value=[Value(tag, simple_value)]))``."""
    name = tag.encode()
    inner = b"\x0a" + bytes([len(name)]) + name + b"\x15" + struct.pack("<f", value)
    summary = b"\x0a" + bytes([len(inner)]) + inner
    step_part = b"\x10" + _varint(step) if step else b""
    return b"\x09" + struct.pack("<d", wall) + step_part + b"\x2a" + bytes([len(summary)]) + summary


def _version_event(wall: float) -> bytes:
    version = b"brain.Event:2"
    return b"\x09" + struct.pack("<d", wall) + b"\x1a" + bytes([len(version)]) + version


def write_run(folder: Path, scalars: int, steps: int) -> None:
    folder.mkdir(parents=True, exist_ok=True)
    chunks = [_record(_version_event(T0))]
    for step in range(steps):
        wall = T0 + step * 0.01
        for k in range(scalars):
            chunks.append(_record(_scalar_event(f"metric/{k}", step, wall, 1.0 / (step + k + 1))))
    (folder / "events.out.tfevents.1700000000.bench.1.0").write_bytes(b"".join(chunks))


def check_writer_matches_summary_writer(tmp: Path) -> None:
    """Our records are the bytes a real SummaryWriter writes for the same scalars and wall times."""
    from torch.utils.tensorboard import SummaryWriter

    with SummaryWriter(str(tmp / "torch")) as writer:
        for step in range(3):
            writer.add_scalar("metric/0", 1.0 / (step + 1), step, walltime=T0 + step * 0.01)
    (ours_file,) = (tmp / "torch").iterdir()
    theirs = ours_file.read_bytes()
    write_run(tmp / "ours", 1, 3)
    ours = next((tmp / "ours").iterdir()).read_bytes()
    skip_theirs = 16 + struct.unpack("<Q", theirs[:8])[0]  # the version records differ in their wall time
    skip_ours = 16 + struct.unpack("<Q", ours[:8])[0]
    if theirs[skip_theirs:] != ours[skip_ours:]:
        msg = "the benchmark's writer no longer writes what SummaryWriter writes"
        raise SystemExit(msg)


def time_import(logdir: Path, work: Path) -> tuple[float, int, float]:
    """Wall seconds, points, and CPU seconds of this process (every thread: the writer's commits too)."""
    root = work / f"root-{time.monotonic_ns()}"
    lh = lakehouse.connect(root)
    cpu = time.process_time()
    started = time.perf_counter()
    report = import_logdir(logdir, lh, experiment="bench")
    seconds = time.perf_counter() - started
    cpu = time.process_time() - cpu
    shutil.rmtree(root, ignore_errors=True)
    return seconds, report.points, cpu


def anchor_dir(logdir: Path, runs: int, work: Path) -> Path:
    """The first ``runs`` run folders of ``logdir`` (copies of the same files) for tbparse to read."""
    target = work / "anchor"
    if not target.exists():
        for folder in sorted(p for p in logdir.iterdir() if p.is_dir())[:runs]:
            shutil.copytree(folder, target / folder.name)
    return target


def time_tbparse(logdir: Path) -> tuple[float, int]:
    from tbparse import SummaryReader

    started = time.perf_counter()
    frame = SummaryReader(str(logdir), pivot=False, extra_columns={"dir_name", "wall_time"}).scalars
    return time.perf_counter() - started, len(frame)


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--runs", type=int, default=100)
    parser.add_argument("--scalars", type=int, default=10)
    parser.add_argument("--steps", type=int, default=10_000)
    parser.add_argument("--repeat", type=int, default=1, help="pairs of (import, tbparse), alternating order")
    parser.add_argument("--logdir", type=Path, default=None, help="where the generated log dir is kept")
    parser.add_argument(
        "--anchor-runs", type=int, default=None, help="tbparse reads only the first N runs (default: all)"
    )
    parser.add_argument("--quick", action="store_true")
    args = parser.parse_args()
    if args.quick:
        args.runs, args.steps = 10, 1_000
    work = Path(tempfile.mkdtemp(prefix="import-bench-"))
    logdir = args.logdir or Path(tempfile.gettempdir()) / f"tb-bench-{args.runs}x{args.scalars}x{args.steps}"
    check_writer_matches_summary_writer(work)
    marker = logdir / ".complete"
    if not marker.exists():
        started = time.perf_counter()
        shutil.rmtree(logdir, ignore_errors=True)
        for i in range(args.runs):
            write_run(logdir / f"run-{i:03d}", args.scalars, args.steps)
        marker.write_text("")
        print(f"wrote {logdir} in {time.perf_counter() - started:.1f} s")
    expected = args.runs * args.scalars * args.steps
    size = sum(f.stat().st_size for f in logdir.rglob("events.out.tfevents.*"))
    now = f"{datetime.now(UTC):%Y-%m-%d %H:%M} UTC"
    print(f"{platform.node()}: {os.cpu_count()} cores, python {platform.python_version()}, {now}")
    shape = f"{args.runs} runs x {args.scalars} scalars x {args.steps} steps"
    print(f"log dir: {shape} = {expected:,} points, {size / 1e6:.0f} MB")
    anchor_runs = min(args.anchor_runs or args.runs, args.runs)
    if anchor_runs != args.runs:
        print(f"tbparse reads the first {anchor_runs} runs ({anchor_runs * args.scalars * args.steps:,} points)")
    ours: list[float] = []
    theirs: list[float] = []
    for i in range(args.repeat):
        order = ("import", "tbparse") if i % 2 == 0 else ("tbparse", "import")
        for side in order:
            load = os.getloadavg()[0]
            cpu = None
            if side == "import":
                seconds, points, cpu = time_import(logdir, work)
                ours.append(points / seconds)
            else:
                anchor = logdir if anchor_runs == args.runs else anchor_dir(logdir, anchor_runs, work)
                seconds, points = time_tbparse(anchor)
                theirs.append(points / seconds)
            if points != (expected if side == "import" else anchor_runs * args.scalars * args.steps):
                msg = f"{side} read {points} points, expected {expected}"
                raise SystemExit(msg)
            busy = f", {points / cpu:,.0f} points per CPU second" if cpu else ""
            rate = f"{points / seconds:12,.0f} points/s"
            print(f"  {side:8s} {seconds:8.2f} s  {rate}  (load {load:.1f}{busy})", flush=True)
    a, b = statistics.median(ours), statistics.median(theirs)
    print(f"median: import {a:,.0f} points/s, tbparse {b:,.0f} points/s, import / tbparse = {a / b:.1f}x")
    shutil.rmtree(work, ignore_errors=True)


if __name__ == "__main__":
    main()
