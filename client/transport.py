"""The one place that talks HTTP: sends with retries and turns refusals into typed errors."""

from __future__ import annotations

import random
import time
from collections.abc import Callable, Mapping
from typing import Any, TypeVar
from urllib.parse import urlsplit

import httpx

from client.errors import ApiError, Unavailable, error_type_for
from client.retry import RETRY_STATUSES, Random, parse_retry_after, retry_delay

T = TypeVar("T")

USER_AGENT = "reportbox-client/0.1"
API = "/api/v1"  # the base path of every call


class RetryableRefusal(Exception):
    """Raised inside an attempt for 429/502/503/504, so the retry loop can try again."""

    def __init__(self, error: ApiError) -> None:
        super().__init__(str(error))
        self.error = error


def problem_error(response: httpx.Response, *, storage: bool = False) -> ApiError:
    """The response's problem details as the matching ApiError subclass.

    A refusal by the storage (a presigned URL) is a plain ApiError: its 403 is not the
    API refusing the caller's token.
    """
    body: Mapping[str, Any] = {}
    if "json" in response.headers.get("content-type", ""):
        try:
            parsed = response.json()
        except ValueError:
            parsed = None
        if isinstance(parsed, Mapping):
            body = parsed
    error_type = ApiError if storage else error_type_for(response.status_code)
    title = body.get("title") or response.reason_phrase or "HTTP error"
    if storage:
        title = f"the storage refused the download: {title}"
    errors = body.get("errors")
    return error_type(
        response.status_code,
        str(title),
        body.get("detail"),
        errors=errors if isinstance(errors, Mapping) else None,
        existing_report_id=body.get("existingReportId"),
        retry_after=parse_retry_after(response.headers.get("retry-after")),
        body=body,
    )


def raise_for_refusal(
    response: httpx.Response,
    *,
    storage: bool = False,
    retry_statuses: frozenset[int] = RETRY_STATUSES,
) -> None:
    if response.status_code < 400:
        return
    response.read()  # a streamed answer's problem details are not read yet
    error = problem_error(response, storage=storage)
    if response.status_code in retry_statuses:
        raise RetryableRefusal(error)
    raise error


def _where(url: str) -> str:
    """Scheme, host and port only: a presigned URL's query and a URL's user:password@ are
    credentials."""
    parts = urlsplit(url)
    return f"{parts.scheme}://{parts.netloc.rpartition('@')[2]}"


class Transport:
    """An httpx client bound to one API, with the bearer token sent only to that API."""

    def __init__(
        self,
        base_url: str,
        token: str,
        *,
        timeout: float,
        max_retries: int,
        http: httpx.Client | None = None,
        sleep: Callable[[float], None] = time.sleep,
        rng: Random = random.random,
    ) -> None:
        self.base_url = base_url.rstrip("/")
        self._token = token
        self.max_retries = max_retries
        self._owns_http = http is None  # one passed in is the caller's to close
        self._http = http or httpx.Client(timeout=timeout, headers={"User-Agent": USER_AGENT})
        self._sleep = sleep
        self._rng = rng

    def close(self) -> None:
        if self._owns_http:
            self._http.close()

    def request(
        self,
        method: str,
        path: str,
        *,
        json: Any = None,
        params: Mapping[str, Any] | None = None,
        headers: Mapping[str, str] | None = None,
    ) -> httpx.Response:
        """One API call; the same request (headers included) on every retry."""
        url = f"{self.base_url}{path}"
        all_headers = {"Authorization": f"Bearer {self._token}", **(headers or {})}

        def attempt() -> httpx.Response:
            response = self._http.request(
                method, url, json=json, params=params, headers=all_headers
            )
            raise_for_refusal(response)
            return response

        return self.with_retries(attempt, self.base_url)

    def stream(self, url: str) -> Any:
        """GET a presigned storage URL, streaming; it carries its own credentials, not ours."""
        return self._http.stream("GET", url)

    def stream_api(self, path: str) -> Any:
        """GET an API path, streaming, with the token; the caller checks the answer."""
        return self._http.stream(
            "GET", f"{self.base_url}{path}", headers={"Authorization": f"Bearer {self._token}"}
        )

    def with_retries(self, attempt: Callable[[], T], where: str) -> T:
        """Run `attempt`, again after a connection error or a retryable refusal."""
        for number in range(self.max_retries + 1):
            last = number == self.max_retries
            try:
                return attempt()
            except httpx.TransportError as exc:
                if last:
                    raise Unavailable(
                        f"cannot reach {_where(where)}: {_reason(exc)}"
                        f" (after {number + 1} attempts)"
                    ) from exc
                delay = retry_delay(number, None, self._rng)
            except RetryableRefusal as refusal:
                if last:
                    raise refusal.error from None
                delay = retry_delay(number, refusal.error.retry_after, self._rng)
            self._sleep(delay)
        raise AssertionError("unreachable")  # the last attempt returns or raises


def _reason(exc: httpx.TransportError) -> str:
    text = str(exc).strip()
    return text or type(exc).__name__
