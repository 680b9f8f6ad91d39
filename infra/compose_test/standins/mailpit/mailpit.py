#!/usr/bin/python3
"""The part of Mailpit that Reportbox's compose file and make compose-test use.

    mailpit           SMTP on 0.0.0.0:1025, HTTP on 0.0.0.0:8025 (Mailpit's defaults)
    mailpit readyz    exit 0 once the HTTP side answers /readyz (the image's healthcheck)

HTTP, as Mailpit answers it (field names and shapes are Mailpit's, newest message first):

    GET /livez, /readyz                       200 once serving
    GET /api/v1/messages                      {"total", "count", "messages": [summary, ...]}
    GET /api/v1/message/{ID}                  the message: To, Subject, Text, Attachments, ...
    GET /api/v1/message/{ID}/raw              the message as received
    GET /api/v1/message/{ID}/part/{PartID}    one attachment's decoded bytes

A part id here is the part's position in the message, not enmime's numbering: a client
reads it from the message's Attachments, as it must with Mailpit.
"""

from __future__ import annotations

import json
import signal
import sys
import threading
import urllib.request
import uuid
from datetime import UTC, datetime
from email.message import EmailMessage
from email.parser import BytesParser
from email.policy import default
from email.utils import getaddresses
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

from aiosmtpd.controller import Controller

SMTP_PORT = 1025
HTTP_PORT = 8025


class Mailbox:
    """The messages received, newest first; written by the SMTP thread, read by HTTP's."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._messages: list[dict] = []

    def add(self, raw: bytes) -> None:
        entry = {
            "ID": uuid.uuid4().hex[:22],
            "Created": datetime.now(UTC).isoformat(),
            "raw": raw,
            "parsed": BytesParser(policy=default).parsebytes(raw),
        }
        with self._lock:
            self._messages.insert(0, entry)

    def all(self) -> list[dict]:
        with self._lock:
            return list(self._messages)

    def get(self, message_id: str) -> dict | None:
        return next((entry for entry in self.all() if entry["ID"] == message_id), None)


def addresses(message: EmailMessage, header: str) -> list[dict]:
    found = getaddresses([str(value) for value in message.get_all(header, [])])
    return [{"Name": name, "Address": address} for name, address in found if address]


def attachments(message: EmailMessage) -> list[dict]:
    listed = []
    for position, part in enumerate(message.walk()):
        if part.is_attachment():
            listed.append(
                {
                    "PartID": str(position),
                    "FileName": part.get_filename() or "",
                    "ContentType": part.get_content_type(),
                    "ContentID": "",
                    "Size": len(part.get_payload(decode=True) or b""),
                }
            )
    return listed


def summary(entry: dict) -> dict:
    message = entry["parsed"]
    from_ = addresses(message, "From")
    return {
        "ID": entry["ID"],
        "MessageID": (message["Message-ID"] or "").strip("<>"),
        "Read": False,
        "From": from_[0] if from_ else None,
        "To": addresses(message, "To"),
        "Cc": addresses(message, "Cc"),
        "Bcc": [],
        "ReplyTo": addresses(message, "Reply-To"),
        "Subject": str(message["Subject"] or ""),
        "Created": entry["Created"],
        "Tags": [],
        "Size": len(entry["raw"]),
        "Attachments": len(attachments(message)),
        "Snippet": "",
    }


def detail(entry: dict) -> dict:
    message = entry["parsed"]
    text = message.get_body(preferencelist=("plain",))
    html = message.get_body(preferencelist=("html",))
    described = summary(entry)
    del described["Read"], described["Created"], described["Snippet"]
    return {
        **described,
        "Date": entry["Created"],
        "Text": text.get_content() if text else "",
        "HTML": html.get_content() if html else "",
        "Inline": [],
        "Attachments": attachments(message),
    }


def part_bytes(entry: dict, part_id: str) -> bytes | None:
    for position, part in enumerate(entry["parsed"].walk()):
        if str(position) == part_id and not part.is_multipart():
            return part.get_payload(decode=True)
    return None


class KeepInMailbox:
    """An aiosmtpd handler: every message accepted whole goes into the mailbox."""

    def __init__(self, mailbox: Mailbox) -> None:
        self._mailbox = mailbox

    async def handle_DATA(self, _server, _session, envelope) -> str:
        self._mailbox.add(envelope.original_content or envelope.content)
        return "250 2.0.0 Ok: queued"


def handler_for(mailbox: Mailbox) -> type[BaseHTTPRequestHandler]:
    class Api(BaseHTTPRequestHandler):
        def do_GET(self) -> None:
            parts = [part for part in self.path.split("?")[0].split("/") if part]
            if parts in (["livez"], ["readyz"]):
                return self._send(200, b"ok", "text/plain")
            if parts == ["api", "v1", "messages"]:
                listed = [summary(entry) for entry in mailbox.all()]
                page = {"total": len(listed), "unread": len(listed), "count": len(listed)}
                return self._json(
                    {
                        **page,
                        "messages_count": len(listed),
                        "start": 0,
                        "tags": [],
                        "messages": listed,
                    }
                )
            if len(parts) >= 4 and parts[:3] == ["api", "v1", "message"]:
                entry = mailbox.get(parts[3])
                if entry is None:
                    return self._send(404, b"message not found", "text/plain")
                if len(parts) == 4:
                    return self._json(detail(entry))
                if parts[4:] == ["raw"]:
                    return self._send(200, entry["raw"], "text/plain; charset=utf-8")
                if len(parts) == 6 and parts[4] == "part":
                    content = part_bytes(entry, parts[5])
                    if content is not None:
                        return self._send(200, content, "application/octet-stream")
            return self._send(404, b"not found", "text/plain")

        def _json(self, body: dict) -> None:
            self._send(200, json.dumps(body).encode(), "application/json")

        def _send(self, status: int, body: bytes, content_type: str) -> None:
            self.send_response(status)
            self.send_header("Content-Type", content_type)
            self.send_header("Content-Length", str(len(body)))
            self.end_headers()
            self.wfile.write(body)

        def log_message(self, *_arguments) -> None:
            """Quiet: the healthcheck asks every few seconds."""

    return Api


def ready() -> int:
    try:
        urllib.request.urlopen(f"http://127.0.0.1:{HTTP_PORT}/readyz", timeout=3)
    except OSError as error:
        print(f"not ready: {error}", file=sys.stderr)
        return 1
    return 0


def serve() -> int:
    mailbox = Mailbox()
    smtp = Controller(KeepInMailbox(mailbox), hostname="0.0.0.0", port=SMTP_PORT)
    smtp.start()
    http = ThreadingHTTPServer(("0.0.0.0", HTTP_PORT), handler_for(mailbox))
    # As PID 1 without a handler, SIGTERM would be ignored and `docker stop` wait 10 s.
    signal.signal(signal.SIGTERM, lambda *_: sys.exit(0))
    print(f"SMTP on :{SMTP_PORT}, HTTP on :{HTTP_PORT}", flush=True)
    try:
        http.serve_forever()
    finally:
        http.server_close()
        smtp.stop()
    return 0


if __name__ == "__main__":
    sys.exit(ready() if sys.argv[1:] == ["readyz"] else serve())
