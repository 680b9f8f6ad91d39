"""Client input that no field may let through: unstorable strings, open-ended patterns and dates."""

import pytest
from marshmallow import ValidationError

from api.reports.schemas import HistoryQuerySchema
from shared.catalog import REPORT_TYPES

SESSIONS = REPORT_TYPES["sessions"]
WINDOW = {"fromDate": "2026-01-01", "toDate": "2026-01-31"}


@pytest.mark.parametrize(
    ("parameters", "field"),
    [
        pytest.param({**WINDOW, "device": "tv\x00"}, "device", id="NUL"),
        pytest.param({**WINDOW, "device": "tv\ud800"}, "device", id="lone surrogate"),
        pytest.param({**WINDOW, "dev\x00ice": "tv"}, "dev\\u0000ice", id="NUL in a key"),
        pytest.param({**WINDOW, "country": "DE\n"}, "country", id="trailing newline"),
        pytest.param(
            {"fromDate": "9999-12-31", "toDate": "9999-12-31"}, "fromDate", id="year 9999"
        ),
        pytest.param({"fromDate": "0001-01-01", "toDate": "0001-01-02"}, "fromDate", id="year 1"),
    ],
)
def test_parameters_that_would_fail_later_are_refused_naming_the_field(parameters, field):
    with pytest.raises(ValidationError) as refused:
        SESSIONS.load_parameters(parameters)

    assert field in refused.value.messages


@pytest.mark.parametrize("report_type", sorted(REPORT_TYPES))
def test_every_report_type_refuses_a_date_at_the_end_of_time(report_type):
    schema = REPORT_TYPES[report_type].parameters_schema()
    date_keys = [
        f.data_key or n for n, f in schema.fields.items() if f.__class__.__name__ == "Date"
    ]
    assert date_keys, "each report type takes a date"
    for key in date_keys:
        with pytest.raises(ValidationError) as refused:
            schema.load({**{k: "2026-01-01" for k in date_keys}, key: "9999-12-31"})
        assert key in refused.value.messages


def test_a_nul_in_a_history_filter_is_refused():
    with pytest.raises(ValidationError) as refused:
        HistoryQuerySchema().load({"reportType": "sessions\x00"})

    assert "reportType" in refused.value.messages


def test_a_page_past_what_postgresql_can_offset_is_refused():
    with pytest.raises(ValidationError) as refused:
        HistoryQuerySchema().load({"page": "10000000000000000000"})

    assert "page" in refused.value.messages


def test_ordinary_text_with_unicode_passes():
    loaded = SESSIONS.load_parameters({**WINDOW, "device": "télé 📺 تلفاز"})

    assert loaded["device"] == "télé 📺 تلفاز"
