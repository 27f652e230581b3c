"""Spark benchmarks, each side by side with its anchor in one Spark session.

    python benchmarks/spark_bench.py             # full sizes: 10M rows, 3 repetitions (15-40 minutes)
    python benchmarks/spark_bench.py --quick     # 1M rows, 2 repetitions

(1) write N generated rows as a new Delta dataset version (``write_dataset``: schema plan, userMetadata,
    stats, commit, version lookup)          vs the same DataFrame written as plain Parquet;  goal >= 0.9x
(2) CSV -> Delta with ``ingest`` (parse, 0.1% malformed records quarantined with reasons, commit)
                                            vs plain ``spark.read.csv(schema).write.parquet`` (no checks)

Every figure is a median over the repetitions (the two sides alternate within each repetition); the ratio
is lakehouse throughput / anchor throughput. Master and properties come from conf/spark-defaults.conf.
"""

from __future__ import annotations

import argparse
import json
import os
import platform
import shutil
import statistics
import sys
import tempfile
import time
from collections.abc import Callable
from datetime import UTC, datetime
from pathlib import Path

import lakehouse
from lakehouse.spark import ingest, spark_session, write_dataset

REPO = Path(__file__).resolve().parents[1]
SCHEMA_DDL = "id BIGINT NOT NULL, user STRING, value DOUBLE, at TIMESTAMP, label INT"
BAD_EVERY = 1000  # one malformed CSV record in this many


def generated(spark, rows: int):  # type: ignore[no-untyped-def]
    """N deterministic rows of five typical columns (computed by Spark, identical on every call)."""
    return spark.range(rows).selectExpr(
        "id",
        "concat('user-', cast(id % 100000 as string)) AS user",
        "cast(id % 9973 as double) / 7.0 AS value",
        "timestamp_seconds(1767225600 + id) AS at",
        "cast(id % 10 as int) AS label",
    )


def timed(action: Callable[[], object]) -> float:
    started = time.perf_counter()
    action()
    return time.perf_counter() - started


def machine() -> dict[str, object]:
    with open("/proc/meminfo", encoding="utf-8") as meminfo:
        total_kb = int(meminfo.readline().split()[1])
    return {
        "cores": os.cpu_count(),
        "memory_gib": round(total_kb / 1024 / 1024),
        "python": platform.python_version(),
        "load_average_at_start": os.getloadavg(),
        "date_utc": datetime.now(UTC).strftime("%Y-%m-%dT%H:%M:%SZ"),
    }


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    parser.add_argument("--quick", action="store_true", help="1M rows, 2 repetitions")
    parser.add_argument("--rows", type=int, help="rows per write (default 10M, or 1M with --quick)")
    parser.add_argument("--repeat", type=int, help="repetitions (default 3, or 2 with --quick)")
    parser.add_argument("--master", help="Spark master (default: conf/spark-defaults.conf)")
    parser.add_argument("--work-dir", type=Path, help="scratch folder (default: a temporary one)")
    parser.add_argument("--json-out", type=Path, help="also write the results here")
    args = parser.parse_args(argv)
    rows = args.rows or (1_000_000 if args.quick else 10_000_000)
    repeat = args.repeat or (2 if args.quick else 3)
    work = Path(tempfile.mkdtemp(prefix="lakehouse-spark-bench-", dir=args.work_dir))
    facts = machine()
    print(f"machine: {facts}", flush=True)
    settings = lakehouse.load_settings(spark_defaults_file=REPO / "conf" / "spark-defaults.conf")
    spark = spark_session(settings, master=args.master, app_name="lakehouse-bench")
    spark.sparkContext.setLogLevel("ERROR")
    master = spark.sparkContext.master
    try:
        results = {
            "machine": facts,
            "master": master,
            "rows": rows,
            "repeat": repeat,
            **bench_write(spark, work, rows, repeat),
            **bench_csv(spark, work, rows, repeat),
        }
    finally:
        spark.stop()
        shutil.rmtree(work, ignore_errors=True)
    print(json.dumps(results, indent=2, default=str))
    if args.json_out:
        args.json_out.write_text(json.dumps(results, indent=2, default=str), encoding="utf-8")
    return 0


def bench_write(spark, work: Path, rows: int, repeat: int) -> dict[str, object]:  # type: ignore[no-untyped-def]
    lh = lakehouse.connect(work / "lh")
    df = generated(spark, rows)
    timed(lambda: generated(spark, 100_000).write.mode("overwrite").parquet(str(work / "warm.parquet")))
    parquet_s: list[float] = []
    delta_s: list[float] = []
    for i in range(repeat):
        # Alternate which side goes first, so a warmer JVM or page cache favours neither.
        sides = [("parquet", i), ("delta", i)] if i % 2 == 0 else [("delta", i), ("parquet", i)]
        for side, n in sides:
            if side == "parquet":
                out = work / f"plain-{n}.parquet"
                parquet_s.append(timed(lambda out=out: df.write.mode("errorifexists").parquet(str(out))))
                shutil.rmtree(out)
            else:
                delta_s.append(timed(lambda n=n: write_dataset(lh, f"bench-{n}", df, created_by="bench")))
                shutil.rmtree(lh.layout.dataset(f"bench-{n}"))
        print(f"  write {i + 1}/{repeat}: parquet {parquet_s[-1]:.1f}s, delta version {delta_s[-1]:.1f}s", flush=True)
    parquet_rate = rows / statistics.median(parquet_s)
    delta_rate = rows / statistics.median(delta_s)
    print(
        f"(1) {rows:,} rows: Delta dataset version {delta_rate:,.0f} rows/s, plain Parquet {parquet_rate:,.0f} rows/s "
        f"-> {delta_rate / parquet_rate:.2f}x (goal >= 0.9x)",
        flush=True,
    )
    return {
        "write_parquet_seconds": parquet_s,
        "write_delta_seconds": delta_s,
        "write_parquet_rows_per_s": round(parquet_rate),
        "write_delta_rows_per_s": round(delta_rate),
        "write_ratio": round(delta_rate / parquet_rate, 3),
    }


def bench_csv(spark, work: Path, rows: int, repeat: int) -> dict[str, object]:  # type: ignore[no-untyped-def]
    source = work / "csv"
    bad = f"CASE WHEN id % {BAD_EVERY} = 0 THEN 'not-a-number' ELSE cast(value AS string) END AS value"
    (
        generated(spark, rows)
        .selectExpr("id", "user", bad, "date_format(at, \"yyyy-MM-dd'T'HH:mm:ss\") AS at", "label")
        .write.option("header", "true")
        .csv(str(source))
    )
    schema_file = work / "events.ddl"
    schema_file.write_text(SCHEMA_DDL + "\n", encoding="utf-8")
    expected_bad = (rows + BAD_EVERY - 1) // BAD_EVERY
    ingest_s: list[float] = []
    plain_s: list[float] = []
    quarantined = 0
    for i in range(repeat):
        lh = lakehouse.connect(work / f"lh-csv-{i}")
        out = work / f"plain-csv-{i}.parquet"

        def run_ingest(lh: lakehouse.Lakehouse = lh) -> None:
            nonlocal quarantined
            result = ingest(lh, "events", [str(source)], schema_file=schema_file, spark=spark)
            quarantined = result.rows_quarantined
            assert result.rows_written + quarantined == rows, result

        def run_plain(out: Path = out) -> None:
            reader = spark.read.schema(SCHEMA_DDL).option("header", "true")
            reader.csv(str(source)).write.mode("errorifexists").parquet(str(out))

        sides = [run_plain, run_ingest] if i % 2 == 0 else [run_ingest, run_plain]
        for action in sides:
            (plain_s if action is run_plain else ingest_s).append(timed(action))
        shutil.rmtree(work / f"lh-csv-{i}")
        shutil.rmtree(out)
        print(f"  csv {i + 1}/{repeat}: plain {plain_s[-1]:.1f}s, ingest {ingest_s[-1]:.1f}s", flush=True)
    assert quarantined == expected_bad, (quarantined, expected_bad)
    ingest_rate = rows / statistics.median(ingest_s)
    plain_rate = rows / statistics.median(plain_s)
    print(
        f"(2) CSV -> Delta with quarantine ({quarantined:,} malformed): {ingest_rate:,.0f} rows/s; "
        f"plain CSV -> Parquet {plain_rate:,.0f} rows/s -> {ingest_rate / plain_rate:.2f}x",
        flush=True,
    )
    return {
        "csv_plain_seconds": plain_s,
        "csv_ingest_seconds": ingest_s,
        "csv_quarantined": quarantined,
        "csv_plain_rows_per_s": round(plain_rate),
        "csv_ingest_rows_per_s": round(ingest_rate),
        "csv_ratio": round(ingest_rate / plain_rate, 3),
    }


if __name__ == "__main__":
    sys.exit(main())
