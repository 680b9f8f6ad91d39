"""Helpers the integration tests share: waiting on a condition, threads, fault-proxy URLs,
reading reports back."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from html.parser import HTMLParser
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import func, make_url, select

from api.auth import Principal
from shared.models import OutboxMessage, Report
from shared.storage import Storage


def eventually(
    condition: Callable[[], object], timeout: float = 30.0, interval: float = 0.05
) -> bool:
    """Whether `condition()` held before the deadline; asked every `interval` seconds."""
    deadline = time.monotonic() + timeout
    while True:
        if condition():
            return True
        if time.monotonic() >= deadline:
            return False
        time.sleep(interval)


def in_thread(target: Callable[..., object], *args: object) -> threading.Thread:
    thread = threading.Thread(target=target, args=args, daemon=True)
    thread.start()
    return thread


def concurrently(app, count: int, request) -> list:
    """`request(client)` from `count` threads released at once; their answers."""
    barrier = threading.Barrier(count)
    answers: list = []
    lock = threading.Lock()

    def run() -> None:
        client = app.test_client()
        barrier.wait()
        response = request(client)
        with lock:
            answers.append(response)

    threads = [threading.Thread(target=run) for _ in range(count)]
    for thread in threads:
        thread.start()
    for thread in threads:
        thread.join(timeout=60)
    return answers


def via_proxy_amqp(url: str, port: int) -> str:
    """The AMQP URL with its host and port replaced by a fault proxy's."""
    parts = urlsplit(url)
    credentials = parts.netloc.rpartition("@")[0]
    return urlunsplit(parts._replace(netloc=f"{credentials}@127.0.0.1:{port}"))


def via_proxy_database(url: str, port: int) -> str:
    """The database URL with its host and port replaced by a fault proxy's."""
    return make_url(url).set(host="127.0.0.1", port=port).render_as_string(hide_password=False)


def reload(sessions, report_id) -> Report:
    with sessions() as session:
        return session.get(Report, report_id)


def owner_of(report: Report) -> Principal:
    return Principal(report.owner_id, report.org, frozenset({"analyst"}))


def reports_of(sessions, owner: str) -> int:
    with sessions() as session:
        return session.scalar(
            select(func.count()).select_from(Report).where(Report.owner_id == owner)
        )


def published(sessions, report_ids) -> bool:
    """Whether no outbox row for these reports is left unpublished."""
    with sessions() as session:
        rows = session.query(OutboxMessage).filter(OutboxMessage.published_at.is_(None)).all()
        pending = {row.body for row in rows}
    return not any(str(report_id).encode() in body for body in pending for report_id in report_ids)


def put_object(storage: Storage, key: str, body: bytes = b"session_id\n") -> str:
    """Store a small CSV at `key`; the key."""
    with storage.start_upload(key, "text/csv") as upload:
        upload.write(body)
        upload.complete()
    return key


class AssetLinks(HTMLParser):
    """Every src and href in a page, in order."""

    def __init__(self) -> None:
        super().__init__()
        self.links: list[str] = []

    def handle_starttag(self, tag: str, attrs: list[tuple[str, str | None]]) -> None:
        for name, value in attrs:
            if name in {"src", "href"} and value:
                self.links.append(value)

    @classmethod
    def of(cls, html: str) -> list[str]:
        parser = cls()
        parser.feed(html)
        return parser.links
