"""axe-core on the page as people see it, by keyboard, at 400 px, light and dark."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import report_item, request_report, screenshot, sign_in_with_token
from tests.integration.webhook_receiver import Receiver

pytestmark = pytest.mark.e2e

AXE = Path(__file__).with_name("vendor") / "axe.min.js"
SERIOUS = {"serious", "critical"}


def axe_violations(page: Page, scheme: str, name: str) -> list[dict]:
    """Serious and critical axe-core findings with the page in this colour scheme."""
    page.emulate_media(color_scheme=scheme)
    if not page.evaluate("typeof axe !== 'undefined'"):
        page.add_script_tag(path=str(AXE))
    result = page.evaluate("async () => await axe.run(document)")
    screenshot(page, f"{name}-400px-{scheme}")
    return [
        {"id": v["id"], "impact": v["impact"], "nodes": [n["target"] for n in v["nodes"]]}
        for v in result["violations"]
        if v["impact"] in SERIOUS
    ]


def test_no_serious_accessibility_violation_signed_out_and_in_light_and_dark(
    browser_stack, new_page, make_token
):
    # bypass_csp only so that the test can inject axe-core; the page itself never needs it.
    page = new_page(width=400, bypass_csp=True)
    page.goto(browser_stack.base_url + "/")
    expect(page.get_by_role("heading", name="Sign in", exact=True)).to_be_visible()
    signed_out = {
        scheme: axe_violations(page, scheme, "signed-out") for scheme in ("light", "dark")
    }

    # By keyboard alone: Tab to the token field, paste, Enter.
    page.keyboard.press("Tab")  # the skip link
    page.keyboard.press("Tab")
    expect(page.get_by_label("API token")).to_be_focused()
    page.keyboard.type(make_token(sub=f"a11y-{uuid.uuid4().hex[:6]}", org="acme"))
    page.keyboard.press("Enter")
    expect(page.get_by_role("heading", name="Request a report")).to_be_visible()
    report_id = request_report(page, "sessions", {"fromDate": "2026-06-01", "toDate": "2026-06-01"})
    expect(report_item(page, report_id)).to_have_attribute("data-status", "Completed")
    page.locator("#param-toDate").fill("2026-05-01")
    page.get_by_role("button", name="Request report").click()
    expect(page.locator("#error-param-toDate")).to_be_visible()
    signed_in = {scheme: axe_violations(page, scheme, "signed-in") for scheme in ("light", "dark")}

    assert signed_out == {"light": [], "dark": []}
    assert signed_in == {"light": [], "dark": []}
    # Readable at 400 px: nothing wider than the window.
    assert page.evaluate("document.documentElement.scrollWidth") <= 400
    # Status changes reach screen readers.
    expect(page.locator("#announcer")).to_have_attribute("aria-live", "polite")
    expect(page.locator("#announcer")).to_contain_text("invalid field")


def test_the_definition_views_have_no_serious_violation_at_400_px_light_and_dark(
    browser_stack, new_page, make_token
):
    page = new_page(width=400, bypass_csp=True, timezone_id="Europe/Berlin")
    sign_in_with_token(
        page, browser_stack.base_url, make_token(sub=f"a11y-def-{uuid.uuid4().hex[:6]}", org="acme")
    )
    name = "Sundays in March and October"
    page.get_by_role("button", name="Save as a definition…").click()
    page.get_by_label("Period").select_option("previousDay")
    page.get_by_label("Schedule").select_option("custom")
    page.get_by_label("Cron expression").fill("30 2 * 3,10 0")
    # The spring change falls among the next runs: the page says what it does to them.
    expect(page.locator("#schedule-dst")).to_contain_text(
        "02:30 does not exist on 28 March; that run happens at 03:00."
    )
    expect(page.locator("#schedule-preview")).to_have_attribute("aria-live", "polite")
    page.get_by_role("button", name="Add an e-mail").click()
    page.get_by_label("Recipients").fill("a11y@example.com")
    form = {scheme: axe_violations(page, scheme, "definition-form") for scheme in ("light", "dark")}
    # Enter in a field saves the definition (the form's mode), not a one-off request.
    page.get_by_label("Name", exact=True).fill(name)
    page.keyboard.press("Enter")
    item = page.locator("li.definition-item").filter(has_text=name)
    expect(item).to_be_visible()
    item.get_by_role("button", name="Run now").click()
    expect(page.locator('li.report-item[data-trigger="generate"]')).to_have_attribute(
        "data-status", "Completed"
    )
    item.get_by_role("button", name="Pause").focus()
    page.keyboard.press("Enter")
    expect(item.locator(".paused-reason")).to_be_visible()
    item.get_by_role("button", name="Deliveries…").click()
    expect(item.get_by_label("Recipients")).to_be_focused()
    item.get_by_role("button", name="Delete…").click()
    expect(item.get_by_role("button", name="Keep it")).to_be_focused()
    listed = {scheme: axe_violations(page, scheme, "definitions") for scheme in ("light", "dark")}

    assert form == {"light": [], "dark": []}
    assert listed == {"light": [], "dark": []}
    assert page.evaluate("document.documentElement.scrollWidth") <= 400


def test_the_webhooks_section_has_no_serious_violation_at_400_px_light_and_dark(
    browser_stack, new_page, make_token
):
    page = new_page(width=400, bypass_csp=True)
    org = f"a11y-hooks-{uuid.uuid4().hex[:6]}"
    sign_in_with_token(page, browser_stack.base_url, make_token(org=org, roles=("admin",)))
    receiver = Receiver()  # only for the URL the API's guard accepts: nothing is sent to it
    try:
        url = receiver.url("/hook-with-a-rather-long-path/that/must/wrap/at-400-px")
        # A refusal first: its message beside the field, the field marked invalid.
        page.get_by_label("URL", exact=True).fill("ftp://example.com/")
        page.keyboard.press("Enter")
        expect(page.locator("#error-webhook-url")).to_be_visible()
        page.get_by_label("URL", exact=True).fill(url)
        page.keyboard.press("Enter")  # Enter in a field adds the endpoint
        expect(page.get_by_role("region", name="Signing secret, shown this once")).to_be_focused()
        first = page.locator("li.webhook-item").filter(has_text="/hook-with")
        first.get_by_role("button", name="Send test event").click()
        expect(first.locator("li.message")).to_have_count(1)
        # A second one, disabled: both states of a row, and its secret shown instead.
        page.get_by_label("URL", exact=True).fill(receiver.url("/second"))
        page.get_by_role("button", name="Add endpoint").click()
        second = page.locator("li.webhook-item").filter(has_text="/second")
        second.get_by_role("button", name="Disable").click()
        expect(second.locator(".paused-reason")).to_be_visible()
        first.get_by_role("button", name="Delete…").click()
        expect(first.get_by_role("button", name="Keep it")).to_be_focused()
        found = {scheme: axe_violations(page, scheme, "webhooks") for scheme in ("light", "dark")}
    finally:
        receiver.close()

    assert found == {"light": [], "dark": []}
    assert page.evaluate("document.documentElement.scrollWidth") <= 400
