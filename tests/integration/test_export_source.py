"""The export's session on the source database: read-only, its time zone, ISO dates and its
time limit, all set in one round trip and gone when the export's transaction ends."""

from __future__ import annotations

import psycopg
import pytest

from shared.db import QueryCancelled, QueryFailed
from worker.source import export_cursor

SETTINGS = (
    "SELECT current_setting('transaction_read_only'), current_setting('TimeZone'),"
    " current_setting('statement_timeout'), current_setting('DateStyle')"
)


def test_the_export_transaction_is_read_only_in_the_report_zone_with_its_own_time_limit(engine):
    with export_cursor(engine, 4321, "Asia/Kolkata") as cursor:
        assert cursor.execute(SETTINGS).fetchone() == ("on", "Asia/Kolkata", "4321ms", "ISO, YMD")
        with pytest.raises(psycopg.errors.ReadOnlySqlTransaction):
            cursor.execute("CREATE TEMPORARY TABLE written (x int)")


def test_the_settings_end_with_the_export_and_do_not_leak_into_the_pool(engine):
    with export_cursor(engine, 4321, "Asia/Kolkata") as cursor:
        cursor.execute("SELECT 1")
    with engine.connect() as connection:
        read_only, zone, timeout, _date_style = connection.exec_driver_sql(SETTINGS).one()
    assert read_only == "off"
    assert zone != "Asia/Kolkata"
    assert timeout != "4321ms"


def test_a_query_the_database_refuses_leaves_as_query_failed_not_as_a_driver_error(engine):
    with pytest.raises(QueryFailed), export_cursor(engine, 4321) as cursor:
        cursor.execute("SELECT 1 / 0")


def test_a_query_past_the_exports_time_limit_leaves_as_query_cancelled(engine):
    with pytest.raises(QueryCancelled), export_cursor(engine, 50) as cursor:
        cursor.execute("SELECT pg_sleep(5)")
