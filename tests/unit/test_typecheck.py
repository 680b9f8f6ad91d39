"""CI type-checks every package of ours, strictly except the API, right after the lint."""

from __future__ import annotations

import re
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[2]
# The API is checked (every function body) but not held to --strict: Flask's and marshmallow's
# dynamic corners would need more annotations than they give back.
CHECKED_NOT_STRICT = {"api"}


def pyproject() -> dict:
    return tomllib.loads((ROOT / "pyproject.toml").read_text())


def our_packages() -> set[str]:
    """The server's installed top-level packages, and the client beside them."""
    included = pyproject()["tool"]["setuptools"]["packages"]["find"]["include"]
    return {pattern.rstrip("*") for pattern in included} | {"client"}


def strict_modules() -> set[str]:
    strict = set()
    for override in pyproject()["tool"]["mypy"]["overrides"]:
        if override.get("disallow_untyped_defs") and override.get("warn_return_any"):
            strict |= {module.removesuffix(".*") for module in override["module"]}
    return strict


def test_mypy_checks_every_package_of_ours():
    assert set(pyproject()["tool"]["mypy"]["files"]) == our_packages()


def test_every_package_but_the_api_is_strict():
    assert strict_modules() == our_packages() - CHECKED_NOT_STRICT


def test_ci_type_checks_right_after_the_lint():
    commands = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if re.match(r"\s*make\b", line)
    ]

    assert commands[commands.index("make lint") + 1] == "make typecheck"
    assert (ROOT / "Makefile").read_text().count("\ntypecheck: install\n\t$(BIN)/mypy\n") == 1
