#!/usr/local/python/bin/python
"""`minio server DIR [--console-address ADDRESS]`, served by SeaweedFS.

The contract docker-compose.yml relies on: the S3 API on port 9000, data in DIR, and
MINIO_ROOT_USER/MINIO_ROOT_PASSWORD as the one identity allowed in. There is no console.
"""

from __future__ import annotations

import argparse
import json
import os
import tempfile

S3_PORT = 9000


def main() -> None:
    parser = argparse.ArgumentParser(prog="minio")
    parser.add_argument("command", choices=["server"])
    parser.add_argument("data")
    parser.add_argument("--console-address", default=None, help="accepted, not served")
    args = parser.parse_args()
    identity = {
        "name": "root",
        "credentials": [
            {
                "accessKey": os.environ["MINIO_ROOT_USER"],
                "secretKey": os.environ["MINIO_ROOT_PASSWORD"],
            }
        ],
        "actions": ["Admin", "Read", "Write", "List", "Tagging"],
    }
    with tempfile.NamedTemporaryFile("w", suffix=".json", delete=False) as config:
        json.dump({"identities": [identity]}, config)
    os.execvp(
        "weed",
        [
            "weed",
            "server",
            f"-dir={args.data}",
            "-ip=127.0.0.1",
            "-ip.bind=0.0.0.0",
            "-master.volumeSizeLimitMB=256",
            "-s3",
            f"-s3.port={S3_PORT}",
            f"-s3.config={config.name}",
        ],
    )


if __name__ == "__main__":
    main()
