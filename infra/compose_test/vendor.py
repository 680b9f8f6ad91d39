"""The images the stack runs by default, read from the files that name them, and the
stand-in (standins/NAME) for each."""

from __future__ import annotations

import re

from infra.compose_test.stack import COMPOSE_FILE, ROOT

DOCKERFILE = ROOT / "infra" / "Dockerfile"
# image: ${POSTGRES_IMAGE:-postgres:17.11-bookworm}
COMPOSE_IMAGE = re.compile(r"^\s*image:\s*\$\{(?P<variable>\w+_IMAGE):-(?P<default>[^}]+)\}", re.M)
DOCKERFILE_BASE = re.compile(r"^ARG (?P<variable>PYTHON_IMAGE)=(?P<default>\S+)", re.M)
# The app image is built here, never pulled.
BUILT_HERE = "REPORTBOX_IMAGE"
STANDIN_OF = {
    "PYTHON_IMAGE": "python",
    "POSTGRES_IMAGE": "postgres",
    "RABBITMQ_IMAGE": "rabbitmq",
    "MINIO_IMAGE": "s3",
    "MC_IMAGE": "s3",  # MinIO's server and client: one stand-in image serves both
    "MAILPIT_IMAGE": "mailpit",
}


def official_images() -> dict[str, str]:
    """Variable -> default image, the Python base first (the S3 stand-in builds on it)."""
    found = {m["variable"]: m["default"] for m in DOCKERFILE_BASE.finditer(DOCKERFILE.read_text())}
    for match in COMPOSE_IMAGE.finditer(COMPOSE_FILE.read_text()):
        if match["variable"] != BUILT_HERE:
            found[match["variable"]] = match["default"]
    unknown = set(found) - set(STANDIN_OF)
    if unknown:
        raise SystemExit(f"no stand-in is known for {sorted(unknown)}: add one to standins/")
    return found
