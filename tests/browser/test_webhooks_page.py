"""Webhooks from the page, as an org's admin: add an endpoint and see its secret once, send a
test event that a real dispatcher delivers to a receiver on loopback (a failed attempt, then
Retry now), rotate, disable and enable, delete; a non-admin sees no Webhooks section."""

from __future__ import annotations

import uuid
from collections.abc import Iterator
from urllib.parse import unquote_plus

import pytest
from playwright.sync_api import Page, expect

from client import verify_webhook
from tests.browser.conftest import (
    api_requests,
    delete_after_keeping_it,
    screenshot,
    sign_in_with_token,
)
from tests.integration.webhook_receiver import Receiver
from tests.processes import Process, start_dispatcher

pytestmark = pytest.mark.e2e

HOOK = "/reportbox-hook"


@pytest.fixture(scope="module")
def dispatcher(browser_stack, tmp_path_factory) -> Iterator[Process]:
    """The dispatcher for this module only. A failed attempt's retry is ten minutes away, so
    a message that is delivered after one was delivered by Retry now; it wakes every 0.5 s."""
    settings = browser_stack.settings.with_overrides(
        webhook_retry_schedule="600", dispatcher_poll_seconds=0.5
    )
    process = start_dispatcher(settings, tmp_path_factory.mktemp("dispatcher-logs"))
    yield process
    assert process.stop() == 0


@pytest.fixture
def receiver() -> Iterator[Receiver]:
    receiver = Receiver()
    yield receiver
    receiver.close()


def sign_in_as_admin(page: Page, browser_stack, make_token) -> str:
    org = f"hooks-{uuid.uuid4().hex[:8]}"  # an org of its own: its endpoint list is empty
    sign_in_with_token(page, browser_stack.base_url, make_token(org=org, roles=("admin",)))
    expect(page.get_by_role("heading", name="Webhooks")).to_be_visible()
    return org


def add_endpoint(page: Page, url: str, description: str) -> str:
    """Through the form, by label; the secret shown once, as the page shows it."""
    page.get_by_label("URL", exact=True).fill(url)
    page.get_by_label("Description").fill(description)
    page.get_by_label("report.failed").check()
    page.get_by_role("button", name="Add endpoint").click()
    secret_box = page.get_by_role("region", name="Signing secret, shown this once")
    expect(secret_box).to_be_focused()
    expect(secret_box).to_contain_text(url)
    secret = page.get_by_label("Signing secret", exact=True).input_value()
    assert secret.startswith("whsec_")
    return secret


def endpoint_item(page: Page, url: str):
    return page.locator("li.webhook-item").filter(has=page.get_by_role("heading", name=url))


def test_an_admin_adds_an_endpoint_sees_the_secret_once_and_a_test_event_is_delivered(
    browser_stack, dispatcher, receiver, new_page, make_token
):
    page = new_page(permissions=["clipboard-read", "clipboard-write"])
    asked: list[str] = []  # every URL the page asks for, its own and any other
    page.on("request", lambda request: asked.append(request.url))
    sign_in_as_admin(page, browser_stack, make_token)
    url = receiver.url(HOOK)
    secret = add_endpoint(page, url, "Finance's importer")

    page.get_by_role("button", name="Copy secret").click()
    expect(page.locator("#webhook-secret-copied")).to_have_text("Copied to the clipboard.")
    assert page.evaluate("navigator.clipboard.readText()") == secret
    item = endpoint_item(page, url)
    expect(item.locator(".badge")).to_have_text("✓ Enabled")
    expect(item).to_contain_text("Events: report.completed, report.failed")
    expect(item).to_contain_text("Report types: all · no download URL")
    expect(item).to_contain_text("Finance's importer")
    screenshot(page, "webhooks-secret-once")

    # The first attempt is refused; the retry it is due is minutes away, so Retry now sends it.
    receiver.script(HOOK, 500)
    item.get_by_role("button", name="Send test event").click()
    expect(item.get_by_role("button", name="Recent messages")).to_have_attribute(
        "aria-expanded", "true"
    )
    message = item.locator("li.message")
    expect(message).to_have_count(1)
    expect(message).to_have_attribute("data-status", "pending")
    expect(message).to_contain_text("1 attempt · last answer HTTP 500")
    expect(message).to_contain_text("next attempt")
    expect(message.locator(".error-message")).to_be_visible()
    message.get_by_role("button", name="Retry now").click()
    expect(message).to_have_attribute("data-status", "delivered")
    expect(message).to_contain_text("2 attempts · last answer HTTP 200")
    expect(message).to_contain_text("delivered")
    screenshot(page, "webhooks-message-delivered")
    first, second = receiver.wait_for(HOOK, count=2)
    # The same message both times, signed with the secret the page showed.
    assert first.headers["webhook-id"] == second.headers["webhook-id"]
    assert verify_webhook(second.body, second.headers, secret)["type"] == "webhook.test"

    page.get_by_role("button", name="I have saved it").click()
    expect(page.get_by_role("heading", name="Webhooks")).to_be_focused()
    expect(page.locator("#webhook-secret")).to_be_hidden()
    assert page.get_by_label("Signing secret", exact=True).input_value() == ""
    page.reload()
    expect(endpoint_item(page, url)).to_be_visible()
    # Never again: not in the document, the tab's storage, nor any URL the page asked for.
    assert secret not in page.content()
    stored = page.evaluate("JSON.stringify([{...sessionStorage}, {...localStorage}])")
    assert secret not in stored
    assert asked and not [address for address in asked if secret in unquote_plus(address)]
    assert secret not in page.url


def test_rotate_disable_enable_and_delete_with_a_confirmation(
    browser_stack, receiver, new_page, make_token
):
    page = new_page()
    # A browser that will not let the page write the clipboard: the secret is selected instead.
    page.add_init_script("Object.defineProperty(navigator, 'clipboard', { value: undefined })")
    sign_in_as_admin(page, browser_stack, make_token)

    # What the API's request-forgery guard refuses is shown beside the URL field.
    page.get_by_label("URL", exact=True).fill("http://10.1.2.3/hook")
    page.get_by_role("button", name="Add endpoint").click()
    expect(page.locator("#error-webhook-url")).to_be_visible()
    expect(page.get_by_label("URL", exact=True)).to_be_focused()
    expect(page.get_by_label("URL", exact=True)).to_have_attribute("aria-invalid", "true")
    expect(page.locator("#webhooks-summary")).to_have_text("No endpoints yet: add one above.")

    url = receiver.url(HOOK)
    first_secret = add_endpoint(page, url, "rotating")
    item = endpoint_item(page, url)
    item.get_by_role("button", name="Rotate secret").click()
    secret_field = page.get_by_label("Signing secret", exact=True)
    expect(secret_field).not_to_have_value(first_secret)
    assert secret_field.input_value().startswith("whsec_")
    expect(page.locator("#webhook-secret-about")).to_contain_text("The previous secret also signs")
    expect(item).to_contain_text("The previous secret also signs until")
    page.get_by_role("button", name="Copy secret").click()
    expect(page.locator("#webhook-secret-copied")).to_contain_text("the secret is selected")
    expect(secret_field).to_be_focused()
    selected = page.evaluate(
        "(() => { const f = document.activeElement;"
        " return f.value.slice(f.selectionStart, f.selectionEnd); })()"
    )
    assert selected == secret_field.input_value()

    item.get_by_role("button", name="Disable").click()
    expect(item.locator(".badge")).to_have_text("⊘ Disabled")
    expect(item.locator(".paused-reason")).to_contain_text("Disabled through the API.")
    expect(item.get_by_role("button", name="Send test event")).to_have_count(0)
    expect(item.get_by_role("button", name="Enable")).to_be_focused()
    item.get_by_role("button", name="Enable").click()
    expect(item.locator(".badge")).to_have_text("✓ Enabled")
    expect(item.get_by_role("button", name="Disable")).to_be_focused()

    delete_after_keeping_it(item, "Delete endpoint")
    expect(endpoint_item(page, url)).to_have_count(0)
    expect(page.get_by_role("heading", name="Webhooks")).to_be_focused()
    expect(page.locator("#webhooks-summary")).to_have_text("No endpoints yet: add one above.")


def test_a_non_admin_sees_no_webhooks_section(browser_stack, new_page, make_token):
    page = new_page()
    sent = api_requests(page)
    sign_in_with_token(page, browser_stack.base_url, make_token(roles=("analyst",)))
    expect(page.get_by_role("heading", name="Your saved definitions")).to_be_visible()
    expect(page.locator("#webhooks")).to_be_hidden()
    expect(page.get_by_role("heading", name="Webhooks")).to_have_count(0)
    assert not [request for request in sent if "/webhook-endpoints" in request]
