"""Webhook endpoints' signing secrets sealed at rest, like delivery targets' secrets.

Until now webhook_endpoints.secret and previous_secret held the `whsec_` text itself. From
here they hold it encrypted with DELIVERY_SECRETS_KEY (shared/secrets.py, a Fernet token);
the dispatcher opens them at send time. This seals every clear one, and a CHECK keeps a
clear one from ever being written again. The key comes from the alembic config attribute
`secrets_key` or else DELIVERY_SECRETS_KEY; with clear secrets to seal and no key the
migration stops (nothing changed) rather than leave them readable. The downgrade opens them
again with the same key.

Revision ID: 0011
Revises: 0010
Create Date: 2026-12-05
"""

import os
from collections.abc import Callable, Sequence

import sqlalchemy as sa
from alembic import context, op

from shared.secrets import seal_text, unseal_text

revision: str = "0011"
down_revision: str | None = "0010"
branch_labels: str | Sequence[str] | None = None
depends_on: str | Sequence[str] | None = None

CLEAR = "whsec\\_%"  # LIKE pattern of a secret in the clear

SEALED_CHECK = (
    f"secret NOT LIKE '{CLEAR}' AND (previous_secret IS NULL OR previous_secret NOT LIKE '{CLEAR}')"
)


def _key() -> str | None:
    return context.config.attributes.get("secrets_key") or os.environ.get("DELIVERY_SECRETS_KEY")


def _rewrite(where: str, change: Callable[[str, str], str]) -> None:
    """Apply `change` to every secret and previous secret of the rows `where` selects."""
    connection = op.get_bind()
    rows = connection.execute(
        sa.text(f"SELECT id, secret, previous_secret FROM webhook_endpoints WHERE {where}")
    ).all()
    if not rows:
        return
    key = _key()
    if not key:
        raise RuntimeError(
            f"{len(rows)} webhook endpoints' secrets need DELIVERY_SECRETS_KEY to be "
            "sealed or opened; set it and run the migration again"
        )
    for row in rows:
        connection.execute(
            sa.text(
                "UPDATE webhook_endpoints SET secret = :secret, previous_secret = :previous "
                "WHERE id = :id"
            ),
            {
                "id": row.id,
                "secret": change(row.secret, key),
                "previous": None
                if row.previous_secret is None
                else change(row.previous_secret, key),
            },
        )


def upgrade() -> None:
    _rewrite(
        f"secret LIKE '{CLEAR}' OR previous_secret LIKE '{CLEAR}'",
        lambda value, key: value if not value.startswith("whsec_") else seal_text(value, key),
    )
    op.create_check_constraint("webhook_endpoints_secret_sealed", "webhook_endpoints", SEALED_CHECK)


def downgrade() -> None:
    op.drop_constraint("webhook_endpoints_secret_sealed", "webhook_endpoints", type_="check")
    _rewrite("true", lambda value, key: unseal_text(value, key, "a webhook secret"))
