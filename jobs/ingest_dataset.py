"""Spark job: load CSV / JSON / Parquet files into a new version of a lakehouse dataset.

Run it either way (master and Spark properties come from conf/):

    python jobs/ingest_dataset.py NAME PATH... [options]
    spark-submit --properties-file conf/spark-defaults.conf jobs/ingest_dataset.py NAME PATH... [options]

Prints the result as one JSON object on stdout. Exit status 0 on success (including a re-run of a job that
had committed already), 1 on bad input (nothing written), 2 on bad usage. Same options as `lakehouse ingest`.
"""

from __future__ import annotations

import argparse
import json
import sys
from pathlib import Path

import lakehouse
from lakehouse.spark import ingest


def parse_args(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="ingest_dataset.py", description=__doc__.split("\n\n")[0])
    parser.add_argument("name", help="dataset name (created by the first ingest)")
    parser.add_argument("paths", nargs="+", help="input files, directories or globs")
    parser.add_argument(
        "--format",
        choices=["csv", "json", "parquet", "files"],
        help="default: from the extensions; files: PATH is a folder whose files become a file dataset",
    )
    parser.add_argument("--mode", default="append", choices=["append", "overwrite", "upsert"])
    parser.add_argument("--key", action="append", help="key column for upsert (repeatable)")
    parser.add_argument("--meta", action="append", default=[], metavar="KEY=VALUE", help="metadata (repeatable)")
    parser.add_argument("--created-by", help="who created this version")
    parser.add_argument("--description", help="what this version is")
    parser.add_argument("--labelled-by", help="who labelled the data")
    parser.add_argument("--job-id", help="idempotency key: a re-run with the same id commits nothing new")
    parser.add_argument(
        "--schema-mode", choices=["merge", "overwrite"], help="merge: allow new columns; overwrite: replace the schema"
    )
    parser.add_argument("--schema-file", type=Path, help="input schema: Spark DDL or Spark JSON schema")
    parser.add_argument("--partition-by", action="append", help="partition column on creation (repeatable)")
    parser.add_argument(
        "--root", help="lakehouse root: a folder or s3://bucket/prefix (default: LAKEHOUSE_ROOT, conf/lakehouse.toml)"
    )
    parser.add_argument("--master", help="Spark master when not under spark-submit (default: conf/)")
    return parser.parse_args(argv)


def parse_meta(pairs: list[str]) -> dict[str, object]:
    out: dict[str, object] = {}
    for pair in pairs:
        key, sep, raw = pair.partition("=")
        if not sep or not key:
            msg = f"--meta expects key=value, got {pair!r}"
            raise lakehouse.InvalidArgument(msg)
        try:
            out[key] = json.loads(raw)
        except ValueError:
            out[key] = raw
    return out


def main(argv: list[str] | None = None) -> int:
    args = parse_args(argv)
    try:
        # Spark starts inside ingest(), and only if there is work: a re-run of a finished job needs no JVM.
        lh = lakehouse.connect(args.root, spark_master=args.master)
        result = ingest(
            lh,
            args.name,
            args.paths,
            format=args.format,
            mode=args.mode,
            key=args.key,
            schema_mode=args.schema_mode,
            schema_file=args.schema_file,
            partition_by=args.partition_by,
            metadata=parse_meta(args.meta),
            created_by=args.created_by,
            description=args.description,
            labelled_by=args.labelled_by,
            job_id=args.job_id,
        )
    except lakehouse.LakehouseError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(json.dumps(result.to_dict(), default=str))
    return 0


if __name__ == "__main__":
    sys.exit(main())
