"""The local S3 that `make run` and the tests start (SeaweedFS): what it stores outlives it."""

import botocore.exceptions

from infra.local.processes import s3_client
from tests.integration.helpers import eventually
from tests.services import LOCAL_S3_ACCESS_KEY, LOCAL_S3_SECRET_KEY, local_s3_server

BUCKET = "kept"
KEY = "reports/acme/0b4c4f4e-6f5e-4d43-9d1b-2f1d3c9b8a7e/1.csv"


def test_an_object_stored_before_a_restart_is_read_after_it(tmp_path):
    body = b"a,b\n" + b"1,2\n" * 100_000
    with local_s3_server(tmp_path) as endpoint:
        client = s3_client(endpoint, LOCAL_S3_ACCESS_KEY, LOCAL_S3_SECRET_KEY)
        client.create_bucket(Bucket=BUCKET)
        client.put_object(Bucket=BUCKET, Key=KEY, Body=body, ContentType="text/csv")
    # Stopped by a kill (local_s3_server's default); started again on other free ports.
    with local_s3_server(tmp_path) as endpoint:
        client = s3_client(endpoint, LOCAL_S3_ACCESS_KEY, LOCAL_S3_SECRET_KEY)
        read: list[tuple[bytes, str]] = []

        def read_back() -> bool:
            # Its S3 gateway answers before its volume server has registered the volumes it
            # found on disk again; until then a read is an InternalError (seen on a busy
            # machine), never other bytes.
            try:
                stored = client.get_object(Bucket=BUCKET, Key=KEY)
            except botocore.exceptions.ClientError as error:
                assert error.response["Error"]["Code"] == "InternalError", error
                return False
            read.append((stored["Body"].read(), stored["ContentType"]))
            return True

        assert eventually(read_back, timeout=30, interval=0.5)
        assert read == [(body, "text/csv")]
