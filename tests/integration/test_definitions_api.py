"""/api/v1/report-definitions, generate, content and the schedule preview, through the app."""

from __future__ import annotations

import csv
import io
import uuid
from datetime import UTC, date, datetime, timedelta
from zoneinfo import ZoneInfo

import psycopg
import pytest
from sqlalchemy import text

from api.app import create_app
from shared import report_counters
from shared.db import libpq_url
from shared.errors import NOT_ASYNCHRONOUS

BASE = "/api/v1/report-definitions"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


@pytest.fixture
def org() -> str:
    return f"defs-{uuid.uuid4().hex[:8]}"


@pytest.fixture
def user(make_token, org):
    """Headers of a fresh user of `org`: user(roles=("admin",)) for an admin."""

    def make(roles=("analyst",), sub=None, in_org=None):
        return bearer(make_token(sub=sub, org=in_org or org, roles=roles))

    return make


def generate_url(definition_id) -> str:
    return f"/api/v1/reports/{definition_id}/generate"


def body(**fields) -> dict:
    return {
        "name": f"weekly {uuid.uuid4().hex[:8]}",
        "reportType": "sessions",
        "format": "csv",
        "period": "previousWeek",
        "schedule": {"cron": "0 6 * * 1", "timezone": "Europe/Berlin"},
        **fields,
    }


def test_create_read_change_list_and_delete(client, user, engine):
    alice = user()
    created = client.post(BASE, json=body(description="for the Monday meeting"), headers=alice)
    assert created.status_code == 201, created.get_json()
    definition = created.get_json()
    url = f"{BASE}/{definition['definitionId']}"
    assert created.headers["Location"].endswith(url)
    assert definition["deliveries"] == [{"kind": "api", "mode": "async"}]
    assert definition["sendWhen"] == "always" and definition["active"] is True
    assert "fromDate" not in definition["parameters"]
    assert definition["lastRun"] is None and definition["consecutiveFailures"] == 0
    assert definition["pausedReason"] is None
    next_runs = [datetime.fromisoformat(instant) for instant in definition["nextRuns"]]
    assert len(next_runs) == 5
    assert all(instant.weekday() == 0 and instant.hour == 6 for instant in next_runs)
    assert definition["nextRunAt"] is not None
    assert datetime.fromisoformat(definition["nextRunAt"]) == next_runs[0]
    assert next_runs[0] > datetime.now(UTC)

    assert client.get(url, headers=alice).get_json() == definition

    changed = client.patch(url, json={"schedule": None, "sendWhen": "hasRows"}, headers=alice)
    assert changed.status_code == 200, changed.get_json()
    assert changed.get_json()["nextRunAt"] is None and changed.get_json()["nextRuns"] == []
    assert changed.get_json()["sendWhen"] == "hasRows"
    assert changed.get_json()["name"] == definition["name"]  # what was not sent stays

    listed = client.get(BASE, headers=alice).get_json()
    assert listed["total"] == 1 and listed["items"][0]["definitionId"] == definition["definitionId"]
    assert listed["page"] == 1 and listed["pageSize"] == 20

    run = client.post(f"/api/v1/reports/{definition['definitionId']}/generate", headers=alice)
    assert run.status_code == 202
    assert client.delete(url, headers=alice).status_code == 204
    assert client.get(url, headers=alice).status_code == 404
    with engine.connect() as connection:  # the run stays in the history
        kept = connection.execute(
            text("SELECT count(*) FROM reports WHERE id = :id"), {"id": run.get_json()["jobId"]}
        ).scalar_one()
    assert kept == 1


@pytest.mark.parametrize(
    ("fields", "field"),
    [
        ({"schedule": {"cron": "0 0 6 * * 1", "timezone": "UTC"}}, "schedule.cron"),
        ({"schedule": {"cron": "0 6 * * 1", "timezone": "Mars/Olympus"}}, "schedule.timezone"),
        ({"schedule": {"cron": "*/1 * * * *", "timezone": "UTC"}}, "schedule.cron"),
        ({"period": None}, "parameters.fromDate"),
        ({"reportType": "nope"}, "reportType"),
        ({"parameters": {"country": "Germany"}}, "parameters.country"),
        ({"parameters": {"fromDate": "2026-01-01"}}, "parameters.fromDate"),
        ({"period": "lastYear"}, "period"),
        ({"format": "doc"}, "format"),
        ({"sendWhen": "sometimes"}, "sendWhen"),
        ({"name": ""}, "name"),
        ({"deliveries": [{"kind": "email", "recipients": ["a@b"]}]}, "deliveries.0.recipients.0"),
        ({"deliveries": [{"kind": "api", "mode": "later"}]}, "deliveries.0.mode"),
    ],
)
def test_each_invalid_field_is_a_422_naming_it(client, user, fields, field):
    answer = client.post(BASE, json=body(**fields), headers=user())
    assert answer.status_code == 422, answer.get_json()
    assert answer.mimetype == "application/problem+json"
    assert field in answer.get_json()["errors"], answer.get_json()


def test_a_period_on_a_type_without_a_date_range_names_period(client, user, throwaway_types):
    answer = client.post(BASE, json=body(reportType="sleepy", period="previousDay"), headers=user())
    assert answer.status_code == 422
    assert list(answer.get_json()["errors"]) == ["period"]


def test_an_unknown_kind_is_named(client, user):
    answer = client.post(BASE, json=body(deliveries=[{"kind": "fax"}]), headers=user())
    assert list(answer.get_json()["errors"]) == ["deliveries.0.kind"]


def test_names_are_unique_in_the_org_only(client, user):
    first = body()
    assert client.post(BASE, json=first, headers=user()).status_code == 201
    taken = client.post(BASE, json=first, headers=user())
    assert taken.status_code == 409 and first["name"] in taken.get_json()["detail"]
    elsewhere = user(in_org=f"other-{uuid.uuid4().hex[:8]}")
    assert client.post(BASE, json=first, headers=elsewhere).status_code == 201

    second = client.post(BASE, json=body(), headers=user()).get_json()
    renamed = client.patch(
        f"{BASE}/{second['definitionId']}", json={"name": first["name"]}, headers=user()
    )
    assert renamed.status_code == 404  # another user of the org does not see it
    admin = user(roles=("admin",))
    renamed = client.patch(
        f"{BASE}/{second['definitionId']}", json={"name": first["name"]}, headers=admin
    )
    assert renamed.status_code == 409


def test_who_sees_what(client, user, org):
    alice, bob, admin = user(), user(), user(roles=("admin",))
    outsider = user(roles=("admin",), in_org=f"other-{uuid.uuid4().hex[:8]}")
    mine = client.post(BASE, json=body(), headers=alice).get_json()
    url = f"{BASE}/{mine['definitionId']}"
    client.post(BASE, json=body(), headers=bob)

    assert client.get(url, headers=bob).status_code == 404
    assert client.patch(url, json={"active": False}, headers=bob).status_code == 404
    assert client.delete(url, headers=bob).status_code == 404
    assert client.get(url, headers=outsider).status_code == 404
    assert client.delete(url, headers=outsider).status_code == 404
    assert [d["definitionId"] for d in client.get(BASE, headers=alice).get_json()["items"]] == [
        mine["definitionId"]
    ]
    assert client.get(BASE, headers=admin).get_json()["total"] == 2
    assert client.get(BASE, headers=outsider).get_json()["total"] == 0
    assert client.get(url, headers=admin).status_code == 200
    assert client.patch(url, json={"active": False}, headers=admin).status_code == 200


def test_only_who_may_request_the_type_may_define_it(client, user, engine):
    users_report = body(reportType="users", period=None, parameters={})
    assert client.post(BASE, json=users_report, headers=user()).status_code == 403
    created = client.post(BASE, json=users_report, headers=user(roles=("admin",), sub="boss"))
    assert created.status_code == 201
    with engine.connect() as connection:
        roles = connection.execute(
            text("SELECT owner_roles FROM report_definitions WHERE id = :id"),
            {"id": created.get_json()["definitionId"]},
        ).scalar_one()
    assert roles == ["admin"]


def test_resuming_a_paused_definition(client, user, engine):
    alice = user()
    definition = client.post(BASE, json=body(), headers=alice).get_json()
    url = f"{BASE}/{definition['definitionId']}"
    with engine.begin() as connection:
        for hours in range(1, 6):
            connection.execute(
                text(
                    """
                    INSERT INTO reports (id, org, owner_id, report_type, format, parameters,
                                         status, created_at, definition_id, trigger)
                    VALUES (:id, 'x', 'x', 'sessions', 'csv', '{}', 'Failed',
                            now() - make_interval(hours => :hours), :definition_id, 'schedule')
                    """
                ),
                {"id": uuid.uuid4(), "hours": hours, "definition_id": definition["definitionId"]},
            )
        connection.execute(
            text(
                "UPDATE report_definitions SET active = false, next_run_at = NULL, "
                "consecutive_failures = 5, paused_reason = 'Paused after 5 Failed runs in a row.' "
                "WHERE id = :id"
            ),
            {"id": definition["definitionId"]},
        )
    paused = client.get(url, headers=alice).get_json()
    assert paused["active"] is False and paused["consecutiveFailures"] == 5
    assert paused["pausedReason"].startswith("Paused after 5")
    assert paused["lastRun"]["status"] == "Failed" and paused["lastRun"]["trigger"] == "schedule"
    assert paused["nextRunAt"] is None and paused["nextRuns"] == []

    resumed = client.patch(url, json={"active": True}, headers=alice).get_json()
    assert resumed["active"] is True and resumed["pausedReason"] is None
    assert resumed["consecutiveFailures"] == 0  # the streak starts afresh
    assert resumed["nextRunAt"] is not None and len(resumed["nextRuns"]) == 5
    with engine.connect() as connection:
        stored = connection.execute(
            text("SELECT consecutive_failures, resumed_at FROM report_definitions WHERE id = :id"),
            {"id": definition["definitionId"]},
        ).one()
    assert stored.consecutive_failures == 0 and stored.resumed_at is not None


def test_generate_makes_a_run_as_the_caller(client, user, engine):
    alice = user()
    definition = client.post(BASE, json=body(), headers=alice).get_json()
    generate = f"/api/v1/reports/{definition['definitionId']}/generate"
    counted = report_counters.RUNS.labels("generate")._value.get()
    key = {**alice, "Idempotency-Key": f"key-{uuid.uuid4()}"}

    accepted = client.post(generate, headers=key)
    assert accepted.status_code == 202, accepted.get_json()
    run = accepted.get_json()
    assert run["jobId"] == run["reportId"] and run["status"] == "Pending"
    assert accepted.headers["Location"] == run["statusUrl"]
    assert accepted.headers["Retry-After"].isdigit()
    assert report_counters.RUNS.labels("generate")._value.get() == counted + 1

    replayed = client.post(generate, headers=key)
    assert replayed.status_code == 202 and replayed.get_json() == run
    assert replayed.headers["Idempotent-Replayed"] == "true"
    assert report_counters.RUNS.labels("generate")._value.get() == counted + 1

    report = client.get(f"/api/v1/reports/{run['reportId']}", headers=alice).get_json()
    assert report["definitionId"] == definition["definitionId"]
    assert report["trigger"] == "generate" and report["scheduledFor"] is None
    # previousWeek from today in Berlin: Monday to Sunday of the week before.
    today = datetime.now(UTC).astimezone(ZoneInfo("Europe/Berlin")).date()
    monday = today - timedelta(days=today.weekday() + 7)
    assert report["parameters"]["fromDate"] == monday.isoformat()
    assert report["parameters"]["toDate"] == (monday + timedelta(days=6)).isoformat()

    # An identical run while the first is Pending: the admission's 409, as for any request.
    duplicate = client.post(generate, headers=alice)
    assert duplicate.status_code == 409
    assert duplicate.get_json()["existingReportId"] == run["reportId"]

    history = client.get(
        f"/api/v1/reports?definitionId={definition['definitionId']}", headers=alice
    ).get_json()
    assert [item["reportId"] for item in history["items"]] == [run["reportId"]]
    assert (
        client.get(f"/api/v1/reports?definitionId={uuid.uuid4()}", headers=alice).get_json()[
            "total"
        ]
        == 0
    )
    assert client.get("/api/v1/reports?definitionId=x", headers=alice).status_code == 422


def test_generate_refuses_a_definition_that_is_not_async(client, user):
    alice = user()
    sync = client.post(
        BASE, json=body(deliveries=[{"kind": "api", "mode": "sync"}]), headers=alice
    ).get_json()
    none = client.post(BASE, json=body(deliveries=[]), headers=alice).get_json()
    for definition in (sync, none):
        answer = client.post(
            f"/api/v1/reports/{definition['definitionId']}/generate", headers=alice
        )
        assert answer.status_code == 409
        problem = answer.get_json()
        assert problem["title"] == "Report is not configured for asynchronous generation."
        assert problem["error"] == NOT_ASYNCHRONOUS == problem["title"]
    assert client.post(generate_url(uuid.uuid4()), headers=alice).status_code == 404
    assert client.post("/api/v1/reports/nope/generate", headers=alice).status_code == 404
    bob = user()
    assert (
        client.post(f"/api/v1/reports/{sync['definitionId']}/generate", headers=bob).status_code
        == 404
    )


def sessions_between(settings, org: str, first: date, last: date) -> list[str]:
    """The demo sessions of the range, read straight from the table: what the file must hold."""
    with psycopg.connect(libpq_url(settings.source_database_url)) as connection:
        rows = connection.execute(
            "SELECT id::text FROM demo.sessions WHERE org = %s AND started_at >= %s "
            "AND started_at < %s",
            (org, first, last + timedelta(days=1)),
        ).fetchall()
    return sorted(row[0] for row in rows)


def test_content_of_a_sync_definition(client, user, settings):
    analyst = user(in_org="acme")
    parameters = {"fromDate": "2026-01-01", "toDate": "2026-01-01", "timezone": "UTC"}
    definition = client.post(
        BASE,
        json=body(period=None, parameters=parameters, deliveries=[{"kind": "api", "mode": "sync"}]),
        headers=analyst,
    ).get_json()
    answer = client.get(f"{BASE}/{definition['definitionId']}/content", headers=analyst)
    assert answer.status_code == 200, answer.get_data(as_text=True)[:500]
    assert answer.mimetype == "text/csv"
    assert answer.headers["Content-Disposition"] == (
        'attachment; filename="sessions-2026-01-01-2026-01-01.csv"'
    )
    rows = list(csv.DictReader(io.StringIO(answer.get_data(as_text=True))))
    expected = sessions_between(settings, "acme", date(2026, 1, 1), date(2026, 1, 1))
    assert expected, "the demo data has sessions that day"
    assert sorted(row["session_id"] for row in rows) == expected


def test_content_beyond_sync_max_rows_or_of_an_async_definition(client, user, settings):
    small = create_app(settings.with_overrides(sync_max_rows=10))
    try:
        limited = small.test_client()
        analyst = user(in_org="acme")
        sync = body(
            period=None,
            parameters={"fromDate": "2026-01-01", "toDate": "2026-01-31"},
            deliveries=[{"kind": "api", "mode": "sync"}],
        )
        definition = limited.post(BASE, json=sync, headers=analyst).get_json()
        answer = limited.get(f"{BASE}/{definition['definitionId']}/content", headers=analyst)
        assert answer.status_code == 422
        assert "10 rows" in answer.get_json()["detail"]
        assert "asynchronous" in answer.get_json()["detail"]

        asynchronous = limited.post(BASE, json=body(), headers=analyst).get_json()
        answer = limited.get(f"{BASE}/{asynchronous['definitionId']}/content", headers=analyst)
        assert answer.status_code == 409
        assert limited.get(f"{BASE}/{uuid.uuid4()}/content", headers=analyst).status_code == 404
    finally:
        small.extensions["reportbox"].engine.dispose()


def test_preview_instants_across_berlins_changes(client, user):
    answer = client.get(
        "/api/v1/schedules/preview?cron=30+2+*+*+*&timezone=Europe/Berlin"
        "&from=2026-03-27T12:00:00Z&count=3",
        headers=user(),
    )
    assert answer.status_code == 200, answer.get_json()
    shown = answer.get_json()
    assert shown["instants"] == [
        "2026-03-28T02:30:00+01:00",
        "2026-03-29T03:00:00+02:00",
        "2026-03-30T02:30:00+02:00",
    ]
    assert shown["description"] == "At 02:30 (Europe/Berlin)"
    autumn = client.get(
        "/api/v1/schedules/preview?cron=30+2+*+*+*&timezone=Europe/Berlin"
        "&from=2026-10-24T12:00:00Z&count=2",
        headers=user(),
    ).get_json()
    assert autumn["instants"] == ["2026-10-25T02:30:00+02:00", "2026-10-26T02:30:00+01:00"]
    default = client.get("/api/v1/schedules/preview?cron=@daily", headers=user()).get_json()
    assert len(default["instants"]) == 5 and default["timezone"] == "UTC"


@pytest.mark.parametrize(
    ("query", "field"),
    [
        ("cron=0+0+6+*+*+*", "cron"),
        ("cron=@daily&timezone=Nowhere", "timezone"),
        ("cron=@daily&count=51", "count"),
        ("cron=@daily&from=yesterday", "from"),
        ("cron=0+0+29+2+*&from=9999-01-01T00:00:00Z&count=50", "from"),
        ("timezone=UTC", "cron"),
    ],
)
def test_preview_refuses_bad_input_naming_it(client, user, query, field):
    answer = client.get(f"/api/v1/schedules/preview?{query}", headers=user())
    assert answer.status_code == 422
    assert field in answer.get_json()["errors"]
