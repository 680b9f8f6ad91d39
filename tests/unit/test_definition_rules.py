"""What makes a report definition valid, and the schedule preview: pure, no database."""

from __future__ import annotations

from datetime import UTC, datetime

import pytest

from api.definitions import preview, rules
from shared.errors import InvalidParameters

NOW = datetime(2026, 3, 27, 12, 0, tzinfo=UTC)  # a Friday, two days before Berlin's spring change
MIN_INTERVAL = 300.0


def definition(**fields) -> dict:
    return {"name": "daily", "report_type": "sessions", "format": "csv", **fields}


def refusal(**fields) -> dict[str, list[str]]:
    with pytest.raises(InvalidParameters) as raised:
        rules.check_definition(definition(**fields), NOW, MIN_INTERVAL)
    return raised.value.field_errors


def test_a_period_leaves_the_range_out_of_the_stored_parameters():
    checked = rules.check_definition(
        definition(period="previousWeek", parameters={"country": "DE"}), NOW, MIN_INTERVAL
    )
    assert checked.parameters["country"] == "DE"
    assert "fromDate" not in checked.parameters and "toDate" not in checked.parameters
    assert checked.deliveries == [{"kind": "api", "mode": "async"}]
    assert checked.schedule is None and checked.send_when == "always"


def test_without_a_period_the_types_required_parameters_are_required():
    errors = refusal(parameters={})
    assert set(errors) == {"parameters.fromDate", "parameters.toDate"}


def test_a_period_together_with_the_range_names_the_range():
    errors = refusal(period="previousDay", parameters={"fromDate": "2026-01-01"})
    assert errors == {"parameters.fromDate": ["is filled by period at each run; leave it out"]}


def test_bad_parameters_are_named_under_parameters():
    errors = refusal(period="previousDay", parameters={"country": "Germany"})
    assert list(errors) == ["parameters.country"]


def test_an_unknown_type_names_report_type():
    assert list(refusal(report_type="nope", parameters={})) == ["reportType"]


def test_a_format_the_type_lacks_names_format():
    assert list(refusal(format="doc", period="previousDay")) == ["format"]


@pytest.mark.parametrize(
    ("schedule", "field"),
    [
        ({"cron": "0 0 0 * * *", "timezone": "UTC"}, "schedule.cron"),  # a seconds field
        ({"cron": "61 * * * *", "timezone": "UTC"}, "schedule.cron"),
        ({"cron": "@fortnightly", "timezone": "UTC"}, "schedule.cron"),
        ({"cron": "*/2 * * * *", "timezone": "UTC"}, "schedule.cron"),  # under the minimum
        ({"cron": "@daily", "timezone": "Mars/Olympus"}, "schedule.timezone"),
        ({"cron": "@daily", "timezone": "localtime"}, "schedule.timezone"),
    ],
)
def test_a_bad_schedule_names_its_member(schedule, field):
    assert list(refusal(period="previousDay", schedule=schedule)) == [field]


@pytest.mark.parametrize(
    ("deliveries", "field", "message"),
    [
        ([{"kind": "email"}], "deliveries.0.recipients", "must list 1 to 20"),
        (
            [{"kind": "email", "recipients": ["Eve <e@example.com>"]}],
            "deliveries.0.recipients.0",
            "bare email address",
        ),
        ([{"kind": "fax"}], "deliveries.0.kind", "must be one of"),
        ([{"kind": "api", "mode": "later"}], "deliveries.0.mode", "must be one of"),
        ([{"kind": "api", "url": "x"}], "deliveries.0.url", "unknown member"),
        ([{"kind": "api"}, {"kind": "api"}], "deliveries.1", "at most one api delivery"),
        ([{"mode": "sync"}], "deliveries.0", "kind"),
    ],
)
def test_deliveries_of_this_release(deliveries, field, message):
    errors = refusal(period="previousDay", deliveries=deliveries)
    assert list(errors) == [field]
    assert message in errors[field][0]


def test_an_api_delivery_is_async_unless_it_says_sync():
    checked = rules.check_definition(
        definition(period="previousDay", deliveries=[{"kind": "api"}]), NOW, MIN_INTERVAL
    )
    assert checked.deliveries == [{"kind": "api", "mode": "async"}]
    assert rules.has_api_delivery(checked.deliveries, "async")
    assert not rules.has_api_delivery(checked.deliveries, "sync")
    assert not rules.has_api_delivery([], "async")


def test_every_bad_field_is_named_at_once():
    errors = refusal(
        format="doc",
        parameters={"fromDate": "2026-01-01"},
        period="previousDay",
        schedule={"cron": "@daily", "timezone": "Nowhere"},
        deliveries=[{"kind": "s3"}],  # no bucket
    )
    assert set(errors) == {
        "format",
        "parameters.fromDate",
        "schedule.timezone",
        "deliveries.0.bucket",
    }


def test_next_runs_follow_the_zone_across_the_spring_change():
    schedule = rules.check_schedule("30 2 * * *", "Europe/Berlin", MIN_INTERVAL)
    instants = rules.next_runs(schedule, True, NOW)
    assert [instant.isoformat() for instant in instants] == [
        "2026-03-28T02:30:00+01:00",
        "2026-03-29T03:00:00+02:00",  # 02:30 does not exist that day: right after the jump
        "2026-03-30T02:30:00+02:00",
        "2026-03-31T02:30:00+02:00",
        "2026-04-01T02:30:00+02:00",
    ]
    assert rules.next_run_at(schedule, True, NOW) == instants[0]


def test_nothing_runs_next_without_a_schedule_or_while_inactive():
    schedule = rules.check_schedule("@daily", "UTC", MIN_INTERVAL)
    assert rules.next_run_at(None, True, NOW) is None
    assert rules.next_run_at(schedule, False, NOW) is None
    assert rules.next_runs(schedule, False, NOW) == []


def test_the_preview_describes_the_schedule_and_names_query_fields():
    shown = preview.preview("30 2 * * 1-5", "Europe/Berlin", NOW, 2)
    assert shown["description"] == "At 02:30, Monday through Friday (Europe/Berlin)"
    assert [i.isoformat() for i in shown["instants"]] == [
        "2026-03-30T02:30:00+02:00",
        "2026-03-31T02:30:00+02:00",
    ]
    for cron, timezone, field in [("* * *", "UTC", "cron"), ("@daily", "Nowhere", "timezone")]:
        with pytest.raises(InvalidParameters) as raised:
            preview.preview(cron, timezone, NOW, 5)
        assert list(raised.value.field_errors) == [field]
