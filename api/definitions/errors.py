"""What can go wrong with a report definition, as domain errors; one handler maps each to HTTP.

The services raise these and know nothing about HTTP; register_handler (called by the app
factory) turns each into its problem+json answer, so a status lives in one place.
"""

from __future__ import annotations

from collections.abc import Mapping
from typing import ClassVar

from flask import Flask, Response

from api.errors import problem

NOT_ASYNCHRONOUS = "Report is not configured for asynchronous generation."


class DefinitionError(Exception):
    status: ClassVar[int] = 500
    title: ClassVar[str] = "Internal Server Error"

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail

    def extra(self) -> dict[str, object]:
        return {}


class InvalidDefinition(DefinitionError):
    """Fields that fail validation, each named (`schedule.cron`, `parameters.fromDate`)."""

    status = 422
    title = "Unprocessable Content"

    def __init__(self, errors: Mapping[str, list[str]], detail: str = "") -> None:
        super().__init__(detail or "The definition has invalid fields.")
        self.errors = dict(errors)

    def extra(self) -> dict[str, object]:
        return {"errors": self.errors}


class DefinitionNotFound(DefinitionError):
    """No such definition, or one the caller may not see: existence is not revealed."""

    status = 404
    title = "Not Found"

    def __init__(self) -> None:
        super().__init__("There is no such report definition.")


class NameTaken(DefinitionError):
    status = 409
    title = "Conflict"

    def __init__(self, name: str) -> None:
        super().__init__(f"The org already has a report definition named {name!r}.")


class NotAsynchronous(DefinitionError):
    """AC-003: generate needs an `api` delivery in `async` mode; the title is the contract."""

    status = 409
    title = NOT_ASYNCHRONOUS

    def __init__(self) -> None:
        super().__init__(
            "This definition has no api delivery in async mode: add one to generate it, or "
            "read a sync definition's file from its content URL."
        )

    def extra(self) -> dict[str, object]:
        return {"error": NOT_ASYNCHRONOUS}


class NotSynchronous(DefinitionError):
    status = 409
    title = "Conflict"

    def __init__(self) -> None:
        super().__init__(
            "This definition has no api delivery in sync mode: its file is not built within "
            "a request. Generate it instead (POST /api/v1/reports/{definitionId}/generate)."
        )


class TooManyRowsForSync(DefinitionError):
    status = 422
    title = "Unprocessable Content"

    def __init__(self, max_rows: int, estimate: int | None = None) -> None:
        found = f"about {estimate:,} rows" if estimate is not None else "more rows than that"
        super().__init__(
            f"A synchronous answer holds at most {max_rows:,} rows (SYNC_MAX_ROWS) and this "
            f"report has {found}. Generate it asynchronously instead: change the api delivery's "
            "mode to async and POST /api/v1/reports/{definitionId}/generate."
        )
        self.max_rows = max_rows

    def extra(self) -> dict[str, object]:
        return {"errors": {"deliveries": [f"sync holds at most {self.max_rows:,} rows"]}}


class SyncTimedOut(DefinitionError):
    status = 504
    title = "Gateway Timeout"

    def __init__(self, seconds: float) -> None:
        super().__init__(
            f"The file was not built within {seconds:g} s (SYNC_TIMEOUT_SECONDS). Generate it "
            "asynchronously instead."
        )


def register_handler(app: Flask) -> None:
    @app.errorhandler(DefinitionError)
    def _definition_error(error: DefinitionError) -> Response:
        return problem(error.status, error.title, error.detail, **error.extra())
