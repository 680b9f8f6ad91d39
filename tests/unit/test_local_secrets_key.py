"""make run's key for delivery secrets: made once, kept, readable by its owner only."""

from __future__ import annotations

import stat

from cryptography.fernet import Fernet

from infra.local.run import local_secrets_key


def test_the_key_is_made_once_and_kept_across_runs(tmp_path):
    path = tmp_path / ".run" / "delivery-secrets.key"

    first = local_secrets_key(path)

    assert local_secrets_key(path) == first
    assert Fernet(first.encode()).decrypt(Fernet(first.encode()).encrypt(b"x")) == b"x"
    assert stat.S_IMODE(path.stat().st_mode) == 0o600
