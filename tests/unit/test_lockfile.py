"""requirements.lock, the image's pinned and hashed runtime dependencies, against pyproject.toml."""

import re
import tomllib

from infra.lockfile import (
    LOCK_FILE,
    PYPROJECT,
    dependencies_digest,
    recorded_digest,
    with_header,
)

PYPROJECT_TEXT = """\
[project]
name = "example"
dependencies = [
    "flask>=3.1,<4",
    # a comment
    "boto3>=1.35",
]
"""


def names(requirements: list[str]) -> set[str]:
    """Distribution names, normalized (PEP 503), without versions, extras or markers."""
    return {
        re.sub(r"[-_.]+", "-", re.match(r"[A-Za-z0-9._-]+", line).group()).lower()
        for line in requirements
    }


def test_the_lock_file_was_made_from_the_dependencies_pyproject_toml_lists_now():
    recorded = recorded_digest(LOCK_FILE.read_text())

    assert recorded == dependencies_digest(PYPROJECT.read_text()), (
        "pyproject.toml's [project] dependencies changed since requirements.lock was made: "
        "run `make lock` and commit requirements.lock"
    )


def test_the_lock_file_pins_every_dependency_to_one_release_with_hashes():
    # One entry per requirement: its line, its hashes and uv's "via" comments.
    entries = re.split(r"\n(?=[A-Za-z0-9])", LOCK_FILE.read_text())
    pins = [entry for entry in entries if not entry.startswith("#")]  # not the header
    listed = tomllib.loads(PYPROJECT.read_text())["project"]["dependencies"]

    assert all(re.match(r"[A-Za-z0-9._-]+(\[[^]]*\])?==\S+", pin) for pin in pins), pins
    assert all("--hash=sha256:" in pin for pin in pins)
    assert names(listed) <= names(pins)


def test_the_digest_follows_the_dependencies_not_their_order_or_comments():
    reordered = PYPROJECT_TEXT.replace(
        '"flask>=3.1,<4",\n    # a comment\n    "boto3>=1.35",',
        '"boto3>=1.35",\n    "flask>=3.1,<4",',
    )
    changed = PYPROJECT_TEXT.replace("boto3>=1.35", "boto3>=1.36")

    assert dependencies_digest(reordered) == dependencies_digest(PYPROJECT_TEXT)
    assert dependencies_digest(changed) != dependencies_digest(PYPROJECT_TEXT)


def test_the_header_records_the_digest_once_however_often_it_is_written():
    body = "flask==3.1.2 \\\n    --hash=sha256:00\n"

    once = with_header(body, PYPROJECT_TEXT)
    twice = with_header(once, PYPROJECT_TEXT)

    assert twice == once
    assert once.endswith(body)
    assert recorded_digest(once) == dependencies_digest(PYPROJECT_TEXT)
    assert recorded_digest(body) is None
