"""Job: copy an MLflow store into the lakehouse (no Spark needed), idempotently.

    python jobs/import_mlflow.py --from sqlite:///mlflow.db --root /data/lakehouse [--experiment NAME ...] [--artifacts]

Runs and logged models keep their MLflow ids; a re-run imports only what is new in the source. Prints the
report as JSON.
"""

from __future__ import annotations

import argparse
import json
import sys

import lakehouse
from lakehouse.integrations.mlflow import import_runs


def main(argv: list[str] | None = None) -> int:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--from", dest="source", required=True, help="MLflow tracking URI to copy from")
    parser.add_argument("--root", default=None, help="lakehouse root (default: LAKEHOUSE_ROOT / conf)")
    parser.add_argument("--experiment", action="append", default=None, help="only this experiment (repeatable)")
    parser.add_argument("--artifacts", action="store_true", help="also copy the runs' artifact files")
    args = parser.parse_args(argv)
    try:
        report = import_runs(
            args.source, lakehouse.connect(args.root), experiments=args.experiment, artifacts=args.artifacts
        )
    except lakehouse.LakehouseError as e:
        print(f"error: {e}", file=sys.stderr)
        return 1
    print(json.dumps(report.to_dict(), indent=2))
    return 0


if __name__ == "__main__":
    sys.exit(main())
