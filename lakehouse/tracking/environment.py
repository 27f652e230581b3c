"""What a run records about where it ran, as MLflow and W&B do: user, host, command, Python, packages, git.

Cheap facts (command line, working directory, pid) are taken when the run starts; the rest (package
versions, git) is gathered on the writer's background thread, so ``start_run`` stays in microseconds.
Everything is cached per process: a sweep starting a thousand runs asks git once.
"""

from __future__ import annotations

import functools
import importlib.metadata
import os
import platform
import subprocess
import sys
from pathlib import Path
from typing import Any

from lakehouse.tracking.spool import host_name

# Packages whose versions explain a training result; only the installed ones are recorded.
KEY_PACKAGES = (
    "lakehouse",
    "numpy",
    "pandas",
    "polars",
    "pyarrow",
    "deltalake",
    "scikit-learn",
    "torch",
    "lightning",
    "keras",
    "tensorflow",
    "jax",
    "transformers",
)
_GIT_TIMEOUT_S = 5


def start_facts(user: str) -> dict[str, Any]:
    """Facts known the moment a run starts; microseconds to gather."""
    return {
        "user": user,
        "host": host_name(),
        "pid": os.getpid(),
        "command": [sys.executable, *sys.argv],
        "cwd": os.getcwd(),
    }


def complete(facts: dict[str, Any]) -> dict[str, Any]:
    """Add the slower facts (Python, platform, packages, git) to :func:`start_facts` output."""
    out = dict(facts)
    out.update(_interpreter())
    out["packages"] = dict(_packages())
    out.update(git_state(str(facts.get("cwd") or os.getcwd())))
    return out


@functools.cache
def _interpreter() -> dict[str, str]:
    return {
        "python": platform.python_version(),
        "python_implementation": platform.python_implementation(),
        "platform": platform.platform(),
    }


@functools.cache
def _packages() -> tuple[tuple[str, str], ...]:
    found = []
    for name in KEY_PACKAGES:
        try:
            found.append((name, importlib.metadata.version(name)))
        except importlib.metadata.PackageNotFoundError:
            continue
    return tuple(found)


@functools.cache
def git_state(cwd: str) -> dict[str, Any]:
    """``git_commit``, ``git_dirty`` (tracked files changed), ``git_branch``, ``git_root`` inside a repository."""
    if not Path(cwd).is_dir():
        return {}
    head = _git(cwd, "rev-parse", "HEAD")
    if head is None:
        return {}
    out: dict[str, Any] = {"git_commit": head}
    status = _git(cwd, "status", "--porcelain", "--untracked-files=no")
    if status is not None:
        out["git_dirty"] = bool(status)
    branch = _git(cwd, "rev-parse", "--abbrev-ref", "HEAD")
    if branch and branch != "HEAD":
        out["git_branch"] = branch
    top = _git(cwd, "rev-parse", "--show-toplevel")
    if top:
        out["git_root"] = top
    return out


def _git(cwd: str, *args: str) -> str | None:
    try:
        done = subprocess.run(
            ["git", *args],
            cwd=cwd,
            capture_output=True,
            text=True,
            timeout=_GIT_TIMEOUT_S,
            check=False,
        )
    except (OSError, subprocess.SubprocessError):
        return None
    if done.returncode != 0:
        return None
    return done.stdout.strip()
