"""What a kill -9 costs: lakehouse's spool beside the wandb client in offline mode, killed the same way, one run.

    python benchmarks/durability_bench.py                 # 40 kills of each
    python benchmarks/durability_bench.py --kills 10 --json-out results.json

Each victim process starts a run (``lh.start_run`` / ``wandb.init(mode="offline")``), then logs metric ``v``
at steps 0, 1, 2, ... (about 400 steps a second), writing down when it logged each step, until it is SIGKILLed
at a seeded random moment 0.05-6 s after its run started; a lakehouse and a wandb victim share each moment.
Victims are forked from one interpreter that imported both libraries, so none pays an interpreter start.

Afterwards: lakehouse's ``lh.recover()``, then the run's points; wandb's transaction log (the offline run's
``.wandb`` file, read record by record) once its service process, which outlives the victim, has ended.
Loss of a kill = kill time - when the first step missing afterwards was logged (0 if none is missing); a run
vanished if it is not there at all afterwards.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import random
import signal
import statistics
import struct
import subprocess
import sys
import tempfile
import threading
import time
from dataclasses import dataclass
from datetime import UTC, datetime
from pathlib import Path
from typing import Any

os.environ["WANDB_MODE"] = "offline"  # no network, ever
os.environ["WANDB_SILENT"] = "true"

import wandb  # noqa: E402 - after WANDB_MODE
from bench_report import write_json  # noqa: E402
from wandb.proto import wandb_internal_pb2  # noqa: E402

import lakehouse  # noqa: E402
import lakehouse.tracking.starting  # noqa: E402, F401 - what a training process has loaded by its first run

SYSTEMS = ("lakehouse", "wandb")
STEP_SLEEP_S = 0.002


@dataclass(frozen=True)
class Victim:
    system: str
    pid: int
    run_id: str
    started: float  # time.monotonic() when the run's start returned
    folder: Path
    timeline: Path


# --- the victims (run in forked children) -----------------------------------------------------------------


def _log_forever(log: Any, timeline: Path) -> None:
    out = os.open(timeline, os.O_WRONLY | os.O_CREAT | os.O_APPEND)
    step = 0
    while True:
        os.write(out, f"{step} {time.monotonic()!r}\n".encode())
        log({"v": float(step)}, step=step)
        step += 1
        time.sleep(STEP_SLEEP_S)


def _victim(system: str, folder: Path, timeline: Path, report: int) -> None:
    if system == "lakehouse":
        lh = lakehouse.connect(folder, maintenance_commits=0)
        run = lh.start_run(experiment="victims", params={"lr": 0.1})
        run_id, log = run.id, run.log
    else:
        wb = wandb.init(project="victims", dir=str(folder), mode="offline", config={"lr": 0.1})
        run_id, log = wb.id, wb.log
    os.write(report, f"{os.getpid()} {run_id} {time.monotonic()!r}\n".encode())
    _log_forever(log, timeline)


def _serve_victims() -> None:
    """The zygote: fork a victim per ``system folder timeline`` line on stdin (it never uses polars or wandb
    itself, so no thread pool exists yet when it forks)."""
    signal.signal(signal.SIGCHLD, signal.SIG_IGN)  # killed victims are reaped by the kernel
    for line in sys.stdin:
        system, folder, timeline = line.split()
        if os.fork() == 0:  # pragma: no cover - the victim
            try:
                _victim(system, Path(folder), Path(timeline), 1)
            finally:
                os._exit(1)


class Zygote:
    """The process victims are forked from (a fresh interpreter: the driver itself reads tables with polars)."""

    def __init__(self) -> None:
        self.process = subprocess.Popen(
            [sys.executable, __file__, "--serve-victims"],
            stdin=subprocess.PIPE,
            stdout=subprocess.PIPE,
            text=True,
            bufsize=1,
        )

    def start(self, system: str, folder: Path, timeline: Path) -> Victim:
        assert self.process.stdin is not None
        assert self.process.stdout is not None
        folder.mkdir(parents=True, exist_ok=True)
        self.process.stdin.write(f"{system} {folder} {timeline}\n")
        self.process.stdin.flush()
        line = self.process.stdout.readline().split()
        if len(line) != 3:
            msg = f"{system} victim did not start"
            raise RuntimeError(msg)
        return Victim(system, int(line[0]), line[1], float(line[2]), folder, timeline)

    def close(self) -> None:
        self.process.kill()
        self.process.communicate()


def _wait_gone(pid: int) -> None:
    while Path(f"/proc/{pid}").exists():
        time.sleep(0.01)


# --- what survived ------------------------------------------------------------------------------------------


def _timeline(path: Path) -> list[float]:
    times: list[float] = []
    for line in path.read_text().splitlines():
        step, _, at = line.partition(" ")
        if not at or int(step) != len(times):
            break
        times.append(float(at))
    return times


def _lakehouse_steps(victim: Victim) -> list[int] | None:
    lh = lakehouse.connect(victim.folder, maintenance_commits=0)
    lh.recover()
    if victim.run_id not in set(lh.runs(experiment="victims").get_column("run_id").to_list()):
        return None
    points = lh.metrics(victim.run_id)
    return sorted(points.get_column("step").to_list()) if points.height else []


_BLOCK = 32 * 1024
_CHUNK = struct.Struct("<IHB")  # checksum, length, type (the LevelDB log format W&B uses)
_FILE_HEADER = 7  # ":W&B", magic, version


def _wandb_records(path: Path) -> list[bytes]:
    """The complete records of a W&B transaction log (a record cut short by the kill is not one)."""
    data = path.read_bytes()
    records: list[bytes] = []
    pending = b""
    offset = _FILE_HEADER
    while offset + _CHUNK.size <= len(data):
        room = _BLOCK - offset % _BLOCK
        if room < _CHUNK.size:
            offset += room
            continue
        _, length, kind = _CHUNK.unpack_from(data, offset)
        if kind == 0 or offset + _CHUNK.size + length > len(data):
            break  # preallocated zeros, or the end
        body = data[offset + _CHUNK.size : offset + _CHUNK.size + length]
        offset += _CHUNK.size + length
        if kind == 1:  # full
            records.append(body)
        elif kind == 2:  # first
            pending = body
        elif kind == 3:  # middle
            pending += body
        else:  # last
            records.append(pending + body)
            pending = b""
    return records


def _wandb_steps(victim: Victim) -> list[int] | None:
    _wait_for_service(victim.pid)
    logs = list(victim.folder.glob(f"wandb/offline-run-*-{victim.run_id}/run-{victim.run_id}.wandb"))
    if not logs:
        return None
    steps: list[int] = []
    started = False
    for raw in _wandb_records(logs[0]):
        record = wandb_internal_pb2.Record()
        record.ParseFromString(raw)
        kind = record.WhichOneof("record_type")
        started = started or kind == "run"
        if kind == "history":
            for item in record.history.item:
                if (item.key or "/".join(item.nested_key)) == "v":
                    steps.append(int(float(item.value_json)))
    return sorted(steps) if started else None


def _wait_for_service(pid: int, timeout: float = 30.0) -> None:
    """W&B's service process outlives its client by design; what it writes after the kill counts."""
    needle = f"--pid\x00{pid}\x00".encode()
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        alive = False
        for proc in Path("/proc").iterdir():
            if not proc.name.isdigit():
                continue
            try:
                if needle in (proc / "cmdline").read_bytes() + b"\x00":
                    alive = True
                    break
            except OSError:
                continue
        if not alive:
            return
        time.sleep(0.05)


def _loss(victim: Victim, killed_at: float, steps: list[int]) -> float:
    if steps != list(range(len(steps))):
        msg = f"{victim.system} run {victim.run_id}: steps are not a gap-free prefix"
        raise AssertionError(msg)
    logged = _timeline(victim.timeline)
    return 0.0 if len(steps) >= len(logged) else killed_at - logged[len(steps)]


# --- driver -------------------------------------------------------------------------------------------------


def _kill(victim: Victim, killed: list[tuple[Victim, float]]) -> None:
    os.kill(victim.pid, signal.SIGKILL)
    killed.append((victim, time.monotonic()))


def kill_batch(zygote: Zygote, workdir: Path, batch: int, delays: list[float]) -> dict[str, list[float | None]]:
    """One lakehouse and one wandb victim per delay, all at once; kill each that long after its start."""
    killed: list[tuple[Victim, float]] = []
    timers = []
    for n, delay in enumerate(delays):
        for system in SYSTEMS:
            folder = workdir / system / f"b{batch}" if system == "lakehouse" else workdir / system / f"b{batch}-{n}"
            victim = zygote.start(system, folder, workdir / f"{system}-b{batch}-{n}.timeline")
            # A timer per victim: starting the next one (a second for wandb.init) must not delay this kill.
            timer = threading.Timer(max(victim.started + delay - time.monotonic(), 0.0), _kill, (victim, killed))
            timer.start()
            timers.append(timer)
    for timer in timers:
        timer.join()
    for victim, _ in killed:
        _wait_gone(victim.pid)
    out: dict[str, list[float | None]] = {system: [] for system in SYSTEMS}
    for victim, killed_at in killed:
        steps = _lakehouse_steps(victim) if victim.system == "lakehouse" else _wandb_steps(victim)
        out[victim.system].append(None if steps is None else _loss(victim, killed_at, steps))
    return out


def _quantile(values: list[float], q: float) -> float:
    ordered = sorted(values)
    return ordered[min(len(ordered) - 1, int(q * len(ordered)))]


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    parser.add_argument("--kills", type=int, default=40, help="kills of each system")
    parser.add_argument("--seed", type=int, default=13)
    parser.add_argument("--json-out", type=Path, default=None)
    parser.add_argument("--serve-victims", action="store_true", help=argparse.SUPPRESS)
    args = parser.parse_args()
    if args.serve_victims:
        _serve_victims()
        return
    machine = f"{os.cpu_count()} cores, {platform.python_version()}, wandb {wandb.__version__}"
    print(f"durability benchmark — {datetime.now(UTC):%Y-%m-%d %H:%M} UTC — {machine} — load {os.getloadavg()}")
    rng = random.Random(args.seed)
    delays = sorted(rng.uniform(0.05, 6.0) for _ in range(args.kills))
    losses: dict[str, list[float | None]] = {system: [] for system in SYSTEMS}
    zygote = Zygote()
    with tempfile.TemporaryDirectory(prefix="lakehouse-durability-") as tmp:
        for batch, offset in enumerate(range(0, len(delays), 4)):
            found = kill_batch(zygote, Path(tmp), batch, delays[offset : offset + 4])
            for system in SYSTEMS:
                losses[system] += found[system]
            print(f"  batch {batch}: {found}", flush=True)
    zygote.close()
    results = {}
    for system in SYSTEMS:
        kept = [loss for loss in losses[system] if loss is not None]
        results[system] = {
            "kills": len(losses[system]),
            "vanished_runs": len(losses[system]) - len(kept),
            "p50_s": statistics.median(kept) if kept else None,
            "p99_s": _quantile(kept, 0.99) if kept else None,
            "max_s": max(kept) if kept else None,
        }
        print(f"{system}: {json.dumps(results[system])}")
    if args.json_out:
        write_json(
            args.json_out,
            machine={"machine": machine, "load": os.getloadavg()},
            quick=False,
            results=[{"system": system, **figures} for system, figures in results.items()],
        )


if __name__ == "__main__":
    sys.exit(main())
