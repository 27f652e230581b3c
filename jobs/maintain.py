"""Spark job: OPTIMIZE, checkpoint and (with --vacuum) VACUUM the tables of a lakehouse root.

Datasets are compacted, the metrics table (partitioned by run_id) is compacted to one file per run, every table
is checkpointed; VACUUM keeps every file a tagged dataset version or a version used by a run needs.

    python jobs/maintain.py [options]
    spark-submit --properties-file conf/spark-defaults.conf jobs/maintain.py [options]

Prints the report as one JSON object on stdout. Same options as `lakehouse maintain --engine spark`.
"""

from __future__ import annotations

import argparse
import json
import sys

import lakehouse
from lakehouse.maintenance import Steps
from lakehouse.spark import maintain_with_spark


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="maintain.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", action="append", help="only this dataset (repeatable)")
    parser.add_argument(
        "--table", action="append", help="only this tracking table: runs, inputs, metric_summaries, metrics"
    )
    parser.add_argument("--vacuum", action="store_true", help="also VACUUM (files of pinned versions are kept)")
    parser.add_argument("--retention-hours", type=int, help="vacuum keeps files removed less than this long ago")
    parser.add_argument("--dry-run", action="store_true", help="VACUUM lists files instead of deleting them")
    parser.add_argument(
        "--root", help="lakehouse root: a folder or s3://bucket/prefix (default: LAKEHOUSE_ROOT, conf/lakehouse.toml)"
    )
    parser.add_argument("--master", help="Spark master when not under spark-submit (default: conf/)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    steps = Steps(vacuum=args.vacuum, retention_hours=args.retention_hours, dry_run=args.dry_run)
    try:
        lh = lakehouse.connect(args.root, spark_master=args.master)
        report = maintain_with_spark(lh, datasets=args.dataset, tracking=args.table, steps=steps)
    except lakehouse.LakehouseError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(json.dumps(report.to_dict(), default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
