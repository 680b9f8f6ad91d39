"""Deliveries from the page: an analyst adds an e-mail (and is offered nothing else), a run's
Failed delivery shows its last error and is sent again; an admin's S3 target, saved with its
secret and changed without it, never brings the secret back into the page.

The browser stack runs no dispatcher: a run's deliveries stay Pending, and a failure is set
in the database as the dispatcher would record it."""

from __future__ import annotations

import os
import uuid

import pytest
from playwright.sync_api import Page, expect
from sqlalchemy import text

from tests import services
from tests.browser.conftest import screenshot, sign_in_with_token
from tests.e2e.api_client import ApiClient
from tests.services import LOCAL_S3_CUSTOMER_KEY, LOCAL_S3_CUSTOMER_SECRET, s3_client

pytestmark = pytest.mark.e2e

SMTP_REFUSAL = "550 5.1.1 mailbox unavailable"


def open_definition_form(page: Page, name: str) -> None:
    page.get_by_label("Report type").select_option("sessions")
    page.get_by_role("button", name="Save as a definition…").click()
    page.get_by_label("Name", exact=True).fill(name)
    page.locator("#param-fromDate").fill("2026-01-01")
    page.locator("#param-toDate").fill("2026-01-03")


def definition_of(api: ApiClient, name: str) -> dict:
    listed = api.request("GET", "/api/v1/report-definitions?pageSize=100").body["items"]
    return next(item for item in listed if item["name"] == name)


def fail_delivery(browser_stack, report_id: str) -> None:
    """As the dispatcher records a refusal that fails the target for good."""
    with browser_stack.sessions() as session:
        session.execute(
            text(
                "UPDATE deliveries SET state = 'Failed', attempts = 1, last_error = :error "
                "WHERE report_id = :report_id"
            ),
            {"error": SMTP_REFUSAL, "report_id": report_id},
        )
        session.commit()


def test_an_analyst_adds_an_email_and_sends_a_failed_delivery_again(
    browser_stack, new_page, make_token
):
    user = f"mailer-{uuid.uuid4().hex[:6]}"
    token = make_token(sub=user, org="acme")
    page = new_page()
    sign_in_with_token(page, browser_stack.base_url, token)
    name = f"Mailed {user}"
    open_definition_form(page, name)
    # Only an admin is offered the kinds that reach outside systems.
    expect(page.get_by_role("button", name="Add an S3 bucket")).to_be_hidden()
    expect(page.get_by_role("button", name="Add an SFTP server")).to_be_hidden()
    expect(page.locator("#delivery-admin-note")).to_be_visible()

    page.get_by_role("button", name="Add an e-mail").click()
    recipients = page.get_by_label("Recipients")
    expect(recipients).to_be_focused()
    recipients.fill("ops@example.com, not-an-address")
    page.get_by_label("Send", exact=True).select_option("hasRows")
    page.get_by_role("button", name="Save definition").click()
    # The API's refusal of the second address, beside the field.
    error = page.locator(".delivery-target .field-error").first
    expect(error).to_contain_text("'not-an-address' is not an email address")
    expect(recipients).to_have_attribute("aria-invalid", "true")
    expect(recipients).to_be_focused()
    screenshot(page, "delivery-form-refused")

    recipients.fill("ops@example.com, finance@example.com")
    page.get_by_label("Attach the file").select_option("never")
    page.get_by_role("button", name="Save definition").click()
    expect(page.locator("#form-result")).to_contain_text(f"Saved the definition “{name}”.")

    api = ApiClient(browser_stack.base_url, token)
    saved = definition_of(api, name)
    assert saved["deliveries"] == [
        {
            "kind": "email",
            "recipients": ["ops@example.com", "finance@example.com"],
            "subject": "{name} ({scheduledDate})",
            "attach": "never",
        },
        {"kind": "api", "mode": "async"},
    ]
    assert saved["sendWhen"] == "hasRows"
    item = page.locator("li.definition-item").filter(has_text=name)
    expect(item.locator(".delivery-targets")).to_have_text(
        "Delivered: e-mail to ops@example.com, finance@example.com (when a run has rows)."
    )

    item.get_by_role("button", name="Run now").click()
    run = page.locator('li.report-item[data-trigger="generate"]')
    expect(run).to_have_attribute("data-status", "Completed")
    delivery = run.locator("li.delivery")
    expect(delivery).to_have_attribute("data-status", "Pending")
    report_id = run.get_attribute("data-report-id")

    fail_delivery(browser_stack, report_id)
    # The page follows a Pending delivery until it settles.
    expect(delivery).to_have_attribute("data-status", "Failed")
    expect(delivery).to_contain_text("E-mail")
    expect(delivery).to_contain_text("1 attempt")
    expect(delivery.locator(".delivery-error")).to_have_text(SMTP_REFUSAL)
    screenshot(page, "delivery-failed")

    delivery.get_by_role("button", name="Send again").click()

    expect(delivery).to_have_attribute("data-status", "Pending")
    expect(delivery.get_by_role("button", name="Send again")).to_have_count(0)
    (state,) = api.report(report_id).body["deliveries"]
    assert (state["status"], state["kind"]) == ("Pending", "email")


@pytest.fixture
def customer_bucket(browser_stack):
    """A bucket of the local store's customer identity, deleted afterwards."""
    if os.environ.get("TEST_S3_ENDPOINT_URL"):
        pytest.skip("the S3 endpoint of TEST_S3_ENDPOINT_URL has no customer identity")
    with services.customer_bucket(browser_stack.settings) as bucket:
        yield bucket


def test_an_admins_s3_target_is_saved_changed_and_its_secret_never_shown(
    browser_stack, new_page, make_token, customer_bucket
):
    user = f"admin-{uuid.uuid4().hex[:6]}"
    token = make_token(sub=user, org="acme", roles=("admin",))
    page = new_page()
    sign_in_with_token(page, browser_stack.base_url, token)
    name = f"To S3 {user}"
    open_definition_form(page, name)
    expect(page.locator("#delivery-admin-note")).to_be_hidden()
    page.get_by_role("button", name="Add an S3 bucket").click()
    target = page.locator('.delivery-target[data-kind="s3"]')
    target.get_by_label("Bucket").fill(customer_bucket)
    target.get_by_label("Prefix").fill("exports")
    target.get_by_label("Endpoint URL").fill(browser_stack.settings.s3_endpoint_url)
    target.get_by_label("Access key id").fill(LOCAL_S3_CUSTOMER_KEY)
    secret = target.get_by_label("Secret access key")
    expect(secret).to_have_attribute("type", "password")
    secret.fill(LOCAL_S3_CUSTOMER_SECRET)
    page.get_by_role("button", name="Save definition").click()
    expect(page.locator("#form-result")).to_contain_text(f"Saved the definition “{name}”.")

    api = ApiClient(browser_stack.base_url, token)
    saved = definition_of(api, name)
    assert saved["deliveries"][0]["bucket"] == customer_bucket
    assert saved["deliveries"][0]["secretAccessKey"] == "********"
    # The save proved the bucket: its check object was written and deleted.
    left = s3_client(browser_stack.settings).list_objects_v2(Bucket=customer_bucket)
    assert not left.get("Contents")

    # Changed in place, the secret left empty: the API keeps the saved one, and proves the
    # changed target with it (a wrong secret would be refused with a 422).
    item = page.locator("li.definition-item").filter(has_text=name)
    item.get_by_role("button", name="Deliveries…").click()
    editor = item.locator('.delivery-target[data-kind="s3"]')
    expect(editor.get_by_label("Bucket")).to_have_value(customer_bucket)
    expect(editor.get_by_label("Secret access key")).to_have_value("")
    expect(editor).to_contain_text("Saved: leave empty to keep it.")
    editor.get_by_label("Prefix").fill("exports/v2")
    screenshot(page, "delivery-editor")
    item.get_by_role("button", name="Save deliveries").click()
    expect(item.locator(".delivery-targets")).to_have_text(
        f"Delivered: S3 bucket {customer_bucket}/exports/v2."
    )
    changed = definition_of(api, name)["deliveries"]
    assert [target["kind"] for target in changed] == ["s3", "api"]
    assert (changed[0]["prefix"], changed[0]["secretAccessKey"]) == ("exports/v2", "********")

    page.reload()
    item = page.locator("li.definition-item").filter(has_text=name)
    item.get_by_role("button", name="Run now").click()
    # An admin sees the org's reports: this definition's run is the one named for it.
    run = page.locator('li.report-item[data-trigger="generate"]').filter(has_text=f"“{name}”")
    expect(run.locator("li.delivery")).to_have_attribute("data-kind", "s3")
    # Neither in the markup, nor in any input's value, nor in anything the scripts keep.
    html = page.content()
    values = page.evaluate(
        "() => [...document.querySelectorAll('input, textarea')].map((input) => input.value)"
    )
    assert LOCAL_S3_CUSTOMER_SECRET not in html
    assert LOCAL_S3_CUSTOMER_SECRET not in values
    assert LOCAL_S3_CUSTOMER_SECRET not in page.evaluate("() => JSON.stringify(sessionStorage)")
