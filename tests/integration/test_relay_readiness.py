"""The relay's /readyz tells the truth while the relay is idle: with nothing to publish it
still notices a lost broker connection, and a broker that came back."""

from __future__ import annotations

import time
import urllib.error
import urllib.request
from urllib.parse import urlsplit, urlunsplit

from tests.faultproxy import fault_proxy
from tests.processes import start_relay, wait_until_ready
from tests.services import free_port

WITHIN = 10.0  # seconds from the cut (or the return) to /readyz saying so


def via_proxy_amqp(url: str, port: int) -> str:
    parts = urlsplit(url)
    credentials = parts.netloc.rpartition("@")[0]
    return urlunsplit(parts._replace(netloc=f"{credentials}@127.0.0.1:{port}"))


def readyz_status(base_url: str) -> int:
    try:
        with urllib.request.urlopen(f"{base_url}/readyz", timeout=5) as response:
            return response.status
    except urllib.error.HTTPError as error:
        return error.code


def seconds_until_status(base_url: str, wanted: int, timeout: float) -> float | None:
    """How long until /readyz answers `wanted`; None if it did not within the timeout."""
    start = time.monotonic()
    while time.monotonic() - start < timeout:
        if readyz_status(base_url) == wanted:
            return time.monotonic() - start
        time.sleep(0.2)
    return None


def test_an_idle_relay_turns_unready_when_the_broker_goes_and_ready_when_it_returns(
    own_queue, tmp_path
):
    rabbit = urlsplit(own_queue.rabbitmq_url)
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    with fault_proxy(rabbit.hostname, rabbit.port) as proxy:
        # The default retry backoff (a cap of 30 s) on purpose: the reconnection must not wait
        # that long once the broker is back.
        settings = own_queue.with_overrides(
            rabbitmq_url=via_proxy_amqp(own_queue.rabbitmq_url, proxy.port), metrics_port=port
        )
        relay = start_relay(settings, tmp_path)
        try:
            wait_until_ready(base_url, relay)

            proxy.cut()
            lost = seconds_until_status(base_url, 503, WITHIN)
            proxy.restore()
            back = seconds_until_status(base_url, 200, WITHIN)
        finally:
            code = relay.stop()

    print(f"relay /readyz: 503 {lost} s after the cut, 200 {back} s after the return")
    assert lost is not None, relay.log()
    assert back is not None, relay.log()
    assert code == 0, relay.log()
