"""A small HTTP client for the end-to-end tests: plain urllib, as a client would do it."""

from __future__ import annotations

import json
import time
import urllib.error
import urllib.request
from dataclasses import dataclass
from typing import Any


@dataclass
class Answer:
    status: int
    headers: dict[str, str]
    body: Any


class ApiClient:
    def __init__(self, base_url: str, token: str) -> None:
        self.base_url = base_url
        self.token = token

    def request(self, method: str, path: str, body: Any = None) -> Answer:
        data = None if body is None else json.dumps(body).encode()
        request = urllib.request.Request(f"{self.base_url}{path}", data=data, method=method)
        request.add_header("Authorization", f"Bearer {self.token}")
        if data is not None:
            request.add_header("Content-Type", "application/json")
        try:
            with urllib.request.urlopen(request, timeout=10) as response:
                raw = response.read()  # empty after a 204
                return Answer(response.status, dict(response.headers), json.loads(raw or b"null"))
        except urllib.error.HTTPError as error:
            return Answer(error.code, dict(error.headers), json.loads(error.read() or b"null"))

    def redirect_target(self, path: str) -> tuple[int, str | None]:
        """The status and Location of a redirecting endpoint, without following it."""

        class NoRedirect(urllib.request.HTTPRedirectHandler):
            def redirect_request(self, *args: Any, **kwargs: Any) -> None:
                return None

        opener = urllib.request.build_opener(NoRedirect)
        request = urllib.request.Request(f"{self.base_url}{path}")
        request.add_header("Authorization", f"Bearer {self.token}")
        try:
            with opener.open(request, timeout=10) as response:
                return response.status, response.headers.get("Location")
        except urllib.error.HTTPError as error:
            return error.code, error.headers.get("Location")

    def request_report(
        self, report_type: str, parameters: dict[str, Any], format: str = "csv"
    ) -> Answer:
        return self.request(
            "POST", f"/api/v1/reports/{report_type}", {"format": format, "parameters": parameters}
        )

    def report(self, report_id: str) -> Answer:
        return self.request("GET", f"/api/v1/reports/{report_id}")

    def wait_until_terminal(self, report_id: str, timeout: float = 60.0) -> dict[str, Any]:
        deadline = time.monotonic() + timeout
        while time.monotonic() < deadline:
            report = self.report(report_id).body
            if report["status"] in {"Completed", "Failed", "Cancelled", "Expired"}:
                return report
            time.sleep(0.2)
        raise AssertionError(f"report {report_id} still {report['status']} after {timeout} s")
