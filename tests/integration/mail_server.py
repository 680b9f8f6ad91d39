"""A real SMTP server on a free loopback port (aiosmtpd), keeping what it receives, and
answering with scripted refusals where a test asks for them."""

from __future__ import annotations

import email
import email.policy
import socket
import threading
from collections.abc import Callable
from dataclasses import dataclass, field
from email.message import EmailMessage
from typing import Any

from aiosmtpd.controller import Controller


def free_port() -> int:
    with socket.socket() as probe:
        probe.bind(("127.0.0.1", 0))
        return probe.getsockname()[1]


@dataclass
class Received:
    sender: str
    recipients: list[str]
    message: EmailMessage


@dataclass
class MailServer:
    """`refuse_recipient(address) -> reply or None` and `refuse_data() -> reply or None`
    script the refusals; each refusal given is made, once per call."""

    received: list[Received] = field(default_factory=list)
    refuse_recipient: Callable[[str], str | None] = lambda address: None
    refuse_data: Callable[[], str | None] = lambda: None
    arrived: threading.Condition = field(default_factory=threading.Condition)

    async def handle_RCPT(self, server, session, envelope, address, options) -> str:
        refusal = self.refuse_recipient(address)
        if refusal:
            return refusal
        envelope.rcpt_tos.append(address)
        return "250 OK"

    async def handle_DATA(self, server, session, envelope) -> str:
        refusal = self.refuse_data()
        if refusal:
            return refusal
        message = email.message_from_bytes(envelope.content, policy=email.policy.default)
        with self.arrived:
            self.received.append(Received(envelope.mail_from, list(envelope.rcpt_tos), message))
            self.arrived.notify_all()
        return "250 Message accepted"

    def wait_for(self, count: int, timeout: float = 30.0) -> list[Received]:
        with self.arrived:
            assert self.arrived.wait_for(lambda: len(self.received) >= count, timeout), (
                f"{len(self.received)} messages arrived, wanted {count}"
            )
            return list(self.received)


def start(handler: Any, port: int | None = None) -> tuple[Controller, str]:
    """The running server and the SMTP_URL that reaches it (on `port`, to come back where
    it was after a stop, or a free one)."""
    port = port or free_port()
    controller = Controller(handler, hostname="127.0.0.1", port=port)
    controller.start()
    return controller, f"smtp://127.0.0.1:{port}"
