"""The configuration reference is generated from the settings: every variable, once, described."""

from dataclasses import fields
from pathlib import Path

from shared.config import DEFAULTS_SHOWN, DESCRIPTIONS, ENVIRONMENT, Settings
from shared.config_reference import default_shown, settings_table

ROOT = Path(__file__).resolve().parents[2]
# make run's own variables, not the services'
LOCAL_ONLY = {"API_PORT", "LOCAL_S3_PORT", "LOCAL_SMTP_PORT", "DEMO_SESSIONS"}


def test_every_setting_the_environment_sets_has_a_description():
    assert set(DESCRIPTIONS) == set(ENVIRONMENT)
    assert set(DEFAULTS_SHOWN) <= set(ENVIRONMENT)
    assert set(ENVIRONMENT) <= {item.name for item in fields(Settings)}


def test_the_table_names_each_variable_exactly_once_with_its_default():
    table = settings_table()
    variables = [line.split("|")[1].strip(" `") for line in table.splitlines()[2:]]
    assert sorted(variables) == sorted(ENVIRONMENT.values())
    assert "| `WORKER_CONCURRENCY` | `worker_concurrency` |" in table
    assert table.count("\n") == len(ENVIRONMENT) + 1


def test_defaults_are_shown_as_the_settings_have_them():
    assert default_shown("worker_concurrency") == f"`{Settings().worker_concurrency}`"
    assert default_shown("dev_mode") == "`false`"
    assert default_shown("jwt_secret") == "none"
    assert default_shown("source_database_url") == "`DATABASE_URL`"


def test_the_configuration_page_takes_the_generated_table_and_names_the_local_variables():
    from infra.docs.hooks import SETTINGS_TABLE, on_page_markdown

    page = (ROOT / "docs" / "configuration.md").read_text()
    assert SETTINGS_TABLE in page
    assert settings_table() in on_page_markdown(page)
    assert all(f"`{name}`" in page for name in LOCAL_ONLY)
