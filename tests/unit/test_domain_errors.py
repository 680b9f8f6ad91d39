"""Every refusal a service may raise has one answer (api/errors.py: ANSWERS)."""

from __future__ import annotations

import inspect
import uuid

from api.errors import ANSWERS, refusal_problem
from shared import errors
from shared.errors import (
    NOT_ASYNCHRONOUS,
    DomainError,
    DuplicateActive,
    InvalidParameters,
    NotAsynchronous,
    RateLimited,
    SyncTimedOut,
    WebhookSecretsUnavailable,
)

# Refusals that are not the client's fault: a sync timeout (DESIGN.md section 8), and a
# deployment without the key that seals webhook signing secrets.
SERVER_SIDE = {SyncTimedOut: 504, WebhookSecretsUnavailable: 503}


def subclasses(kind: type) -> set[type]:
    found = set(kind.__subclasses__())
    for sub in list(found):
        found |= subclasses(sub)
    return found


def test_every_domain_error_class_has_an_answer():
    declared = {
        kind
        for _, kind in inspect.getmembers(errors, inspect.isclass)
        if issubclass(kind, DomainError) and kind is not DomainError
    }
    assert declared  # the module was read
    assert sorted(k.__name__ for k in (declared | subclasses(DomainError)) - ANSWERS.keys()) == []


def test_every_answer_is_a_client_error_with_a_title():
    for kind, answer in ANSWERS.items():
        assert 400 <= answer.status < 500 or SERVER_SIDE.get(kind) == answer.status, kind
        assert answer.title, kind


def test_an_answer_carries_the_data_of_its_refusal():
    existing = uuid.uuid4()
    duplicate = refusal_problem(DuplicateActive(existing))
    assert (duplicate.status_code, duplicate.get_json()["existingReportId"]) == (409, str(existing))

    limited = refusal_problem(RateLimited(3, 3, 17))
    assert (limited.status_code, limited.headers["Retry-After"]) == (429, "17")
    assert limited.mimetype == "application/problem+json"

    invalid = refusal_problem(InvalidParameters("Bad.", {"format": ["must be csv"]}))
    assert invalid.get_json() == {
        "type": "about:blank",
        "title": "Unprocessable Content",
        "status": 422,
        "detail": "Bad.",
        "errors": {"format": ["must be csv"]},
    }
    assert "errors" not in refusal_problem(InvalidParameters("The body must be...")).get_json()


def test_generate_without_an_async_api_delivery_answers_as_us_094_shows():
    refused = refusal_problem(NotAsynchronous())
    assert refused.status_code == 409
    assert refused.get_json()["title"] == "Report is not configured for asynchronous generation."
    assert refused.get_json()["error"] == NOT_ASYNCHRONOUS
