"""Spark job: OPTIMIZE / Z-ORDER, checkpoint and VACUUM the tables of a lakehouse root.

Datasets are compacted, the metrics table is Z-ordered by run_id, every table is checkpointed and vacuumed;
vacuum keeps every file a tagged dataset version or a version used by a run needs.

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
from lakehouse.spark import maintain, spark_session


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="maintain.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("--dataset", action="append", help="only these datasets (repeatable; default: all)")
    parser.add_argument("--no-tables", action="store_true", help="skip the metrics, catalog and other tables")
    parser.add_argument("--no-compact", action="store_true", help="skip OPTIMIZE / Z-ORDER")
    parser.add_argument("--no-checkpoint", action="store_true", help="skip checkpoints")
    parser.add_argument("--no-vacuum", action="store_true", help="skip VACUUM")
    parser.add_argument("--retention-hours", type=int, help="vacuum keeps files removed less than this long ago")
    parser.add_argument("--dry-run", action="store_true", help="VACUUM lists files instead of deleting them")
    parser.add_argument("--root", help="lakehouse root (default: LAKEHOUSE_ROOT, then conf/lakehouse.toml)")
    parser.add_argument("--master", help="Spark master when not under spark-submit (default: conf/)")
    return parser.parse_args(argv)


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    steps = Steps(
        compact=not args.no_compact,
        checkpoint=not args.no_checkpoint,
        vacuum=not args.no_vacuum,
        retention_hours=args.retention_hours,
        dry_run=args.dry_run,
    )
    try:
        lh = lakehouse.connect(args.root)
        steps.hours(lh)
        spark = spark_session(lh.settings, master=args.master, app_name="lakehouse-maintain")
        report = maintain(lh, datasets=args.dataset, tables=not args.no_tables, steps=steps, spark=spark)
    except lakehouse.LakehouseError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(json.dumps(report.to_dict(), default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
