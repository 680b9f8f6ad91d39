"""A closed-loop HTTP load: N client threads, each sending its next request when the last ends."""

from __future__ import annotations

import http.client
import statistics
import threading
import time
from collections.abc import Callable
from dataclasses import dataclass


@dataclass(frozen=True)
class Request:
    method: str
    path: str
    body: bytes | None
    headers: Callable[[], dict[str, str]]  # called before each request, outside its timing
    expected_status: int


@dataclass(frozen=True)
class LoadResult:
    requests: int
    seconds: float
    latencies_ms: list[float]

    @property
    def per_second(self) -> float:
        return self.requests / self.seconds

    def percentile(self, percent: int) -> float:
        return statistics.quantiles(self.latencies_ms, n=100, method="inclusive")[percent - 1]

    def summary(self) -> dict[str, float]:
        return {
            "requests": self.requests,
            "seconds": round(self.seconds, 3),
            "per_second": round(self.per_second, 1),
            "p50_ms": round(self.percentile(50), 2),
            "p95_ms": round(self.percentile(95), 2),
            "p99_ms": round(self.percentile(99), 2),
        }


class UnexpectedResponse(RuntimeError):
    pass


def run_load(port: int, request: Request, total: int, clients: int) -> LoadResult:
    """Send `total` requests from `clients` threads, one connection each; all must succeed."""
    lock = threading.Lock()
    remaining = iter(range(total))
    latencies: list[float] = []
    errors: list[BaseException] = []
    start = threading.Barrier(clients + 1)

    def take_one() -> bool:
        with lock:
            return next(remaining, None) is not None

    def client() -> None:
        # http.client reopens the connection by itself when the server closes it (gunicorn's
        # sync workers close after every response), so a "keep-alive" client still works.
        connection = http.client.HTTPConnection("127.0.0.1", port, timeout=30)
        mine: list[float] = []
        start.wait()
        try:
            while take_one():
                headers = request.headers()
                began = time.perf_counter()
                connection.request(request.method, request.path, request.body, headers)
                response = connection.getresponse()
                payload = response.read()
                mine.append((time.perf_counter() - began) * 1000)
                if response.status != request.expected_status:
                    raise UnexpectedResponse(f"{request.path}: {response.status} {payload[:300]!r}")
        except BaseException as exc:
            errors.append(exc)
        finally:
            connection.close()
            with lock:
                latencies.extend(mine)

    threads = [
        threading.Thread(target=client, name=f"client-{i}", daemon=True) for i in range(clients)
    ]
    for thread in threads:
        thread.start()
    start.wait()
    began = time.perf_counter()
    for thread in threads:
        thread.join()
    seconds = time.perf_counter() - began
    if errors:
        raise errors[0]
    return LoadResult(len(latencies), seconds, latencies)
