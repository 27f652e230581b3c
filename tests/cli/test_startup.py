"""The CLI starts without the data libraries: ``--help`` and argument errors answer at once."""

from __future__ import annotations

import subprocess
import sys
from pathlib import Path

HEAVY = ("polars", "pyarrow", "deltalake", "numpy", "pyspark", "mlflow", "streamlit")


def test_importing_the_cli_loads_no_data_library() -> None:
    probe = f"import sys, lakehouse, lakehouse.cli; print(','.join(m for m in {HEAVY!r} if m in sys.modules))"
    loaded = subprocess.run([sys.executable, "-c", probe], capture_output=True, text=True, check=True).stdout.strip()
    assert loaded == "", f"importing the CLI loaded {loaded}"


def test_help_lists_every_command() -> None:
    cli = Path(sys.executable).with_name("lakehouse")
    done = subprocess.run([str(cli), "--help"], capture_output=True, text=True, check=True)
    for command in (
        "datasets",
        "runs",
        "artifacts",
        "ingest",
        "maintain",
        "demo",
        "app",
        "import-mlflow",
        "import-tensorboard",
        "import-wandb",
    ):
        assert command in done.stdout


def test_the_package_still_offers_every_name_it_exports() -> None:
    import lakehouse

    for name in lakehouse.__all__:
        assert getattr(lakehouse, name) is not None, name
    assert set(lakehouse.__all__) <= set(dir(lakehouse))
    assert lakehouse.storage.__name__ == "lakehouse.storage"  # submodules as attributes, as before
