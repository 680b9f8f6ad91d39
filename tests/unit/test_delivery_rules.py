"""Deliveries' pure rules: the retry schedule, sendWhen, the state after an attempt, and the
sealing of secrets."""

from __future__ import annotations

from datetime import UTC, datetime, timedelta

import pytest
from cryptography.fernet import Fernet

from shared.deliveries.decisions import (
    AttemptResult,
    DeliveryStatus,
    after_attempt,
    initial_status,
)
from shared.deliveries.schedule import default_schedule, parse_schedule, retry_delay
from shared.secrets import (
    MASK,
    SecretsUnavailable,
    masked,
    seal,
    unseal,
)

NOW = datetime(2026, 12, 5, 12, 0, tzinfo=UTC)


def test_default_schedule_doubles_from_a_minute_up_to_an_hour():
    assert default_schedule(6) == (60, 120, 240, 480, 960)
    assert default_schedule(10)[-3:] == (3600, 3600, 3600)
    assert default_schedule(1) == ()


def test_empty_setting_is_the_default_and_a_list_overrides_it():
    assert parse_schedule("", 6) == default_schedule(6)
    assert parse_schedule(" 5, 10 ", 6) == (5.0, 10.0)


@pytest.mark.parametrize("raw", ["0", "-1,5", "a,b"])
def test_bad_schedules_are_refused(raw):
    with pytest.raises(ValueError):
        parse_schedule(raw, 6)


def test_retry_delay_follows_the_schedule_and_stops_at_the_maximum():
    schedule = default_schedule(6)
    assert [retry_delay(n, 6, schedule) for n in range(1, 7)] == [60, 120, 240, 480, 960, None]


def test_a_short_override_repeats_its_last_delay():
    assert [retry_delay(n, 5, (5.0, 10.0)) for n in range(1, 6)] == [5, 10, 10, 10, None]


def test_retry_delay_needs_a_failure():
    with pytest.raises(ValueError):
        retry_delay(0, 6, (60.0,))


@pytest.mark.parametrize(
    ("send_when", "rows", "sha", "last", "status"),
    [
        ("always", 0, "a", "a", DeliveryStatus.PENDING),
        ("hasRows", 0, "a", None, DeliveryStatus.SKIPPED),
        ("hasRows", None, "a", None, DeliveryStatus.SKIPPED),
        ("hasRows", 3, "a", None, DeliveryStatus.PENDING),
        ("changed", 0, "a", "a", DeliveryStatus.SKIPPED),
        ("changed", 3, "a", "b", DeliveryStatus.PENDING),
        ("changed", 3, "a", None, DeliveryStatus.PENDING),
    ],
)
def test_send_when(send_when, rows, sha, last, status):
    start = initial_status(send_when, rows, sha, last)
    assert start.status is status
    assert (start.reason is not None) == (status is DeliveryStatus.SKIPPED)


def test_delivered_clears_the_error():
    after = after_attempt(AttemptResult.DELIVERED, None, 3, 6, (60.0,), NOW)
    assert after.status is DeliveryStatus.DELIVERED
    assert after.last_error is None


def test_a_transient_failure_waits_on_the_schedule():
    after = after_attempt(AttemptResult.TRANSIENT, "421 busy", 2, 6, default_schedule(6), NOW)
    assert after.status is DeliveryStatus.PENDING
    assert after.next_attempt_at == NOW + timedelta(seconds=120)
    assert after.last_error == "421 busy"


def test_the_last_transient_failure_fails_it():
    after = after_attempt(AttemptResult.TRANSIENT, "421 busy", 6, 6, default_schedule(6), NOW)
    assert after.status is DeliveryStatus.FAILED
    assert "gave up after 6 attempts" in after.last_error


def test_a_permanent_failure_fails_at_once():
    after = after_attempt(AttemptResult.PERMANENT, "550 no such user", 1, 6, (60.0,), NOW)
    assert after.status is DeliveryStatus.FAILED
    assert after.last_error == "550 no such user"


KEY = Fernet.generate_key().decode()


def test_secrets_are_sealed_opened_and_masked():
    target = {"kind": "sftp", "host": "h", "password": "hunter2"}
    sealed = seal(target, {"password"}, KEY)
    assert "hunter2" not in str(sealed)
    assert sealed["host"] == "h"
    assert seal(sealed, {"password"}, KEY) == sealed  # sealed once only
    assert unseal(sealed, {"password"}, KEY) == target
    assert masked(sealed, {"password"})["password"] == MASK


def test_no_key_or_another_key_cannot_open():
    with pytest.raises(SecretsUnavailable):
        seal({"password": "x"}, {"password"}, None)
    sealed = seal({"password": "x"}, {"password"}, KEY)
    with pytest.raises(SecretsUnavailable):
        unseal(sealed, {"password"}, Fernet.generate_key().decode())
