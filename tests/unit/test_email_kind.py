"""The email kind's pure parts: recipients, the subject template, the domain rule and the
message it builds, with and without the file."""

from __future__ import annotations

import base64
import email
import email.policy
import io
import smtplib
from contextlib import nullcontext
from datetime import UTC, datetime

import pytest

from infra.local.mail_sink import mail_sink
from infra.local.processes import free_port
from shared.deliveries.email_kind import (
    KIND,
    base64_lines,
    build_message,
    message_bytes,
    message_parts,
    outside_domains,
    parse_recipient,
    render_subject,
    send_data,
    should_attach,
)
from shared.deliveries.targets import DeliveredFile, InvalidTarget

DATA = b"a,b\r\n1,2\r\n"


def delivered(**changes) -> DeliveredFile:
    values = {
        "report_id": "r-1",
        "definition_id": "d-1",
        "definition_name": "Weekly sessions",
        "file_name": "sessions.csv",
        "content_type": "text/csv",
        "size_bytes": len(DATA),
        "rows": 1234,
        "sha256": "0" * 64,
        "scheduled_date": "2026-12-07",
        "period": "2026-11-30 to 2026-12-06",
        "report_url": "https://reports.example.com/?id=r-1",
        "object_key": "k",
        "bucket": "b",
        "completed_at": datetime(2026, 12, 7, tzinfo=UTC),
        "open": lambda: nullcontext(io.BytesIO(DATA)),
    }
    values.update(changes)
    return DeliveredFile(**values)


def test_a_bare_address_is_kept_with_its_domain_lowercased():
    assert parse_recipient("Ops.Team+x@Example.COM") == "Ops.Team+x@example.com"


@pytest.mark.parametrize(
    "raw",
    [
        "",
        "no-at-sign",
        "a@b",  # no dot in the domain
        "Eve <eve@example.com>",  # a display name
        "eve@example.com, mallory@example.com",  # a list
        "eve@example.com\r\nBcc: mallory@example.com",  # header injection
        "eve@example.com\nX: y",
        '"a b"@example.com',
        "eve@@example.com",
        "eve@example..com",
        "x" * 250 + "@example.com",
        42,
    ],
)
def test_anything_but_a_bare_address_is_refused(raw):
    with pytest.raises(ValueError):
        parse_recipient(raw)


def test_validate_names_the_field_at_fault():
    with pytest.raises(InvalidTarget) as refused:
        KIND.validate({"kind": "email", "recipients": ["ok@example.com", "Eve <e@x.com>"]})
    assert refused.value.field == "recipients.1"
    for target, field in [
        ({"kind": "email", "recipients": []}, "recipients"),
        ({"kind": "email", "recipients": [f"u{i}@example.com" for i in range(21)]}, "recipients"),
        ({"kind": "email", "recipients": ["a@example.com"], "subject": "{owner}"}, "subject"),
        ({"kind": "email", "recipients": ["a@example.com"], "subject": "a\r\nBcc: x"}, "subject"),
        ({"kind": "email", "recipients": ["a@example.com"], "attach": "yes"}, "attach"),
        ({"kind": "email", "recipients": ["a@example.com"], "cc": []}, "cc"),
    ]:
        with pytest.raises(InvalidTarget) as refused:
            KIND.validate(target)
        assert refused.value.field == field


def test_validate_fills_the_defaults_and_drops_repeats():
    assert KIND.validate({"kind": "email", "recipients": ["a@example.com", "a@EXAMPLE.com"]}) == {
        "kind": "email",
        "recipients": ["a@example.com"],
        "subject": "{name} ({scheduledDate})",
        "attach": "auto",
    }


def test_subject_template():
    assert render_subject("{name} for {scheduledDate}", "Sales", "2026-12-07") == (
        "Sales for 2026-12-07"
    )
    # A name cannot bring a line break into the header.
    assert render_subject("{name}", "a\r\nBcc: x", "d") == "a Bcc: x"


def test_domains_outside_the_allowed_list():
    recipients = ["a@example.com", "b@other.org"]
    assert outside_domains(recipients, ["example.com"]) == ["b@other.org"]
    assert outside_domains(recipients, []) == recipients


def test_attach_auto_only_up_to_the_limit():
    assert should_attach("auto", 10, 10)
    assert not should_attach("auto", 11, 10)
    assert not should_attach("never", 1, 10)


def parsed(message) -> email.message.EmailMessage:
    return email.message_from_bytes(message.as_bytes(), policy=email.policy.default)


def test_message_with_the_file_attached():
    target = KIND.validate({"kind": "email", "recipients": ["a@example.com", "b@example.com"]})
    message = parsed(build_message(target, delivered(), "Reportbox <r@example.com>", DATA))
    assert message["To"] == "a@example.com, b@example.com"
    assert message["Subject"] == "Weekly sessions (2026-12-07)"
    text = message.get_body(("plain",)).get_content()
    for fact in ("Weekly sessions", "2026-11-30 to 2026-12-06", "1,234", "10 bytes", "attached"):
        assert fact in text
    assert "https://reports.example.com/?id=r-1" in message.get_body(("html",)).get_content()
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_filename() == "sessions.csv"
    assert attachment.get_content_type() == "text/csv"
    assert attachment.get_payload(decode=True) == DATA


def test_message_with_a_link_instead():
    target = KIND.validate({"kind": "email", "recipients": ["a@example.com"]})
    message = parsed(build_message(target, delivered(), "r@example.com", None))
    assert list(message.iter_attachments()) == []
    assert "Download the file" in message.get_body(("plain",)).get_content()


def test_html_escapes_the_name():
    target = KIND.validate({"kind": "email", "recipients": ["a@example.com"]})
    message = parsed(
        build_message(target, delivered(definition_name="<b>x</b>"), "r@example.com", None)
    )
    assert "<b>x</b>" not in message.get_body(("html",)).get_content()


@pytest.mark.parametrize("data", [DATA, b"", bytes(range(256)) * 4096 + b"tail"])
def test_message_bytes_are_the_built_message_with_the_file_attached(data):
    target = KIND.validate({"kind": "email", "recipients": ["a@example.com"]})
    file = delivered(size_bytes=len(data))
    wire = message_bytes(target, file, "Reportbox <r@example.com>", data)
    built = build_message(target, file, "Reportbox <r@example.com>", data).as_bytes()
    # The same bytes but for the MIME boundaries, which are random in each message.
    assert len(wire) == len(built)
    assert b"\n" not in wire.replace(b"\r\n", b"")  # CRLF line ends only
    message = email.message_from_bytes(wire, policy=email.policy.default)
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_payload(decode=True) == data
    assert attachment["Content-Transfer-Encoding"] == "base64"
    assert message.get_body(("plain",)).get_content() == (
        parsed(build_message(target, file, "r@example.com", data))
        .get_body(("plain",))
        .get_content()
    )


def test_message_bytes_without_a_file_are_the_built_message():
    target = KIND.validate({"kind": "email", "recipients": ["a@example.com"]})
    message = email.message_from_bytes(
        message_bytes(target, delivered(), "r@example.com", None), policy=email.policy.default
    )
    assert list(message.iter_attachments()) == []


def test_data_dot_stuffs_the_text_around_the_attachment_and_the_sink_gets_it_back(tmp_path):
    # Lines starting with a dot around the base64 must be dot-stuffed on the wire (a lone
    # dot would end the message) and arrive as written; the base64 goes as it is.
    target = KIND.validate({"kind": "email", "recipients": ["a@example.com"]})
    data = bytes(range(256)) * 64
    head, encoded, tail = message_parts(target, delivered(size_bytes=len(data)), "r@x.org", data)
    parts = (head.replace(b"\r\n\r\n", b"\r\n\r\n.\r\n..two\r\n", 1), encoded, b".\r\n" + tail)
    folder = tmp_path / "mail"
    with mail_sink(free_port(), folder) as url:
        host, port = url.removeprefix("smtp://").split(":")
        with smtplib.SMTP(host, int(port), timeout=10) as client:
            client.ehlo()
            client.mail("r@x.org")
            client.rcpt("a@example.com")
            code, _ = send_data(client, parts)
    assert code == 250
    (kept,) = folder.glob("*.eml")
    assert kept.read_bytes().replace(b"\r\n", b"\n") == b"".join(parts).replace(b"\r\n", b"\n")
    message = email.message_from_bytes(kept.read_bytes(), policy=email.policy.default)
    (attachment,) = list(message.iter_attachments())
    assert attachment.get_payload(decode=True) == data


@pytest.mark.parametrize("size", [0, 1, 56, 57, 58, 114, 1024 * 1024 + 1])
def test_base64_lines_are_what_the_email_package_writes(size):
    data = (bytes(range(256)) * (size // 256 + 1))[:size]
    assert base64_lines(data) == base64.encodebytes(data).replace(b"\n", b"\r\n")
