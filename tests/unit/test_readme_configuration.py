"""The README's configuration table names exactly the variables the settings module reads."""

import re
from pathlib import Path

from shared.config import ENVIRONMENT

ROOT = Path(__file__).resolve().parents[2]
LOCAL_ONLY = {"API_PORT", "LOCAL_S3_PORT", "DEMO_SESSIONS"}  # make run's, not the services'


def documented_variables() -> set[str]:
    text = (ROOT / "README.md").read_text()
    section = text.split("## Configuration", 1)[1].split("\n## ", 1)[0]
    rows = [line for line in section.splitlines() if line.startswith("| `")]
    return {name for row in rows for name in re.findall(r"`([A-Z][A-Z0-9_]+)`", row.split("|")[1])}


def test_every_setting_is_documented_and_every_documented_variable_is_a_setting():
    assert documented_variables() == set(ENVIRONMENT.values())


def test_the_local_run_variables_are_documented_outside_the_table():
    text = (ROOT / "README.md").read_text()
    assert all(f"`{name}`" in text for name in LOCAL_ONLY)
