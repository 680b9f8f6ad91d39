"""The sender over TLS: it connects to the address it checked, yet TLS sees the URL's name
(SNI and the certificate check), so pinning the address weakens nothing."""

from __future__ import annotations

import datetime
import ssl
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest
from cryptography import x509
from cryptography.hazmat.primitives import hashes, serialization
from cryptography.hazmat.primitives.asymmetric import ec
from cryptography.x509.oid import NameOID

from dispatcher.sender import Sender
from shared.webhooks.addresses import parse_networks

NAME = "hooks.test"


def self_signed(tmp_path):
    key = ec.generate_private_key(ec.SECP256R1())
    subject = x509.Name([x509.NameAttribute(NameOID.COMMON_NAME, NAME)])
    now = datetime.datetime.now(datetime.UTC)
    certificate = (
        x509.CertificateBuilder()
        .subject_name(subject)
        .issuer_name(subject)
        .public_key(key.public_key())
        .serial_number(x509.random_serial_number())
        .not_valid_before(now - datetime.timedelta(minutes=1))
        .not_valid_after(now + datetime.timedelta(hours=1))
        .add_extension(x509.SubjectAlternativeName([x509.DNSName(NAME)]), critical=False)
        .add_extension(x509.BasicConstraints(ca=True, path_length=None), critical=True)
        .sign(key, hashes.SHA256())
    )
    cert_path, key_path = tmp_path / "cert.pem", tmp_path / "key.pem"
    cert_path.write_bytes(certificate.public_bytes(serialization.Encoding.PEM))
    key_path.write_bytes(
        key.private_bytes(
            serialization.Encoding.PEM,
            serialization.PrivateFormat.PKCS8,
            serialization.NoEncryption(),
        )
    )
    return cert_path, key_path


@pytest.fixture
def tls_receiver(tmp_path):
    cert_path, key_path = self_signed(tmp_path)
    seen: dict[str, list[str]] = {"sni": [], "host": []}

    class Handler(BaseHTTPRequestHandler):
        def do_POST(self) -> None:
            self.rfile.read(int(self.headers.get("content-length", "0")))
            seen["host"].append(self.headers["host"])
            self.send_response(204)
            self.end_headers()

        def log_message(self, *_: object) -> None:
            pass

    server_context = ssl.SSLContext(ssl.PROTOCOL_TLS_SERVER)
    server_context.load_cert_chain(cert_path, key_path)
    server_context.sni_callback = lambda sock, name, ctx: seen["sni"].append(name)
    server = ThreadingHTTPServer(("127.0.0.1", 0), Handler)
    server.socket = server_context.wrap_socket(server.socket, server_side=True)
    thread = threading.Thread(target=server.serve_forever, daemon=True)
    thread.start()
    client_context = ssl.create_default_context(cafile=str(cert_path))
    yield server.server_address[1], client_context, seen
    server.shutdown()
    server.server_close()


def test_https_to_the_checked_address_with_the_name_in_sni_and_host(tls_receiver):
    port, client_context, seen = tls_receiver
    sender = Sender(
        False,
        parse_networks("127.0.0.0/8"),
        5.0,
        resolver=lambda host, _: ["127.0.0.1"],
        tls_context=client_context,
    )
    attempt = sender.post(f"https://{NAME}:{port}/in", {"content-type": "text/plain"}, b"hi")
    assert attempt.status_code == 204, attempt.error
    assert seen["sni"] == [NAME] and seen["host"] == [f"{NAME}:{port}"]


def test_a_certificate_for_another_name_is_refused(tls_receiver):
    port, client_context, _ = tls_receiver
    sender = Sender(
        False,
        parse_networks("127.0.0.0/8"),
        5.0,
        resolver=lambda host, _: ["127.0.0.1"],
        tls_context=client_context,
    )
    attempt = sender.post(f"https://other.test:{port}/in", {}, b"hi")
    # The address was allowed; the certificate does not name other.test.
    assert attempt.status_code is None and attempt.error.startswith("TLS")
