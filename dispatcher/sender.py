"""The one edge to webhook receivers: an HTTP POST to the address that was checked.

Each attempt parses the URL, resolves its host and checks every address (shared/webhooks/
addresses.py), then connects to the first of those very addresses: the name is never
resolved a second time, so one that re-resolves to a private address after the check
(DNS rebinding) is not reached. The host name still goes in the Host header and, over
https, in SNI and the certificate check. Redirects are not followed; at most 64 KiB of an
answer is read.

Keep-alive: a connection whose answer was read to its end, and which the receiver keeps open,
waits idle for the next attempt to the same (scheme, checked address, host, port). Every
attempt still resolves and checks first, and takes a kept connection only if it was made to
the very address this attempt's check accepted. Any error, an answer not read to its end,
or one the receiver closes, closes the connection. A kept connection the receiver closed
while idle fails before any answer: the attempt is made once more on a new connection.
"""

from __future__ import annotations

import http.client
import socket
import ssl
import threading
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
IDLE_SECONDS = 4.0  # a kept connection older than this is closed (receivers time out at ~5 s)
MAX_IDLE_PER_TARGET = 16  # kept connections per (scheme, address, host, port)

# Where a kept connection leads: only an attempt that checked this address may take it.
PoolKey = tuple[str, str, str, int]
# A kept connection's own failures before any answer: the receiver closed it while idle.
STALE_ERRORS = (http.client.RemoteDisconnected, ConnectionResetError, BrokenPipeError)


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


class IdleConnections:
    """Kept-alive connections by where they lead, each with when it was put back."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._idle: dict[PoolKey, list[tuple[float, http.client.HTTPConnection]]] = {}

    def take(self, key: PoolKey) -> http.client.HTTPConnection | None:
        """The most recently kept connection to `key` that is not too old, or None."""
        stale = []
        found = None
        with self._lock:
            kept = self._idle.get(key, [])
            while kept and found is None:
                since, connection = kept.pop()
                if time.monotonic() - since < IDLE_SECONDS:
                    found = connection
                else:
                    stale.append(connection)
        for connection in stale:
            connection.close()
        return found

    def put(self, key: PoolKey, connection: http.client.HTTPConnection) -> None:
        with self._lock:
            kept = self._idle.setdefault(key, [])
            if len(kept) < MAX_IDLE_PER_TARGET:
                kept.append((time.monotonic(), connection))
                return
        connection.close()

    def close_idle(self, older_than: float = IDLE_SECONDS) -> None:
        """Close the connections kept `older_than` seconds or more (all of them with 0)."""
        now = time.monotonic()
        stale = []
        with self._lock:
            for key in list(self._idle):
                kept = self._idle[key]
                stale += [connection for since, connection in kept if now - since >= older_than]
                kept[:] = [(since, c) for since, c in kept if now - since < older_than]
                if not kept:
                    del self._idle[key]
        for connection in stale:
            connection.close()

    def __del__(self) -> None:
        # A sender dropped without close() (a test's, say) takes its sockets with it.
        self.close_idle(0)


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
        self._idle = IdleConnections()
        self._last_sweep = time.monotonic()

    def post(self, url: str, headers: Mapping[str, str], body: bytes) -> Attempt:
        """One attempt: its status code, or the error that came before any."""
        try:
            target = parse_target(url, self._allow_http)
            address = checked_addresses(target, self._allowed, self._resolver)[0]
        except UnsafeUrl as exc:
            return Attempt(None, f"refused: {exc}")
        key: PoolKey = (target.scheme, str(address), target.host, target.port)
        self._maybe_close_idle()
        kept = self._idle.take(key)
        if kept is not None:
            try:
                return self._exchange(kept, key, target, headers, body)
            except STALE_ERRORS:
                pass  # closed by the receiver while idle: the request never got through
        try:
            return self._exchange(self._connect(target, address), key, target, headers, body)
        except STALE_ERRORS as exc:
            return Attempt(None, f"{type(exc).__name__}: {exc}"[:300])

    def _connect(self, target: Target, address: IpAddress) -> http.client.HTTPConnection:
        if target.scheme == "https":
            return _PinnedHTTPS(target, address, self._timeout, self._tls)
        return _PinnedHTTP(target, address, self._timeout)

    def _exchange(
        self,
        connection: http.client.HTTPConnection,
        key: PoolKey,
        target: Target,
        headers: Mapping[str, str],
        body: bytes,
    ) -> Attempt:
        """POST on `connection`, kept afterwards if the answer was read to its end and the
        receiver keeps it open; STALE_ERRORS for a connection that failed before an answer."""
        deadline = time.monotonic() + self._timeout
        keep = False
        try:
            connection.request("POST", target.path, body=body, headers=dict(headers))
            response = connection.getresponse()
            keep = _drain(response, deadline) and connection.sock is not None
            return Attempt(response.status)
        except STALE_ERRORS:
            raise
        except TimeoutError:
            return Attempt(None, f"no answer within {self._timeout:g} s")
        except ssl.SSLError as exc:
            return Attempt(None, f"TLS: {exc.reason or exc}")
        except (OSError, http.client.HTTPException) as exc:
            return Attempt(None, f"{type(exc).__name__}: {exc}"[:300])
        finally:
            if keep:
                self._idle.put(key, connection)
            else:
                connection.close()

    def close(self) -> None:
        """Close every kept connection."""
        self._idle.close_idle(0)

    def _maybe_close_idle(self) -> None:
        now = time.monotonic()
        if now - self._last_sweep >= IDLE_SECONDS:
            self._last_sweep = now
            self._idle.close_idle()


def _drain(response: http.client.HTTPResponse, deadline: float) -> bool:
    """Read at most MAX_RESPONSE_BYTES of the answer, and no longer than the deadline;
    whether it was read to its end."""
    left = MAX_RESPONSE_BYTES
    while left > 0:
        if time.monotonic() > deadline:
            raise TimeoutError
        chunk = response.read(min(READ_CHUNK, left))
        if not chunk:
            return response.isclosed()
        left -= len(chunk)
    return response.isclosed()
