"""Every delivery kind by its name: the one place the API and the dispatcher look them up.

`api` is not here: it is no target the dispatcher sends to, but how the run is requested
(api/definitions/rules.py). A new kind joins this dict as one line.
"""

from __future__ import annotations

from collections.abc import Collection, Mapping
from typing import Any

from shared.config import Settings
from shared.deliveries import email_kind, s3_kind, sftp_kind
from shared.deliveries.targets import Kind

KINDS: dict[str, Kind] = {
    kind.name: kind for kind in (email_kind.KIND, s3_kind.KIND, sftp_kind.KIND)
}


def kinds_for(settings: Settings) -> dict[str, Kind]:
    """The kinds as a deployment runs them: the s3 kind knows Reportbox's own store, so it
    copies server-side there and accepts http to it where that is how Reportbox reaches it."""
    return {**KINDS, s3_kind.KIND.name: s3_kind.for_settings(settings)}


def needs_admin(kind: Kind, target: Mapping[str, Any], allowed_domains: Collection[str]) -> bool:
    """Whether only an `admin` may save this target: an admin-only kind, or an email to a
    domain outside EMAIL_ALLOWED_DOMAINS."""
    if kind.admin_only:
        return True
    if kind.name == email_kind.KIND.name:
        return bool(email_kind.outside_domains(target.get("recipients", []), allowed_domains))
    return False
