"""The sftp delivery kind: the run's file uploaded to a customer's SFTP server.

Paramiko, not asyncssh: the dispatcher sends on threads, and paramiko's blocking calls with
timeouts run as they are on the thread that sends; asyncssh would need an event loop on each
thread (or one loop and futures handed across) for the same few requests.

The server's host key is checked against hostKeySha256 before any credential is sent: a key
that does not match is a failure, never trusted on first use. The file is written as
`name.part` and renamed to `name` when complete, so the customer's side never picks up half a
file.
"""

from __future__ import annotations

import base64
import contextlib
import errno
import hashlib
import io
import ipaddress
import posixpath
import re
import socket
import stat
import uuid
from collections.abc import Iterator, Mapping
from dataclasses import dataclass
from typing import Any

import paramiko
from cryptography.exceptions import UnsupportedAlgorithm
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519, rsa
from cryptography.hazmat.primitives.serialization import Encoding, NoEncryption, PrivateFormat

from shared.deliveries import fields
from shared.deliveries.targets import (
    DeliveredFile,
    InvalidTarget,
    PermanentDeliveryFailure,
    TransientDeliveryFailure,
    chunks,
)
from shared.storage import StorageUnavailable

CONNECT_TIMEOUT_SECONDS = 10.0
# Each request on the open session (a write, a rename) must be answered within this.
REQUEST_TIMEOUT_SECONDS = 60.0

# As `ssh-keygen -lf` prints it: SHA256, then the 32-byte digest in base64 without padding.
_FINGERPRINT = re.compile(r"SHA256:[A-Za-z0-9+/]{42}[AEIMQUYcgkosw048]")
_HOST_LABEL = r"[a-z0-9]([a-z0-9-]{0,61}[a-z0-9])?"
_HOST_NAME = re.compile(rf"(?=.{{1,253}}$){_HOST_LABEL}(\.{_HOST_LABEL})*\.?")


class HostKeyMismatch(Exception):
    def __init__(self, offered: str) -> None:
        super().__init__(f"the server's host key is {offered}, not the one in hostKeySha256")


# ---------------------------------------------------------------------------------------
# Pure rules


def fingerprint(key_blob: bytes) -> str:
    """A public key's fingerprint as `ssh-keygen -lf` prints it."""
    digest = base64.b64encode(hashlib.sha256(key_blob).digest()).decode()
    return f"SHA256:{digest.rstrip('=')}"


def host_key_fingerprint(value: str) -> str:
    # Only the last character of 43 carries 2 spare bits, which must be zero: a fingerprint
    # copied with a character changed at the end is refused rather than never matching.
    if not _FINGERPRINT.fullmatch(value):
        raise InvalidTarget(
            "hostKeySha256",
            "must be a fingerprint as `ssh-keygen -lf` prints it: SHA256: and 43 characters of "
            "base64 (e.g. from `ssh-keyscan HOST | ssh-keygen -lf -`)",
        )
    return value


def host_name(value: str) -> str:
    with contextlib.suppress(ValueError):
        return str(ipaddress.ip_address(value.strip("[]")))
    if not _HOST_NAME.fullmatch(value.lower()):
        raise InvalidTarget("host", "must be a host name or an IP address")
    return value.lower().rstrip(".")


def directory(value: str) -> str:
    """The remote directory, without a trailing slash ("/" stays "/"; "." is the login's)."""
    if "\\" in value:
        raise InvalidTarget("path", "must use / between folders")
    stripped = value.rstrip("/")
    return stripped or "/"


def private_key(text: str) -> paramiko.PKey:
    """A private key in OpenSSH or PEM form (PKCS#1, SEC1 or PKCS#8), not encrypted (there is
    no passphrase member).

    cryptography reads it, and hands paramiko each type in the one form paramiko reads
    reliably: paramiko's own OpenSSH reader refuses about half of the ECDSA keys other tools
    write, and it reads no PKCS#8 (what `openssl genpkey` writes) at all.
    """
    data = text.encode()
    try:
        if b"BEGIN OPENSSH PRIVATE KEY" in data:
            loaded: Any = serialization.load_ssh_private_key(data, password=None)
        else:
            loaded = serialization.load_pem_private_key(data, password=None)
    except TypeError:
        raise InvalidTarget("privateKey", "must not be encrypted with a passphrase") from None
    except (ValueError, UnsupportedAlgorithm):
        loaded = None
    if isinstance(loaded, rsa.RSAPrivateKey):
        return paramiko.RSAKey(key=loaded)
    if isinstance(loaded, ec.EllipticCurvePrivateKey):
        return paramiko.ECDSAKey.from_private_key(_pem(loaded, PrivateFormat.TraditionalOpenSSL))
    if isinstance(loaded, ed25519.Ed25519PrivateKey):
        return paramiko.Ed25519Key.from_private_key(_pem(loaded, PrivateFormat.OpenSSH))
    raise InvalidTarget(
        "privateKey", "must be an Ed25519, ECDSA or RSA private key in OpenSSH or PEM form"
    )


def _pem(key: Any, private_format: PrivateFormat) -> io.StringIO:
    encoded = key.private_bytes(Encoding.PEM, private_format, NoEncryption())
    return io.StringIO(encoded.decode())


def remote_paths(target: Mapping[str, Any], file_name: str) -> tuple[str, str]:
    """Where the file goes, and where it is written until complete."""
    if "/" in file_name or file_name in ("", ".", ".."):
        raise PermanentDeliveryFailure(f"cannot upload a file named {file_name!r}")
    final = posixpath.join(target["path"], file_name)
    return final, f"{final}.part"


def secret_field(target: Mapping[str, Any]) -> str:
    return "password" if target.get("password") is not None else "privateKey"


# ---------------------------------------------------------------------------------------
# The kind


@dataclass(frozen=True)
class SftpKind:
    name = "sftp"
    secret_fields = frozenset({"password", "privateKey"})
    admin_only = True
    identity_names = "host, port and username"

    def identity(self, target: Mapping[str, Any]) -> tuple[Any, ...]:
        # The login is the account at that server; the path may change under a kept secret.
        return (
            host_name(fields.text(target, "host", max_length=255)),
            fields.port(target, "port", 22),
            fields.text(target, "username", max_length=128),
        )

    def validate(self, target: Mapping[str, Any]) -> dict[str, Any]:
        fields.refuse_unknown(
            target, ("host", "port", "username", "password", "privateKey", "hostKeySha256", "path")
        )
        password = fields.optional_text(target, "password", max_length=1024)
        key_text = target.get("privateKey")
        if (password is None) == (key_text is None):
            raise InvalidTarget("password", "give exactly one of password and privateKey")
        if key_text is not None:
            if not isinstance(key_text, str) or len(key_text) > 16_384:
                raise InvalidTarget("privateKey", "must be a private key, as text")
            key_text = key_text.strip() + "\n"
            private_key(key_text)
        return {
            "kind": self.name,
            "host": host_name(fields.text(target, "host", max_length=255)),
            "port": fields.port(target, "port", 22),
            "username": fields.text(target, "username", max_length=128),
            "password": password,
            "privateKey": key_text,
            "hostKeySha256": host_key_fingerprint(
                fields.text(target, "hostKeySha256", max_length=64)
            ),
            "path": directory(fields.text(target, "path", max_length=1024, default=".")),
        }

    def prove(self, target: Mapping[str, Any]) -> None:
        target = self.validate(target)
        try:
            with _session(target) as sftp:
                _prove_directory(sftp, target["path"])
        except HostKeyMismatch as exc:
            raise InvalidTarget("hostKeySha256", str(exc)) from None
        except paramiko.AuthenticationException:
            raise InvalidTarget(
                secret_field(target), "the server refused the login with these credentials"
            ) from None
        except (OSError, EOFError, paramiko.SSHException) as exc:
            raise InvalidTarget("host", f"could not connect: {_reason(exc)}") from None

    def send(self, target: Mapping[str, Any], delivered: DeliveredFile) -> None:
        try:
            target = self.validate(target)
        except InvalidTarget as exc:
            raise PermanentDeliveryFailure(f"{exc.field}: {exc.message}") from None
        final, part = remote_paths(target, delivered.file_name)
        try:
            with _session(target) as sftp:
                _upload(sftp, delivered, final, part)
        except HostKeyMismatch as exc:
            raise PermanentDeliveryFailure(str(exc)) from None
        except paramiko.AuthenticationException:
            raise PermanentDeliveryFailure(
                f"the server refused the login of {target['username']!r}"
            ) from None
        except OSError as exc:
            if exc.errno in (errno.EACCES, errno.ENOENT):  # the server's answer, not the network
                raise PermanentDeliveryFailure(f"cannot write {final}: {_reason(exc)}") from None
            raise TransientDeliveryFailure(f"the upload did not finish: {_reason(exc)}") from None
        except (EOFError, paramiko.SSHException, StorageUnavailable) as exc:
            raise TransientDeliveryFailure(f"the upload did not finish: {_reason(exc)}") from None


def _reason(exc: BaseException) -> str:
    return str(exc) or type(exc).__name__


@contextlib.contextmanager
def _session(target: Mapping[str, Any]) -> Iterator[paramiko.SFTPClient]:
    """An SFTP session to the target, its host key checked before any credential is sent."""
    sock = socket.create_connection(
        (target["host"], target["port"]), timeout=CONNECT_TIMEOUT_SECONDS
    )
    transport = paramiko.Transport(sock)
    try:
        transport.start_client(timeout=CONNECT_TIMEOUT_SECONDS)
        offered = fingerprint(transport.get_remote_server_key().asbytes())
        if offered != target["hostKeySha256"]:
            raise HostKeyMismatch(offered)
        if target["password"] is not None:
            transport.auth_password(target["username"], target["password"])
        else:
            transport.auth_publickey(target["username"], private_key(target["privateKey"]))
        sftp = paramiko.SFTPClient.from_transport(transport)
        if sftp is None:
            raise paramiko.SSHException("the server opened no SFTP session")
        channel = sftp.get_channel()
        if channel is None:
            raise paramiko.SSHException("the SFTP session has no channel")
        channel.settimeout(REQUEST_TIMEOUT_SECONDS)
        with sftp:
            yield sftp
    finally:
        transport.close()
        sock.close()


def _prove_directory(sftp: paramiko.SFTPClient, path: str) -> None:
    try:
        mode = sftp.stat(path).st_mode
    except OSError as exc:
        raise InvalidTarget("path", f"cannot be read: {_reason(exc)}") from None
    if mode is None or not stat.S_ISDIR(mode):
        raise InvalidTarget("path", "is not a directory")
    check = posixpath.join(path, f".reportbox-check-{uuid.uuid4().hex}")
    try:
        with sftp.open(check, "wb") as remote:
            remote.write(b"reportbox delivery check")
        sftp.remove(check)
    except OSError as exc:
        raise InvalidTarget("path", f"cannot be written: {_reason(exc)}") from None


def _upload(sftp: paramiko.SFTPClient, delivered: DeliveredFile, final: str, part: str) -> None:
    try:
        with delivered.open() as stream, sftp.open(part, "wb") as remote:
            remote.set_pipelined(True)  # writes acknowledged in bulk, not one round trip each
            for block in chunks(stream, 256 * 1024):
                remote.write(block)
        size = sftp.stat(part).st_size
        if size != delivered.size_bytes:
            raise PermanentDeliveryFailure(
                f"{part} holds {size} bytes after the upload, not {delivered.size_bytes}"
            )
        _replace(sftp, part, final)
    except BaseException:
        # No half-written .part left behind (unless the connection itself is gone).
        with contextlib.suppress(OSError, EOFError, paramiko.SSHException):
            sftp.remove(part)
        raise


def _replace(sftp: paramiko.SFTPClient, source: str, destination: str) -> None:
    """Rename over an existing file: in one step where the server has OpenSSH's posix-rename,
    else by removing the old file first (SFTP's own rename refuses an existing target)."""
    try:
        sftp.posix_rename(source, destination)
        return
    except OSError:
        pass  # not supported (or refused: the plain rename below then says why)
    with contextlib.suppress(FileNotFoundError):
        sftp.remove(destination)
    sftp.rename(source, destination)


KIND = SftpKind()
