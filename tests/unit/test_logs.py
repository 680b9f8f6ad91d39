"""Log lines: one event and its fields, in text or JSON, with context fields and no secrets."""

import io
import json
import logging
import threading

import pytest

from shared.logs import (
    JsonFormatter,
    TextFormatter,
    context_thread,
    event_fields,
    log_context,
    redact,
)

TOKEN = "eyJhbGciOiJIUzI1NiJ9.eyJzdWIiOiJhbGljZSJ9.c2lnbmF0dXJlLXNpZ25hdHVyZQ"
PRESIGNED = (
    "http://s3.local/reportbox/acme/1/1.csv?X-Amz-Algorithm=AWS4-HMAC-SHA256"
    "&X-Amz-Credential=local%2F20261201&X-Amz-Signature=0123456789abcdef&X-Amz-Expires=900"
)


@pytest.fixture
def capture():
    """Lines written through a logger with the given formatter."""
    stream = io.StringIO()
    handler = logging.StreamHandler(stream)
    logger = logging.getLogger(f"test.logs.{id(stream)}")
    logger.addHandler(handler)
    logger.setLevel(logging.INFO)
    logger.propagate = False

    def write(formatter: logging.Formatter, message: str, *args) -> str:
        handler.setFormatter(formatter)
        logger.info(message, *args)
        return stream.getvalue().splitlines()[-1]

    return write


def test_an_event_and_its_fields_are_read_from_the_message():
    assert event_fields("export.failed report_id=r1 code=timeout message=took too long") == (
        "export.failed",
        {"report_id": "r1", "code": "timeout", "message": "took too long"},
    )


def test_json_lines_carry_the_event_the_fields_and_the_bound_context(capture):
    with log_context(report_id="r1", message_id="m1"):
        line = capture(JsonFormatter("worker"), "export.started type=%s attempt=%d", "sessions", 1)

    record = json.loads(line)
    assert {key: record[key] for key in ("level", "process", "event")} == {
        "level": "INFO",
        "process": "worker",
        "event": "export.started",
    }
    assert (record["report_id"], record["message_id"], record["type"], record["attempt"]) == (
        "r1",
        "m1",
        "sessions",
        "1",
    )
    assert record["timestamp"].endswith("+00:00")


def test_text_lines_get_the_context_fields_they_do_not_already_name(capture):
    with log_context(report_id="r1", message_id="m1"):
        line = capture(TextFormatter("worker"), "export.started report_id=%s", "r1")

    assert line.endswith(" export.started report_id=r1 message_id=m1")


def test_a_thread_started_in_a_context_logs_with_its_fields(capture):
    lines = []
    with log_context(report_id="r2"):
        thread = context_thread(
            lambda: lines.append(capture(JsonFormatter("worker"), "export.progress rows=5")),
            name="t",
        )
    thread.start()
    thread.join()

    assert json.loads(lines[0])["report_id"] == "r2"
    assert threading.current_thread().name == "MainThread"


@pytest.mark.parametrize("formatter", [JsonFormatter("api"), TextFormatter("api")])
def test_tokens_and_presigned_urls_never_reach_a_line(capture, formatter):
    line = capture(formatter, "x.y header=%s url=%s raw=%s", f"Bearer {TOKEN}", PRESIGNED, TOKEN)

    assert TOKEN not in line
    assert "0123456789abcdef" not in line
    assert "local%2F20261201" not in line


def test_redaction_leaves_ordinary_text_alone():
    text = "export.completed report_id=5f0c rows=10 bytes=2048 key=acme/5f0c/1.csv"
    assert redact(text) == text
