"""The `email` delivery kind: one message through SMTP_URL from EMAIL_FROM.

A target is {"kind": "email", "recipients": [...1-20 addresses], "subject": "...",
"attach": "auto" | "never"}. Recipients are bare addresses (no display names, no lists, no
line breaks), so nothing a client writes can add a header or a recipient. The subject may
use {name} and {scheduledDate}, nothing else.

SMTP_URL: `smtp://` upgrades with STARTTLS when the server offers it (a local sink offers
none), `smtp+starttls://` requires it, `smtps://` is TLS from the first byte. A login
(`user:password@`) is refused without TLS, so a password never crosses in the clear.

Memory: the message is built whole before DATA (smtplib sends one bytes object), so an
attached file costs about 2.4 times its size (the bytes and their base64) for the attempt;
EMAIL_ATTACHMENT_MAX_BYTES bounds it, and a bigger file is never read: the message links to
the report instead.

Speed: the email package's generator spends about 50 ms writing a 1 MiB attachment's base64
line by line; message_parts lets it write the message around a short placeholder and puts
the attachment's base64 (binascii, in one go) in its place: the same bytes, a tenth of the
time. DATA dot-stuffs only the parts around the base64 (no base64 line starts with a dot),
where smtplib's data() runs a regular expression over the whole 1.4 MB again.
"""

from __future__ import annotations

import base64
import functools
import html
import re
import secrets
import smtplib
import ssl
from collections.abc import Collection, Mapping, Sequence
from email.errors import HeaderParseError
from email.headerregistry import Address
from email.message import EmailMessage
from email.policy import SMTP
from email.utils import parseaddr
from typing import Any
from urllib.parse import unquote, urlsplit

from shared.config import Settings
from shared.deliveries.targets import (
    DeliveredFile,
    InvalidTarget,
    PermanentDeliveryFailure,
    TransientDeliveryFailure,
)

MAX_RECIPIENTS = 20
MAX_SUBJECT = 200
DEFAULT_SUBJECT = "{name} ({scheduledDate})"
ATTACH = ("auto", "never")
PLACEHOLDER = re.compile(r"\{(\w*)\}")
PLACEHOLDERS = ("name", "scheduledDate")
# Characters that have no place in a bare address: line breaks (header injection), list
# separators and the delimiters of display names and comments.
_FORBIDDEN = re.compile(r"[\s,;<>()\"\\\[\]:]")
DEFAULT_PORTS = {"smtp": 25, "smtp+starttls": 587, "smtps": 465}


def parse_recipient(raw: Any) -> str:
    """The bare address, its domain lowercased, or ValueError saying why it is none."""
    if not isinstance(raw, str) or not raw:
        raise ValueError("must be an email address")
    if len(raw) > 254 or _FORBIDDEN.search(raw) or not raw.isprintable():
        raise ValueError(f"{raw[:80]!r} is not a bare email address (name@domain)")
    try:
        address = Address(addr_spec=raw)
    except (ValueError, HeaderParseError, IndexError):
        raise ValueError(f"{raw!r} is not an email address") from None
    domain = address.domain.lower()
    labels = domain.split(".")
    if not address.username or len(labels) < 2 or not all(labels):
        raise ValueError(f"{raw!r} is not an email address")
    # What a mail header would make of it must be the address itself, nothing more.
    if parseaddr(raw) != ("", raw) or address.addr_spec != raw:
        raise ValueError(f"{raw!r} is not a bare email address (name@domain)")
    return f"{address.username}@{domain}"


def domain_of(address: str) -> str:
    return address.rpartition("@")[2].lower()


def outside_domains(recipients: Sequence[Any], allowed: Collection[str]) -> list[str]:
    """The recipients whose domain EMAIL_ALLOWED_DOMAINS does not list."""
    allowed_set = {domain.strip().lower() for domain in allowed if domain.strip()}
    return [
        recipient
        for recipient in recipients
        if not isinstance(recipient, str) or domain_of(recipient) not in allowed_set
    ]


def check_subject(subject: Any) -> str:
    if not isinstance(subject, str) or not 1 <= len(subject) <= MAX_SUBJECT:
        raise ValueError(f"must be 1 to {MAX_SUBJECT} characters")
    if not subject.isprintable():
        raise ValueError("must be one line of printable characters")
    unknown = [name for name in PLACEHOLDER.findall(subject) if name not in PLACEHOLDERS]
    if unknown or "{" in PLACEHOLDER.sub("", subject) or "}" in PLACEHOLDER.sub("", subject):
        raise ValueError("may use {name} and {scheduledDate}, and no other braces")
    return subject


def render_subject(template: str, name: str, scheduled_date: str) -> str:
    values = {"name": name, "scheduledDate": scheduled_date}
    rendered = PLACEHOLDER.sub(lambda match: values[match.group(1)], template)
    # A definition's name is one line already; a subject stays one line whatever it holds.
    return " ".join(rendered.split())


def human_size(size_bytes: int) -> str:
    size = float(size_bytes)
    for unit in ("bytes", "KiB", "MiB", "GiB"):
        if size < 1024 or unit == "GiB":
            return f"{size:,.0f} {unit}" if unit == "bytes" else f"{size:,.1f} {unit}"
        size /= 1024
    raise AssertionError("unreachable")


def should_attach(attach: str, size_bytes: int, max_bytes: int) -> bool:
    return attach == "auto" and size_bytes <= max_bytes


def build_message(
    target: Mapping[str, Any],
    delivered: DeliveredFile,
    sender: str,
    attachment: bytes | None,
) -> EmailMessage:
    """The message: plain text and HTML, with the file attached when `attachment` is given."""
    message = EmailMessage(policy=SMTP)
    message["From"] = sender
    message["To"] = ", ".join(target["recipients"])
    message["Subject"] = render_subject(
        target.get("subject", DEFAULT_SUBJECT), delivered.definition_name, delivered.scheduled_date
    )
    facts = [("Report", delivered.definition_name)]
    if delivered.period:
        facts.append(("Period", delivered.period))
    facts += [("Rows", f"{delivered.rows:,}"), ("Size", human_size(delivered.size_bytes))]
    if attachment is not None:
        where = f"The file {delivered.file_name} is attached."
    else:
        where = f"Download the file {delivered.file_name} from the report's page."
    lines = [f"{label}: {value}" for label, value in facts]
    message.set_content("\n".join([*lines, "", where, f"The report: {delivered.report_url}", ""]))
    rows = "".join(
        f"<tr><th align='left'>{html.escape(label)}</th><td>{html.escape(value)}</td></tr>"
        for label, value in facts
    )
    link = html.escape(delivered.report_url, quote=True)
    message.add_alternative(
        f"<html><body><table>{rows}</table><p>{html.escape(where)}</p>"
        f'<p><a href="{link}">Open the report</a></p></body></html>',
        subtype="html",
    )
    if attachment is not None:
        maintype, _, subtype = delivered.content_type.partition("/")
        message.add_attachment(
            attachment,
            maintype=maintype or "application",
            subtype=(subtype.split(";")[0].strip() or "octet-stream"),
            filename=delivered.file_name,
        )
    return message


def read_at_most(delivered: DeliveredFile, max_bytes: int) -> bytes:
    """The file, read from storage in blocks; more than max_bytes is a permanent failure
    (the stored size said otherwise)."""
    blocks = []
    total = 0
    with delivered.open() as stream:
        while block := stream.read(1024 * 1024):
            total += len(block)
            if total > max_bytes:
                raise PermanentDeliveryFailure("The stored file is larger than its recorded size.")
            blocks.append(block)
    return b"".join(blocks)


class EmailKind:
    name = "email"
    secret_fields: frozenset[str] = frozenset()
    admin_only = False
    identity_names = "recipients"

    def identity(self, target: Mapping[str, Any]) -> tuple[Any, ...]:
        # No secret to keep, so nothing is ever matched by it.
        return ()

    def __init__(self) -> None:
        self._settings: Settings | None = None

    def configure(self, settings: Settings) -> None:
        """The SMTP server, sender and attachment limit sends use (the dispatcher's)."""
        self._settings = settings

    @property
    def settings(self) -> Settings:
        if self._settings is None:
            self._settings = Settings.from_env()
        return self._settings

    def validate(self, target: Mapping[str, Any]) -> dict[str, Any]:
        unknown = sorted(set(target) - {"kind", "recipients", "subject", "attach"})
        if unknown:
            raise InvalidTarget(unknown[0], "unknown member of an email delivery")
        recipients = target.get("recipients")
        if not isinstance(recipients, list) or not 1 <= len(recipients) <= MAX_RECIPIENTS:
            raise InvalidTarget("recipients", f"must list 1 to {MAX_RECIPIENTS} addresses")
        canonical: list[str] = []
        for index, raw in enumerate(recipients):
            try:
                address = parse_recipient(raw)
            except ValueError as exc:
                raise InvalidTarget(f"recipients.{index}", str(exc)) from None
            if address not in canonical:
                canonical.append(address)
        try:
            subject = check_subject(target.get("subject", DEFAULT_SUBJECT))
        except ValueError as exc:
            raise InvalidTarget("subject", str(exc)) from None
        attach = target.get("attach", "auto")
        if attach not in ATTACH:
            raise InvalidTarget("attach", f"must be one of {list(ATTACH)}")
        return {"kind": self.name, "recipients": canonical, "subject": subject, "attach": attach}

    def prove(self, target: Mapping[str, Any]) -> None:
        """Nothing to prove at save: a test message to every recipient would be spam, and the
        server is the deployment's (SMTP_URL), not the target's."""

    def send(self, target: Mapping[str, Any], delivered: DeliveredFile) -> None:
        settings = self.settings
        attachment = None
        if should_attach(
            target.get("attach", "auto"), delivered.size_bytes, settings.email_attachment_max_bytes
        ):
            attachment = read_at_most(delivered, settings.email_attachment_max_bytes)
        sender = parseaddr(settings.email_from)[1]
        send_message(
            settings.smtp_url,
            settings.smtp_timeout_seconds,
            sender,
            list(target["recipients"]),
            message_parts(target, delivered, settings.email_from, attachment),
        )


def base64_lines(data: bytes) -> bytes:
    """The base64 of `data` in 76-character CRLF lines, as the email package writes it
    (policy SMTP), but encoded in one call and cut by slicing: a fifth faster than
    base64.encodebytes, which encodes 57 bytes a call."""
    encoded = base64.b64encode(data)
    lines = [encoded[start : start + 76] for start in range(0, len(encoded), 76)]
    return b"\r\n".join(lines) + b"\r\n" if lines else b""


# A message as sent, in three parts: what comes before the attachment's base64, the base64
# (lines no dot can start), and what comes after it. The last two are empty without a file.
MessageParts = tuple[bytes, bytes, bytes]


def message_parts(
    target: Mapping[str, Any], delivered: DeliveredFile, sender: str, attachment: bytes | None
) -> MessageParts:
    """build_message's message as sent (CRLF line ends), the attachment's base64 written in
    one go instead of by the email package's generator."""
    if attachment is None:
        return build_message(target, delivered, sender, None).as_bytes(), b"", b""
    # A random placeholder, base64-encoded by the generator as one line of its own: it cannot
    # occur anywhere else in the message by chance.
    placeholder = secrets.token_hex(24).encode()
    wire = build_message(target, delivered, sender, placeholder).as_bytes()
    encoded_placeholder = base64.b64encode(placeholder) + b"\r\n"
    encoded = base64_lines(attachment)
    before, found, after = wire.partition(encoded_placeholder)
    if not found:
        raise AssertionError("the attachment's placeholder is missing from the message")
    return before, encoded, after


def message_bytes(
    target: Mapping[str, Any], delivered: DeliveredFile, sender: str, attachment: bytes | None
) -> bytes:
    return b"".join(message_parts(target, delivered, sender, attachment))


_LINE_STARTING_WITH_A_DOT = re.compile(rb"(?m)^\.")


def send_data(client: smtplib.SMTP, parts: MessageParts) -> tuple[int, bytes]:
    """smtplib's data(), dot-stuffing only the parts around the base64; the final reply."""
    code, reply = client.docmd("data")
    if code != 354:
        raise smtplib.SMTPDataError(code, reply)
    before, encoded, after = parts
    ending = _LINE_STARTING_WITH_A_DOT.sub(b"..", after)
    if not (ending or encoded or before).endswith(b"\r\n"):
        ending += b"\r\n"
    # One send, as smtplib's: separate small writes around the big one would wait on the
    # receiver's delayed acknowledgement (Nagle) at the end.
    client.send(b"".join((_LINE_STARTING_WITH_A_DOT.sub(b"..", before), encoded, ending, b".\r\n")))
    return client.getreply()


def _reply(code: int, reply: bytes | str) -> str:
    text = reply.decode(errors="replace") if isinstance(reply, bytes) else str(reply)
    return f"{code} {' '.join(text.split())}"[:300]


def _refused(code: int, reply: bytes | str, what: str) -> None:
    """4xx: try again later; 5xx: the server will not take it."""
    if 400 <= code < 500:
        raise TransientDeliveryFailure(f"{what}: {_reply(code, reply)}")
    raise PermanentDeliveryFailure(f"{what}: {_reply(code, reply)}")


@functools.cache
def tls_context() -> ssl.SSLContext:
    """One context for every connection: loading the system's CA certificates took about
    half of each email's time when every connection made its own."""
    return ssl.create_default_context()


def connect(smtp_url: str, timeout: float) -> smtplib.SMTP:
    """A connection as SMTP_URL says, encrypted where it says, logged in if it has a user."""
    url = urlsplit(smtp_url)
    host, port = url.hostname or "localhost", url.port or DEFAULT_PORTS.get(url.scheme, 25)
    context = tls_context()
    client: smtplib.SMTP
    if url.scheme == "smtps":
        client = smtplib.SMTP_SSL(host, port, timeout=timeout, context=context)
        encrypted = True
    else:
        client = smtplib.SMTP(host, port, timeout=timeout)
        client.ehlo()
        encrypted = False
        if client.has_extn("starttls"):
            client.starttls(context=context)
            client.ehlo()
            encrypted = True
        elif url.scheme == "smtp+starttls":
            client.close()
            raise PermanentDeliveryFailure(
                "The mail server does not offer STARTTLS, which SMTP_URL (smtp+starttls) requires."
            )
    if url.username:
        if not encrypted:
            client.close()
            raise PermanentDeliveryFailure(
                "SMTP_URL has a login, but the connection is not encrypted: use smtps:// or a "
                "server that offers STARTTLS."
            )
        try:
            client.login(unquote(url.username), unquote(url.password or ""))
        except smtplib.SMTPAuthenticationError as exc:
            client.close()
            raise PermanentDeliveryFailure(
                f"The mail server refused the login: {_reply(exc.smtp_code, exc.smtp_error)}"
            ) from None
    return client


def send_message(
    smtp_url: str, timeout: float, sender: str, recipients: list[str], message: MessageParts
) -> None:
    """MAIL, RCPT for each recipient, then DATA only once every recipient was accepted: a
    refused recipient fails the attempt before anyone received anything, so a retry sends
    nobody a second copy."""
    try:
        client = connect(smtp_url, timeout)
        try:
            code, reply = client.mail(sender)
            if code != 250:
                _refused(code, reply, "The mail server refused the sender")
            for recipient in recipients:
                code, reply = client.rcpt(recipient)
                if code not in (250, 251):
                    _refused(code, reply, f"The mail server refused the recipient {recipient}")
            code, reply = send_data(client, message)
            if code != 250:
                _refused(code, reply, "The mail server refused the message")
        except smtplib.SMTPDataError as exc:
            _refused(exc.smtp_code, exc.smtp_error, "The mail server refused the message")
        except smtplib.SMTPResponseException as exc:
            _refused(exc.smtp_code, exc.smtp_error, "The mail server refused the message")
        finally:
            try:
                client.quit()
            except (smtplib.SMTPException, OSError):
                client.close()
    except (PermanentDeliveryFailure, TransientDeliveryFailure):
        raise
    except ssl.SSLError as exc:
        raise TransientDeliveryFailure(f"TLS with the mail server: {exc.reason or exc}") from None
    except TimeoutError:
        raise TransientDeliveryFailure(f"No answer from the mail server in {timeout:g} s") from None
    except (smtplib.SMTPException, OSError) as exc:
        raise TransientDeliveryFailure(
            f"The mail server could not be reached: {type(exc).__name__}: {exc}"[:300]
        ) from None


KIND = EmailKind()
