"""The Swagger UI page /api/v1/docs runs under its strict policy and keeps no token."""

from __future__ import annotations

import pytest
from playwright.sync_api import expect

from tests.browser.conftest import screenshot

pytestmark = pytest.mark.e2e


def test_the_docs_page_renders_swagger_ui_with_no_policy_violation(browser_stack, new_page):
    page = new_page()
    console: list[str] = []
    page.on("console", lambda message: console.append(f"{message.type}: {message.text}"))
    page.on("pageerror", lambda error: console.append(f"pageerror: {error}"))
    violations: list[str] = []
    page.expose_function("reportViolation", lambda text: violations.append(text))
    page.add_init_script(
        "document.addEventListener('securitypolicyviolation', (event) =>"
        " window.reportViolation(`${event.violatedDirective} ${event.blockedURI}`));"
    )

    page.goto(browser_stack.base_url + "/api/v1/docs")

    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Reportbox API")
    operation = page.get_by_role("button", name="GET /api/v1/report-types The")
    operation.click()  # an opened operation renders its parameters and responses
    expect(page.locator(".opblock.is-open .responses-wrapper")).to_be_visible()
    screenshot(page, "docs-page")
    assert violations == []
    assert [line for line in console if "Content Security Policy" in line] == []
    assert [line for line in console if line.startswith("pageerror")] == []


def test_a_token_given_to_the_docs_page_is_not_kept_in_local_storage(
    browser_stack, new_page, make_token
):
    page = new_page()
    page.goto(browser_stack.base_url + "/api/v1/docs")
    token = make_token(sub="docs-reader", org="acme")

    page.get_by_role("button", name="Authorize").first.click()
    dialog = page.locator(".modal-ux")
    dialog.locator("input").fill(token)
    dialog.get_by_role("button", name="Apply credentials").click()
    expect(dialog.get_by_role("button", name="Remove authorization")).to_be_visible()
    dialog.locator("button.btn-done").click()  # Close
    expect(page.locator(".btn.authorize.locked")).to_have_count(1)  # Swagger UI took it

    stored = page.evaluate(
        "() => [localStorage, sessionStorage].flatMap((storage) =>"
        " Object.keys(storage).map((key) => storage.getItem(key)))"
    )
    assert not any(token in value for value in stored), stored
    assert page.context.cookies() == []
    page.reload()  # and a reload forgets it: nothing brought it back
    expect(page.locator(".swagger-ui .info .title")).to_contain_text("Reportbox API")
    expect(page.locator(".btn.authorize.locked")).to_have_count(0)
