"""Signing in, requesting, downloading, validation, tenancy and markup, in a real browser."""

from __future__ import annotations

import csv
import io
import uuid
from pathlib import Path

import pytest
from playwright.sync_api import expect
from sqlalchemy import text

from shared.models import Report
from tests.browser.conftest import (
    report_item,
    request_report,
    screenshot,
    sign_in_with_token,
)

pytestmark = pytest.mark.e2e


def unique_user(prefix: str) -> str:
    return f"{prefix}-{uuid.uuid4().hex[:6]}"


def test_sign_in_with_a_pasted_token_keeps_it_in_session_storage_only(
    browser_stack, new_page, make_token
):
    page = new_page()
    token = make_token(sub="paster", org="acme")

    sign_in_with_token(page, browser_stack.base_url, token)

    expect(page.locator("#signed-in-as")).to_have_text("Signed in as paster (org acme; analyst).")
    assert page.evaluate("sessionStorage.getItem('reportbox.token')") == token
    assert page.context.cookies() == []
    assert token not in page.url
    screenshot(page, "signed-in-with-token")
    page.get_by_role("button", name="Sign out").click()
    expect(page.get_by_role("heading", name="Sign in", exact=True)).to_be_visible()
    assert page.evaluate("sessionStorage.length") == 0


def test_a_refused_token_leaves_the_person_at_sign_in_with_the_reason(browser_stack, new_page):
    page = new_page()
    page.goto(browser_stack.base_url + "/")
    page.get_by_label("API token").fill("not-a-token")
    page.get_by_role("button", name="Sign in", exact=True).click()

    expect(page.locator("#sign-in-message")).to_contain_text("The token is malformed.")
    assert page.evaluate("sessionStorage.length") == 0


def test_demo_sign_in_offers_both_orgs_and_roles(browser_stack, new_page):
    page = new_page()
    page.goto(browser_stack.base_url + "/")
    demo_buttons = page.locator("#demo-users-list button")
    expect(demo_buttons).to_have_count(4)
    assert {
        (b.get_attribute("data-org"), b.get_attribute("data-role")) for b in demo_buttons.all()
    } == {
        ("acme", "analyst"),
        ("acme", "admin"),
        ("globex", "analyst"),
        ("globex", "admin"),
    }

    page.get_by_role("button", name="bob — globex, analyst").click()

    expect(page.locator("#signed-in-as")).to_have_text("Signed in as bob (org globex; analyst).")
    # The catalog says who may request what; the page only follows it.
    expect(page.locator('#report-type option[value="users"]')).to_be_disabled()
    page.get_by_role("button", name="Sign out").click()
    page.get_by_role("button", name="bea — globex, admin").click()
    expect(page.locator("#signed-in-as")).to_have_text("Signed in as bea (org globex; admin).")
    expect(page.locator('#report-type option[value="users"]')).to_be_enabled()


def test_a_sessions_report_completes_and_its_download_matches_the_source(
    browser_stack, new_page, make_token
):
    page = new_page()
    sign_in_with_token(page, browser_stack.base_url, make_token(sub=unique_user("dl"), org="acme"))
    parameters = {"fromDate": "2026-01-01", "toDate": "2026-01-10", "country": "DE"}

    report_id = request_report(page, "sessions", parameters)
    row = report_item(page, report_id)
    expect(row).to_have_attribute("data-status", "Completed")
    screenshot(page, "sessions-completed")
    with page.expect_download() as download_info:
        row.get_by_role("button", name="Download").click()
    download = download_info.value

    with browser_stack.sessions() as session:
        expected = session.scalars(
            text(
                "SELECT id FROM demo.sessions WHERE org = 'acme' AND country = 'DE' "
                "AND started_at >= '2026-01-01T00:00:00Z' AND started_at < '2026-01-11T00:00:00Z' "
                "ORDER BY started_at, id"
            )
        ).all()
    rows = list(csv.DictReader(io.StringIO(Path(download.path()).read_text(encoding="utf-8"))))
    assert expected, "the demo data has sessions in that range"
    assert [int(r["session_id"]) for r in rows] == expected
    assert {r["country"] for r in rows} == {"DE"}
    assert download.suggested_filename.endswith(".csv")
    expect(row.locator(".outcome")).to_contain_text(f"{len(expected)} rows")

    # Filters live in the URL, format included (filtered by the API, not the page).
    page.goto(f"{browser_stack.base_url}/?status=Completed&type=sessions&format=csv")
    expect(report_item(page, report_id)).to_be_visible()
    expect(page.get_by_label("Status")).to_have_value("Completed")
    page.goto(f"{browser_stack.base_url}/?format=jsonl")
    expect(page.locator("#history-summary")).to_have_text("No report matches these filters.")
    expect(page.locator("#filter-format")).to_have_value("jsonl")
    page.get_by_label("Status").select_option("Completed")
    page.get_by_role("button", name="Clear").click()
    expect(report_item(page, report_id)).to_be_visible()
    assert page.url == f"{browser_stack.base_url}/"


def test_a_bad_date_range_is_shown_beside_the_date_field_and_nothing_is_written(
    browser_stack, new_page, make_token
):
    user = unique_user("range")
    page = new_page()
    sign_in_with_token(page, browser_stack.base_url, make_token(sub=user, org="acme"))
    page.locator("#param-fromDate").fill("2026-03-10")
    page.locator("#param-toDate").fill("2026-03-01")
    page.locator("#param-device").fill("web")

    page.get_by_role("button", name="Request report").click()

    error = page.locator("#error-param-toDate")
    expect(error).to_be_visible()
    expect(error).to_contain_text("must not be before fromDate")
    expect(page.locator("#param-toDate")).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#param-toDate")).to_be_focused()
    # What was typed stays.
    expect(page.locator("#param-fromDate")).to_have_value("2026-03-10")
    expect(page.locator("#param-device")).to_have_value("web")
    screenshot(page, "validation-error-beside-the-field")
    with browser_stack.sessions() as session:
        count = session.scalar(
            text("SELECT count(*) FROM reports WHERE owner_id = :user"), {"user": user}
        )
    assert count == 0


def test_a_parameter_with_markup_is_shown_as_text(browser_stack, new_page, make_token):
    page = new_page(permissions=["clipboard-read", "clipboard-write"])
    sign_in_with_token(page, browser_stack.base_url, make_token(sub=unique_user("xss"), org="acme"))
    hostile = "<script>window.owned=1</script><b>x</b>"

    report_id = request_report(
        page, "sessions", {"fromDate": "2026-01-01", "toDate": "2026-01-01", "device": hostile}
    )

    row = report_item(page, report_id)
    expect(row).to_have_attribute("data-status", "Completed")
    expect(row.locator(".parameters")).to_contain_text(f"device {hostile}")
    assert row.locator("script, b").count() == 0
    assert page.evaluate("window.owned") is None
    screenshot(page, "markup-shown-as-text")

    # Run again puts the same values back into the form, as values.
    page.locator("#param-device").fill("")
    row.get_by_role("button", name="Run again").click()
    expect(page.locator("#param-device")).to_have_value(hostile)
    expect(page.locator("#param-toDate")).to_have_value("2026-01-01")
    # Copy as curl: the same request, with $TOKEN, never the token itself.
    row.get_by_role("button", name="Copy as curl").click()
    expect(page.locator("#announcer")).to_contain_text("copied")
    command = page.evaluate("navigator.clipboard.readText()")
    assert '"device":"<script>window.owned=1</script><b>x</b>"' in command
    assert "$TOKEN" in command
    assert page.evaluate("sessionStorage.getItem('reportbox.token')") not in command


def test_another_org_sees_none_of_it(browser_stack, new_page, make_token):
    acme = new_page()
    sign_in_with_token(acme, browser_stack.base_url, make_token(sub=unique_user("t"), org="acme"))
    report_id = request_report(acme, "sessions", {"fromDate": "2026-04-01", "toDate": "2026-04-02"})
    expect(report_item(acme, report_id)).to_have_attribute("data-status", "Completed")

    globex = new_page()
    globex.goto(f"{browser_stack.base_url}/?id={report_id}")
    globex.get_by_role("button", name="bea — globex, admin").click()

    expect(globex.locator("#history-summary")).to_have_text(
        "There is no report with this id that you may see."
    )
    globex.get_by_role("button", name="Clear").click()
    expect(globex.locator("#history-summary")).not_to_contain_text("no report with this id")
    shown = {
        item.get_attribute("data-report-id") for item in globex.locator("li.report-item").all()
    }
    assert report_id not in shown
    with browser_stack.sessions() as session:
        assert session.get(Report, uuid.UUID(report_id)).org == "acme"
        orgs = {session.get(Report, uuid.UUID(shown_id)).org for shown_id in shown}
    assert orgs <= {"globex"}
