"""The API's metric labels take a bounded set of values, and the cached figure's freshness."""

from __future__ import annotations

import pytest

from api.active_reports import is_fresh
from api.metrics import METHODS, method_label


@pytest.mark.parametrize("method", sorted(METHODS))
def test_each_standard_method_is_its_own_label(method):
    assert method_label(method) == method


@pytest.mark.parametrize("method", ["ZZZ", "M00001", "X-Y!", "PROPFIND", "TRACE", "CONNECT", ""])
def test_any_other_method_is_other(method):
    assert method_label(method) == "other"


def test_the_methods_are_the_fixed_few():
    assert METHODS | {"other"} == {
        "GET",
        "HEAD",
        "POST",
        "PUT",
        "PATCH",
        "DELETE",
        "OPTIONS",
        "other",
    }


@pytest.mark.parametrize(
    ("taken_at", "now", "max_age", "fresh"),
    [
        (None, 100.0, 15.0, False),  # never taken
        (100.0, 100.0, 15.0, True),
        (100.0, 114.9, 15.0, True),
        (100.0, 115.0, 15.0, False),  # exactly max_age old: taken again
        (100.0, 99.0, 15.0, False),  # a clock that went back (a reboot): taken again
        (100.0, 100.0, 0.0, False),  # no cache: every scrape reads
    ],
)
def test_is_fresh(taken_at, now, max_age, fresh):
    assert is_fresh(taken_at, now, max_age) is fresh
