"""Known-vulnerable releases are excluded, and CI audits what it installed before testing it."""

from __future__ import annotations

import re
import tomllib
from importlib.metadata import version
from pathlib import Path

from packaging.requirements import Requirement
from packaging.version import Version

ROOT = Path(__file__).resolve().parents[2]
# Releases with a published advisory that the requirements must exclude, by package.
VULNERABLE = {"pyjwt": ["2.10.0"]}  # CVE-2024-53861: the issuer check accepted a partial match


def requirements() -> dict[str, Requirement]:
    project = tomllib.loads((ROOT / "pyproject.toml").read_text())["project"]
    return {
        requirement.name.lower(): requirement
        for requirement in map(Requirement, project["dependencies"])
    }


def test_the_requirements_exclude_the_known_vulnerable_releases():
    required = requirements()
    for name, releases in VULNERABLE.items():
        specifier = required[name].specifier
        assert [release for release in releases if specifier.contains(release)] == [], name


def test_what_is_installed_is_not_a_known_vulnerable_release():
    for name, releases in VULNERABLE.items():
        assert Version(version(name)) not in {Version(release) for release in releases}


def make_recipe(target: str) -> list[str]:
    """The commands of one Makefile target."""
    lines = (ROOT / "Makefile").read_text().splitlines()
    start = next(index for index, line in enumerate(lines) if line.startswith(f"{target}:"))
    recipe = []
    for line in lines[start + 1 :]:
        if not line.startswith("\t"):
            break
        recipe.append(line.strip())
    return recipe


def test_make_audit_runs_pip_audit_on_the_venv_and_fails_on_a_finding():
    recipe = make_recipe("audit")

    assert recipe == ["$(BIN)/pip-audit --skip-editable --progress-spinner off"]
    # No `|| true`, no --ignore-vuln: a known vulnerability fails the target.


def test_ci_audits_what_it_installed_before_the_tests():
    commands = [
        line.strip()
        for line in (ROOT / ".ci" / "run").read_text().splitlines()
        if re.match(r"\s*make\b", line)
    ]

    assert commands.index("make install") < commands.index("make audit")
    assert commands.index("make audit") < commands.index("make test")
