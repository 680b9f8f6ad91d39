from datetime import UTC, date, datetime
from zoneinfo import ZoneInfo

import pytest
from marshmallow import ValidationError

from shared.catalog import EXPORT_FORMATS, REPORT_TYPES, get_report_type
from shared.catalog.base import Column, ReportType
from shared.catalog.standard import known_timezones
from shared.inputs import InputSchema

SESSION_COLUMNS = [
    "session_id",
    "user_id",
    "album_id",
    "started_at",
    "duration_ms",
    "country",
    "device",
]
STANDARD_DEFAULTS = {"timezone": "UTC"}


def load(name, raw):
    return get_report_type(name).load_parameters(raw)


def errors(name, raw):
    with pytest.raises(ValidationError) as raised:
        load(name, raw)
    return raised.value.messages


def test_the_three_report_types_ship_in_all_six_formats():
    assert {"sessions", "users", "popularity"} <= set(REPORT_TYPES)
    assert EXPORT_FORMATS == ("csv", "csv.gz", "jsonl", "json", "xlsx", "pdf")
    for name in ("sessions", "users", "popularity"):
        assert get_report_type(name).formats == EXPORT_FORMATS


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
        "columns": SESSION_COLUMNS,
        **STANDARD_DEFAULTS,
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
    assert load("users", {}) == {
        "columns": ["user_id", "display_name", "email", "country", "plan", "created_at"],
        **STANDARD_DEFAULTS,
    }
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

    assert stored == {
        "fromDate": "2026-01-01",
        "toDate": "2026-01-31",
        "limit": 100,
        "columns": [column.name for column in report_type.columns],
        "timezone": "UTC",
    }
    assert report_type.load_parameters(stored) == loaded


# ----------------------------------------------------------- the standard parameters


WINDOW = {"fromDate": "2026-01-01", "toDate": "2026-01-31"}


def test_columns_choose_a_subset_in_the_order_given():
    query = get_report_type("sessions").query(
        "acme", {**WINDOW, "columns": ["started_at", "session_id"]}
    )

    assert query.sql.startswith('SELECT "started_at", "session_id" FROM (')


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        (["session_id", "nope"], "unknown column 'nope'"),
        (["session_id", "session_id"], "more than once: session_id"),
        ([], "must name 1 to 7 columns, not 0"),
        ("session_id", "Not a valid list"),
    ],
)
def test_bad_columns_are_refused_naming_the_column(columns, message):
    messages = errors("sessions", {**WINDOW, "columns": columns})

    assert message in str(messages["columns"])


def test_too_many_columns_are_refused_by_their_count_before_any_name_is_read():
    # A 64 KiB body holds thousands of names: counting first keeps the check linear, and
    # one message says what is wrong instead of one per name (or a quadratic repeat search).
    repeated = errors("sessions", {**WINDOW, "columns": ["device", "country"] * 4650})
    unknown = errors("sessions", {**WINDOW, "columns": ["nope"] * 10_000})

    expected = {"columns": [f"must name 1 to {len(SESSION_COLUMNS)} columns, not 9300"]}
    assert repeated == expected
    assert unknown == {"columns": [f"must name 1 to {len(SESSION_COLUMNS)} columns, not 10000"]}


def test_a_repeated_column_is_named_once_in_the_order_given():
    messages = errors("sessions", {**WINDOW, "columns": ["device", "user_id", "device", "user_id"]})

    assert messages == {"columns": ["names a column more than once: device, user_id"]}


def test_an_unknown_time_zone_is_refused():
    messages = errors("sessions", {**WINDOW, "timezone": "Mars/Olympus_Mons"})

    assert "not an IANA time zone" in messages["timezone"][0]
    assert "timezone" in errors("sessions", {**WINDOW, "timezone": "utc"})
    assert "timezone" in errors("sessions", {**WINDOW, "timezone": "../../etc/passwd"})


@pytest.mark.parametrize("name", ["localtime", "Factory", "posixrules", "zone.tab", "tzdata.zi"])
def test_names_in_a_zoneinfo_folder_that_are_no_location_are_refused(name):
    # The host's zoneinfo folder holds these too; localtime is whatever zone the host is in.
    assert "timezone" in errors("sessions", {**WINDOW, "timezone": name})


@pytest.mark.parametrize(
    "name", ["UTC", "Europe/Berlin", "America/Argentina/Buenos_Aires", "Etc/GMT+5", "US/Eastern"]
)
def test_canonical_and_backward_zone_names_are_accepted(name):
    assert load("sessions", {**WINDOW, "timezone": name})["timezone"] == name


def test_the_zone_list_is_tzdata_s_own_not_the_host_s():
    import importlib.resources

    shipped = importlib.resources.files("tzdata").joinpath("zones").read_text().split()

    assert known_timezones() == frozenset(shipped) - {"Factory"}


def test_the_date_range_is_days_in_the_report_time_zone_across_a_dst_change():
    query = get_report_type("sessions").query(
        "acme",
        {"fromDate": "2026-03-29", "toDate": "2026-03-29", "timezone": "Europe/Berlin"},
    )

    berlin = ZoneInfo("Europe/Berlin")
    assert query.timezone == "Europe/Berlin"
    assert query.params["start"] == datetime(2026, 3, 29, tzinfo=berlin)
    assert query.params["end"] == datetime(2026, 3, 30, tzinfo=berlin)
    # The day the clocks go forward is 23 hours long.
    assert query.params["end"].timestamp() - query.params["start"].timestamp() == 23 * 3600


def test_users_dates_are_days_in_the_report_time_zone():
    query = get_report_type("users").query(
        "acme",
        {"createdFrom": "2026-10-25", "createdTo": "2026-10-25", "timezone": "Europe/Berlin"},
    )

    assert query.params["start"].utcoffset().total_seconds() == 2 * 3600
    assert query.params["end"].utcoffset().total_seconds() == 1 * 3600


@pytest.mark.parametrize(
    ("name", "raw", "file_name"),
    [
        ("sessions", WINDOW, "sessions-2026-01-01-2026-01-31.csv"),
        ("popularity", WINDOW, "popularity-2026-01-01-2026-01-31.csv"),
        (
            "users",
            {"createdFrom": "2026-01-01", "createdTo": "2026-02-01"},
            "users-2026-01-01-2026-02-01.csv",
        ),
        ("users", {"createdFrom": "2026-01-01"}, "users-from-2026-01-01.csv"),
        ("users", {"createdTo": "2026-02-01"}, "users-to-2026-02-01.csv"),
        ("users", {}, "users.csv"),
    ],
)
def test_the_file_name_is_the_type_and_its_range(name, raw, file_name):
    report_type = get_report_type(name)

    assert report_type.file_name(report_type.load_parameters(raw), "csv") == file_name


class _Own(InputSchema):
    pass


def test_a_type_may_not_redefine_a_standard_parameter_or_name_an_unknown_format():
    from marshmallow import fields

    class Clashing(InputSchema):
        timezone = fields.String()

    def build(org, parameters):
        raise AssertionError

    columns = (Column("n", "integer", "n"),)
    with pytest.raises(ValueError, match="standard"):
        ReportType("x", "X", "x", frozenset({"admin"}), columns, Clashing, build)
    with pytest.raises(ValueError, match="unknown formats"):
        ReportType("x", "X", "x", frozenset({"admin"}), columns, _Own, build, formats=("docx",))
    with pytest.raises(ValueError, match="type must be one of"):
        Column("n", "int", "n")
