"""Report definitions from the page: save one with a schedule, see its next runs, run it now,
watch the run complete in the history, pause and delete it; a scheduled run is marked."""

from __future__ import annotations

import time
import uuid

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import text

from shared.models import ReportDefinition
from tests.browser.conftest import delete_after_keeping_it, screenshot, sign_in_with_token

pytestmark = pytest.mark.e2e

ZONE = "Europe/Berlin"  # the browser's zone: the page's default for a schedule


def unique_user(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def definition_item(page: Page, name: str):
    return page.locator("li.definition-item").filter(
        has=page.get_by_role("heading", name=name, exact=False)
    )


def wait_for_scheduled_run(browser_stack, user: str, timeout: float = 30.0) -> None:
    """Until the scheduler has made the user's run (within SCHEDULE_TICK_SECONDS)."""
    deadline = time.monotonic() + timeout
    while time.monotonic() < deadline:
        with browser_stack.sessions() as session:
            made = session.scalar(
                text(
                    "SELECT count(*) FROM reports WHERE owner_id = :user AND trigger = 'schedule'"
                ),
                {"user": user},
            )
        if made:
            return
        time.sleep(0.2)
    raise AssertionError(f"no scheduled run for {user} within {timeout} s")


def save_weekly_definition(page: Page, name: str) -> None:
    """Through the form, by label: sessions, the previous week, Mondays at 07:00."""
    page.get_by_label("Report type").select_option("sessions")
    page.get_by_role("button", name="Save as a definition…").click()
    expect(page.get_by_label("Name", exact=True)).to_be_focused()
    page.get_by_label("Name", exact=True).fill(name)
    expect(page.locator("#param-fromDate")).to_be_visible()
    page.get_by_label("Period").select_option("previousWeek")
    # The period takes the place of the date range.
    expect(page.locator("#param-fromDate")).to_be_hidden()
    expect(page.locator("#param-toDate")).to_be_hidden()
    page.get_by_label("Schedule").select_option("monday")
    page.get_by_label("At (time of day)").fill("07:00")
    expect(page.get_by_label("Time zone", exact=True)).to_have_value(ZONE)
    # The next runs, before saving, from /schedules/preview.
    runs = page.locator("#schedule-runs li")
    expect(runs).to_have_count(5)
    expect(page.locator("#schedule-description")).to_contain_text("Monday")
    for run in runs.all():
        expect(run).to_contain_text("Mon")
        expect(run).to_contain_text("07:00")
    screenshot(page, "definition-form-weekly")
    page.get_by_role("button", name="Save definition").click()
    expect(page.locator("#form-result")).to_contain_text(f"Saved the definition “{name}”.")


def test_a_weekly_definition_runs_now_completes_and_pauses(browser_stack, new_page, make_token):
    user = unique_user("weekly")
    page = new_page(timezone_id=ZONE)
    sign_in_with_token(page, browser_stack.base_url, make_token(sub=user, org="acme"))
    name = f"Weekly sessions {user}"

    save_weekly_definition(page, name)

    item = definition_item(page, name)
    expect(item.locator("article")).to_be_focused()  # where the keyboard goes after saving
    expect(item.locator(".schedule-line")).to_contain_text("Monday")
    expect(item.locator(".schedule-line")).to_contain_text(ZONE)
    expect(item.locator(".run-times li")).to_have_count(5)
    expect(item).to_contain_text("period: The previous week")
    expect(item.locator(".badge")).to_have_text("▶ Active")
    # The request form is a one-off request form again, with its dates.
    expect(page.get_by_role("button", name="Request report")).to_be_visible()
    expect(page.locator("#param-fromDate")).to_be_visible()

    item.get_by_role("button", name="Run now").click()

    run = page.locator('li.report-item[data-trigger="generate"]')
    expect(run).to_have_count(1)
    expect(run).to_have_attribute("data-status", "Completed")
    expect(run.locator(".trigger")).to_have_text(f"Run now of “{name}”")
    expect(page.locator("#history-summary")).to_contain_text(f"1 run of “{name}”")
    expect(item).to_contain_text("Last run: Completed (run now)")
    # The run covers the previous week: concrete dates, a Monday to a Sunday.
    assert "fromDate" in run.locator(".parameters").inner_text()
    screenshot(page, "definition-run-now-completed")

    item.get_by_role("button", name="Pause").click()

    expect(item.locator(".badge")).to_have_text("⏸ Paused")
    expect(item.locator(".paused-reason")).to_contain_text("Paused")
    expect(item.locator(".run-times")).to_have_count(0)
    expect(item.get_by_role("button", name="Resume")).to_be_focused()
    with browser_stack.sessions() as session:
        saved = session.scalars(
            text("SELECT id FROM report_definitions WHERE owner_id = :user"), {"user": user}
        ).one()
        definition = session.get(ReportDefinition, saved)
        assert (definition.active, definition.schedule_cron, definition.schedule_timezone) == (
            False,
            "0 7 * * 1",
            ZONE,
        )
        assert definition.period == "previousWeek"
        assert "fromDate" not in definition.parameters


def test_a_scheduled_run_is_marked_and_delete_asks_first(browser_stack, new_page, make_token):
    user = unique_user("sched")
    page = new_page(timezone_id=ZONE)
    sign_in_with_token(page, browser_stack.base_url, make_token(sub=user, org="acme"))
    name = f"Scheduled {user}"
    save_weekly_definition(page, name)
    item = definition_item(page, name)
    expect(item).to_be_visible()

    # Make it due now: the relay's scheduler (woken by the change's NOTIFY) runs it.
    with browser_stack.sessions() as session:
        session.execute(
            text(
                "UPDATE report_definitions SET next_run_at = now() - interval '1 second' "
                "WHERE owner_id = :user"
            ),
            {"user": user},
        )
        session.commit()
    wait_for_scheduled_run(browser_stack, user)
    item.get_by_role("button", name="Show its runs").click()
    expect(page.get_by_role("heading", name="Your reports")).to_be_focused()
    run = page.locator('li.report-item[data-trigger="schedule"]')
    expect(run).to_have_attribute("data-status", "Completed")
    expect(run.locator(".trigger")).to_contain_text(f"Scheduled run of “{name}”, for ")
    screenshot(page, "definition-scheduled-run")

    delete_after_keeping_it(item, "Delete definition")

    expect(definition_item(page, name)).to_have_count(0)
    # Its runs stay in the history.
    page.get_by_role("button", name="Clear").click()
    expect(page.locator('li.report-item[data-trigger="schedule"]')).to_have_count(1)


def test_what_the_api_refuses_is_shown_beside_the_field_and_nothing_is_saved(
    browser_stack, new_page, make_token
):
    user = unique_user("refused")
    page = new_page(timezone_id=ZONE)
    sign_in_with_token(page, browser_stack.base_url, make_token(sub=user, org="acme"))
    page.get_by_role("button", name="Save as a definition…").click()
    page.get_by_label("Schedule").select_option("custom")
    cron = page.get_by_label("Cron expression")

    # The preview already refuses a cron that is not one.
    cron.fill("61 * * * *")
    expect(page.locator("#error-schedule-cron")).to_be_visible()
    expect(cron).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#schedule-preview")).to_be_hidden()
    # Every minute previews, but saving it is refused: runs closer than the minimum.
    cron.fill("* * * * *")
    expect(page.locator("#schedule-runs li")).to_have_count(5)
    expect(cron).not_to_have_attribute("aria-invalid", "true")
    page.get_by_label("Name", exact=True).fill(f"Too often {user}")
    page.get_by_role("button", name="Save definition").click()

    expect(page.locator("#error-schedule-cron")).to_be_visible()
    expect(cron).to_be_focused()
    # Without a period the date range is the type's required parameters, named by the API.
    expect(page.locator("#error-param-fromDate")).to_be_visible()
    expect(page.locator("#announcer")).to_contain_text("invalid field")
    with browser_stack.sessions() as session:
        count = session.scalar(
            text("SELECT count(*) FROM report_definitions WHERE owner_id = :user"),
            {"user": user},
        )
    assert count == 0
