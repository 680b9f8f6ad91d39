import json
import uuid
from datetime import UTC, datetime

import pytest

from shared.messages import ReportRequested, UndecodableMessage


def test_a_message_survives_encode_and_decode():
    message = ReportRequested.new(uuid.uuid4(), datetime(2026, 3, 1, 12, 30, tzinfo=UTC))

    assert ReportRequested.decode(message.encode()) == message


def test_the_wire_format_is_the_documented_one():
    report_id = uuid.uuid4()
    message = ReportRequested.new(report_id)

    document = json.loads(message.encode())

    assert set(document) == {"messageId", "type", "reportId", "occurredAt"}
    assert document["type"] == "report.requested"
    assert document["reportId"] == str(report_id)


@pytest.mark.parametrize(
    "body",
    [
        b"",
        b"\xff\xfe",
        b"not json",
        b"[]",
        b'{"type": "report.requested"}',
        b'{"type": "something.else", "messageId": "x", "reportId": "y", "occurredAt": "z"}',
        json.dumps(
            {
                "type": "report.requested",
                "messageId": str(uuid.uuid4()),
                "reportId": "not-a-uuid",
                "occurredAt": "2026-01-01T00:00:00+00:00",
            }
        ).encode(),
        json.dumps(
            {
                "type": "report.requested",
                "messageId": str(uuid.uuid4()),
                "reportId": str(uuid.uuid4()),
                "occurredAt": "2026-01-01T00:00:00",
            }
        ).encode(),
        json.dumps(
            {
                "type": "report.requested",
                "messageId": 7,
                "reportId": str(uuid.uuid4()),
                "occurredAt": "2026-01-01T00:00:00+00:00",
            }
        ).encode(),
    ],
)
def test_a_bad_body_raises_one_error_that_keeps_the_raw_bytes(body):
    with pytest.raises(UndecodableMessage) as raised:
        ReportRequested.decode(body)

    assert raised.value.body == body
