"""The client's calls on report definitions and schedules (DESIGN section 8)."""

from __future__ import annotations

import os
import re
import uuid
from collections.abc import Iterator, Mapping
from datetime import datetime
from pathlib import Path
from typing import Any
from urllib.parse import quote

from client import download as downloads
from client.definitions import Definition, DefinitionPage, Schedule, SchedulePreview
from client.models import Accepted
from client.pages import every_item
from client.retry import RETRY_STATUSES
from client.transport import API, Transport, raise_for_refusal

DEFINITIONS = f"{API}/report-definitions"
# A 504 from the content call is the server's own limit on building a file within the
# request (SYNC_TIMEOUT_SECONDS): asking again would only wait as long once more.
CONTENT_RETRY_STATUSES = RETRY_STATUSES - {504}

DefinitionRef = str | Definition


def definition_id_of(definition: DefinitionRef) -> str:
    return definition if isinstance(definition, str) else definition.definition_id


def camel_case(name: str) -> str:
    """`send_when` -> `sendWhen`: the API's spelling of a Python keyword argument."""
    return re.sub(r"_([a-z])", lambda match: match.group(1).upper(), name)


def to_json_value(value: Any) -> Any:
    return value.to_json() if isinstance(value, Schedule) else value


class DefinitionCalls:
    """Create, read, change, delete and run report definitions; preview schedules."""

    _transport: Transport

    def create_definition(
        self,
        name: str,
        report_type: str,
        format: str = "csv",
        *,
        parameters: Mapping[str, Any] | None = None,
        period: str | None = None,
        schedule: Schedule | None = None,
        deliveries: list[Mapping[str, Any]] | None = None,
        send_when: str | None = None,
        description: str | None = None,
        active: bool | None = None,
    ) -> Definition:
        """Save a definition; what is left None takes the server's default.

        `deliveries` left None is an `api` delivery in `async` mode.
        """
        fields = {
            "name": name,
            "reportType": report_type,
            "format": format,
            "parameters": dict(parameters or {}),
            "period": period,
            "schedule": schedule,
            "deliveries": deliveries,
            "sendWhen": send_when,
            "description": description,
            "active": active,
        }
        body = {key: to_json_value(value) for key, value in fields.items() if value is not None}
        response = self._transport.request("POST", DEFINITIONS, json=body)
        return Definition.from_json(response.json())

    def list_definitions(self, page: int = 1, page_size: int = 20) -> DefinitionPage:
        """One page of the caller's definitions (an admin's: the org's), newest first."""
        params = {"page": page, "pageSize": page_size}
        body = self._transport.request("GET", DEFINITIONS, params=params).json()
        return DefinitionPage.from_json(body)

    def iter_definitions(self, page_size: int = 100) -> Iterator[Definition]:
        """Every definition, page after page, each once."""
        return every_item(
            lambda page: self.list_definitions(page, page_size),
            page_size,
            lambda definition: definition.definition_id,
        )

    def get_definition(self, definition: DefinitionRef) -> Definition:
        response = self._transport.request("GET", _path(definition))
        return Definition.from_json(response.json())

    def update_definition(self, definition: DefinitionRef, **changes: Any) -> Definition:
        """PATCH the given fields, named as in Python (`send_when=`, `schedule=Schedule(...)`).

        A None is sent as null: `schedule=None` removes the schedule. `active=True` resumes
        a definition paused after failed runs.
        """
        body = {camel_case(name): to_json_value(value) for name, value in changes.items()}
        response = self._transport.request("PATCH", _path(definition), json=body)
        return Definition.from_json(response.json())

    def delete_definition(self, definition: DefinitionRef) -> None:
        """Delete it; its runs stay in the history."""
        self._transport.request("DELETE", _path(definition))

    def generate(self, definition: DefinitionRef, idempotency_key: str | None = None) -> Accepted:
        """Run the definition now (an `async` one); the answer is its run, like request_report's.

        One Idempotency-Key is sent on each retry of this call (a new one unless given), so
        a retry after a lost answer gets the first run back instead of a second one. A
        definition not delivered through the API in `async` mode raises Conflict.
        """
        response = self._transport.request(
            "POST",
            f"{API}/reports/{quote(definition_id_of(definition), safe='')}/generate",
            headers={"Idempotency-Key": idempotency_key or str(uuid.uuid4())},
        )
        return Accepted.from_answer(response.json(), response.headers)

    def definition_content(self, definition: DefinitionRef, dest: str | os.PathLike[str]) -> Path:
        """Save a `sync` definition's file, built within the request, at `dest` (or inside it).

        The bytes stream to a temporary file renamed into place once whole. Raises Conflict
        for an `async` definition, ValidationError past the server's row cap (use generate)
        and ServerError for its time limit (504, not retried). Returns the path written.
        """
        definition_id = definition_id_of(definition)
        path = f"{_path(definition)}/content"

        def attempt() -> Path:
            with self._transport.stream_api(path) as response:
                raise_for_refusal(response, retry_statuses=CONTENT_RETRY_STATUSES)
                target = downloads.content_target(dest, response.headers, definition_id)
                return downloads.save_atomically(response.iter_bytes(downloads.CHUNK_BYTES), target)

        return self._transport.with_retries(attempt, self._transport.base_url)

    def preview_schedule(
        self,
        cron: str,
        timezone: str,
        from_: datetime | str | None = None,
        count: int = 5,
    ) -> SchedulePreview:
        """The next `count` (at most 50) instants of `cron` in `timezone` after `from_` (now).

        A bad expression, an unknown zone or runs too close together raise ValidationError
        naming `schedule.cron` or `schedule.timezone`.
        """
        params: dict[str, Any] = {"cron": cron, "timezone": timezone, "count": count}
        if from_ is not None:
            params["from"] = from_.isoformat() if isinstance(from_, datetime) else from_
        body = self._transport.request("GET", f"{API}/schedules/preview", params=params).json()
        return SchedulePreview.from_json(body, cron, timezone)


def _path(definition: DefinitionRef) -> str:
    return f"{DEFINITIONS}/{quote(definition_id_of(definition), safe='')}"
