import pytest

from shared.config import ConfigError, Settings


def test_defaults_point_at_this_machines_services():
    settings = Settings.from_env({})

    assert settings.database_url.startswith("postgresql+psycopg://")
    assert settings.source_database_url == settings.database_url
    assert settings.dead_letter_queue == "reportbox.reports.dead"


def test_values_are_typed_and_the_source_database_follows_the_main_one():
    settings = Settings.from_env(
        {
            "DATABASE_URL": "postgresql+psycopg://u@db/x",
            "WORKER_CONCURRENCY": "4",
            "REPORT_RETENTION_HOURS": "0.5",
            "S3_ENDPOINT_URL": "http://minio:9000",
        }
    )

    assert settings.source_database_url == "postgresql+psycopg://u@db/x"
    assert settings.worker_concurrency == 4
    assert settings.report_retention_hours == 0.5
    assert settings.presign_endpoint_url == "http://minio:9000"


@pytest.mark.parametrize(
    "environ",
    [
        {"WORKER_CONCURRENCY": "two"},
        {"WORKER_CONCURRENCY": "0"},
        {"REPORT_RETENTION_HOURS": "a day"},
        {"DEAD_LETTER_MAX_LETTERS": "0"},
        {"DEAD_LETTER_MAX_AGE_HOURS": "0"},
        {"JWT_SECRET": "s", "JWT_PUBLIC_KEY": "-----BEGIN PUBLIC KEY-----"},
    ],
)
def test_a_bad_environment_is_refused_with_the_variable_named(environ):
    with pytest.raises(ConfigError):
        Settings.from_env(environ)


def test_to_env_rebuilds_the_same_settings_in_another_process():
    settings = Settings(
        database_url="postgresql+psycopg://u@db/a",
        source_database_url="postgresql+psycopg://u@db/b",
        s3_endpoint_url="http://minio:9000",
        worker_concurrency=3,
        report_retention_hours=0.25,
        relay_poll_seconds=0.5,
        jwt_secret="x" * 32,
    )

    assert Settings.from_env(settings.to_env()) == settings


def test_every_setting_has_an_environment_variable_so_child_processes_get_it_all():
    from dataclasses import fields

    from shared.config import ENVIRONMENT

    assert {field.name for field in fields(Settings)} == set(ENVIRONMENT)


# Pairs of settings that cannot both hold: each is refused at start, naming both variables,
# while the nearest consistent pair is accepted.
CONTRADICTIONS = {
    "the lease runs out between two renewals": (
        {"WORKER_LEASE_SECONDS": "10", "PROGRESS_INTERVAL_SECONDS": "10"},
        {"WORKER_LEASE_SECONDS": "10", "PROGRESS_INTERVAL_SECONDS": "9.5"},
        ("PROGRESS_INTERVAL_SECONDS", "WORKER_LEASE_SECONDS"),
    ),
    "the sweep aborts the upload of a running export": (
        {"INCOMPLETE_UPLOAD_MAX_AGE_HOURS": "1", "WORKER_MAX_EXPORT_SECONDS": "3600"},
        {"INCOMPLETE_UPLOAD_MAX_AGE_HOURS": "1.01", "WORKER_MAX_EXPORT_SECONDS": "3600"},
        ("INCOMPLETE_UPLOAD_MAX_AGE_HOURS", "WORKER_MAX_EXPORT_SECONDS"),
    ),
    "the outbox forgets a publish the stuck check still needs": (
        {"OUTBOX_RETENTION_HOURS": "0.1", "STUCK_AFTER_SECONDS": "361"},
        {"OUTBOX_RETENTION_HOURS": "0.1", "STUCK_AFTER_SECONDS": "360"},
        ("OUTBOX_RETENTION_HOURS", "STUCK_AFTER_SECONDS"),
    ),
    "a report waiting out its backoff looks stuck": (
        {"STUCK_AFTER_SECONDS": "30", "RETRY_BACKOFF_CAP_SECONDS": "30"},
        {"STUCK_AFTER_SECONDS": "30.5", "RETRY_BACKOFF_CAP_SECONDS": "30"},
        ("STUCK_AFTER_SECONDS", "RETRY_BACKOFF_CAP_SECONDS"),
    ),
}


@pytest.mark.parametrize("refused, accepted, named", CONTRADICTIONS.values(), ids=CONTRADICTIONS)
def test_settings_that_contradict_each_other_are_refused_at_start(refused, accepted, named):
    with pytest.raises(ConfigError) as error:
        Settings.from_env(refused)

    assert all(variable in str(error.value) for variable in named), str(error.value)
    assert Settings.from_env(accepted)


@pytest.mark.parametrize(
    "environ",
    [
        {"PROGRESS_INTERVAL_SECONDS": "0"},
        {"CLEANUP_INTERVAL_SECONDS": "0"},
    ],
)
def test_a_value_the_sweep_or_the_lease_cannot_work_with_is_refused(environ):
    with pytest.raises(ConfigError):
        Settings.from_env(environ)


def test_the_defaults_contradict_nothing():
    Settings().validate()


@pytest.mark.parametrize(
    "environ", [{"MAX_REPORTS_PER_USER_PER_MINUTE": "0"}, {"REPORT_ROW_RETENTION_DAYS": "0"}]
)
def test_a_limit_or_retention_of_nothing_is_refused(environ):
    with pytest.raises(ConfigError, match=next(iter(environ))):
        Settings.from_env(environ)


def test_the_rate_and_row_retention_have_their_defaults_and_variables():
    settings = Settings.from_env(
        {"MAX_REPORTS_PER_USER_PER_MINUTE": "7", "REPORT_ROW_RETENTION_DAYS": "1.5"}
    )

    assert (Settings().max_reports_per_user_per_minute, Settings().report_row_retention_days) == (
        60,
        30.0,
    )
    assert (settings.max_reports_per_user_per_minute, settings.report_row_retention_days) == (
        7,
        1.5,
    )


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"DATABASE_URL": "::not a url::"}, "DATABASE_URL"),
        ({"DATABASE_URL": "postgres://h/reportbox"}, "DATABASE_URL"),
        ({"SOURCE_DATABASE_URL": "mysql://h/reportbox"}, "SOURCE_DATABASE_URL"),
        ({"RABBITMQ_URL": "::not a url::"}, "RABBITMQ_URL"),
        ({"RABBITMQ_URL": "amqp://h:notaport/"}, "RABBITMQ_URL"),
        ({"RABBITMQ_URL": "http://h:5672/"}, "RABBITMQ_URL"),
        ({"S3_ENDPOINT_URL": "minio:9000"}, "S3_ENDPOINT_URL"),
        ({"PUBLIC_BASE_URL": "reportbox.example"}, "PUBLIC_BASE_URL"),
        ({"RELAY_BATCH_SIZE": "0"}, "RELAY_BATCH_SIZE"),
        ({"RELAY_POLL_SECONDS": "0"}, "RELAY_POLL_SECONDS"),
        ({"MAX_ACTIVE_REPORTS_PER_USER": "-1"}, "MAX_ACTIVE_REPORTS_PER_USER"),
        ({"DOWNLOAD_URL_TTL_SECONDS": "604801"}, "DOWNLOAD_URL_TTL_SECONDS"),
        ({"DOWNLOAD_URL_TTL_SECONDS": "0"}, "DOWNLOAD_URL_TTL_SECONDS"),
        ({"REPORT_RETENTION_HOURS": "0"}, "REPORT_RETENTION_HOURS"),
        ({"REPORT_RETENTION_HOURS": "-1"}, "REPORT_RETENTION_HOURS"),
        ({"DB_STATEMENT_TIMEOUT_MS": "-1"}, "DB_STATEMENT_TIMEOUT_MS"),
    ],
)
def test_a_malformed_url_or_a_number_out_of_range_is_refused_by_name(environ, named):
    with pytest.raises(ConfigError, match=named):
        Settings.from_env(environ)


def test_a_password_in_a_malformed_url_stays_out_of_the_message():
    with pytest.raises(ConfigError) as error:
        Settings.from_env({"RABBITMQ_URL": "amqp://user:hunter2@h:port/"})

    assert "hunter2" not in str(error.value)


@pytest.mark.parametrize(
    "environ",
    [
        {"DATABASE_URL": "postgresql+psycopg:///reportbox?host=/var/run/postgresql"},
        {"RABBITMQ_URL": "amqps://user:pass@broker.example:5671/%2F"},
        {"DOWNLOAD_URL_TTL_SECONDS": "604800"},
        {"DB_STATEMENT_TIMEOUT_MS": "0"},
    ],
)
def test_the_edges_of_each_range_and_each_url_form_are_accepted(environ):
    assert Settings.from_env(environ)


@pytest.mark.parametrize(
    ("environ", "named"),
    [
        ({"WEBHOOK_ALLOWED_CIDRS": "10.0.0.0/33"}, "WEBHOOK_ALLOWED_CIDRS"),
        ({"WEBHOOK_RETRY_SCHEDULE": "5,0"}, "WEBHOOK_RETRY_SCHEDULE"),
        ({"WEBHOOK_TIMEOUT_SECONDS": "0"}, "WEBHOOK_TIMEOUT_SECONDS"),
        ({"WEBHOOK_DISABLE_AFTER_SECONDS": "0"}, "WEBHOOK_DISABLE_AFTER_SECONDS"),
        ({"WEBHOOK_SECRET_OVERLAP_SECONDS": "-1"}, "WEBHOOK_SECRET_OVERLAP_SECONDS"),
        ({"DISPATCHER_CONCURRENCY": "0"}, "DISPATCHER_CONCURRENCY"),
    ],
)
def test_webhook_settings_that_cannot_work_are_refused(environ, named):
    with pytest.raises(ConfigError, match=named):
        Settings.from_env(environ)


def test_webhook_settings_have_the_contracts_defaults():
    settings = Settings.from_env({"WEBHOOK_ALLOW_HTTP": "true"})
    assert settings.webhook_allow_http is True
    assert settings.webhook_timeout_seconds == 15
    assert settings.webhook_disable_after_seconds == 432000
    assert settings.webhook_secret_overlap_seconds == 86400
