#!/usr/local/python/bin/python
"""The few `mc` commands Reportbox's compose file uses, over boto3.

    mc ready ALIAS                         exit 0 once the server answers S3 requests
    mc alias set ALIAS URL KEY SECRET      remember a server
    mc mb [--ignore-existing] ALIAS/BUCKET create a bucket

Like mc, the alias `local` is the server on this host with MINIO_ROOT_USER/PASSWORD.
"""

from __future__ import annotations

import json
import os
import sys
from pathlib import Path

import boto3
from botocore.config import Config
from botocore.exceptions import ClientError

ALIASES = Path.home() / ".mc" / "standin-aliases.json"


def aliases() -> dict[str, dict[str, str]]:
    known = json.loads(ALIASES.read_text()) if ALIASES.exists() else {}
    if "MINIO_ROOT_USER" in os.environ:
        known.setdefault(
            "local",
            {
                "url": "http://127.0.0.1:9000",
                "key": os.environ["MINIO_ROOT_USER"],
                "secret": os.environ.get("MINIO_ROOT_PASSWORD", ""),
            },
        )
    return known


def client(alias: str):
    server = aliases()[alias]
    return boto3.client(
        "s3",
        endpoint_url=server["url"],
        aws_access_key_id=server["key"],
        aws_secret_access_key=server["secret"],
        region_name="us-east-1",
        config=Config(s3={"addressing_style": "path"}, retries={"max_attempts": 1}),
    )


def main(argv: list[str]) -> int:
    match argv:
        case ["ready", alias]:
            client(alias).list_buckets()
        case ["alias", "set", alias, url, key, secret]:
            known = json.loads(ALIASES.read_text()) if ALIASES.exists() else {}
            known[alias] = {"url": url, "key": key, "secret": secret}
            ALIASES.parent.mkdir(parents=True, exist_ok=True)
            ALIASES.write_text(json.dumps(known))
            print(f"Added `{alias}` successfully.")
        case ["mb", *options, target] if set(options) <= {"--ignore-existing", "-p"}:
            alias, _, bucket = target.partition("/")
            try:
                client(alias).create_bucket(Bucket=bucket)
            except ClientError as error:
                owned = error.response["Error"]["Code"] == "BucketAlreadyOwnedByYou"
                if not (owned and options):
                    raise
            print(f"Bucket created successfully `{target}`.")
        case _:
            print(f"mc stand-in: unsupported command {argv}", file=sys.stderr)
            return 2
    return 0


if __name__ == "__main__":
    sys.exit(main(sys.argv[1:]))
