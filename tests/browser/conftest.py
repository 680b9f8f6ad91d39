"""The browser tests: api, relay and worker as real processes, and Debian's Chromium driven
by Playwright. One stack for the package, one browser per module, a fresh context per test.

The worker reads report rows from PostgreSQL through a fault proxy that slows every chunk,
so a report of the big org stays Processing long enough to watch (and cancel) from the page,
with its progress rising steadily; everything else (the worker's own bookkeeping, the API,
S3) goes direct. Cutting the proxy makes an export fail for real.
"""

from __future__ import annotations

import re
import signal
from collections.abc import Iterator
from concurrent.futures import ThreadPoolExecutor
from dataclasses import dataclass
from pathlib import Path
from urllib.parse import urlsplit

import pytest
from cryptography.fernet import Fernet
from playwright.sync_api import Browser, Locator, Page, expect, sync_playwright
from sqlalchemy import make_url
from sqlalchemy.orm import Session, sessionmaker

from shared import demo
from shared.config import DEVELOPMENT_JWT_SECRETS, Settings
from shared.db import make_engine, make_session_factory
from tests.conftest import ROOT, RUN_ID, delete_broker_topology, fresh_database
from tests.faultproxy import FaultProxy, fault_proxy
from tests.processes import Process, start_api, start_relay, start_worker, wait_until_ready
from tests.services import free_port

CHROMIUM = "/usr/bin/chromium"  # Debian's package; Playwright never downloads a browser here
CHROMIUM_ARGS = [
    "--no-sandbox",
    "--disable-gpu",
    "--disable-background-networking",
    "--disable-component-update",
    "--disable-sync",
    "--no-first-run",
]
SCREENSHOTS = ROOT / ".run" / "screenshots"
BIG_ORG = "bigco"
BIG_SESSIONS = 300_000  # about 15 MB of CSV: seconds of Processing through the slow proxy
SOURCE_LATENCY = 0.04  # seconds per chunk of rows the worker reads (64 KiB at most)
FULL_YEAR = {"fromDate": "2026-01-01", "toDate": "2026-12-31"}
UI_TIMEOUT_MS = 30_000  # the machine is shared: generous waits on conditions, never sleeps
# The page offers demo sign-in only with a published development secret (api/page/demo.py).
DEVELOPMENT_SECRET = sorted(DEVELOPMENT_JWT_SECRETS)[0]

expect.set_options(timeout=UI_TIMEOUT_MS)


@pytest.fixture(scope="package")
def settings(settings: Settings) -> Settings:
    """A development deployment, as `make run` sets up; make_token signs with its secret.
    Anyone may e-mail example.com; targets' secrets are sealed with a key of the run."""
    return settings.with_overrides(
        jwt_secret=DEVELOPMENT_SECRET,
        dev_mode=True,
        email_allowed_domains="example.com",
        delivery_secrets_key=Fernet.generate_key().decode(),
    )


@dataclass
class BrowserStack:
    base_url: str
    settings: Settings
    sessions: sessionmaker[Session]
    worker_source: FaultProxy
    api: Process
    relay: Process
    worker: Process


@pytest.fixture(scope="package")
def browser_stack(
    settings: Settings, postgres_url: str, tmp_path_factory
) -> Iterator[BrowserStack]:
    log_dir = tmp_path_factory.mktemp("browser-logs")
    port = free_port()
    base_url = f"http://127.0.0.1:{port}"
    server = make_url(postgres_url)
    with (
        fresh_database(postgres_url, f"reportbox_browser_{RUN_ID}") as database_url,
        fault_proxy(server.host, server.port) as worker_source,
    ):
        # The big org fills while the processes start: it is only read once a test asks.
        pool = ThreadPoolExecutor(max_workers=1)
        filling = pool.submit(
            demo.fill, database_url, [BIG_ORG], BIG_SESSIONS, users=None, albums=50
        )
        worker_source.latency = SOURCE_LATENCY
        settings = settings.with_overrides(
            database_url=database_url,
            source_database_url=database_url,
            exchange=f"{settings.exchange}.browser",
            work_queue=f"{settings.work_queue}.browser",
            public_base_url=base_url,
            max_attempts=1,  # a transient fault fails the report at once (the Failed row)
            progress_interval_seconds=0.25,
            # A test may leave a slow export running; on SIGTERM the worker hands it back at
            # once (its query is interrupted) instead of waiting out the default 30 s, which
            # is longer than the 15 s stop() gives it before a SIGKILL.
            shutdown_grace_seconds=1.0,
            # The webhook tests' receiver listens on loopback, over plain HTTP; the API's
            # save-time guard must let exactly that through.
            webhook_allow_http=True,
            webhook_allowed_cidrs="127.0.0.1/32",
        )
        through_proxy = make_url(database_url).set(host="127.0.0.1", port=worker_source.port)
        worker_settings = settings.with_overrides(
            source_database_url=through_proxy.render_as_string(hide_password=False)
        )
        engine = make_engine(settings)
        processes = (
            start_api(settings, port, log_dir),
            start_relay(settings, log_dir),
            start_worker(worker_settings, log_dir),
        )
        try:
            wait_until_ready(base_url, processes[0])
            filling.result()
            yield BrowserStack(
                base_url, settings, make_session_factory(engine), worker_source, *processes
            )
        finally:
            pool.shutdown()
            for process in processes:  # all at once: each takes a moment to leave
                process.signal(signal.SIGTERM)
            codes = {process.name: process.stop() for process in processes}
            engine.dispose()
            delete_broker_topology(settings)
        assert codes == {"api": 0, "relay": 0, "worker": 0}, codes


@pytest.fixture(scope="module")
def browser() -> Iterator[Browser]:
    with sync_playwright() as playwright:
        browser = playwright.chromium.launch(
            executable_path=CHROMIUM, headless=True, args=CHROMIUM_ARGS
        )
        yield browser
        browser.close()


@pytest.fixture
def new_page(browser: Browser, request) -> Iterator:
    """Pages in fresh contexts (own sessionStorage); each leaves a screenshot at the end."""
    contexts = []

    def make(width: int = 1100, **options) -> Page:
        context = browser.new_context(viewport={"width": width, "height": 900}, **options)
        context.set_default_timeout(UI_TIMEOUT_MS)
        contexts.append(context)
        return context.new_page()

    yield make
    for index, context in enumerate(contexts):
        for page in context.pages:
            screenshot(page, f"{request.node.name}-end-{index}")
        context.close()


def screenshot(page: Page, name: str) -> Path:
    SCREENSHOTS.mkdir(parents=True, exist_ok=True)
    path = SCREENSHOTS / f"{re.sub(r'[^A-Za-z0-9_.-]+', '-', name)}.png"
    page.screenshot(path=str(path), full_page=True)
    return path


def sign_in_with_token(page: Page, base_url: str, token: str) -> None:
    page.goto(base_url + "/")
    page.get_by_label("API token").fill(token)
    page.get_by_role("button", name="Sign in", exact=True).click()
    expect(page.get_by_role("heading", name="Request a report")).to_be_visible()


def api_requests(page: Page) -> list[str]:
    """Every request the page sends to /api/v1 from now on, as "METHOD path?query"."""
    sent: list[str] = []

    def record(request) -> None:
        path = urlsplit(request.url)
        if path.path.startswith("/api/v1/"):
            sent.append(f"{request.method} {path.path}?{path.query}")

    page.on("request", record)
    return sent


def report_item(page: Page, report_id: str):
    return page.locator(f'li.report-item[data-report-id="{report_id}"]')


def request_report(page: Page, report_type: str, parameters: dict[str, str]) -> str:
    """Fill the generated form, submit it, and return the new report's id from the page."""
    page.get_by_label("Report type").select_option(report_type)
    for name, value in parameters.items():
        page.locator(f"#param-{name}").fill(value)
    page.get_by_role("button", name="Request report").click()
    link = page.locator("#form-result a.report-link")
    expect(link).to_be_visible()
    return link.inner_text().removeprefix("report ").strip()


def delete_after_keeping_it(item: Locator, confirm: str) -> None:
    """Delete… asks first with "Keep it" focused, which puts the keyboard back on Delete…;
    asked again, the `confirm` button deletes the row's thing."""
    item.get_by_role("button", name="Delete…").click()
    expect(item.get_by_role("button", name="Keep it")).to_be_focused()
    item.get_by_role("button", name="Keep it").click()
    expect(item.get_by_role("button", name="Delete…")).to_be_focused()
    item.get_by_role("button", name="Delete…").click()
    item.get_by_role("button", name=confirm).click()
