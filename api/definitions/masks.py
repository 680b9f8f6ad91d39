"""Which stored target a target sent back with MASK takes its secret from.

A secret belongs to a destination (the kind's identity: an access key at a bucket and
endpoint, a login at an SFTP host), not to a place in the list. So a masked secret is kept
from the stored target with the same kind and identity wherever it now sits: targets may be
reordered or removed, and change what is no identity (a prefix, a path). The one at the same
place wins when it matches (the page sends targets where they were); otherwise every other
match must hold the same secret, else the author enters it again. A mask is never kept from
another destination, nor stored as a secret. Pure: the caller passes the stored targets with
their secrets opened (a secret that cannot be opened stays sealed, and unequal to any other).
"""

from __future__ import annotations

from collections.abc import Mapping, Sequence
from dataclasses import dataclass
from typing import Any

from shared.deliveries.targets import InvalidTarget, Kind

# How a message names a secret member.
_SECRET_NAMES = {
    "secretAccessKey": "secret access key",
    "password": "password",
    "privateKey": "private key",
}


@dataclass(frozen=True)
class Kept:
    """The masked secret is the one of stored[index]."""

    index: int


@dataclass(frozen=True)
class Refused:
    """No single stored secret fits: the author enters it again (`message` says why)."""

    message: str


def secret_source(
    kind: Kind,
    target: Mapping[str, Any],
    index: int,
    member: str,
    stored: Sequence[Mapping[str, Any]],
) -> Kept | Refused:
    """Where `target` (sent at `index`, `member` masked) takes that secret from. InvalidTarget
    when the target's own identity is malformed."""
    identity = kind.identity(target)
    same = [place for place, before in enumerate(stored) if _same(kind, before, identity)]
    holding = [place for place in same if stored[place].get(member) is not None]
    secret = _SECRET_NAMES.get(member, "secret")
    again = f"enter the {secret} again:"
    if not same:
        return Refused(f"{again} no saved target with this {kind.identity_names}")
    if not holding:
        return Refused(f"{again} the saved target with this {kind.identity_names} has none")
    if index in holding:
        return Kept(index)
    first = stored[holding[0]][member]
    if any(stored[place][member] != first for place in holding):
        return Refused(
            f"{again} the saved targets with this {kind.identity_names} hold different ones"
        )
    return Kept(holding[0])


def _same(kind: Kind, before: Mapping[str, Any], identity: tuple[Any, ...]) -> bool:
    if before.get("kind") != kind.name:
        return False
    try:
        return kind.identity(before) == identity
    except InvalidTarget:  # saved under older rules: no longer anyone's match
        return False
