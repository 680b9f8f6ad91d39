"""axe-core on the page as people see it, by keyboard, at 400 px, light and dark."""

from __future__ import annotations

import uuid
from pathlib import Path

import pytest
from playwright.sync_api import Page, expect

from tests.browser.conftest import report_item, request_report, screenshot

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
