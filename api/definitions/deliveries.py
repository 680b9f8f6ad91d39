"""A definition's delivery targets on their way in and out of the API.

In: a target sent back with MASK for a secret keeps the one of the stored target with the
same destination (masks), and secrets are opened so the kind validates them in the clear
(open_targets); once valid, who may save each target is checked, the kind proves it works,
and its secrets are sealed (admit_targets). Out: every
secret is MASK (shown). Nothing here logs a target.
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from typing import Any

from api.auth import Principal
from api.definitions import masks
from shared.config import Settings
from shared.deliveries.kinds import KINDS, kinds_for, needs_admin
from shared.deliveries.targets import InvalidTarget, Kind
from shared.errors import AdminRequired, InvalidParameters
from shared.secrets import MASK, SecretsUnavailable, masked, seal, unseal


def _refused(index: int, field: str, message: str) -> InvalidParameters:
    return InvalidParameters(
        "The definition has invalid fields.", {f"deliveries.{index}.{field}": [message]}
    )


def open_targets(
    incoming: Any, stored: Sequence[Mapping[str, Any]], secrets_key: str | None
) -> Any:
    """The deliveries with each secret in the clear: MASK keeps the secret of the stored
    target with the same destination (masks.secret_source) or is a 422 naming the member;
    sealed values are opened. Anything malformed passes through for the rules to name."""
    if not isinstance(incoming, list):
        return incoming
    opened_stored = [_opened_if_possible(before, secrets_key) for before in stored]
    opened: list[Any] = []
    for index, delivery in enumerate(incoming):
        kind = _kind(delivery) if isinstance(delivery, Mapping) else None
        if kind is None or not kind.secret_fields:
            opened.append(delivery)
            continue
        target = dict(delivery)
        for member in sorted(kind.secret_fields):
            if target.get(member) == MASK:
                target[member] = _kept_secret(kind, target, index, member, opened_stored)
        try:
            opened.append(unseal(target, kind.secret_fields, secrets_key))
        except SecretsUnavailable as exc:
            raise _refused(index, sorted(kind.secret_fields)[0], str(exc)) from None
    return opened


def _kept_secret(
    kind: Kind,
    target: Mapping[str, Any],
    index: int,
    member: str,
    stored: Sequence[Mapping[str, Any]],
) -> Any:
    """The stored secret a masked `member` keeps (still sealed if it cannot be opened), or
    a 422 naming it: the literal mask is never a secret."""
    try:
        source = masks.secret_source(kind, target, index, member, stored)
    except InvalidTarget as refused:
        raise _refused(index, refused.field, refused.message) from None
    if isinstance(source, masks.Refused):
        raise _refused(index, member, source.message)
    return stored[source.index][member]


def _opened_if_possible(target: Mapping[str, Any], secrets_key: str | None) -> Mapping[str, Any]:
    """The stored target with its secrets in the clear, so equal secrets compare equal;
    as stored when they cannot be opened (opening the kept one then names the reason)."""
    kind = _kind(target)
    if kind is None or not kind.secret_fields:
        return target
    try:
        return unseal(target, kind.secret_fields, secrets_key)
    except SecretsUnavailable:
        return target


def admit_targets(
    principal: Principal,
    deliveries: Sequence[Mapping[str, Any]],
    stored: Sequence[Mapping[str, Any]],
    settings: Settings,
) -> list[dict[str, Any]]:
    """The valid deliveries as stored: 403 for a target only an admin may add, 422 for one
    the kind cannot prove, secrets sealed. A target saved before, unchanged, is not proved or
    refused again (an owner may still pause a definition an admin gave an s3 target)."""
    allowed = settings.email_allowed_domains.split(",")
    admitted: list[dict[str, Any]] = []
    kinds = kinds_for(settings)
    for index, delivery in enumerate(deliveries):
        kind = kinds.get(delivery["kind"])
        if kind is None:  # api
            admitted.append(dict(delivery))
            continue
        if not _saved_before(delivery, stored, kind.secret_fields, settings.delivery_secrets_key):
            if needs_admin(kind, delivery, allowed) and not principal.is_admin:
                raise AdminRequired(f"add this {kind.name} delivery (deliveries.{index})")
            try:
                kind.prove(delivery)
            except InvalidTarget as refused:
                raise _refused(index, refused.field, refused.message) from None
        try:
            admitted.append(seal(delivery, kind.secret_fields, settings.delivery_secrets_key))
        except SecretsUnavailable as exc:
            raise _refused(index, sorted(kind.secret_fields)[0], str(exc)) from None
    return admitted


def _saved_before(
    target: Mapping[str, Any],
    stored: Sequence[Mapping[str, Any]],
    secret_fields: frozenset[str],
    secrets_key: str | None,
) -> bool:
    """Whether the definition holds this very target already, secrets included."""
    for before in stored:
        if before.get("kind") != target.get("kind"):
            continue
        try:
            if unseal(before, secret_fields, secrets_key) == dict(target):
                return True
        except SecretsUnavailable:
            continue
    return False


def _shown(target: Mapping[str, Any]) -> dict[str, Any]:
    kind = _kind(target)
    return masked(target, kind.secret_fields) if kind is not None else dict(target)


def shown(deliveries: Sequence[Mapping[str, Any]]) -> list[dict[str, Any]]:
    """The deliveries as the API shows them: every secret MASK."""
    return [_shown(target) for target in deliveries]


def _kind(target: Mapping[str, Any]) -> Kind | None:
    """The delivery kind a target names; None for an unknown or missing one."""
    name = target.get("kind")
    return KINDS.get(name) if isinstance(name, str) else None
