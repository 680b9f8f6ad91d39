"""Live history: progress of a large report, cancel, every outcome side by side, and quiet
polling, with the real worker reading its rows through a slowed database connection."""

from __future__ import annotations

import time
import uuid

import pytest
from playwright.sync_api import expect

from shared.models import Report
from tests.browser.conftest import (
    BIG_ORG,
    FULL_YEAR,
    api_requests,
    report_item,
    request_report,
    screenshot,
    sign_in_with_token,
)
from tests.e2e.api_client import ApiClient

pytestmark = pytest.mark.e2e

ROWS_SHOWN = "li.report-item[data-report-id='{}'] progress"


def big_org_user(make_token) -> str:
    return make_token(sub=f"carol-{uuid.uuid4().hex[:6]}", org=BIG_ORG)


def rows_shown(page, report_id: str) -> int:
    return int(page.locator(ROWS_SHOWN.format(report_id)).get_attribute("data-rows-processed"))


def test_progress_moves_and_the_history_shows_processing_completed_and_failed(
    browser_stack, new_page, make_token
):
    token = big_org_user(make_token)
    page = new_page()
    sign_in_with_token(page, browser_stack.base_url, token)
    completed = request_report(page, "sessions", {"fromDate": "2026-01-01", "toDate": "2026-01-02"})
    expect(report_item(page, completed)).to_have_attribute("data-status", "Completed")
    # A real failure: the worker cannot reach the rows, and WORKER_MAX_ATTEMPTS=1 makes it final.
    browser_stack.worker_source.cut()
    try:
        failed = request_report(
            page, "sessions", {"fromDate": "2026-01-03", "toDate": "2026-01-04"}
        )
        expect(report_item(page, failed)).to_have_attribute("data-status", "Failed")
    finally:
        browser_stack.worker_source.restore()
    big = request_report(page, "sessions", FULL_YEAR)
    try:
        row = report_item(page, big)
        page.wait_for_function(
            "selector => Number(document.querySelector(selector)?.dataset.rowsProcessed) > 0",
            arg=ROWS_SHOWN.format(big),
        )
        first = rows_shown(page, big)
        screenshot(page, "history-processing-completed-failed")
        # The next poll shows more rows, while the report is still Processing.
        page.wait_for_function(
            "([selector, first]) => Number(document.querySelector(selector)?.dataset.rowsProcessed)"
            " > first",
            arg=[ROWS_SHOWN.format(big), first],
        )
        expect(row).to_have_attribute("data-status", "Processing")
        expect(row.locator(".progress-text")).to_contain_text("rows")
        expect(row.locator(".progress-text")).to_contain_text("left")
        expect(report_item(page, failed).locator(".error-message")).to_contain_text(
            "Failed (unavailable)"
        )

        # The same request again while it runs: a link to the one in progress, not an error.
        page.get_by_role("button", name="Request report").click()
        expect(page.locator("#form-result")).to_contain_text("already in progress")
        expect(page.locator("#form-result a.report-link")).to_have_text(f"report {big}")
    finally:
        ApiClient(browser_stack.base_url, token).request("DELETE", f"/api/v1/reports/{big}")


def test_cancelling_a_large_report_from_the_page_ends_it_within_seconds(
    browser_stack, new_page, make_token
):
    page = new_page()
    sign_in_with_token(page, browser_stack.base_url, big_org_user(make_token))
    report_id = request_report(page, "sessions", {**FULL_YEAR, "toDate": "2026-12-30"})
    row = report_item(page, report_id)
    expect(row).to_have_attribute("data-status", "Processing")

    row.get_by_role("button", name="Cancel").click()
    asked = time.monotonic()
    expect(row).to_have_attribute("data-status", "Cancelled", timeout=10_000)

    assert time.monotonic() - asked < 10
    screenshot(page, "cancelled")
    with browser_stack.sessions() as session:
        report = session.get(Report, uuid.UUID(report_id))
        assert (report.status, report.object_key) == ("Cancelled", None)


def test_polling_stops_when_nothing_is_in_flight(browser_stack, new_page, make_token):
    page = new_page()
    sign_in_with_token(
        page, browser_stack.base_url, make_token(sub=f"quiet-{uuid.uuid4().hex[:6]}")
    )
    sent = api_requests(page)

    report_id = request_report(page, "sessions", {"fromDate": "2026-05-01", "toDate": "2026-05-01"})
    expect(report_item(page, report_id)).to_have_attribute("data-status", "Completed")
    expect(page.locator("#live-state")).to_have_attribute("data-state", "idle")

    assert sent[0].startswith("POST /api/v1/reports/sessions")
    assert any(request.startswith("GET /api/v1/reports?") for request in sent[1:])
    quiet_from = len(sent)
    # Longer than the slowest polling interval (5 s while Pending): nothing is asked.
    page.wait_for_timeout(6_000)
    assert sent[quiet_from:] == []
