"""The package as a user installs it: a wheel in a fresh virtual environment, used outside the checkout.

Everything ``lakehouse demo`` and ``lakehouse app`` need (the demo's builder, the app's scripts and pages)
must ship in the wheel; a file left outside the package works from a source checkout and nowhere else.
The wheel's dependencies are installed from uv's cache, which ``make install`` fills, pinned by the lock.
"""

from __future__ import annotations

import json
import os
import shutil
import signal
import subprocess
import sys
import urllib.request
import zipfile
from pathlib import Path

import pytest

from tests.cli.app_process import assert_answers, serving

CHECKOUT = Path(__file__).resolve().parents[1]
UV = Path(sys.executable).with_name("uv")
CURVES = "lakehouse/app/components/curves/static"

# Run inside the new environment: the app's default page, as Streamlit renders it for a visitor.
RENDER = """
import json, sys
from streamlit.testing.v1 import AppTest
from lakehouse.app import server

at = AppTest.from_file(str(server.ENTRY_POINT), default_timeout=120).run()
tables = {}

def walk(node):
    for child in getattr(node, "children", {}).values():
        if getattr(child, "type", None) == "dataframe" and getattr(node, "key", None):
            tables[str(node.key)] = child.value.to_dict("list")
        walk(child)

walk(at._tree)
print(json.dumps({
    "entry": str(server.ENTRY_POINT),
    "exceptions": [e.value for e in at.exception],
    "errors": [e.value for e in at.error],
    "tables": tables,
}, default=str))
"""


def _clean_env(venv: Path) -> dict[str, str]:
    """The environment of a shell in the new venv: nothing pointing back at the checkout or its settings."""
    env = {k: v for k, v in os.environ.items() if not k.startswith(("LAKEHOUSE_", "PYTHON", "VIRTUAL_ENV"))}
    env["PATH"] = f"{venv / 'bin'}{os.pathsep}{env.get('PATH', '')}"
    env["VIRTUAL_ENV"] = str(venv)
    env["PYTHONUNBUFFERED"] = "1"
    return env


def _build_wheel(out: Path, tmp: Path) -> Path:
    """Build the wheel from a copy of the sources, so the build leaves nothing in the checkout."""
    source = tmp / "source"
    source.mkdir()
    ignore = shutil.ignore_patterns("__pycache__", "node_modules")
    shutil.copytree(CHECKOUT / "lakehouse", source / "lakehouse", ignore=ignore)
    for name in ("pyproject.toml", "README.md"):
        shutil.copy(CHECKOUT / name, source / name)
    subprocess.run([str(UV), "build", "--wheel", "--offline", "--quiet", "-o", str(out), str(source)], check=True)
    (wheel,) = out.glob("lakehouse-*.whl")
    return wheel


def _install(wheel: Path, venv: Path) -> None:
    subprocess.run([sys.executable, "-m", "venv", "--without-pip", str(venv)], check=True)
    lock = CHECKOUT / "requirements" / "lock.txt"
    install = [str(UV), "pip", "install", "--offline", "--quiet", "--python", str(venv / "bin" / "python")]
    subprocess.run([*install, "-c", str(lock), f"{wheel}[app,demo]"], check=True)


@pytest.mark.slow
def test_an_installed_wheel_builds_the_demo_and_serves_the_app_outside_the_checkout(tmp_path: Path) -> None:
    wheel = _build_wheel(tmp_path / "dist", tmp_path)
    # The chart component's built assets and the manifest Streamlit finds them by ship in the wheel.
    names = set(zipfile.ZipFile(wheel).namelist())
    assert {"lakehouse/pyproject.toml", f"{CURVES}/curves.js", f"{CURVES}/curves.css"} <= names
    assert not [n for n in names if "node_modules" in n or "/frontend/" in n]
    venv = tmp_path / "venv"
    _install(wheel, venv)
    site = venv / "lib" / f"python{sys.version_info.major}.{sys.version_info.minor}" / "site-packages"
    elsewhere = tmp_path / "elsewhere"  # a user's folder: no checkout above it
    elsewhere.mkdir()
    env = _clean_env(venv)
    python, cli = str(venv / "bin" / "python"), str(venv / "bin" / "lakehouse")

    where = subprocess.run(
        [python, "-c", "import lakehouse; print(lakehouse.__file__)"],
        cwd=elsewhere,
        env=env,
        capture_output=True,
        text=True,
        check=True,
    )
    assert Path(where.stdout.strip()).is_relative_to(site)

    demo = subprocess.run(
        [cli, "--root", "lh", "demo", "--json"], cwd=elsewhere, env=env, capture_output=True, text=True, check=False
    )
    assert demo.returncode == 0, demo.stderr
    built = json.loads(demo.stdout)
    assert built["built"]
    assert built["datasets"] == {"digits-images": 2, "digits-test": 0, "digits-train": 2}

    page = subprocess.run(
        [python, "-c", RENDER],
        cwd=elsewhere,
        env={**env, "LAKEHOUSE_ROOT": str(elsewhere / "lh")},
        capture_output=True,
        text=True,
        check=False,
    )
    assert page.returncode == 0, page.stderr
    rendered = json.loads(page.stdout.strip().splitlines()[-1])
    assert Path(rendered["entry"]).is_relative_to(site)
    assert rendered["exceptions"] == []
    assert rendered["errors"] == []
    assert sorted(rendered["tables"]["datasets_table"]["dataset"]) == ["digits-images", "digits-test", "digits-train"]

    with serving(cli, "--root", "lh", cwd=elsewhere, env=env) as (app, info):
        assert info["root"] == str(elsewhere / "lh")
        served = Path(f"/proc/{info['pid']}/cmdline").read_bytes().split(b"\0")
        assert str(site / "lakehouse" / "app" / "asgi_app.py").encode() in served  # the wheel's copy of the app
        assert_answers(info["url"])  # its pages and its route
        # The installed server serves the component's script (found through the wheel's manifest).
        with urllib.request.urlopen(info["url"] + "/_stcore/bidi-components/lakehouse.curves/curves.js") as js:
            assert b"u-over" in js.read()  # uPlot, bundled
        app.send_signal(signal.SIGTERM)
        assert app.wait(timeout=30) == 0
