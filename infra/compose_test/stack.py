"""One compose project of this run: a unique name, free host ports, its own app image."""

from __future__ import annotations

import json
import os
import socket
import subprocess
import time
import uuid
from pathlib import Path
from typing import Any

from infra.compose_test.engine import BUILD_ENVIRONMENT, compose_binary, docker

ROOT = Path(__file__).resolve().parents[2]
COMPOSE_FILE = ROOT / "docker-compose.yml"
PORT_VARIABLES = (
    "API_PORT",
    "MINIO_PORT",
    "MINIO_CONSOLE_PORT",
    "RABBITMQ_MANAGEMENT_PORT",
    "MAILPIT_PORT",
)
LONG_RUNNING = (
    "postgres",
    "rabbitmq",
    "minio",
    "mailpit",
    "api",
    "relay",
    "worker",
    "dispatcher",
)
ONE_SHOT = ("create-bucket", "migrate", "demo")


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


class Stack:
    def __init__(self, images: dict[str, str]) -> None:
        self.project = f"reportbox-compose-test-{uuid.uuid4().hex[:8]}"
        self.app_image = f"{self.project}:local"
        self.ports = {variable: free_port() for variable in PORT_VARIABLES}
        self.environment = {
            **os.environ,
            **BUILD_ENVIRONMENT,
            **images,
            **{variable: str(port) for variable, port in self.ports.items()},
            "REPORTBOX_IMAGE": self.app_image,
        }

    def url(self, variable: str) -> str:
        return f"http://localhost:{self.ports[variable]}"

    def compose(self, *arguments: str, timeout: float = 600) -> subprocess.CompletedProcess:
        return subprocess.run(
            [
                str(compose_binary()),
                *("--project-name", self.project, "--file", str(COMPOSE_FILE)),
                *arguments,
            ],
            cwd=ROOT,
            env=self.environment,
            capture_output=True,
            text=True,
            timeout=timeout,
            check=False,
        )

    def must(self, *arguments: str, timeout: float = 600) -> str:
        done = self.compose(*arguments, timeout=timeout)
        if done.returncode != 0:
            raise RuntimeError(f"docker compose {' '.join(arguments)}:\n{done.stderr[-3000:]}")
        return done.stdout

    def containers(self, service: str | None = None) -> list[dict[str, Any]]:
        """docker inspect of every container of the project (or of one service), stopped too."""
        labels = [f"label=com.docker.compose.project={self.project}"]
        if service:
            labels.append(f"label=com.docker.compose.service={service}")
        filters = [part for label in labels for part in ("--filter", label)]
        ids = docker("ps", "--all", "--quiet", *filters).stdout.split()
        return json.loads(docker("inspect", *ids).stdout) if ids else []

    def wait_until(self, ready, what: str, timeout: float, interval: float = 1.0) -> float:
        """Poll `ready()` until true; the seconds it took. Raises after `timeout`."""
        start = time.monotonic()
        while not ready():
            if time.monotonic() - start > timeout:
                raise TimeoutError(f"{what}: not after {timeout:g} s")
            time.sleep(interval)
        return time.monotonic() - start

    def leftovers(self) -> dict[str, list[str]]:
        label = f"label=com.docker.compose.project={self.project}"
        return {
            kind: docker(*command, "--filter", label).stdout.split()
            for kind, command in {
                "containers": ("ps", "--all", "--quiet"),
                "networks": ("network", "ls", "--quiet"),
                "volumes": ("volume", "ls", "--quiet"),
            }.items()
        }

    def remove(self) -> None:
        """Everything of this project, whatever state it is in, and the image it built."""
        self.compose("down", "--volumes", "--remove-orphans", "--timeout", "5", timeout=300)
        docker("image", "rm", "--force", self.app_image, check=False)
