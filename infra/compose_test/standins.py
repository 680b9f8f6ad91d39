"""The images the stack runs: the real ones where they can be pulled, stand-ins where not.

A stand-in is built from Debian's packages and PyPI only, on a Debian bookworm made here with
debootstrap (`docker import`), and keeps the contract of the image it replaces that
docker-compose.yml relies on (see each standins/NAME/Dockerfile). Stand-ins are tagged by a
hash of what they are built from and kept between runs: the first build takes minutes.
"""

from __future__ import annotations

import hashlib
import os
import shutil
import subprocess
import tempfile
from collections.abc import Callable
from dataclasses import dataclass
from pathlib import Path

from infra.compose_test.engine import docker, image_exists, log

STANDINS = Path(__file__).resolve().parent / "standins"
BASE_IMAGE = "reportbox-standin/debian:bookworm"
STANDIN_REPOSITORY = "reportbox-standin"
# What the stand-ins that run pip reach PyPI with (the machine's bundle; see python/Dockerfile).
CA_BUNDLE = "ca-bundle.crt"
DEFAULT_CA_BUNDLE = "/etc/ssl/certs/ca-certificates.crt"


@dataclass(frozen=True)
class Image:
    variable: str  # the docker-compose.yml variable that names it
    reference: str  # what the stack runs
    official: str  # the default the stack would run
    standin: bool


def real_or_standin(variable: str, official: str, standin: str, base: Callable[[], str]) -> Image:
    """The official image if it is here or can be pulled, else the stand-in `standin`, built
    on `base()` (called only then: making the Debian base takes minutes the first time)."""
    if image_exists(official) or docker("pull", "--quiet", official, check=False).returncode == 0:
        return Image(variable, official, official, standin=False)
    return Image(variable, build_standin(standin, base()), official, standin=True)


def debian_base() -> str:
    """Debian bookworm from Debian's archive, the base of every stand-in (kept between runs)."""
    if image_exists(BASE_IMAGE):
        return BASE_IMAGE
    log(f"building {BASE_IMAGE} with debootstrap (once; it takes a few minutes)")
    with tempfile.TemporaryDirectory(prefix="reportbox-debootstrap-") as folder:
        root = Path(folder) / "root"
        subprocess.run(
            ["debootstrap", "--variant=minbase", "bookworm", str(root)],
            check=True,
            stdout=subprocess.DEVNULL,
        )
        # As in Debian's official image: services are never started by package installs
        # inside a build, and no package list or archive is kept in the layer.
        policy = root / "usr/sbin/policy-rc.d"
        policy.write_text("#!/bin/sh\nexit 101\n")
        policy.chmod(0o755)
        for cache in ("var/lib/apt/lists", "var/cache/apt/archives"):
            for entry in (root / cache).glob("*"):
                if entry.is_file():
                    entry.unlink()
        tar = subprocess.Popen(["tar", "-C", str(root), "-c", "."], stdout=subprocess.PIPE)
        docker(
            "import",
            "--change",
            "ENV PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
            "--change",
            'CMD ["/bin/bash"]',
            "-",
            BASE_IMAGE,
            stdin=tar.stdout,
        )
        if tar.wait() != 0:
            raise RuntimeError("tar of the debootstrap'd root failed")
    return BASE_IMAGE


def build_standin(name: str, base: str) -> str:
    """standins/NAME built on `base`, unless an image of the same inputs is already here."""
    folder = STANDINS / name
    with tempfile.TemporaryDirectory(prefix=f"reportbox-standin-{name}-") as context:
        shutil.copytree(folder, context, dirs_exist_ok=True)
        bundle = Path(os.environ.get("SSL_CERT_FILE") or DEFAULT_CA_BUNDLE)
        shutil.copyfile(bundle, Path(context) / CA_BUNDLE)
        tag = f"{STANDIN_REPOSITORY}/{name}:{_inputs_hash(Path(context), base)}"
        if image_exists(tag):
            return tag
        log(f"building stand-in {tag}")
        docker("build", "--quiet", "--build-arg", f"BASE={base}", "--tag", tag, context)
    return tag


def _inputs_hash(context: Path, base: str) -> str:
    digest = hashlib.sha256(docker_image_id(base).encode())
    for path in sorted(context.rglob("*")):
        if path.is_file():
            digest.update(path.relative_to(context).as_posix().encode())
            digest.update(path.read_bytes())
    return digest.hexdigest()[:12]


def docker_image_id(reference: str) -> str:
    return docker("image", "inspect", "--format", "{{.Id}}", reference).stdout.strip()
