from playwright.sync_api import expect
from tests.browser.conftest import screenshot, sign_in_with_token, request_report, report_item


def test_smoke(browser_stack, new_page, make_token):
    page = new_page()
    errors = []
    page.on("console", lambda m: errors.append(m.text) if m.type in ("error", "warning") else None)
    page.on("pageerror", lambda e: errors.append(str(e)))
    sign_in_with_token(page, browser_stack.base_url, make_token(sub="smoke", org="acme"))
    screenshot(page, "smoke-signed-in")
    rid = request_report(page, "sessions", {"fromDate": "2026-01-01", "toDate": "2026-01-31", "device": "<script>x</script>"})
    expect(report_item(page, rid)).to_have_attribute("data-status", "Completed")
    screenshot(page, "smoke-done")
    print(errors)
    assert not errors
