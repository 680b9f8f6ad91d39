from datetime import UTC, date, datetime

import pytest
from marshmallow import ValidationError

from shared.catalog import REPORT_TYPES, get_report_type


def load(name, raw):
    return get_report_type(name).load_parameters(raw)


def errors(name, raw):
    with pytest.raises(ValidationError) as raised:
        load(name, raw)
    return raised.value.messages


def test_the_three_report_types_ship():
    assert set(REPORT_TYPES) == {"sessions", "users", "popularity"}
    assert all("csv" in report_type.formats for report_type in REPORT_TYPES.values())


def test_sessions_accepts_iso_dates_and_optional_filters():
    parameters = load(
        "sessions",
        {
            "fromDate": "2026-01-01",
            "toDate": "2026-01-31",
            "country": "DE",
            "device": "ios",
            "userId": 7,
        },
    )

    assert parameters == {
        "from_date": date(2026, 1, 1),
        "to_date": date(2026, 1, 31),
        "country": "DE",
        "device": "ios",
        "user_id": 7,
    }


@pytest.mark.parametrize(
    ("raw", "field"),
    [
        ({"toDate": "2026-01-31"}, "fromDate"),
        ({"fromDate": "2026-01-01"}, "toDate"),
        ({"fromDate": "01/02/2026", "toDate": "2026-01-31"}, "fromDate"),
        ({"fromDate": "2026-02-01", "toDate": "2026-01-31"}, "toDate"),
        ({"fromDate": "2025-01-01", "toDate": "2026-01-31"}, "toDate"),
        ({"fromDate": "2026-01-01", "toDate": "2026-01-31", "country": "Germany"}, "country"),
        ({"fromDate": "2026-01-01", "toDate": "2026-01-31", "userId": "7"}, "userId"),
        ({"fromDate": "2026-01-01", "toDate": "2026-01-31", "org": "globex"}, "org"),
    ],
)
def test_sessions_rejects_bad_parameters_naming_the_field(raw, field):
    assert field in errors("sessions", raw)


def test_popularity_limit_defaults_to_100_and_is_bounded():
    base = {"fromDate": "2026-01-01", "toDate": "2026-01-31"}

    assert load("popularity", base)["limit"] == 100
    assert load("popularity", {**base, "limit": 10000})["limit"] == 10000
    assert "limit" in errors("popularity", {**base, "limit": 0})
    assert "limit" in errors("popularity", {**base, "limit": 10001})


def test_users_parameters_are_all_optional_and_plan_is_checked():
    assert load("users", {}) == {}
    assert "plan" in errors("users", {"plan": "platinum"})


def test_the_query_is_always_filtered_to_the_callers_org_and_a_utc_day_range():
    query = get_report_type("sessions").query(
        "acme", {"fromDate": "2026-01-01", "toDate": "2026-01-31"}
    )

    assert "s.org = %(org)s" in query.sql
    assert query.params["org"] == "acme"
    assert query.params["start"] == datetime(2026, 1, 1, tzinfo=UTC)
    assert query.params["end"] == datetime(2026, 2, 1, tzinfo=UTC)


def test_stored_parameters_round_trip_through_their_canonical_form():
    report_type = get_report_type("popularity")
    loaded = report_type.load_parameters({"fromDate": "2026-01-01", "toDate": "2026-01-31"})

    stored = report_type.dump_parameters(loaded)

    assert stored == {"fromDate": "2026-01-01", "toDate": "2026-01-31", "limit": 100}
    assert report_type.load_parameters(stored) == loaded
