"""`Client`: request a report, wait for it, download it; retries never duplicate a report."""

from __future__ import annotations

import os
import random
import time
import uuid
from collections.abc import Callable, Iterator
from pathlib import Path
from typing import Any
from urllib.parse import quote

import httpx

from client import download as downloads
from client.definition_calls import DefinitionCalls
from client.errors import (
    ApiError,
    Conflict,
    NotDownloadable,
    ReportFailed,
    Unavailable,
    WaitTimeout,
)
from client.models import (
    CANCELLED,
    COMPLETED,
    FAILED,
    Accepted,
    Delivery,
    Report,
    ReportPage,
    ReportType,
)
from client.pages import every_item
from client.retry import PollSchedule, Random, is_retryable
from client.transport import API, Transport, raise_for_refusal

ReportRef = str | Accepted | Report
ProgressCallback = Callable[[Report], None]


def report_id_of(report: ReportRef) -> str:
    return report if isinstance(report, str) else report.report_id


class Client(DefinitionCalls):
    """A Reportbox API client.

    `timeout` is the HTTP timeout of one request, in seconds. Every call is retried up to
    `max_retries` times after a connection error or a 429/502/503/504 answer, honouring
    Retry-After; any other refusal raises at once (see `client.errors`). The calls on report
    definitions and schedules come from DefinitionCalls.

    `http` is an httpx.Client of the caller's to use (and close) instead of a new one;
    `sleep` and `rng` are for tests: the clock and randomness the backoff uses.
    """

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float = 30.0,
        max_retries: int = 2,
        http: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: Random = random.random,
    ) -> None:
        self._transport = Transport(
            base_url,
            token,
            timeout=timeout,
            max_retries=max_retries,
            http=http,
            sleep=sleep,
            rng=rng,
        )
        self._sleep = sleep
        self._rng = rng

    def __enter__(self) -> Client:
        return self

    def __exit__(self, *exc_info: object) -> None:
        self.close()

    def close(self) -> None:
        self._transport.close()

    def report_types(self) -> list[ReportType]:
        """The catalog: each type's title, formats, roles and parameters (JSON Schema)."""
        body = self._transport.request("GET", f"{API}/report-types").json()
        return [ReportType.from_json(item) for item in body["items"]]

    def request_report(
        self, report_type: str, /, format: str = "csv", **parameters: Any
    ) -> Accepted:
        """Ask for a report; the answer means it will reach a final status.

        One Idempotency-Key is made for this call and sent on each of its retries, so a
        retry after a lost answer gets the first report back instead of a second one.
        """
        response = self._transport.request(
            "POST",
            f"{API}/reports/{quote(report_type, safe='')}",
            json={"format": format, "parameters": parameters},
            headers={"Idempotency-Key": str(uuid.uuid4())},
        )
        return Accepted.from_answer(response.json(), response.headers)

    def get(self, report: ReportRef) -> Report:
        """The report as it is now: status, progress, and its file once Completed."""
        path = f"{API}/reports/{quote(report_id_of(report), safe='')}"
        return Report.from_json(self._transport.request("GET", path).json())

    def history(
        self,
        *,
        status: str | None = None,
        report_type: str | None = None,
        definition_id: str | None = None,
        page: int = 1,
        page_size: int = 20,
    ) -> ReportPage:
        """One page of the caller's reports, newest first (page_size at most 100).

        `definition_id` keeps only the runs of that report definition.
        """
        params: dict[str, Any] = {"page": page, "pageSize": page_size}
        if status:
            params["status"] = status
        if report_type:
            params["reportType"] = report_type
        if definition_id:
            params["definitionId"] = definition_id
        body = self._transport.request("GET", f"{API}/reports", params=params).json()
        return ReportPage.from_json(body)

    def iter_history(
        self,
        *,
        status: str | None = None,
        report_type: str | None = None,
        definition_id: str | None = None,
        page_size: int = 100,
    ) -> Iterator[Report]:
        """Every report of the history, newest first, fetching page after page.

        Reports requested meanwhile push older ones onto later pages; each report is
        yielded once all the same.
        """

        def fetch(page: int) -> ReportPage:
            return self.history(
                status=status,
                report_type=report_type,
                definition_id=definition_id,
                page=page,
                page_size=page_size,
            )

        return every_item(fetch, page_size, lambda report: report.report_id)

    def wait(
        self,
        report: ReportRef,
        *,
        timeout: float | None = None,
        on_progress: ProgressCallback | None = None,
    ) -> Report:
        """Poll until the report is Completed, Failed, Cancelled or Expired, and return it.

        The first look waits for the Retry-After of the request's answer (when given an
        `Accepted`); later looks back off, with jitter, up to a few seconds apart.
        `on_progress` is called with each report seen. Raises WaitTimeout after `timeout`
        seconds (None waits as long as it takes).

        The report is durable on the server, so an API that cannot be reached or answers
        429/502/503/504 for longer than the retries (a restart, a deploy) does not end the
        wait: the next look comes on the same schedule. Only past the deadline is that error
        raised. Any other refusal (401, 404, a 500) is raised at once.
        """
        deadline = None if timeout is None else time.monotonic() + timeout
        schedule = PollSchedule(
            report.retry_after if isinstance(report, Accepted) else None, rng=self._rng
        )
        if isinstance(report, Accepted):
            self._pause(schedule.next_delay(), deadline)
        while True:
            try:
                current = self.get(report)
            except (Unavailable, ApiError) as exc:
                passed = deadline is not None and time.monotonic() >= deadline
                if passed or (isinstance(exc, ApiError) and not is_retryable(exc.status)):
                    raise
                self._pause(schedule.next_delay(), deadline)
                continue
            if on_progress is not None:
                on_progress(current)
            if current.is_terminal:
                return current
            if deadline is not None and time.monotonic() >= deadline:
                raise WaitTimeout(
                    current,
                    f"report {current.report_id} is still {current.status} after {timeout:g} s",
                )
            self._pause(schedule.next_delay(), deadline)

    def download(self, report: ReportRef, path: str | os.PathLike[str]) -> Path:
        """Save a Completed report's file at `path` (or inside it, if it is a directory).

        The bytes stream to a temporary file that is renamed into place only once its size
        and sha256 match the report's; a mismatch raises ChecksumMismatch and leaves no
        file. Raises ReportFailed for a Failed report and NotDownloadable when there is no
        file (still running, Cancelled or Expired). Returns the path written.
        """
        current = self.get(report)  # a fresh look: a download URL from earlier may have expired
        if current.status == FAILED:
            raise ReportFailed(current)
        if current.status != COMPLETED or current.file is None or not current.download_url:
            raise NotDownloadable(
                current, f"report {current.report_id} is {current.status}; there is no file"
            )
        target = downloads.target_path(path, current.file, current.report_id, current.format)
        url, expected = current.download_url, current.file

        def attempt() -> Path:
            with self._transport.stream(url) as response:
                raise_for_refusal(response, storage=True)
                return downloads.save_verified(
                    response.iter_bytes(downloads.CHUNK_BYTES), target, expected
                )

        return self._transport.with_retries(attempt, url)

    def cancel(self, report: ReportRef) -> Report:
        """Cancel a Pending (at once) or Processing (within seconds) report.

        Idempotent: a report already Cancelled, or with a cancel already requested, is
        returned as it is; a finished one raises Conflict.
        """
        path = f"{API}/reports/{quote(report_id_of(report), safe='')}"
        try:
            return Report.from_json(self._transport.request("DELETE", path).json())
        except Conflict:
            current = self.get(report)
            if current.status == CANCELLED or (
                current.cancel_requested and not current.is_terminal
            ):
                return current
            raise

    def deliveries(self, report: ReportRef) -> list[Delivery]:
        """The run's deliveries as they are now: each target's kind, status, attempts,
        last error and when it was delivered (none for a report of no definition)."""
        return self.get(report).deliveries

    def retry_delivery(self, report: ReportRef, delivery_id: str | Delivery) -> Report:
        """Send that one delivery of the run again, now, whatever its status; its retry
        schedule starts afresh. Returns the report, that delivery Pending again. Raises
        NotFound for a report the caller may not see or a delivery it does not have."""
        delivery = delivery_id.delivery_id if isinstance(delivery_id, Delivery) else delivery_id
        path = (
            f"{API}/reports/{quote(report_id_of(report), safe='')}"
            f"/deliveries/{quote(delivery, safe='')}/retry"
        )
        return Report.from_json(self._transport.request("POST", path).json())

    def _pause(self, delay: float, deadline: float | None) -> None:
        if deadline is not None:
            delay = min(delay, max(deadline - time.monotonic(), 0.0))
        if delay > 0:
            self._sleep(delay)
