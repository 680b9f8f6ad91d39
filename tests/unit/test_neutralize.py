"""The SQL that neutralises formulas: which columns it wraps, and how it names them."""

import re

from shared.config import Settings
from worker.formats import formats_for
from worker.formats.neutralize import neutralized

TEXT, VARCHAR, BPCHAR, INT4, NUMERIC, JSONB = 25, 1043, 1042, 23, 1700, 3802


def render(columns) -> str:
    return neutralized("SELECT 1", columns).as_string(None)


def test_only_text_columns_are_wrapped_and_each_keeps_its_type():
    rendered = render([("a", TEXT), ("b", VARCHAR), ("c", BPCHAR), ("n", INT4), ("m", NUMERIC)])

    select_list = rendered.split(" FROM (")[0]
    assert select_list.count("CASE WHEN") == 3
    assert "::text ELSE" in select_list
    assert "::varchar ELSE" in select_list
    assert "::bpchar ELSE" in select_list
    assert '"q"."n" AS "n"' in select_list
    assert '"q"."m" AS "m"' in select_list


def test_columns_keep_their_order_and_names_so_the_header_does_not_change():
    rendered = render([("z", INT4), ("a", TEXT), ("m", JSONB)])

    aliases = re.findall(r' AS ("(?:[^"]|"")*")', rendered.split(" FROM (")[0])
    assert aliases == ['"z"', '"a"', '"m"']


def test_a_hostile_column_name_is_quoted_not_spliced():
    rendered = render([('x" FROM pg_shadow --', TEXT)])

    assert '"x"" FROM pg_shadow --"' in rendered
    assert rendered.count(" FROM (") == 1


def test_the_original_query_is_the_subquery_and_may_end_in_a_comment():
    rendered = neutralized("SELECT 'a' AS a -- trailing", [("a", TEXT)]).as_string(None)

    assert rendered.endswith("FROM (SELECT 'a' AS a -- trailing\n) AS q")


def test_the_setting_reaches_the_csv_format():
    assert formats_for(Settings())["csv"].neutralize is True
    assert formats_for(Settings(csv_neutralize_formulas=False))["csv"].neutralize is False
