"""Starting Reportbox's processes as real subprocesses, and stopping them by PID."""

from __future__ import annotations

import os
import signal
import subprocess
import sys
import time
import urllib.request
from pathlib import Path

from shared.config import Settings

ROOT = Path(__file__).resolve().parents[1]


class Process:
    def __init__(self, name: str, argv: list[str], env: dict[str, str], log_dir: Path) -> None:
        self.name = name
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("wb")
        self.popen = subprocess.Popen(
            argv, cwd=ROOT, env=env, stdout=self._log, stderr=subprocess.STDOUT
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def signal(self, signum: int) -> None:
        if self.popen.poll() is None:
            os.kill(self.pid, signum)

    def stop(self, timeout: float = 15.0) -> int:
        self.signal(signal.SIGTERM)
        try:
            self.popen.wait(timeout=timeout)
        except subprocess.TimeoutExpired:
            self.popen.kill()
            self.popen.wait()
        self._log.close()
        return self.popen.returncode

    def log(self) -> str:
        return self.log_path.read_text(errors="replace")


def process_env(settings: Settings) -> dict[str, str]:
    keep = {"PATH", "HOME", "LANG", "LC_ALL", "TMPDIR", "VIRTUAL_ENV"}
    env = {name: value for name, value in os.environ.items() if name in keep}
    env.update(settings.to_env())
    env["PYTHONUNBUFFERED"] = "1"
    return env


def start_api(settings: Settings, port: int, log_dir: Path, workers: int = 2) -> Process:
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    return Process(
        "api",
        [
            gunicorn,
            "--bind",
            f"127.0.0.1:{port}",
            "--workers",
            str(workers),
            "api.app:create_app()",
        ],
        process_env(settings),
        log_dir,
    )


def start_relay(settings: Settings, log_dir: Path, name: str = "relay") -> Process:
    return Process(name, [sys.executable, "-m", "relay"], process_env(settings), log_dir)


def start_worker(settings: Settings, log_dir: Path, name: str = "worker") -> Process:
    return Process(name, [sys.executable, "-m", "worker"], process_env(settings), log_dir)


def wait_until_ready(base_url: str, process: Process, timeout: float = 30.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if process.popen.poll() is not None:
            raise RuntimeError(f"{process.name} exited early:\n{process.log()}")
        try:
            with urllib.request.urlopen(f"{base_url}/readyz", timeout=2) as response:
                if response.status == 200:
                    return
        except OSError:
            pass
        time.sleep(0.2)
    raise RuntimeError(f"{process.name} was not ready within {timeout} s:\n{process.log()}")
