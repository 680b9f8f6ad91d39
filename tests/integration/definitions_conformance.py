"""Every status the report-definition operations document, provoked for test_openapi.py.

`check(response, status)` asserts the status and validates the answer against the served
document; the test that calls this demands every documented (operation, status) be seen.
"""

from __future__ import annotations

import uuid
from collections.abc import Callable

from shared.catalog import REPORT_TYPES
from tests.report_types import sleepy

BASE = "/api/v1/report-definitions"


def bearer(token: str) -> dict[str, str]:
    return {"Authorization": f"Bearer {token}"}


def definition(**fields) -> dict:
    return {
        "name": f"conformance {uuid.uuid4().hex[:8]}",
        "reportType": "sessions",
        "format": "csv",
        "period": "previousDay",
        "schedule": {"cron": "@daily", "timezone": "Europe/Berlin"},
        **fields,
    }


def provoke_definition_statuses(
    client, limited, synchronous, offline, check: Callable, make_token: Callable, monkeypatch
) -> None:
    """limited: MAX_ACTIVE_REPORTS_PER_USER=1; synchronous: SYNC_MAX_ROWS=10 and a short
    SYNC_TIMEOUT_SECONDS; offline: no database. The test type sleepy is registered for the
    504 only: the document was built without it."""
    owner = f"owner-{uuid.uuid4().hex[:8]}"
    admin = bearer(make_token(sub=owner, roles=("admin",)))
    demoted = bearer(make_token(sub=owner, roles=("analyst",)))  # the same user, fewer roles
    analyst = bearer(make_token(roles=("analyst",)))

    saved = check(client.post(BASE, json=definition(), headers=admin), 201).get_json()
    url = f"{BASE}/{saved['definitionId']}"
    users = definition(reportType="users", period=None, parameters={}, schedule=None)
    users_id = check(client.post(BASE, json=users, headers=admin), 201).get_json()["definitionId"]
    check(client.post(BASE, json=users, headers=analyst), 403)
    check(client.post(BASE, json={**definition(), "name": saved["name"]}, headers=admin), 409)
    check(client.post(BASE, json=definition(format="doc"), headers=admin), 422)
    check(client.post(BASE, json=definition()), 401)
    check(client.post(BASE, data="{", content_type="application/json", headers=admin), 400)
    check(client.post(BASE, data="x", content_type="text/plain", headers=admin), 415)
    big = definition(description="x" * 70_000)
    check(client.post(BASE, json=big, headers=admin), 413)

    check(client.get(BASE, headers=admin), 200)
    check(client.get(f"{BASE}?page=0", headers=admin), 422)
    check(client.get(BASE), 401)
    check(client.get(url, headers=admin), 200)
    check(client.get(url), 401)
    check(client.get(f"{BASE}/{uuid.uuid4()}", headers=admin), 404)

    check(client.patch(url, json={"sendWhen": "hasRows"}, headers=admin), 200)
    check(client.patch(url, json={"name": "x"}), 401)
    check(client.patch(f"{BASE}/{uuid.uuid4()}", json={}, headers=admin), 404)
    check(client.patch(f"{BASE}/{users_id}", json={"active": False}, headers=demoted), 403)
    other = check(client.post(BASE, json=definition(), headers=admin), 201).get_json()
    check(client.patch(url, json={"name": other["name"]}, headers=admin), 409)
    check(client.patch(url, json={"period": "someday"}, headers=admin), 422)
    check(client.patch(url, data="{", content_type="application/json", headers=admin), 400)
    check(client.patch(url, data="x", content_type="text/plain", headers=admin), 415)
    check(client.patch(url, json={"description": "x" * 70_000}, headers=admin), 413)

    generate = f"/api/v1/reports/{saved['definitionId']}/generate"
    check(client.post(generate, headers=admin), 202)
    check(client.post(generate, headers=admin), 409)  # the identical run is still Pending
    check(client.post(generate), 401)
    check(client.post(f"/api/v1/reports/{uuid.uuid4()}/generate", headers=admin), 404)
    check(client.post(f"/api/v1/reports/{users_id}/generate", headers=demoted), 403)
    check(client.post(generate, headers={**admin, "Idempotency-Key": ""}), 422)
    check(client.post(generate, data="{", content_type="application/json", headers=admin), 400)
    check(client.post(generate, json={"padding": "x" * 70_000}, headers=admin), 413)
    busy = bearer(make_token(roles=("analyst",)))
    first = check(limited.post(BASE, json=definition(), headers=busy), 201).get_json()
    second = check(limited.post(BASE, json=definition(period="previousWeek"), headers=busy), 201)
    check(limited.post(f"/api/v1/reports/{first['definitionId']}/generate", headers=busy), 202)
    limited_generate = f"/api/v1/reports/{second.get_json()['definitionId']}/generate"
    check(limited.post(limited_generate, headers=busy), 429)

    sync = [{"kind": "api", "mode": "sync"}]
    january = {"fromDate": "2026-01-01", "toDate": "2026-01-31"}
    one_day = {"fromDate": "2026-01-01", "toDate": "2026-01-01"}
    content = f"{url}/content"
    check(client.get(content, headers=admin), 409)  # an async definition
    check(client.get(content), 401)
    check(client.get(f"{BASE}/{uuid.uuid4()}/content", headers=admin), 404)
    unwelcome = definition(reportType="users", period=None, parameters={}, deliveries=sync)
    unwelcome_id = check(client.post(BASE, json=unwelcome, headers=admin), 201).get_json()
    check(client.get(f"{BASE}/{unwelcome_id['definitionId']}/content", headers=demoted), 403)
    small = definition(period=None, parameters=one_day, deliveries=sync)
    small_id = check(client.post(BASE, json=small, headers=admin), 201).get_json()["definitionId"]
    check(client.get(f"{BASE}/{small_id}/content", headers=admin), 200)
    month = definition(period=None, parameters=january, deliveries=sync)
    month_id = check(synchronous.post(BASE, json=month, headers=admin), 201).get_json()
    check(synchronous.get(f"{BASE}/{month_id['definitionId']}/content", headers=admin), 422)
    monkeypatch.setitem(REPORT_TYPES, sleepy.REPORT_TYPE.name, sleepy.REPORT_TYPE)
    slow = definition(
        reportType="sleepy", period=None, schedule=None, parameters={"seconds": 5}, deliveries=sync
    )
    slow_id = check(synchronous.post(BASE, json=slow, headers=admin), 201).get_json()
    check(synchronous.get(f"{BASE}/{slow_id['definitionId']}/content", headers=admin), 504)

    preview = "/api/v1/schedules/preview"
    check(client.get(f"{preview}?cron=@daily&timezone=Europe/Berlin", headers=admin), 200)
    check(client.get(f"{preview}?cron=@daily&timezone=Nowhere", headers=admin), 422)
    check(client.get(f"{preview}?cron=@daily"), 401)

    check(client.delete(f"{BASE}/{other['definitionId']}"), 401)
    check(client.delete(f"{BASE}/{other['definitionId']}", headers=admin), 204)
    check(client.delete(f"{BASE}/{other['definitionId']}", headers=admin), 404)

    for answer in (
        offline.post(BASE, json=definition(), headers=admin),
        offline.get(BASE, headers=admin),
        offline.get(url, headers=admin),
        offline.patch(url, json={"active": False}, headers=admin),
        offline.delete(url, headers=admin),
        offline.post(generate, headers=admin),
        offline.get(content, headers=admin),
    ):
        check(answer, 503)
