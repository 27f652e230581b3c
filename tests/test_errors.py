"""The error tree as users meet it: every error lakehouse raises on purpose can be caught from ``lakehouse``."""

from __future__ import annotations

import ast
from pathlib import Path

import lakehouse
from lakehouse import errors
from lakehouse.errors import StorageError, first_line

PACKAGE = Path(lakehouse.__file__).parent


def _tree(root: type[BaseException]) -> set[type[BaseException]]:
    found = set()
    for cls in root.__subclasses__():
        found |= {cls, *_tree(cls)}
    return found


def test_every_public_lakehouse_error_is_exported_from_the_package() -> None:
    public = {cls for cls in _tree(errors.LakehouseError) if not cls.__name__.startswith("_")}
    in_errors = {cls for cls in public if cls.__module__ == errors.__name__}
    assert {"TableNotFound", "ExperimentNotFound", "ExperimentExists"} <= {cls.__name__ for cls in in_errors}
    for cls in {errors.LakehouseError, errors.TrackingWarning, *public}:
        assert cls.__name__ in lakehouse.__all__, f"{cls.__module__}.{cls.__name__} is not in lakehouse.__all__"
        assert getattr(lakehouse, cls.__name__) is cls


def test_no_module_defines_a_public_error_outside_the_tree_the_package_exports() -> None:
    """An error subclassed in another module (not imported above) must be exported too."""
    error_names = {cls.__name__ for cls in _tree(errors.LakehouseError)} | {"LakehouseError"}
    defined: list[str] = []
    for path in PACKAGE.rglob("*.py"):
        for node in ast.walk(ast.parse(path.read_text(), str(path))):
            if not isinstance(node, ast.ClassDef) or node.name.startswith("_"):
                continue
            bases = {
                b.id if isinstance(b, ast.Name) else b.attr if isinstance(b, ast.Attribute) else "" for b in node.bases
            }
            if bases & error_names:
                defined.append(node.name)
    assert defined, "the scan found no error classes at all"
    missing = sorted(set(defined) - set(lakehouse.__all__))
    assert missing == []


def test_first_line_is_one_clean_line_of_an_engines_error() -> None:
    delta_rs = StorageError("\x1b[31mGeneric S3 error\x1b[0m: request failed\n\nCaused by:\n    0: HTTP 503\n")
    assert first_line(delta_rs) == "Generic S3 error: request failed"
    assert first_line(ValueError()) == "ValueError"
    assert first_line("\n  text after a blank line \nmore") == "text after a blank line"
