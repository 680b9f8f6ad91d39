"""Slow clients cannot take the API out: while many connections trickle in a request a byte
at a time, the health probe is still answered at once (gunicorn as deployed)."""

from __future__ import annotations

import contextlib
import socket
import threading
import time
import urllib.request
from collections.abc import Iterator

import pytest

from tests.processes import start_api, wait_until_ready
from tests.services import free_port

DRIP_SECONDS = 1.0  # one byte per connection this often
# Never finished: the header goes on for longer than the test lasts.
REQUEST = b"GET /healthz HTTP/1.1\r\nHost: reportbox.test\r\nX-Padding: " + b"a" * 4000


@contextlib.contextmanager
def slow_connections(port: int, count: int) -> Iterator[list[socket.socket]]:
    """Connections that each send a partial request, a byte every DRIP_SECONDS, until closed."""
    connections = [socket.create_connection(("127.0.0.1", port), timeout=5) for _ in range(count)]
    stop = threading.Event()

    def drip() -> None:
        for offset in range(len(REQUEST)):
            for connection in connections:
                with contextlib.suppress(OSError):
                    connection.sendall(REQUEST[offset : offset + 1])
            if stop.wait(DRIP_SECONDS):
                return

    dripper = threading.Thread(target=drip, daemon=True)
    dripper.start()
    try:
        yield connections
    finally:
        stop.set()
        dripper.join(timeout=5)
        for connection in connections:
            connection.close()


@pytest.mark.parametrize(
    "slow",
    [
        pytest.param(32, id="32, more than sync workers"),
        # More than every thread of the two workers together (2 x 32): no capacity argument.
        pytest.param(200, id="200, more than the threads"),
    ],
)
def test_healthz_answers_within_a_second_while_slow_connections_are_open(slow, settings, tmp_path):
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    api = start_api(settings, port, tmp_path)
    try:
        wait_until_ready(base_url, api)
        with slow_connections(port, slow):
            # A few bytes of each request are in: every connection has been handed to a
            # worker and is being read, which is when a sync worker is taken.
            time.sleep(3 * DRIP_SECONDS)
            latencies = []
            for _ in range(5):
                start = time.monotonic()
                # A generous timeout, so a slow answer is measured rather than cut off.
                with urllib.request.urlopen(f"{base_url}/healthz", timeout=30) as response:
                    assert response.status == 200
                latencies.append(time.monotonic() - start)
    finally:
        code = api.stop()

    print(f"/healthz with {slow} slow connections open: {latencies} s")
    assert max(latencies) < 1.0, latencies
    assert code == 0, api.log()
