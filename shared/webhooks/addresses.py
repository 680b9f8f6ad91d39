"""Against server-side request forgery: which URLs and addresses a webhook may reach, pure.

A URL is checked when it is saved and again at every attempt, and the attempt connects to
the very address it checked (dispatcher/sender.py), so a name that re-resolves to a private
address between the check and the connection cannot be reached.
"""

from __future__ import annotations

import ipaddress
import socket
from collections.abc import Callable, Sequence
from dataclasses import dataclass
from urllib.parse import urlsplit

IpAddress = ipaddress.IPv4Address | ipaddress.IPv6Address
Network = ipaddress.IPv4Network | ipaddress.IPv6Network
Resolver = Callable[[str, int], list[str]]


class UnsafeUrl(ValueError):
    """A webhook URL (or an address it resolves to) that may not be called; says why."""


@dataclass(frozen=True)
class Target:
    scheme: str
    host: str
    port: int
    path: str  # with its query


def parse_networks(raw: str) -> tuple[Network, ...]:
    """WEBHOOK_ALLOWED_CIDRS: comma-separated networks; ValueError for a malformed one."""
    return tuple(ipaddress.ip_network(part.strip()) for part in raw.split(",") if part.strip())


def parse_target(url: str, allow_http: bool) -> Target:
    """The parts of a webhook URL, or UnsafeUrl: https only (http when allowed), no user info."""
    try:
        parts = urlsplit(url)
        port = parts.port
    except ValueError as exc:
        raise UnsafeUrl(f"not a valid URL: {exc}") from None
    allowed = ("https", "http") if allow_http else ("https",)
    if parts.scheme not in allowed:
        raise UnsafeUrl(f"the scheme must be {' or '.join(allowed)}, not {parts.scheme!r}")
    if parts.username is not None or parts.password is not None:
        raise UnsafeUrl("the URL may not carry user info")
    if not parts.hostname:
        raise UnsafeUrl("the URL has no host")
    path = parts.path or "/"
    if parts.query:
        path = f"{path}?{parts.query}"
    default_port = 443 if parts.scheme == "https" else 80
    return Target(parts.scheme, parts.hostname, port or default_port, path)


def address_allowed(address: IpAddress, allowed: Sequence[Network]) -> bool:
    """Public (globally routable) addresses, and any inside an allowed network."""
    if isinstance(address, ipaddress.IPv6Address) and address.ipv4_mapped is not None:
        address = address.ipv4_mapped  # ::ffff:127.0.0.1 is 127.0.0.1
    if any(address in network for network in allowed if network.version == address.version):
        return True
    return address.is_global and not address.is_multicast


def checked_addresses(
    target: Target, allowed: Sequence[Network], resolver: Resolver
) -> list[IpAddress]:
    """Every address the host resolves to, all allowed; UnsafeUrl naming one that is not."""
    try:
        resolved = resolver(target.host, target.port)
    except OSError as exc:
        raise UnsafeUrl(f"the host {target.host!r} does not resolve: {exc}") from None
    if not resolved:
        raise UnsafeUrl(f"the host {target.host!r} resolves to no address")
    addresses = [ipaddress.ip_address(raw.split("%", 1)[0]) for raw in resolved]
    for address in addresses:
        if not address_allowed(address, allowed):
            raise UnsafeUrl(
                f"the host {target.host!r} resolves to {address}, which is not a public address"
            )
    return addresses


def system_resolver(host: str, port: int) -> list[str]:
    """The system's resolution of `host` (an IP literal resolves to itself)."""
    answers = socket.getaddrinfo(host, port, type=socket.SOCK_STREAM)
    seen: dict[str, None] = {}
    for *_, sockaddr in answers:
        seen.setdefault(str(sockaddr[0]), None)
    return list(seen)
