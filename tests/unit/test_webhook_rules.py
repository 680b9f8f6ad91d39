"""Webhooks' pure rules: the retry schedule, the request-forgery guard, matching, payloads and
what one attempt's answer does to its message and endpoint."""

from __future__ import annotations

import ipaddress
import json
import random
import uuid
from datetime import UTC, datetime, timedelta

import pytest

from shared.webhooks.addresses import (
    UnsafeUrl,
    address_allowed,
    checked_addresses,
    parse_networks,
    parse_target,
)
from shared.webhooks.outcomes import Attempt, MessageStatus, decide
from shared.webhooks.payload import (
    MAX_BODY_BYTES,
    definition_data,
    encode_body,
    matches,
    report_data,
)
from shared.webhooks.retry import DEFAULT_SCHEDULE, parse_schedule, retry_delay

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)
LOOPBACK = parse_networks("127.0.0.0/8")


# The retry schedule: 5 s, 5 min, 30 min, 2 h, 5 h, 10 h, 14 h, 20 h, 24 h, each ±20 %.


def test_default_schedule_is_the_contracts():
    assert DEFAULT_SCHEDULE == (5, 300, 1800, 7200, 18000, 36000, 50400, 72000, 86400)


@pytest.mark.parametrize("failed", range(1, len(DEFAULT_SCHEDULE) + 1))
def test_each_retry_is_its_delay_within_twenty_percent(failed):
    rng = random.Random(failed)
    delays = [retry_delay(failed, DEFAULT_SCHEDULE, rng.uniform) for _ in range(300)]
    nominal = DEFAULT_SCHEDULE[failed - 1]
    assert all(0.8 * nominal <= delay <= 1.2 * nominal for delay in delays)
    assert len(set(delays)) > 250  # jittered: many failed messages do not come back at once
    assert min(delays) < 0.85 * nominal and max(delays) > 1.15 * nominal


def test_the_jitter_bounds_are_exact():
    assert retry_delay(1, (10,), lambda low, high: low) == pytest.approx(8.0)
    assert retry_delay(1, (10,), lambda low, high: high) == pytest.approx(12.0)


def test_no_retry_once_the_schedule_is_spent():
    assert retry_delay(len(DEFAULT_SCHEDULE) + 1, DEFAULT_SCHEDULE) is None
    assert retry_delay(3, (1, 2)) is None


def test_a_retry_follows_a_failure():
    with pytest.raises(ValueError):
        retry_delay(0, DEFAULT_SCHEDULE)


def test_schedule_parsing():
    assert parse_schedule("1, 2.5,60") == (1.0, 2.5, 60.0)
    for bad in ("", " , ", "5,0", "-1", "soon"):
        with pytest.raises(ValueError):
            parse_schedule(bad)


# The request-forgery guard.


def test_https_only_unless_http_is_allowed():
    assert parse_target("https://hooks.example.com/in?x=1", False).path == "/in?x=1"
    with pytest.raises(UnsafeUrl, match="https"):
        parse_target("http://hooks.example.com/", False)
    target = parse_target("http://hooks.example.com:8080", True)
    assert (target.scheme, target.host, target.port, target.path) == (
        "http",
        "hooks.example.com",
        8080,
        "/",
    )
    assert parse_target("https://hooks.example.com", False).port == 443
    for bad in ("ftp://x.example/", "file:///etc/passwd", "gopher://x", "//x.example/"):
        with pytest.raises(UnsafeUrl):
            parse_target(bad, True)


@pytest.mark.parametrize(
    "url",
    ["https://user@hooks.example.com/", "https://user:pw@hooks.example.com/", "https://:pw@h.io/"],
)
def test_user_info_is_refused(url):
    with pytest.raises(UnsafeUrl, match="user info"):
        parse_target(url, False)


def test_malformed_urls_are_refused():
    for bad in ("https://", "https://h.example:99999/", "https://[::1/"):
        with pytest.raises(UnsafeUrl):
            parse_target(bad, False)


@pytest.mark.parametrize(
    "address",
    [
        "127.0.0.1",
        "10.1.2.3",
        "172.16.0.1",
        "192.168.1.1",
        "169.254.169.254",  # cloud metadata
        "100.64.0.1",  # carrier-grade NAT
        "0.0.0.0",
        "224.0.0.1",
        "255.255.255.255",
        "::1",
        "fe80::1",
        "fc00::1",
        "::ffff:127.0.0.1",
        "::ffff:169.254.169.254",
        "::",
    ],
)
def test_private_and_special_addresses_are_refused(address):
    assert not address_allowed(ipaddress.ip_address(address), ())


@pytest.mark.parametrize("address", ["93.184.215.14", "8.8.8.8", "2606:4700:4700::1111"])
def test_public_addresses_are_allowed(address):
    assert address_allowed(ipaddress.ip_address(address), ())


def test_allowed_networks_open_private_addresses():
    networks = parse_networks("127.0.0.0/8, 10.0.0.0/8,fd00::/8")
    assert address_allowed(ipaddress.ip_address("127.0.0.1"), networks)
    assert address_allowed(ipaddress.ip_address("10.9.9.9"), networks)
    assert address_allowed(ipaddress.ip_address("fd00::5"), networks)
    assert address_allowed(ipaddress.ip_address("::ffff:127.0.0.1"), networks)
    assert not address_allowed(ipaddress.ip_address("169.254.169.254"), networks)
    with pytest.raises(ValueError):
        parse_networks("10.0.0.0/33")


def test_every_resolved_address_must_be_allowed_and_the_refused_one_is_named():
    target = parse_target("https://hooks.example.com/", False)
    assert checked_addresses(target, (), lambda host, port: ["93.184.215.14"]) == [
        ipaddress.ip_address("93.184.215.14")
    ]
    with pytest.raises(UnsafeUrl, match=r"169\.254\.169\.254"):
        checked_addresses(target, (), lambda host, port: ["93.184.215.14", "169.254.169.254"])
    with pytest.raises(UnsafeUrl, match="no address"):
        checked_addresses(target, (), lambda host, port: [])


def test_a_name_that_does_not_resolve_is_refused():
    def fails(host, port):
        raise OSError("Name or service not known")

    with pytest.raises(UnsafeUrl, match="does not resolve"):
        checked_addresses(parse_target("https://nowhere.invalid/", False), (), fails)


def test_ip_literals_are_checked_like_names():
    with pytest.raises(UnsafeUrl, match=r"127\.0\.0\.1"):
        checked_addresses(parse_target("https://127.0.0.1/", False), (), lambda h, p: [h])
    assert checked_addresses(parse_target("http://127.0.0.1:9/", True), LOOPBACK, lambda h, p: [h])


# Matching.


def test_an_endpoint_takes_the_events_it_subscribed_to():
    assert matches("report.completed", "users", ["report.completed"], [])
    assert not matches("report.failed", "users", ["report.completed"], [])
    assert matches("report.failed", "users", ["report.completed", "report.failed"], ["users"])
    assert not matches("report.failed", "sessions", ["report.failed"], ["users"])
    # A definition event has a report type too; one without is not filtered out by it.
    assert matches("definition.paused", None, ["definition.paused"], ["users"])
    assert not matches("definition.paused", None, ["report.completed"], [])


# Payloads.


def _snapshot(**changes):
    snapshot = {
        "id": uuid.uuid4(),
        "report_type": "sessions",
        "format": "csv",
        "status": "Completed",
        "definition_id": uuid.uuid4(),
        "trigger": "schedule",
        "scheduled_for": NOW,
        "created_at": NOW,
        "completed_at": NOW + timedelta(seconds=3),
        "file_name": "sessions-2026-12-05.csv",
        "content_type": "text/csv",
        "size_bytes": 1234,
        "row_count": 10,
        "sha256": "a" * 64,
        "error_code": None,
        "error_message": None,
        "object_key": "acme/x/1.csv",
    }
    snapshot.update(changes)
    return snapshot


def test_a_completed_report_event_has_the_contracts_fields():
    snapshot = _snapshot()
    data = report_data(snapshot, "https://rb.example/api/v1/reports/x")
    assert set(data) == {
        "reportId",
        "reportType",
        "format",
        "status",
        "statusUrl",
        "definitionId",
        "trigger",
        "scheduledFor",
        "createdAt",
        "completedAt",
        "file",
        "error",
    }
    assert data["reportId"] == str(snapshot["id"])
    assert data["file"] == {
        "name": "sessions-2026-12-05.csv",
        "contentType": "text/csv",
        "sizeBytes": 1234,
        "rows": 10,
        "sha256": "a" * 64,
    }
    assert data["error"] is None
    assert data["scheduledFor"] == NOW.isoformat()
    assert "downloadUrl" not in data and "object_key" not in json.dumps(data)


def test_a_download_url_only_when_asked():
    data = report_data(_snapshot(), "u", ("https://s3/x?sig", "2026-12-05T12:15:00+00:00"))
    assert data["downloadUrl"] == "https://s3/x?sig"
    assert data["downloadUrlExpiresAt"] == "2026-12-05T12:15:00+00:00"


def test_a_failed_report_carries_its_error_and_no_file():
    data = report_data(
        _snapshot(status="Failed", file_name=None, error_code="timeout", error_message="slow"),
        "u",
    )
    assert data["file"] is None
    assert data["error"] == {"code": "timeout", "message": "slow"}


def test_every_body_stays_under_two_kilobytes_even_at_the_longest():
    long = "é" * 5000
    snapshot = _snapshot(
        error_code="x" * 40,
        error_message=long,
        file_name="f" * 255,
        report_type="r" * 64,
        content_type="application/vnd.openxmlformats-officedocument.spreadsheetml.sheet",
    )
    data = report_data(
        snapshot,
        "https://reportbox.example.com/api/v1/reports/" + str(uuid.uuid4()),
    )
    body = encode_body("report.completed", NOW, data)
    assert len(body.encode()) < MAX_BODY_BYTES
    paused = definition_data(
        {
            "id": uuid.uuid4(),
            "name": "n" * 150,
            "report_type": "sessions",
            "format": "csv",
            "active": False,
            "consecutive_failures": 5,
            "paused_reason": long,
        }
    )
    assert len(encode_body("definition.paused", NOW, paused).encode()) < MAX_BODY_BYTES


def test_the_body_is_type_timestamp_and_data():
    body = json.loads(encode_body("webhook.test", NOW, {"endpointId": "e"}))
    assert body == {
        "type": "webhook.test",
        "timestamp": NOW.isoformat(),
        "data": {"endpointId": "e"},
    }


# One attempt's answer.

SCHEDULE = (5.0, 300.0)
DISABLE_AFTER = 432000.0


def _decide(attempt, attempts=1, failing_since=None, now=NOW):
    return decide(attempt, attempts, failing_since, now, SCHEDULE, DISABLE_AFTER, lambda a, b: 1.0)


@pytest.mark.parametrize("code", [200, 201, 202, 204, 299])
def test_a_2xx_delivers_and_clears_the_failing_streak(code):
    outcome = _decide(Attempt(code), failing_since=NOW - timedelta(days=1))
    assert outcome.status is MessageStatus.DELIVERED
    assert outcome.failing_since is None and not outcome.disable_endpoint


@pytest.mark.parametrize("code", [301, 302, 307, 308, 400, 404, 429, 500, 503])
def test_any_other_answer_is_a_failure_retried_on_the_schedule(code):
    outcome = _decide(Attempt(code))
    assert outcome.status is MessageStatus.PENDING
    assert outcome.next_attempt_at == NOW + timedelta(seconds=5)
    assert outcome.failing_since == NOW and not outcome.disable_endpoint
    assert str(code) in outcome.last_error


def test_a_redirect_says_it_was_not_followed():
    assert "not followed" in _decide(Attempt(302)).last_error


def test_an_error_before_any_answer_is_a_failure():
    outcome = _decide(Attempt(None, "timed out after 15 s"), attempts=2)
    assert outcome.next_attempt_at == NOW + timedelta(seconds=300)
    assert outcome.last_error == "timed out after 15 s"


def test_the_message_fails_when_the_schedule_is_spent():
    outcome = _decide(Attempt(500), attempts=3)
    assert outcome.status is MessageStatus.FAILED and not outcome.disable_endpoint


def test_410_disables_the_endpoint_at_once():
    outcome = _decide(Attempt(410))
    assert outcome.status is MessageStatus.FAILED and outcome.disable_endpoint
    assert "410" in outcome.disabled_reason


def test_only_failures_for_the_disable_period_disables():
    just_before = NOW - timedelta(seconds=DISABLE_AFTER - 1)
    assert not _decide(Attempt(500), failing_since=just_before).disable_endpoint
    outcome = _decide(Attempt(500), failing_since=NOW - timedelta(seconds=DISABLE_AFTER))
    assert outcome.status is MessageStatus.FAILED and outcome.disable_endpoint
    assert outcome.failing_since == NOW - timedelta(seconds=DISABLE_AFTER)
