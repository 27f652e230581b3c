"""The jobs as separate processes: under spark-submit, as ``python jobs/x.py``, and killed mid-write."""

from __future__ import annotations

import json
import os
import runpy
import signal
import subprocess
import sys
import time
from pathlib import Path

import polars as pl
import pytest
from pyspark.sql import SparkSession

import lakehouse
from lakehouse import storage
from tests.conftest import REPO

pytestmark = pytest.mark.spark

BIN = Path(sys.executable).parent
# Small, quick JVMs; the jars come from the same cache the test session filled.
JAVA_OPTIONS = "-XX:TieredStopAtLevel=1 -XX:+UseSerialGC"  # quick warm-up for short-lived JVMs
JOB_CONF = (
    "spark.sql.shuffle.partitions=2;spark.ui.enabled=false;spark.databricks.delta.snapshotPartitions=1;"
    f"spark.driver.extraJavaOptions={JAVA_OPTIONS}"
)


def job_env(**extra: str) -> dict[str, str]:
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAKEHOUSE_", "PYSPARK_", "SPARK_"))}
    env.update(
        {
            "LAKEHOUSE_ACTOR": "job-runner",
            "LAKEHOUSE_SPARK_MASTER": "local[2]",
            "LAKEHOUSE_SPARK_CONF": JOB_CONF,
            "PYSPARK_PYTHON": sys.executable,
            "PYSPARK_DRIVER_PYTHON": sys.executable,
            "PATH": f"{BIN}{os.pathsep}{env.get('PATH', '')}",
        }
    )
    env.update(extra)
    return env


def spark_submit(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    ivy = Path("~/.cache/lakehouse/ivy").expanduser()
    command = [
        str(BIN / "spark-submit"),
        "--properties-file",
        str(REPO / "conf" / "spark-defaults.conf"),
        "--master",
        "local[2]",
        "--conf",
        f"spark.jars.ivy={ivy}",
        "--conf",
        "spark.sql.shuffle.partitions=2",
        "--conf",
        "spark.ui.enabled=false",
        "--driver-java-options",
        JAVA_OPTIONS,
        str(REPO / "jobs" / script),
        *args,
    ]
    return subprocess.run(command, cwd=REPO, env=job_env(), capture_output=True, text=True, timeout=300, check=False)


def python_job(script: str, *args: str) -> subprocess.CompletedProcess[str]:
    command = [sys.executable, str(REPO / "jobs" / script), *args]
    return subprocess.run(command, cwd=REPO, env=job_env(), capture_output=True, text=True, timeout=300, check=False)


# Runs a job script as ``python jobs/x.py`` does, then reports on its last stderr line whether the process
# launched Spark's JVM gateway or holds a SparkContext: every Spark session needs both.
SPARK_PROBE = """
import json, runpy, sys
script = sys.argv[1]
sys.argv = sys.argv[1:]
code = 0
try:
    runpy.run_path(script, run_name="__main__")
except SystemExit as e:
    code = e.code
from pyspark import SparkContext
started = {"jvm": SparkContext._gateway is not None, "context": SparkContext._active_spark_context is not None}
print(json.dumps(started), file=sys.stderr, flush=True)
sys.exit(code)
"""


def probed_python_job(script: str, *args: str) -> tuple[subprocess.CompletedProcess[str], dict[str, bool]]:
    """:func:`python_job`, and whether the job started Spark."""
    command = [sys.executable, "-c", SPARK_PROBE, str(REPO / "jobs" / script), *args]
    done = subprocess.run(command, cwd=REPO, env=job_env(), capture_output=True, text=True, timeout=300, check=False)
    return done, json.loads(done.stderr.strip().splitlines()[-1])


def test_spark_submit_ingest_then_an_idempotent_rerun(lh: lakehouse.Lakehouse, tmp_path: Path) -> None:
    data = tmp_path / "in.csv"
    data.write_text("id,label\n1,a\n2,b\n3,c,extra\n", encoding="utf-8")
    lh.dataset("jobs").write(pl.DataFrame({"id": [0], "label": ["zero"]}))
    args = ["jobs", str(data), "--root", str(lh.root), "--job-id", "nightly-1", "--meta", "batch=3"]
    done = spark_submit("ingest_dataset.py", *args)
    assert done.returncode == 0, done.stderr[-3000:]
    result = json.loads(done.stdout.strip().splitlines()[-1])  # stdout carries only our JSON line
    assert (result["rows_written"], result["rows_quarantined"], result["skipped"]) == (2, 1, False)
    version = lh.dataset("jobs").version()
    assert (version.version, version.created_by, version.metadata["batch"]) == (1, "job-runner", 3)
    assert "Apache-Spark" in version.engine

    # A retried job commits nothing, and finds that out without starting Spark.
    again, started = probed_python_job("ingest_dataset.py", *args)
    assert again.returncode == 0, again.stderr[-3000:]
    assert json.loads(again.stdout)["skipped"] is True
    assert started == {"jvm": False, "context": False}
    assert lh.dataset("jobs").latest_version == 1


def test_bad_input_exits_with_one_clear_line(lh: lakehouse.Lakehouse, tmp_path: Path) -> None:
    failed = python_job("ingest_dataset.py", "jobs", str(tmp_path / "missing.csv"), "--root", str(lh.root))
    assert failed.returncode == 1
    assert failed.stdout == ""
    assert failed.stderr.strip().splitlines()[-1].startswith("error: input path ")
    assert not lh.dataset("jobs").exists()


def test_maintain_job_in_the_test_session(
    lh: lakehouse.Lakehouse, spark: SparkSession, capsys: pytest.CaptureFixture[str], monkeypatch: pytest.MonkeyPatch
) -> None:
    """The maintain job's own code, run in this process (its Spark session is the active one)."""
    ds = lh.dataset("kept")
    for v in range(3):
        ds.write(pl.DataFrame({"id": [v]}), mode="overwrite")
    ds.tag("golden", version=0)
    argv = ["maintain.py", "--root", str(lh.root), "--dataset", "kept", "--vacuum", "--retention-hours", "0"]
    monkeypatch.setattr(sys, "argv", [*argv, "--dry-run"])
    with pytest.raises(SystemExit) as exited:
        runpy.run_path(str(REPO / "jobs" / "maintain.py"), run_name="__main__")
    assert exited.value.code == 0
    report = json.loads(capsys.readouterr().out)
    (table,) = report["tables"]
    assert table["pinned_versions"] == {"0": ["tag:golden"]}
    # Spark's DRY RUN lists the file of unpinned v1 and deletes nothing.
    assert table["vacuumed"] == ds.vacuum(retention_hours=0, dry_run=True)
    assert len(table["vacuumed"]) == 1
    assert report["dry_run"] is True
    assert ds.read(1).to_dicts() == [{"id": 1}]
    assert lh.read("kept:golden").to_dicts() == [{"id": 0}]


def test_a_job_killed_mid_write_leaves_the_previous_version(lh: lakehouse.Lakehouse, tmp_path: Path) -> None:
    ds = lh.dataset("big")
    ds.write(pl.DataFrame({"id": [-1], "name": ["before"], "value": [0.0]}))
    before = set(storage.snapshot(ds.path, 0).files)

    def data_files() -> set[str]:  # the job writes into a folder of the table (under _temporary until done)
        return {
            str(p.relative_to(Path(ds.path))) for p in Path(ds.path).rglob("*.parquet") if "_delta_log" not in p.parts
        }

    inputs = tmp_path / "inputs"
    inputs.mkdir()
    rows = 25_000
    for i in range(8):
        pl.DataFrame(
            {"id": range(i * rows, (i + 1) * rows), "name": [f"n{i}"] * rows, "value": [float(i)] * rows}
        ).write_csv(inputs / f"part-{i}.csv")
    env = job_env(LAKEHOUSE_SPARK_CONF=JOB_CONF + ";spark.sql.files.maxPartitionBytes=128k")
    command = [sys.executable, str(REPO / "jobs" / "ingest_dataset.py"), "big", str(inputs), "--root", str(lh.root)]
    log = tmp_path / "job.log"
    with log.open("wb") as out:
        process = subprocess.Popen(command, cwd=REPO, env=env, stdout=out, stderr=out, start_new_session=True)
    try:
        deadline = time.monotonic() + 240
        new_files: set[str] = set()
        while not new_files and process.poll() is None and time.monotonic() < deadline:
            time.sleep(0.05)
            new_files = data_files() - before
        assert new_files, f"the job ended before writing (exit {process.poll()}): {log.read_text()[-2000:]}"
        # Data files are on disk, the commit is not: kill the job, JVM and all.
        os.killpg(process.pid, signal.SIGKILL)
        process.wait(timeout=60)
    finally:
        if process.poll() is None:
            os.killpg(process.pid, signal.SIGKILL)
    assert process.returncode == -signal.SIGKILL
    assert ds.latest_version == 0
    assert ds.read().to_dicts() == [{"id": -1, "name": "before", "value": 0.0}]
    assert [v.version for v in ds.history()] == [0]
    assert data_files() - before, "the killed job's files are orphans on disk"
    (write_folder,) = [p for p in Path(ds.path).glob("part-*") if p.is_dir()]
    assert (write_folder / "_temporary").is_dir()
    # The orphans are invisible to readers and the embedded writer carries on.
    ds.write(pl.DataFrame({"id": [1], "name": ["after"], "value": [1.0]}))
    assert ds.read().height == 2
    # Vacuum leaves the dead write's staging folder alone while it is younger than the retention, then removes
    # it (Delta's own vacuum never looks into folders named _*).
    assert lh.maintain(datasets=["big"], vacuum=True).table("datasets/big").vacuumed == ()
    assert write_folder.is_dir()
    listed = lh.maintain(datasets=["big"], vacuum=True, retention_hours=0, dry_run=True).table("datasets/big")
    assert f"{write_folder.name}/" in listed.vacuumed  # besides the two files compaction replaced
    assert write_folder.is_dir()
    report = lh.maintain(datasets=["big"], vacuum=True, retention_hours=0).table("datasets/big")
    assert report.vacuumed == listed.vacuumed
    assert not write_folder.exists()
    live = {str(Path(f.path).relative_to(Path(ds.path).absolute())) for f in storage.live_files(Path(ds.path)).files}
    assert data_files() == live  # nothing but the latest version's file
    assert sorted(ds.read()["name"].to_list()) == ["after", "before"]
