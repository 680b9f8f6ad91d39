"""The image's lock file: the server's runtime dependencies pinned with hashes.

`make lock` resolves pyproject.toml's [project] dependencies into requirements.lock (uv pip
compile --generate-hashes) and then runs this module, which puts a header on it that records
a digest of that dependency list. A unit test compares the digest with pyproject.toml's, so a
dependency changed without `make lock` fails the tests, not the image build months later.

    python -m infra.lockfile requirements.lock
"""

from __future__ import annotations

import hashlib
import json
import sys
import tomllib
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
LOCK_FILE = ROOT / "requirements.lock"
PYPROJECT = ROOT / "pyproject.toml"
DIGEST_LINE = "# pyproject-dependencies-sha256: "
HEADER = """\
# The server's runtime dependencies (pyproject.toml's [project] dependencies) for the image,
# pinned with hashes: infra/Dockerfile installs them with pip --require-hashes.
# Made by `make lock`, which keeps the pins already here (delete this file to take the newest
# releases); do not edit by hand.
"""


def dependencies_digest(pyproject_text: str) -> str:
    """A digest of the [project] dependencies: their order, comments and layout do not count."""
    dependencies = sorted(tomllib.loads(pyproject_text)["project"]["dependencies"])
    return hashlib.sha256(json.dumps(dependencies).encode()).hexdigest()


def recorded_digest(lock_text: str) -> str | None:
    """The digest the lock file's header records; None for a file without one."""
    for line in lock_text.splitlines():
        if line.startswith(DIGEST_LINE):
            return line.removeprefix(DIGEST_LINE).strip()
    return None


def with_header(lock_text: str, pyproject_text: str) -> str:
    """The lock file with our header on top, in place of any comment lines it began with."""
    lines = lock_text.splitlines(keepends=True)
    while lines and lines[0].startswith("#"):
        lines.pop(0)
    digest = f"{DIGEST_LINE}{dependencies_digest(pyproject_text)}\n"
    return HEADER + digest + "".join(lines)


def main(argv: list[str]) -> int:
    lock = Path(argv[1]) if len(argv) > 1 else LOCK_FILE
    lock.write_text(with_header(lock.read_text(), PYPROJECT.read_text()))
    return 0


if __name__ == "__main__":
    raise SystemExit(main(sys.argv))
