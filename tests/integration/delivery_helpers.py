"""What the delivery kinds' tests hand a kind: a run's file, and an SFTP server to send to."""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import io
import threading
import uuid
from collections.abc import Callable, Iterator
from dataclasses import dataclass, field
from datetime import UTC, datetime
from pathlib import Path
from typing import Any, BinaryIO

import asyncssh

from shared.deliveries.targets import DeliveredFile


def delivered_file(
    data: bytes,
    opener: Callable[[], contextlib.AbstractContextManager[BinaryIO]] | None = None,
    **overrides: Any,
) -> DeliveredFile:
    """A run's file as the dispatcher hands it to a kind; read from memory unless `opener`
    says otherwise."""
    values: dict[str, Any] = {
        "report_id": str(uuid.uuid4()),
        "definition_id": str(uuid.uuid4()),
        "definition_name": "Weekly sales",
        "file_name": "sessions-2026-12-05.csv",
        "content_type": "text/csv; charset=utf-8",
        "size_bytes": len(data),
        "rows": 2,
        "sha256": hashlib.sha256(data).hexdigest(),
        "scheduled_date": "2026-12-05",
        "period": None,
        "report_url": "http://reportbox.test/reports/x",
        "object_key": f"reports/acme/{uuid.uuid4()}/1.csv",
        "bucket": "reports",
        "completed_at": datetime(2026, 12, 5, tzinfo=UTC),
        "open": opener or (lambda: io.BytesIO(data)),
    }
    return DeliveredFile(**(values | overrides))


@dataclass
class SftpServer:
    port: int
    host_key_sha256: str
    root: Path
    connections: list[str] = field(default_factory=list)  # one entry per connection made
    logins: list[str] = field(default_factory=list)  # the user of each authentication begun
    # Applies new listener options (asyncssh's SSHAcceptor.update) to later connections.
    _update: Callable[..., None] = lambda **options: None

    def use_host_key(self, key: asyncssh.SSHKey) -> None:
        """Offer `key` from the next connection on, as a server that was replaced (or an
        impostor on its address) would."""
        self._update(server_host_keys=[key])
        self.host_key_sha256 = key.get_fingerprint("sha256")


class _NoPosixRename(asyncssh.SFTPServer):
    """A server without OpenSSH's posix-rename extension (SFTP's plain rename only)."""

    def posix_rename(self, oldpath: bytes, newpath: bytes) -> None:
        raise asyncssh.SFTPOpUnsupported("posix-rename is not supported")


@contextlib.contextmanager
def sftp_server(
    root: Path,
    username: str,
    password: str | None = None,
    authorized_key: asyncssh.SSHKey | None = None,
    posix_rename: bool = True,
    host_key: asyncssh.SSHKey | None = None,
) -> Iterator[SftpServer]:
    """An SFTP server (asyncssh, on its own event loop thread) on a free loopback port, its
    files under `root`, with `host_key` (or a freshly generated one) and one user."""
    host_key = host_key or asyncssh.generate_private_key("ssh-ed25519")
    record = SftpServer(0, host_key.get_fingerprint("sha256"), root)
    opened: list[asyncssh.SSHServerConnection] = []  # closed at the end, each of them

    class Server(asyncssh.SSHServer):
        def connection_made(self, conn: asyncssh.SSHServerConnection) -> None:
            record.connections.append("connected")
            opened.append(conn)

        def begin_auth(self, user: str) -> bool:
            record.logins.append(user)
            return True

        def password_auth_supported(self) -> bool:
            return password is not None

        def validate_password(self, user: str, given: str) -> bool:
            return user == username and given == password

        def public_key_auth_supported(self) -> bool:
            return authorized_key is not None

        def validate_public_key(self, user: str, key: asyncssh.SSHKey) -> bool:
            assert authorized_key is not None
            return user == username and key.public_data == authorized_key.public_data

    server_class = asyncssh.SFTPServer if posix_rename else _NoPosixRename
    loop = asyncio.new_event_loop()
    thread = threading.Thread(target=loop.run_forever, name="sftp-server", daemon=True)
    thread.start()

    async def start() -> asyncssh.SSHAcceptor:
        return await asyncssh.listen(
            "127.0.0.1",
            0,
            server_host_keys=[host_key],
            server_factory=Server,
            sftp_factory=lambda channel: server_class(channel, chroot=str(root).encode()),
        )

    acceptor = asyncio.run_coroutine_threadsafe(start(), loop).result(timeout=30)
    record.port = acceptor.get_port()

    def update(**options: Any) -> None:
        async def apply() -> None:
            acceptor.update(**options)

        asyncio.run_coroutine_threadsafe(apply(), loop).result(timeout=30)

    record._update = update
    try:
        yield record
    finally:

        async def stop() -> None:
            acceptor.close()
            await acceptor.wait_closed()
            for conn in opened:
                conn.close()
                await conn.wait_closed()

        asyncio.run_coroutine_threadsafe(stop(), loop).result(timeout=30)
        loop.call_soon_threadsafe(loop.stop)
        thread.join(timeout=30)
        loop.close()
