"""The email bench's other kinds, for their Completed -> Delivered latency: an s3 target (a
bucket of its own on the bench's S3, our own keys, so the file is copied server-side) and
an sftp target (an asyncssh server on loopback, as the integration tests use)."""

from __future__ import annotations

import contextlib
import uuid
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from shared.config import Settings
from shared.deliveries.kinds import kinds_for
from shared.secrets import seal
from tests.integration.delivery_helpers import sftp_server
from tests.services import s3_client

SFTP_USER = "bench"
SFTP_PASSWORD = "bench-password"


@contextlib.contextmanager
def s3_and_sftp_targets(settings: Settings, work_dir: Path) -> Iterator[dict[str, Any]]:
    """{kind: target as a definition stores it (validated, secrets sealed)}; the bucket and
    the server are removed afterwards."""
    client = s3_client(settings)
    bucket = f"bench-deliveries-{uuid.uuid4().hex[:8]}"
    client.create_bucket(Bucket=bucket)
    root = work_dir / "sftp"
    (root / "outbox").mkdir(parents=True)
    try:
        with sftp_server(root, SFTP_USER, password=SFTP_PASSWORD) as server:
            raw = {
                "s3": {
                    "kind": "s3",
                    "bucket": bucket,
                    "prefix": "bench",
                    "endpointUrl": settings.s3_endpoint_url,
                    "region": settings.aws_region,
                    "accessKeyId": settings.aws_access_key_id,
                    "secretAccessKey": settings.aws_secret_access_key,
                },
                "sftp": {
                    "kind": "sftp",
                    "host": "127.0.0.1",
                    "port": server.port,
                    "username": SFTP_USER,
                    "password": SFTP_PASSWORD,
                    "hostKeySha256": server.host_key_sha256,
                    "path": "/outbox",
                },
            }
            kinds = kinds_for(settings)
            yield {
                name: seal(
                    kinds[name].validate(target),
                    kinds[name].secret_fields,
                    settings.delivery_secrets_key,
                )
                for name, target in raw.items()
            }
    finally:
        for item in client.list_objects_v2(Bucket=bucket).get("Contents", []):
            client.delete_object(Bucket=bucket, Key=item["Key"])
        client.delete_bucket(Bucket=bucket)
