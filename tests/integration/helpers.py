"""Helpers the integration tests share: waiting on a condition, threads, fault-proxy URLs."""

from __future__ import annotations

import threading
import time
from collections.abc import Callable
from urllib.parse import urlsplit, urlunsplit

from sqlalchemy import make_url


def via_proxy_amqp(url: str, port: int) -> str:
    """The AMQP URL with its host and port replaced by a fault proxy's."""
    parts = urlsplit(url)
    credentials = parts.netloc.rpartition("@")[0]
    return urlunsplit(parts._replace(netloc=f"{credentials}@127.0.0.1:{port}"))


def via_proxy_database(url: str, port: int) -> str:
    """The database URL with its host and port replaced by a fault proxy's."""
    return make_url(url).set(host="127.0.0.1", port=port).render_as_string(hide_password=False)


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


def running(target: Callable[[], None]) -> threading.Thread:
    thread = threading.Thread(target=target, daemon=True)
    thread.start()
    return thread
