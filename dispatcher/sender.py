"""The one edge to webhook receivers: an HTTP POST to the address that was checked.

Each attempt parses the URL, resolves its host and checks every address (shared/webhooks/
addresses.py), then connects to the first of those very addresses: the name is never
resolved a second time, so one that re-resolves to a private address after the check
(DNS rebinding) is not reached. The host name still goes in the Host header and, over
https, in SNI and the certificate check. Redirects are not followed; at most 64 KiB of an
answer is read.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import time
from collections.abc import Mapping, Sequence

from shared.webhooks.addresses import (
    IpAddress,
    Network,
    Resolver,
    Target,
    UnsafeUrl,
    checked_addresses,
    parse_target,
    system_resolver,
)
from shared.webhooks.outcomes import Attempt

MAX_RESPONSE_BYTES = 64 * 1024
READ_CHUNK = 8192


class _PinnedHTTP(http.client.HTTPConnection):
    """HTTP to `address`, with the Host header of the URL's name."""

    def __init__(self, target: Target, address: IpAddress, timeout: float) -> None:
        super().__init__(target.host, target.port, timeout=timeout)
        self._address = str(address)

    def connect(self) -> None:
        self.sock = socket.create_connection((self._address, self.port), self.timeout)


class _PinnedHTTPS(http.client.HTTPSConnection):
    """HTTPS to `address`; SNI and the certificate are checked against the URL's name."""

    def __init__(
        self, target: Target, address: IpAddress, timeout: float, context: ssl.SSLContext
    ) -> None:
        super().__init__(target.host, target.port, timeout=timeout, context=context)
        self._address = str(address)
        self._tls = context

    def connect(self) -> None:
        raw = socket.create_connection((self._address, self.port), self.timeout)
        self.sock = self._tls.wrap_socket(raw, server_hostname=self.host)


class Sender:
    def __init__(
        self,
        allow_http: bool,
        allowed_networks: Sequence[Network],
        timeout_seconds: float,
        resolver: Resolver = system_resolver,
        tls_context: ssl.SSLContext | None = None,
    ) -> None:
        self._allow_http = allow_http
        self._allowed = tuple(allowed_networks)
        self._timeout = timeout_seconds
        self._resolver = resolver
        self._tls = tls_context or ssl.create_default_context()

    def post(self, url: str, headers: Mapping[str, str], body: bytes) -> Attempt:
        """One attempt: its status code, or the error that came before any."""
        try:
            target = parse_target(url, self._allow_http)
            address = checked_addresses(target, self._allowed, self._resolver)[0]
        except UnsafeUrl as exc:
            return Attempt(None, f"refused: {exc}")
        connection: http.client.HTTPConnection
        if target.scheme == "https":
            connection = _PinnedHTTPS(target, address, self._timeout, self._tls)
        else:
            connection = _PinnedHTTP(target, address, self._timeout)
        deadline = time.monotonic() + self._timeout
        try:
            connection.request("POST", target.path, body=body, headers=dict(headers))
            response = connection.getresponse()
            _drain(response, deadline)
            return Attempt(response.status)
        except TimeoutError:
            return Attempt(None, f"no answer within {self._timeout:g} s")
        except ssl.SSLError as exc:
            return Attempt(None, f"TLS: {exc.reason or exc}")
        except (OSError, http.client.HTTPException) as exc:
            return Attempt(None, f"{type(exc).__name__}: {exc}"[:300])
        finally:
            connection.close()


def _drain(response: http.client.HTTPResponse, deadline: float) -> None:
    """Read at most MAX_RESPONSE_BYTES of the answer, and no longer than the deadline."""
    left = MAX_RESPONSE_BYTES
    while left > 0:
        if time.monotonic() > deadline:
            raise TimeoutError
        chunk = response.read(min(READ_CHUNK, left))
        if not chunk:
            return
        left -= len(chunk)
