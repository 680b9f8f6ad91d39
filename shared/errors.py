"""The domain's refusals: what a service raises when it will not do what it was asked.

They say what went wrong in the domain's words and carry the data an answer needs (a field's
errors, the existing report, how long to wait); they know nothing of HTTP. api/errors.py
maps each class to its status and problem body, in one table (ANSWERS).

To add one: subclass DomainError here with a `detail` sentence for the client (never a
secret, a token or a driver's message) and the data the answer needs as attributes; add
its row to api/errors.py's ANSWERS; tests/unit/test_domain_errors.py fails until you do.
"""

from __future__ import annotations

import uuid
from collections.abc import Mapping

from shared.statuses import ReportStatus


class DomainError(Exception):
    """A refusal the client caused or may wait out; `detail` tells the client which."""

    def __init__(self, detail: str) -> None:
        super().__init__(detail)
        self.detail = detail


class NotAuthenticated(DomainError):
    """No token, or one that does not verify."""


class MalformedBody(DomainError):
    """The request's body cannot be read or parsed."""


class InvalidParameters(DomainError):
    """Fields of the request are invalid; `field_errors` names each with its messages."""

    def __init__(self, detail: str, field_errors: Mapping[str, list[str]] | None = None) -> None:
        super().__init__(detail)
        self.field_errors = dict(field_errors or {})


class IdempotencyKeyReused(InvalidParameters):
    """The Idempotency-Key was used before with a different request."""

    def __init__(self) -> None:
        super().__init__(
            "This Idempotency-Key was used with a different request.",
            {"Idempotency-Key": ["was used with a different request"]},
        )


class UnknownReportType(DomainError):
    """No report type has this name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"There is no report type {name!r}.")
        self.name = name


class NotAllowed(DomainError):
    """The caller's roles may not request this report type."""

    def __init__(self, report_type: str, roles: frozenset[str]) -> None:
        super().__init__(
            f"Requesting {report_type!r} reports needs one of the roles {sorted(roles)}."
        )
        self.report_type = report_type
        self.roles = roles


class DuplicateActive(DomainError):
    """An identical report is already Pending or Processing."""

    def __init__(self, existing_report_id: uuid.UUID) -> None:
        super().__init__("An identical report is already Pending or Processing.")
        self.existing_report_id = existing_report_id


class AdmittedConcurrently(DomainError):
    """An identical request, or one with the same Idempotency-Key, won a race just now."""

    def __init__(self) -> None:
        super().__init__("An identical request was accepted just now.")


class TooManyActive(DomainError):
    """The user has as many reports Pending or Processing as they may; one must end first."""

    def __init__(self, active: int, max_active: int, retry_after_seconds: int) -> None:
        super().__init__(
            f"You have {active} reports Pending or Processing; at most {max_active} may be."
        )
        self.retry_after_seconds = retry_after_seconds


class RateLimited(DomainError):
    """The user requested as many reports in the last minute as they may."""

    def __init__(self, recent: int, max_per_minute: int, retry_after_seconds: int) -> None:
        super().__init__(
            f"You requested {recent} reports in the last minute; at most "
            f"{max_per_minute} may be requested in any minute, cancelled ones included. "
            f"Try again in {retry_after_seconds} s."
        )
        self.retry_after_seconds = retry_after_seconds


class ReportNotFound(DomainError):
    """No such report, or not one the caller may see (the two are never told apart)."""

    def __init__(self) -> None:
        super().__init__("There is no such report.")


class AlreadyFinished(DomainError):
    """The report is finished: there is nothing left to cancel."""

    def __init__(self, status: ReportStatus) -> None:
        super().__init__(
            f"The report is {status}; only Pending or Processing reports can be cancelled."
        )
        self.status = status


class NotFinished(DomainError):
    """The report is not Completed: it has no file (yet)."""

    def __init__(self, status: ReportStatus) -> None:
        super().__init__(f"The report is {status}; there is no file.")
        self.status = status


class Gone(DomainError):
    """The report's file was deleted: it expired, or its retention ended."""


# Report definitions (DESIGN.md section 8).

# US-094 AC-003: the problem title, exactly, and its `error` member.
NOT_ASYNCHRONOUS = "Report is not configured for asynchronous generation."


class DefinitionNotFound(DomainError):
    """No such report definition, or not one the caller may see (never told apart)."""

    def __init__(self) -> None:
        super().__init__("There is no such report definition.")


class DefinitionNameTaken(DomainError):
    """The org already has a report definition of this name."""

    def __init__(self, name: str) -> None:
        super().__init__(f"The org already has a report definition named {name!r}.")
        self.name = name


class NotAsynchronous(DomainError):
    """generate needs an api delivery in async mode, and the definition has none."""

    def __init__(self) -> None:
        super().__init__(
            "This definition has no api delivery in async mode: add one to generate it, or "
            "read a sync definition's file from its content URL."
        )


class NotSynchronous(DomainError):
    """content needs an api delivery in sync mode, and the definition has none."""

    def __init__(self) -> None:
        super().__init__(
            "This definition has no api delivery in sync mode: its file is not built within "
            "a request. Generate it instead (POST /api/v1/reports/{definitionId}/generate)."
        )


class TooManyRowsForSync(DomainError):
    """A sync definition's file would hold more than SYNC_MAX_ROWS rows."""

    def __init__(self, max_rows: int, estimate: int | None = None) -> None:
        found = f"about {estimate:,} rows" if estimate is not None else "more rows than that"
        super().__init__(
            f"A synchronous answer holds at most {max_rows:,} rows (SYNC_MAX_ROWS) and this "
            f"report has {found}. Generate it asynchronously instead: change the api "
            "delivery's mode to async and POST /api/v1/reports/{definitionId}/generate."
        )
        self.max_rows = max_rows


class SyncTimedOut(DomainError):
    """A sync definition's file was not built within SYNC_TIMEOUT_SECONDS."""

    def __init__(self, seconds: float) -> None:
        super().__init__(
            f"The file was not built within {seconds:g} s (SYNC_TIMEOUT_SECONDS). Generate it "
            "asynchronously instead."
        )


class AdminRequired(DomainError):
    """Only an admin of the org may do this (managing webhook endpoints)."""

    def __init__(self, what: str) -> None:
        super().__init__(f"Only an admin of the org may {what}.")


class DeliveryNotFound(DomainError):
    """The report has no such delivery."""

    def __init__(self) -> None:
        super().__init__("The report has no such delivery.")


class WebhookEndpointNotFound(DomainError):
    """No such webhook endpoint in the caller's org (another org's is never told apart)."""

    def __init__(self) -> None:
        super().__init__("There is no such webhook endpoint.")


class WebhookMessageNotFound(DomainError):
    """The endpoint has no such message."""

    def __init__(self) -> None:
        super().__init__("The webhook endpoint has no such message.")


class WebhookEndpointDisabled(DomainError):
    """The endpoint is disabled: nothing is sent to it until it is re-enabled."""

    def __init__(self) -> None:
        super().__init__(
            'The webhook endpoint is disabled; re-enable it first (PATCH {"disabled": false}).'
        )


class WebhookSecretsUnavailable(DomainError):
    """The server cannot seal a webhook secret (DELIVERY_SECRETS_KEY missing or malformed):
    nothing is saved, rather than a secret kept in the clear."""

    def __init__(self) -> None:
        super().__init__(
            "Webhook secrets cannot be stored: the server has no usable DELIVERY_SECRETS_KEY. "
            "Nothing was saved."
        )
