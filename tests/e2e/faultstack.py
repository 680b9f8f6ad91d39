"""A whole Reportbox for fault tests: api, relays and workers as real processes, with a
database, queues and bucket of its own, and a fault proxy between the relays and workers
and each service (PostgreSQL, RabbitMQ, S3). The API reaches PostgreSQL directly, so
requests are accepted whatever is cut."""

from __future__ import annotations

import contextlib
import functools
import signal
import subprocess
import time
import uuid
from collections.abc import Callable, Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any
from urllib.parse import urlsplit, urlunsplit

import jwt
import pika
from sqlalchemy import make_url, text
from sqlalchemy.orm import Session, sessionmaker

from shared.config import Settings
from shared.db import make_engine, make_session_factory
from shared.storage import Storage
from tests.conftest import fresh_database
from tests.e2e import checker
from tests.e2e.api_client import Answer, ApiClient
from tests.faultproxy import FaultProxy
from tests.processes import Process, start_api, start_relay, start_worker, wait_until_ready
from tests.services import free_port, s3_client

# Knobs that make failures and recoveries take seconds, not minutes.
FAST = {
    "lease_seconds": 3,
    "relay_poll_seconds": 0.5,
    "progress_interval_seconds": 0.5,
    "retry_backoff_base_seconds": 0.2,
    "retry_backoff_cap_seconds": 2.0,
    "shutdown_grace_seconds": 5.0,
    "worker_concurrency": 2,
}
STOP_TIMEOUT = 30.0  # seconds for every process to leave on SIGTERM
SMALL_REPORT = {"fromDate": "2026-01-01", "toDate": "2026-01-03"}
STATUSES = text("SELECT status, count(*) FROM reports WHERE id = ANY(:ids) GROUP BY status")


def via_proxy(url: str, port: int) -> str:
    parts = urlsplit(url)
    credentials = parts.netloc.rpartition("@")[0]
    netloc = f"{credentials}@127.0.0.1:{port}" if credentials else f"127.0.0.1:{port}"
    return urlunsplit(parts._replace(netloc=netloc))


def via_proxy_database(url: str, port: int) -> str:
    return make_url(url).set(host="127.0.0.1", port=port).render_as_string(hide_password=False)


def eventually(condition: Callable[[], Any], timeout: float, interval: float = 0.2) -> Any:
    """Poll until `condition()` is truthy; its value, or AssertionError after the timeout."""
    deadline = time.monotonic() + timeout
    while True:
        value = condition()
        if value:
            return value
        if time.monotonic() > deadline:
            raise AssertionError(f"not within {timeout} s: {condition.__doc__ or condition}")
        time.sleep(interval)


@dataclass
class FaultStack:
    settings: Settings  # what relays and workers get: every service behind a proxy
    direct: Settings  # the same system, straight to the services: the API and the test
    base_url: str
    log_dir: Path
    proxies: dict[str, FaultProxy]
    sessions: sessionmaker[Session]
    storage: Storage
    processes: list[Process] = field(default_factory=list)
    _names: dict[str, int] = field(default_factory=dict)

    # ------------------------------------------------------------------ processes

    def _name(self, kind: str) -> str:
        self._names[kind] = self._names.get(kind, 0) + 1
        return f"{kind}-{self._names[kind]}"

    def start_api(self) -> Process:
        port = int(urlsplit(self.base_url).port)
        api = start_api(self.direct, port, self.log_dir)
        self.processes.append(api)
        wait_until_ready(self.base_url, api)
        return api

    def start_relay(self, **overrides: Any) -> Process:
        settings = self.settings.with_overrides(**overrides)
        relay = start_relay(settings, self.log_dir, self._name("relay"))
        self.processes.append(relay)
        return relay

    def start_worker(self, **overrides: Any) -> Process:
        settings = self.settings.with_overrides(**overrides)
        worker = start_worker(settings, self.log_dir, self._name("worker"))
        self.processes.append(worker)
        return worker

    @staticmethod
    def kill(process: Process) -> None:
        """SIGKILL, by PID: no handler runs, nothing is flushed or released."""
        process.signal(signal.SIGKILL)
        process.stop()  # reaps it and closes its log

    def stop_all(self) -> dict[str, int]:
        """SIGTERM every process still running, by PID; the exit codes of those."""
        running = [process for process in self.processes if process.alive()]
        for process in running:  # all at once: they shut down side by side
            process.signal(signal.SIGTERM)
        deadline = time.monotonic() + STOP_TIMEOUT
        for process in running:
            with contextlib.suppress(subprocess.TimeoutExpired):
                process.popen.wait(timeout=max(deadline - time.monotonic(), 0.1))
        # stop() reaps each one and closes its log (a second SIGTERM only to the stragglers).
        codes = {process.name: process.stop() for process in running}
        for process in self.processes:
            process.stop()  # the killed ones: closes their logs
        return codes

    def consumers(self) -> int:
        """Consumers on the work queue (0 while nobody declared it yet)."""
        try:
            with self.channel() as channel:
                declared = channel.queue_declare(self.direct.work_queue, passive=True)
                return declared.method.consumer_count
        except pika.exceptions.ChannelClosedByBroker:
            return 0

    def logs(self, kind: str) -> list[Path]:
        return sorted(self.log_dir.glob(f"{kind}-*.log"))

    def log_text(self, kind: str) -> str:
        return "".join(path.read_text(errors="replace") for path in self.logs(kind))

    # ------------------------------------------------------------------ requests

    def client(self, org: str = "acme", roles: tuple[str, ...] = ("analyst",)) -> ApiClient:
        """A client as a user of its own, so no 409 or 429 rule joins two requests."""
        now = int(time.time())
        claims = {
            "sub": f"user-{uuid.uuid4().hex[:12]}",
            "org": org,
            "roles": list(roles),
            "iss": self.direct.jwt_issuer,
            "aud": self.direct.jwt_audience,
            "iat": now,
            "exp": now + 3600,
        }
        token = jwt.encode(claims, self.direct.jwt_secret, algorithm="HS256")
        return ApiClient(self.base_url, token)

    def request(
        self, report_type: str = "sessions", parameters: dict | None = None, org: str = "acme"
    ) -> Answer:
        return self.client(org).request_report(
            report_type, SMALL_REPORT if parameters is None else parameters
        )

    def submit(self, count: int, threads: int = 8, **request: Any) -> list[Answer]:
        """`count` POSTs over HTTP, `threads` at a time, each by a user of its own."""
        with ThreadPoolExecutor(threads) as pool:
            return list(pool.map(lambda _: self.request(**request), range(count)))

    # ------------------------------------------------------------------ observations

    def statuses(self, report_ids: list[str]) -> dict[str, int]:
        with self.sessions() as session:
            rows = session.execute(STATUSES, {"ids": [uuid.UUID(i) for i in report_ids]})
            return {status: count for status, count in rows}

    def report(self, report_id: str) -> Any:
        with self.sessions() as session:
            return session.execute(
                text("SELECT * FROM reports WHERE id = :id"), {"id": uuid.UUID(report_id)}
            ).one()

    def wait_terminal(self, report_ids: list[str], timeout: float) -> dict[str, int]:
        def terminal() -> dict[str, int] | None:
            statuses = self.statuses(report_ids)
            active = statuses.get("Pending", 0) + statuses.get("Processing", 0)
            return statuses if sum(statuses.values()) == len(report_ids) and not active else None

        try:
            return eventually(terminal, timeout, interval=0.3)
        except AssertionError:
            raise AssertionError(
                f"not terminal within {timeout} s: {self.statuses(report_ids)}"
            ) from None

    def published_not_marked(self) -> int:
        """How many more messages the broker holds than the outbox marks published (while no
        worker consumes): it grows while a relay is between the confirm and its commit, and
        stays up when that relay died there."""
        in_queue = self.queue_depth(self.direct.work_queue)
        with self.sessions() as session:
            query = text("SELECT count(*) FROM outbox WHERE published_at IS NOT NULL")
            return in_queue - session.execute(query).scalar_one()

    def unpublished(self) -> int:
        with self.sessions() as session:
            query = text("SELECT count(*) FROM outbox WHERE published_at IS NULL")
            return session.execute(query).scalar_one()

    @functools.cached_property
    def _s3(self) -> Any:
        return s3_client(self.direct)

    def read_object(self, key: str) -> bytes:
        return self._s3.get_object(Bucket=self.direct.s3_bucket, Key=key)["Body"].read()

    def check(self, report_ids: list[str], settle: float = 30.0) -> checker.Figures:
        """The checker's figures once the system has settled: a relay whose commit was cut
        after the broker's confirm publishes again on its next pass, after its reconnect
        backoff. Duplicates and unexpected objects never go away, so waiting hides none."""
        deadline = time.monotonic() + settle
        while True:
            figures = checker.check(
                self.sessions,
                self.storage.object_keys(),
                report_ids,
                self.logs("worker"),
                read_object=self.read_object,
            )
            if figures.ok or time.monotonic() >= deadline:
                return figures
            time.sleep(0.5)

    # ------------------------------------------------------------------ broker

    @contextlib.contextmanager
    def channel(self) -> Iterator[Any]:
        connection = pika.BlockingConnection(pika.URLParameters(self.direct.rabbitmq_url))
        try:
            yield connection.channel()
        finally:
            connection.close()

    def publish(self, body: bytes, message_id: str, times: int = 1) -> None:
        """Straight to the work exchange, as a relay would (or a stranger would)."""
        with self.channel() as channel:
            channel.confirm_delivery()
            for _ in range(times):
                channel.basic_publish(
                    self.direct.exchange,
                    "report.requested",
                    body,
                    pika.BasicProperties(
                        message_id=message_id,
                        type="report.requested",
                        content_type="application/json",
                        delivery_mode=2,
                    ),
                    mandatory=True,
                )

    def queue_depth(self, queue: str) -> int:
        """Messages ready in `queue` (0 while nobody declared it yet)."""
        try:
            with self.channel() as channel:
                return channel.queue_declare(queue, passive=True).method.message_count
        except pika.exceptions.ChannelClosedByBroker:
            return 0

    def drain(self, queue: str) -> list[tuple[Any, bytes]]:
        """Every message now in `queue` as (properties, body); acknowledges them."""
        messages = []
        with self.channel() as channel:
            while True:
                method, properties, body = channel.basic_get(queue)
                if method is None:
                    return messages
                messages.append((properties, body))
                channel.basic_ack(method.delivery_tag)

    def delete_topology(self) -> None:
        with self.channel() as channel:
            for queue in (self.direct.work_queue, self.direct.dead_letter_queue):
                channel.queue_delete(queue)
            channel.queue_delete(self.direct.retry_queue)
            for exchange in (self.direct.exchange, self.direct.dead_letter_exchange):
                channel.exchange_delete(exchange)


@contextlib.contextmanager
def fault_stack(
    base: Settings,
    postgres_url: str,
    log_dir: Path,
    *,
    database_url: str | None = None,
    **overrides: Any,
) -> Iterator[FaultStack]:
    """A stack with no process running yet; start what the test needs. `database_url` lends
    an existing database (with big demo data, say); by default the stack gets a fresh one.
    Every process is stopped by PID, and the queues deleted, on the way out."""
    suffix = uuid.uuid4().hex[:8]
    name = f"faults-{suffix}"
    with contextlib.ExitStack() as cleanup:
        if database_url is None:
            database_url = cleanup.enter_context(
                fresh_database(postgres_url, f"reportbox_faults_{suffix}")
            )
        base_url = f"http://127.0.0.1:{free_port()}"
        direct = base.with_overrides(
            database_url=database_url,
            source_database_url=database_url,
            exchange=name,
            work_queue=f"{name}.reports",
            s3_bucket=name,
            public_base_url=base_url,
            **{**FAST, **overrides},
        )
        proxies = {
            service: cleanup.enter_context(contextlib.closing(FaultProxy(host, port)))
            for service, (host, port) in {
                "postgres": _host_port(database_url),
                "rabbitmq": _host_port(direct.rabbitmq_url),
                "s3": _host_port(direct.s3_endpoint_url),
            }.items()
        }
        proxied_database = via_proxy_database(database_url, proxies["postgres"].port)
        settings = direct.with_overrides(
            database_url=proxied_database,
            source_database_url=proxied_database,
            rabbitmq_url=via_proxy(direct.rabbitmq_url, proxies["rabbitmq"].port),
            s3_endpoint_url=via_proxy(direct.s3_endpoint_url, proxies["s3"].port),
            s3_public_endpoint_url=direct.s3_endpoint_url,
        )
        storage = Storage(direct)
        storage.ensure_bucket()
        engine = make_engine(direct)
        cleanup.callback(engine.dispose)
        stack = FaultStack(
            settings,
            direct,
            base_url,
            log_dir / name,
            proxies,
            make_session_factory(engine),
            storage,
        )
        cleanup.callback(stack.delete_topology)
        cleanup.callback(stack.stop_all)
        yield stack


def _host_port(url: str) -> tuple[str, int]:
    if url.startswith("postgresql"):
        database = make_url(url)
        return database.host, int(database.port or 5432)
    parts = urlsplit(url)
    return parts.hostname, int(parts.port)
