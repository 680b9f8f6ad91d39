"""The POST benchmark's reference: a bare Flask view doing the API's two inserts, nothing else.

gunicorn serves it with the API's own settings (tests/perf/post_throughput.py), so the
ratio Reportbox / bare is what authentication, validation, admission and serialisation
cost on top of the two rows every accepted request must write: the report and its outbox
message, in one transaction, through psycopg on one connection per gunicorn thread.
"""

from __future__ import annotations

import hashlib
import json
import os
import threading
import uuid
from datetime import UTC, datetime

import psycopg
from flask import Flask, request

from shared.db import libpq_url

INSERT_REPORT = """
    INSERT INTO reports (id, org, owner_id, report_type, format, parameters, status,
                         request_hash)
    VALUES (%s, 'bench', 'bare', 'sessions', %s, %s, 'Pending', %s)
"""
INSERT_OUTBOX = """
    INSERT INTO outbox (message_id, message_type, report_id, body)
    VALUES (%s, 'report.requested', %s, %s)
"""


def create_app() -> Flask:
    app = Flask(__name__)
    url = libpq_url(os.environ["DATABASE_URL"])
    # One connection per thread, opened at first use: the API's gunicorn runs gthread, and
    # threads sharing one connection interleave their transactions (a savepoint inside
    # another's, an outer one never committed, the bench's TRUNCATE waiting for ever).
    # autocommit: transaction() is then exactly BEGIN ... COMMIT.
    local = threading.local()

    @app.post("/api/v1/reports/sessions")
    def post() -> tuple[dict[str, str], int]:
        if not hasattr(local, "connection"):
            local.connection = psycopg.connect(url, autocommit=True)
        connection: psycopg.Connection = local.connection
        raw = request.get_data()
        document = json.loads(raw)
        report_id, message_id = uuid.uuid4(), uuid.uuid4()
        body = json.dumps(
            {
                "messageId": str(message_id),
                "type": "report.requested",
                "reportId": str(report_id),
                "occurredAt": datetime.now(UTC).isoformat(),
            }
        ).encode()
        with connection.transaction():
            connection.execute(
                INSERT_REPORT,
                (
                    report_id,
                    document["format"],
                    json.dumps(document["parameters"]),
                    hashlib.sha256(raw + report_id.bytes).hexdigest(),  # unique: one owner here
                ),
            )
            connection.execute(INSERT_OUTBOX, (message_id, report_id, body))
        return {"reportId": str(report_id), "status": "Pending"}, 202

    return app
