"""Settings: read once from the environment, then passed down explicitly."""

from __future__ import annotations

import json
import os
import sys
from collections.abc import Mapping
from dataclasses import dataclass, fields, replace
from typing import Any
from urllib.parse import urlsplit

from sqlalchemy.engine import make_url
from sqlalchemy.exc import ArgumentError


class ConfigError(ValueError):
    """An environment variable is missing or malformed."""


DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/reportbox"
DEFAULT_RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"
# Tokens are verified with exactly one of these, chosen by configuration, never by the token.
JWT_ALGORITHMS = ("HS256", "HS384", "HS512", "RS256", "RS384", "RS512", "ES256", "ES384", "ES512")
JWT_SECRET_MIN_BYTES = 32  # RFC 7518 3.2: an HMAC key at least as long as the hash
# S3 (and MinIO) refuse a presigned URL that is valid for longer than seven days.
PRESIGNED_URL_MAX_SECONDS = 7 * 24 * 3600
# The secrets this repository publishes for local runs and compose: anyone can sign tokens with
# them, so they are refused unless DEV_MODE says this deployment is a development one.
DEVELOPMENT_JWT_SECRETS = frozenset(
    {
        "reportbox-development-secret-not-for-production",
        "reportbox-local-development-secret-do-not-use-in-production",
    }
)
# Compose's DELIVERY_SECRETS_KEY, published the same way (base64 of
# "reportbox-dev-delivery-key-only!"): anyone could open the secrets it seals.
DEVELOPMENT_DELIVERY_SECRETS_KEYS = frozenset({"cmVwb3J0Ym94LWRldi1kZWxpdmVyeS1rZXktb25seSE="})


@dataclass(frozen=True)
class Settings:
    database_url: str = DEFAULT_DATABASE_URL
    # Report queries read from here; the demo domain lives in the same database by default.
    source_database_url: str = DEFAULT_DATABASE_URL
    rabbitmq_url: str = DEFAULT_RABBITMQ_URL
    exchange: str = "reportbox"
    work_queue: str = "reportbox.reports"

    s3_endpoint_url: str | None = None
    s3_public_endpoint_url: str | None = None
    s3_bucket: str = "reportbox"
    aws_access_key_id: str | None = None
    aws_secret_access_key: str | None = None
    aws_region: str = "us-east-1"
    multipart_part_bytes: int = 8 * 1024 * 1024

    jwt_secret: str | None = None
    jwt_public_key: str | None = None
    jwt_algorithm: str | None = None  # None: RS256 with a public key, HS256 otherwise
    jwt_issuer: str = "reportbox"
    jwt_audience: str = "reportbox-api"
    # Identity providers' clocks differ by seconds: iat, nbf and exp are checked with this slack.
    jwt_leeway_seconds: int = 30
    # A development deployment (make run, compose): accepts the published development secrets
    # and lets the web page mint demo tokens. Never set in production.
    dev_mode: bool = False

    public_base_url: str | None = None
    # A CSV cell that starts with = + - @ tab or CR gets a leading ' so spreadsheets show text.
    csv_neutralize_formulas: bool = True
    # PDFs are for reading: a longer report is refused (422 from the planner's estimate at
    # request time, or Failed when the export finds more rows).
    pdf_max_rows: int = 50_000
    worker_concurrency: int = 2
    report_retention_hours: float = 24.0
    download_url_ttl_seconds: int = 900
    cleanup_interval_seconds: float = 60.0
    max_active_reports_per_user: int = 10
    # New reports one user may request in any minute; a cancelled one still counts, so a
    # loop of request-and-cancel cannot outrun the active-report cap.
    max_reports_per_user_per_minute: int = 60

    relay_batch_size: int = 500
    relay_poll_seconds: float = 1.0
    lease_seconds: int = 60
    progress_interval_seconds: float = 1.0
    outbox_retention_hours: float = 24.0
    # A Failed, Cancelled or Expired report's row (and its Idempotency-Key) is deleted this
    # long after the report ended, so the history and the admission's work stop growing.
    report_row_retention_days: float = 30.0
    incomplete_upload_max_age_hours: float = 24.0
    db_connect_timeout_seconds: int = 5
    api_statement_timeout_ms: int = 5000
    # Relay and worker statements; the export's own read-only transaction gets the maximum
    # export duration instead.
    db_statement_timeout_ms: int = 60_000
    # Every connection: a transaction left open by a stuck process is ended by the server.
    db_idle_in_transaction_timeout_ms: int = 60_000

    # Failures. A transient fault (PostgreSQL, S3 or RabbitMQ unreachable) is retried after a
    # capped exponential backoff with jitter, up to max_attempts claims of the report.
    max_attempts: int = 5
    retry_backoff_base_seconds: float = 1.0
    retry_backoff_cap_seconds: float = 30.0
    max_export_seconds: int = 3600  # an export running longer fails with code "timeout"
    shutdown_grace_seconds: float = 30.0  # after SIGTERM, to finish the reports in hand
    # A report Pending this long after its last message was published (or Processing with a
    # lease expired this long ago) gets a new message: even a purged queue loses nothing.
    stuck_after_seconds: float = 300.0
    # The dead-letter queue's bounds: past this many letters the oldest are dropped, and a
    # letter older than this is dropped. Declared as queue arguments: changing either on a
    # deployed broker needs the queue re-created (or a policy), see shared/broker/topology.py.
    dead_letter_max_letters: int = 100_000
    dead_letter_max_age_hours: float = 14 * 24.0
    log_level: str = "INFO"
    log_format: str = "text"  # or "json": one object per line
    # Relay and worker serve /metrics, /healthz and /readyz here; None serves nothing.
    metrics_port: int | None = None
    # The API's /metrics reads the database at most once per this many seconds, however often
    # it is scraped (the figure is shared by every gunicorn worker of one API).
    metrics_cache_seconds: float = 15.0
    # Report definitions and schedules (DESIGN.md section 8).
    schedule_tick_seconds: float = 10.0
    schedule_misfire_grace_seconds: float = 3600.0
    schedule_pause_after_failures: int = 5
    schedule_min_interval_seconds: float = 300.0
    sync_max_rows: int = 10_000
    sync_timeout_seconds: float = 10.0
    # Extra report types: comma-separated modules that each define REPORT_TYPE.
    report_type_modules: str = ""
    # Webhooks (DESIGN.md section 10) and the dispatcher that sends them.
    webhook_allow_http: bool = False
    # Private networks webhooks may reach anyway (comma-separated CIDRs); public ones always.
    webhook_allowed_cidrs: str = ""
    webhook_timeout_seconds: float = 15.0
    webhook_retry_schedule: str = "5,300,1800,7200,18000,36000,50400,72000,86400"
    webhook_disable_after_seconds: float = 432000.0
    webhook_secret_overlap_seconds: float = 86400.0
    # Webhook messages one dispatcher sends at once (threads). Mostly waiting on receivers
    # and on the database: 64 threads sent more a second than 32 on two busy cores.
    dispatcher_concurrency: int = 64
    # Messages of one endpoint in flight at once, across all dispatchers (and always fewer
    # than DISPATCHER_CONCURRENCY): a slow endpoint holds at most this many threads.
    webhook_endpoint_concurrency: int = 8
    # The dispatcher's longest sleep when no NOTIFY wakes it and no retry comes due sooner.
    dispatcher_poll_seconds: float = 5.0
    # Deliveries of definitions' runs (DESIGN.md section 9), sent by the dispatcher beside
    # webhooks on threads of their own. 8 mailed ~30 % more a second than 4; each email
    # holds about 4 times its attachment (at most EMAIL_ATTACHMENT_MAX_BYTES) meanwhile.
    delivery_concurrency: int = 8
    delivery_max_attempts: int = 6
    # Seconds before each retry (comma-separated); empty: 1 minute doubling up to 1 hour.
    delivery_retry_schedule: str = ""
    # A Fernet key (urlsafe base64 of 32 bytes) that encrypts targets' secrets at rest.
    delivery_secrets_key: str | None = None
    # smtp:// (STARTTLS when offered), smtp+starttls:// (STARTTLS required), smtps://.
    smtp_url: str = "smtp://localhost:25"
    email_from: str = "Reportbox <reportbox@localhost>"
    email_attachment_max_bytes: int = 10 * 1024 * 1024
    # Comma-separated domains anyone may mail to; any other needs `admin` (empty: every one).
    email_allowed_domains: str = ""
    # How long one SMTP conversation may wait on the server.
    smtp_timeout_seconds: float = 30.0

    def __post_init__(self) -> None:
        if self.jwt_algorithm is None:
            object.__setattr__(self, "jwt_algorithm", "RS256" if self.jwt_public_key else "HS256")

    @property
    def dead_letter_exchange(self) -> str:
        return f"{self.exchange}.dead"

    @property
    def dead_letter_queue(self) -> str:
        return f"{self.work_queue}.dead"

    @property
    def retry_queue(self) -> str:
        return f"{self.work_queue}.retry"

    @property
    def presign_endpoint_url(self) -> str | None:
        return self.s3_public_endpoint_url or self.s3_endpoint_url

    # Any: each field has its own type, which the dataclass checks where it is built.
    def with_overrides(self, **changes: Any) -> Settings:
        return replace(self, **changes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        values: dict[str, Any] = {}  # each converted to its own field's type
        for item in fields(cls):
            raw = env.get(ENVIRONMENT.get(item.name, ""), "").strip()
            if raw:
                values[item.name] = _convert(ENVIRONMENT[item.name], raw, item.type)
        values.setdefault("source_database_url", values.get("database_url", DEFAULT_DATABASE_URL))
        settings = cls(**values)
        settings.validate()
        return settings

    def to_env(self) -> dict[str, str]:
        """The environment that makes from_env() rebuild these settings in another process."""
        return {
            variable: str(getattr(self, name))
            for name, variable in ENVIRONMENT.items()
            if getattr(self, name) is not None
        }

    def token_key(self) -> str:
        """The secret or PEM public key that verifies tokens signed with jwt_algorithm."""
        self._validate_jwt()
        key = self.jwt_secret if _is_hmac(self.jwt_algorithm) else self.jwt_public_key
        if not key:
            wanted = "JWT_SECRET" if _is_hmac(self.jwt_algorithm) else "JWT_PUBLIC_KEY"
            raise ConfigError(f"JWT_ALGORITHM={self.jwt_algorithm} verifies tokens with {wanted}")
        return key

    def validate(self) -> None:
        self._validate_jwt()
        self._validate_urls()
        if self.worker_concurrency < 1:
            raise ConfigError("WORKER_CONCURRENCY must be at least 1")
        if self.multipart_part_bytes < 5 * 1024 * 1024:
            raise ConfigError("multipart parts must be at least 5 MiB (an S3 rule)")
        if self.max_attempts < 1:
            raise ConfigError("WORKER_MAX_ATTEMPTS must be at least 1")
        if self.max_export_seconds < 1:
            raise ConfigError("WORKER_MAX_EXPORT_SECONDS must be at least 1")
        if not 0 < self.retry_backoff_base_seconds <= self.retry_backoff_cap_seconds:
            raise ConfigError(
                "RETRY_BACKOFF_BASE_SECONDS must be above 0 and at most RETRY_BACKOFF_CAP_SECONDS"
            )
        if self.report_row_retention_days <= 0:
            raise ConfigError("REPORT_ROW_RETENTION_DAYS must be above 0")
        if self.max_reports_per_user_per_minute < 1:
            raise ConfigError("MAX_REPORTS_PER_USER_PER_MINUTE must be at least 1")
        if self.pdf_max_rows < 1:
            raise ConfigError("PDF_MAX_ROWS must be at least 1")
        if self.stuck_after_seconds <= 0:
            raise ConfigError("STUCK_AFTER_SECONDS must be above 0")
        if self.dead_letter_max_letters < 1:
            raise ConfigError("DEAD_LETTER_MAX_LETTERS must be at least 1")
        if self.dead_letter_max_age_hours <= 0:
            raise ConfigError("DEAD_LETTER_MAX_AGE_HOURS must be above 0")
        if self.log_format not in ("text", "json"):
            raise ConfigError(f"LOG_FORMAT={self.log_format!r} is not one of 'text', 'json'")
        if self.log_level.upper() not in ("DEBUG", "INFO", "WARNING", "ERROR", "CRITICAL"):
            raise ConfigError(f"LOG_LEVEL={self.log_level!r} is not a logging level")
        if self.metrics_port is not None and not 0 <= self.metrics_port <= 65535:
            raise ConfigError(f"METRICS_PORT={self.metrics_port!r} is not a port number")
        if self.metrics_cache_seconds < 0:
            raise ConfigError("METRICS_CACHE_SECONDS must not be negative")
        self._validate_ranges()
        self._validate_timing()
        self._validate_schedules()
        self._validate_webhooks()
        self._validate_deliveries()

    def _validate_deliveries(self) -> None:
        # Imported here for the reason _validate_webhooks gives.
        from shared.deliveries.schedule import parse_schedule

        try:
            parse_schedule(self.delivery_retry_schedule, self.delivery_max_attempts)
        except ValueError as exc:
            raise ConfigError(f"DELIVERY_RETRY_SCHEDULE: {exc}") from None
        if self.delivery_max_attempts < 1:
            raise ConfigError("DELIVERY_MAX_ATTEMPTS must be at least 1")
        if self.delivery_concurrency < 1:
            raise ConfigError("DELIVERY_CONCURRENCY must be at least 1")
        if self.email_attachment_max_bytes < 0:
            raise ConfigError("EMAIL_ATTACHMENT_MAX_BYTES must not be negative")
        if self.smtp_timeout_seconds <= 0:
            raise ConfigError("SMTP_TIMEOUT_SECONDS must be above 0")
        check_url("SMTP_URL", self.smtp_url, ("smtp", "smtp+starttls", "smtps"))
        if self.delivery_secrets_key in DEVELOPMENT_DELIVERY_SECRETS_KEYS and not self.dev_mode:
            raise ConfigError(
                "DELIVERY_SECRETS_KEY is a published development key; only DEV_MODE=true accepts it"
            )
        if self.delivery_secrets_key:
            from shared.secrets import SecretsUnavailable, seal_text

            try:  # a malformed key stops the process at its start, not at its first secret
                seal_text("", self.delivery_secrets_key)
            except SecretsUnavailable as exc:
                raise ConfigError(str(exc)) from None

    def _validate_webhooks(self) -> None:
        # Imported here: shared.webhooks holds the parsers, and config must not import it at
        # module level (it imports nothing of ours).
        from shared.webhooks.addresses import parse_networks
        from shared.webhooks.retry import parse_schedule

        try:
            parse_networks(self.webhook_allowed_cidrs)
        except ValueError as exc:
            raise ConfigError(f"WEBHOOK_ALLOWED_CIDRS: {exc}") from None
        try:
            parse_schedule(self.webhook_retry_schedule)
        except ValueError as exc:
            raise ConfigError(f"WEBHOOK_RETRY_SCHEDULE: {exc}") from None
        for name in (
            "webhook_timeout_seconds",
            "webhook_disable_after_seconds",
            "dispatcher_poll_seconds",
        ):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{ENVIRONMENT[name]} must be above 0")
        if self.webhook_secret_overlap_seconds < 0:
            raise ConfigError("WEBHOOK_SECRET_OVERLAP_SECONDS must not be negative")
        if self.dispatcher_concurrency < 1:
            raise ConfigError("DISPATCHER_CONCURRENCY must be at least 1")
        if self.webhook_endpoint_concurrency < 1:
            raise ConfigError("WEBHOOK_ENDPOINT_CONCURRENCY must be at least 1")

    def _validate_schedules(self) -> None:
        for name in (
            "schedule_tick_seconds",
            "schedule_min_interval_seconds",
            "sync_timeout_seconds",
        ):
            if getattr(self, name) <= 0:
                raise ConfigError(f"{ENVIRONMENT[name]} must be above 0")
        if self.schedule_misfire_grace_seconds < 0:
            raise ConfigError("SCHEDULE_MISFIRE_GRACE_SECONDS must not be negative")
        for name in ("schedule_pause_after_failures", "sync_max_rows"):
            if getattr(self, name) < 1:
                raise ConfigError(f"{ENVIRONMENT[name]} must be at least 1")

    def _validate_urls(self) -> None:
        """Parse every URL now: a malformed one fails the start, not the first connection."""
        check_database_url("DATABASE_URL", self.database_url)
        check_database_url("SOURCE_DATABASE_URL", self.source_database_url)
        check_url("RABBITMQ_URL", self.rabbitmq_url, ("amqp", "amqps"))
        for variable, url in (
            ("S3_ENDPOINT_URL", self.s3_endpoint_url),
            ("S3_PUBLIC_ENDPOINT_URL", self.s3_public_endpoint_url),
            ("PUBLIC_BASE_URL", self.public_base_url),
        ):
            if url is not None:
                check_url(variable, url, ("http", "https"))

    def _validate_ranges(self) -> None:
        """Numbers whose out-of-range value would break a process that started anyway."""
        if self.relay_batch_size < 1:  # the relay would claim nothing and spin
            raise ConfigError(f"RELAY_BATCH_SIZE={self.relay_batch_size} must be at least 1")
        if self.relay_poll_seconds <= 0:  # the relay would spin between polls
            raise ConfigError(f"RELAY_POLL_SECONDS={self.relay_poll_seconds} must be above 0")
        if self.max_active_reports_per_user < 1:  # no request could ever be admitted
            raise ConfigError(
                f"MAX_ACTIVE_REPORTS_PER_USER={self.max_active_reports_per_user} must be at least 1"
            )
        if not 1 <= self.download_url_ttl_seconds <= PRESIGNED_URL_MAX_SECONDS:
            raise ConfigError(
                f"DOWNLOAD_URL_TTL_SECONDS={self.download_url_ttl_seconds} must be between 1 "
                f"and {PRESIGNED_URL_MAX_SECONDS} (seven days, the longest S3 signs)"
            )
        if self.report_retention_hours <= 0:  # every file would expire as it is written
            raise ConfigError(
                f"REPORT_RETENTION_HOURS={self.report_retention_hours} must be above 0"
            )
        for variable, value in (
            ("DB_CONNECT_TIMEOUT_SECONDS", self.db_connect_timeout_seconds),
            ("API_STATEMENT_TIMEOUT_MS", self.api_statement_timeout_ms),
            ("DB_STATEMENT_TIMEOUT_MS", self.db_statement_timeout_ms),
            ("DB_IDLE_IN_TRANSACTION_TIMEOUT_MS", self.db_idle_in_transaction_timeout_ms),
        ):
            if value < 0:  # PostgreSQL refuses the connection's options: no connection at all
                raise ConfigError(f"{variable}={value} must not be negative (0 means no limit)")

    def _validate_timing(self) -> None:
        """Refuse settings that contradict each other: each pair below cannot both hold."""
        if self.cleanup_interval_seconds <= 0:
            raise ConfigError("CLEANUP_INTERVAL_SECONDS must be above 0")
        # The lease is renewed only with the progress write: renewed this seldom, it runs out
        # between two renewals, and another worker takes over a healthy export.
        if not 0 < self.progress_interval_seconds < self.lease_seconds:
            raise ConfigError(
                f"PROGRESS_INTERVAL_SECONDS ({self.progress_interval_seconds}) must be above 0 "
                f"and below WORKER_LEASE_SECONDS ({self.lease_seconds}): the lease is renewed "
                "with each progress write"
            )
        # An export may upload for up to its deadline; an abort age no longer than that could
        # abort the upload of an export that is still running.
        if self.incomplete_upload_max_age_hours * 3600 <= self.max_export_seconds:
            raise ConfigError(
                f"INCOMPLETE_UPLOAD_MAX_AGE_HOURS ({self.incomplete_upload_max_age_hours}) must "
                f"be longer than WORKER_MAX_EXPORT_SECONDS ({self.max_export_seconds} s): the "
                "sweep would abort the upload of an export still running"
            )
        # The stuck-report check reads the recent publishes from the outbox: a row trimmed
        # before STUCK_AFTER_SECONDS makes a report whose message just went out look stuck.
        if self.outbox_retention_hours * 3600 < self.stuck_after_seconds:
            raise ConfigError(
                f"OUTBOX_RETENTION_HOURS ({self.outbox_retention_hours}) must be at least "
                f"STUCK_AFTER_SECONDS ({self.stuck_after_seconds} s): the stuck-report check "
                "reads the recent publishes from the outbox"
            )
        # A report waiting out its backoff has its message in the retry queue, which the
        # stuck-report check does not count: it would be sent again, and the backoff skipped.
        if self.stuck_after_seconds <= self.retry_backoff_cap_seconds:
            raise ConfigError(
                f"STUCK_AFTER_SECONDS ({self.stuck_after_seconds}) must be above "
                f"RETRY_BACKOFF_CAP_SECONDS ({self.retry_backoff_cap_seconds}): a report "
                "waiting out its backoff would be taken for stuck"
            )

    def _validate_jwt(self) -> None:
        # Processes that verify no token (relay, worker) may have no key; a key that is set must
        # fit the algorithm, so a public key can never be used as an HMAC secret.
        algorithm = self.jwt_algorithm
        if algorithm not in JWT_ALGORITHMS:
            raise ConfigError(
                f"JWT_ALGORITHM must be one of {', '.join(JWT_ALGORITHMS)}, got {algorithm!r}"
            )
        if self.jwt_secret and self.jwt_public_key:
            raise ConfigError("set JWT_SECRET or JWT_PUBLIC_KEY, not both")
        if _is_hmac(algorithm) and self.jwt_public_key:
            raise ConfigError(f"JWT_ALGORITHM={algorithm} needs JWT_SECRET, not JWT_PUBLIC_KEY")
        if not _is_hmac(algorithm) and self.jwt_secret:
            raise ConfigError(f"JWT_ALGORITHM={algorithm} needs JWT_PUBLIC_KEY, not JWT_SECRET")
        if self.jwt_secret and len(self.jwt_secret.encode()) < JWT_SECRET_MIN_BYTES:
            raise ConfigError(f"JWT_SECRET must be at least {JWT_SECRET_MIN_BYTES} bytes")
        if self.jwt_secret in DEVELOPMENT_JWT_SECRETS and not self.dev_mode:
            raise ConfigError(
                "JWT_SECRET is a published development secret; only DEV_MODE=true accepts it"
            )
        if self.jwt_leeway_seconds < 0:
            raise ConfigError("JWT_LEEWAY_SECONDS must not be negative")


def exit_on_config_error(error: ConfigError) -> None:
    """A process that cannot start says why in one line and exits with code 2.

    The line is a JSON object when LOG_FORMAT asks for JSON (read raw: the settings that would
    say so are the ones that failed), so a log pipeline parsing JSON sees why, too.
    """
    line = f"reportbox: configuration error: {error}"
    if requested_log_format() == "json":
        line = json.dumps({"level": "CRITICAL", "event": "config.error", "message": line})
    print(line, file=sys.stderr, flush=True)
    raise SystemExit(2)


def requested_log_format() -> str:
    """LOG_FORMAT as set, read even when other settings are bad: the lines saying so."""
    return os.environ.get(ENVIRONMENT["log_format"], "").strip() or Settings.log_format


def settings_or_exit() -> Settings:
    """The settings for a process's main; a bad variable stops the start (exit code 2)."""
    try:
        return Settings.from_env()
    except ConfigError as error:
        exit_on_config_error(error)
        raise  # not reached


def check_database_url(variable: str, url: str) -> None:
    """A URL SQLAlchemy parses, for PostgreSQL (the only database Reportbox speaks)."""
    try:
        driver = make_url(url).drivername
    except (ArgumentError, ValueError):
        raise ConfigError(f"{variable} is not a database URL") from None
    if driver != "postgresql" and not driver.startswith("postgresql+"):
        raise ConfigError(f"{variable} must be a postgresql:// URL, not {driver}://")


def check_url(variable: str, url: str, schemes: tuple[str, ...]) -> None:
    """A URL with one of the schemes, a host and, if any, a numeric port.

    The value itself is never quoted in the message: a URL may carry a password.
    """
    try:
        parts = urlsplit(url)
        parts.port  # noqa: B018 - parsing the port is the check: it raises on a bad one
    except ValueError:
        raise ConfigError(f"{variable} is not a URL") from None
    if parts.scheme not in schemes or not parts.hostname:
        wanted = " or ".join(f"{scheme}://host" for scheme in schemes)
        raise ConfigError(f"{variable} must be a URL of the form {wanted}")


def _is_hmac(algorithm: str | None) -> bool:
    return (algorithm or "").startswith("HS")


BOOLEANS = {"true": True, "yes": True, "1": True, "false": False, "no": False, "0": False}


def _convert(variable: str, raw: str, annotation: object) -> object:
    kind = str(annotation).replace(" | None", "")
    if kind == "bool":
        try:
            return BOOLEANS[raw.lower()]
        except KeyError:
            raise ConfigError(f"{variable}={raw!r} is not true or false") from None
    converter = {"int": int, "float": float}.get(kind)
    if converter is None:
        return raw
    try:
        return converter(raw)
    except ValueError:
        wanted = "an integer" if converter is int else "a number"
        raise ConfigError(f"{variable}={raw!r} is not {wanted}") from None


# Each setting that the environment may set, and the variable that sets it.
ENVIRONMENT: dict[str, str] = {
    "database_url": "DATABASE_URL",
    "source_database_url": "SOURCE_DATABASE_URL",
    "rabbitmq_url": "RABBITMQ_URL",
    "exchange": "RABBITMQ_EXCHANGE",
    "work_queue": "RABBITMQ_QUEUE",
    "s3_endpoint_url": "S3_ENDPOINT_URL",
    "s3_public_endpoint_url": "S3_PUBLIC_ENDPOINT_URL",
    "s3_bucket": "S3_BUCKET",
    "aws_access_key_id": "AWS_ACCESS_KEY_ID",
    "aws_secret_access_key": "AWS_SECRET_ACCESS_KEY",
    "aws_region": "AWS_REGION",
    "jwt_secret": "JWT_SECRET",
    "jwt_public_key": "JWT_PUBLIC_KEY",
    "jwt_algorithm": "JWT_ALGORITHM",
    "jwt_issuer": "JWT_ISSUER",
    "jwt_audience": "JWT_AUDIENCE",
    "jwt_leeway_seconds": "JWT_LEEWAY_SECONDS",
    "dev_mode": "DEV_MODE",
    "public_base_url": "PUBLIC_BASE_URL",
    "csv_neutralize_formulas": "CSV_NEUTRALIZE_FORMULAS",
    "pdf_max_rows": "PDF_MAX_ROWS",
    "worker_concurrency": "WORKER_CONCURRENCY",
    "report_retention_hours": "REPORT_RETENTION_HOURS",
    "download_url_ttl_seconds": "DOWNLOAD_URL_TTL_SECONDS",
    "cleanup_interval_seconds": "CLEANUP_INTERVAL_SECONDS",
    "max_active_reports_per_user": "MAX_ACTIVE_REPORTS_PER_USER",
    "max_reports_per_user_per_minute": "MAX_REPORTS_PER_USER_PER_MINUTE",
    "relay_batch_size": "RELAY_BATCH_SIZE",
    "relay_poll_seconds": "RELAY_POLL_SECONDS",
    "lease_seconds": "WORKER_LEASE_SECONDS",
    "progress_interval_seconds": "PROGRESS_INTERVAL_SECONDS",
    "outbox_retention_hours": "OUTBOX_RETENTION_HOURS",
    "report_row_retention_days": "REPORT_ROW_RETENTION_DAYS",
    "incomplete_upload_max_age_hours": "INCOMPLETE_UPLOAD_MAX_AGE_HOURS",
    "log_level": "LOG_LEVEL",
    "log_format": "LOG_FORMAT",
    "metrics_port": "METRICS_PORT",
    "metrics_cache_seconds": "METRICS_CACHE_SECONDS",
    "multipart_part_bytes": "S3_MULTIPART_PART_BYTES",
    "db_connect_timeout_seconds": "DB_CONNECT_TIMEOUT_SECONDS",
    "api_statement_timeout_ms": "API_STATEMENT_TIMEOUT_MS",
    "db_statement_timeout_ms": "DB_STATEMENT_TIMEOUT_MS",
    "db_idle_in_transaction_timeout_ms": "DB_IDLE_IN_TRANSACTION_TIMEOUT_MS",
    "max_attempts": "WORKER_MAX_ATTEMPTS",
    "retry_backoff_base_seconds": "RETRY_BACKOFF_BASE_SECONDS",
    "retry_backoff_cap_seconds": "RETRY_BACKOFF_CAP_SECONDS",
    "max_export_seconds": "WORKER_MAX_EXPORT_SECONDS",
    "shutdown_grace_seconds": "WORKER_SHUTDOWN_GRACE_SECONDS",
    "stuck_after_seconds": "STUCK_AFTER_SECONDS",
    "dead_letter_max_letters": "DEAD_LETTER_MAX_LETTERS",
    "dead_letter_max_age_hours": "DEAD_LETTER_MAX_AGE_HOURS",
    "report_type_modules": "REPORT_TYPE_MODULES",
    "schedule_tick_seconds": "SCHEDULE_TICK_SECONDS",
    "schedule_misfire_grace_seconds": "SCHEDULE_MISFIRE_GRACE_SECONDS",
    "schedule_pause_after_failures": "SCHEDULE_PAUSE_AFTER_FAILURES",
    "schedule_min_interval_seconds": "SCHEDULE_MIN_INTERVAL_SECONDS",
    "sync_max_rows": "SYNC_MAX_ROWS",
    "sync_timeout_seconds": "SYNC_TIMEOUT_SECONDS",
    "webhook_allow_http": "WEBHOOK_ALLOW_HTTP",
    "webhook_allowed_cidrs": "WEBHOOK_ALLOWED_CIDRS",
    "webhook_timeout_seconds": "WEBHOOK_TIMEOUT_SECONDS",
    "webhook_retry_schedule": "WEBHOOK_RETRY_SCHEDULE",
    "webhook_disable_after_seconds": "WEBHOOK_DISABLE_AFTER_SECONDS",
    "webhook_secret_overlap_seconds": "WEBHOOK_SECRET_OVERLAP_SECONDS",
    "dispatcher_concurrency": "DISPATCHER_CONCURRENCY",
    "webhook_endpoint_concurrency": "WEBHOOK_ENDPOINT_CONCURRENCY",
    "dispatcher_poll_seconds": "DISPATCHER_POLL_SECONDS",
    "delivery_concurrency": "DELIVERY_CONCURRENCY",
    "delivery_max_attempts": "DELIVERY_MAX_ATTEMPTS",
    "delivery_retry_schedule": "DELIVERY_RETRY_SCHEDULE",
    "delivery_secrets_key": "DELIVERY_SECRETS_KEY",
    "smtp_url": "SMTP_URL",
    "email_from": "EMAIL_FROM",
    "email_attachment_max_bytes": "EMAIL_ATTACHMENT_MAX_BYTES",
    "email_allowed_domains": "EMAIL_ALLOWED_DOMAINS",
    "smtp_timeout_seconds": "SMTP_TIMEOUT_SECONDS",
}

# What each setting means, for the generated configuration reference (docs/configuration.md):
# the one place a setting is described; a test requires an entry for every setting.
DESCRIPTIONS: dict[str, str] = {
    "database_url": "SQLAlchemy URL of Reportbox's database",
    "source_database_url": "where report queries read (the demo domain)",
    "rabbitmq_url": "AMQP URL of the broker",
    "exchange": "the exchange reports are published to",
    "work_queue": "the work queue (its dead-letter and retry queues are named after it)",
    "s3_endpoint_url": "where worker and API reach storage (`make run`: a local endpoint)",
    "s3_public_endpoint_url": "the host presigned URLs are signed for",
    "s3_bucket": "the bucket report files are stored in",
    "aws_access_key_id": "storage access key",
    "aws_secret_access_key": "storage secret key",
    "aws_region": "storage region",
    "jwt_secret": "HS256 secret (development); set this or `JWT_PUBLIC_KEY`",
    "jwt_public_key": "PEM public key(s) (production; several PEM blocks during a key rotation)",
    "jwt_algorithm": "the one algorithm tokens are verified with",
    "jwt_issuer": "the `iss` tokens must carry",
    "jwt_audience": "the `aud` tokens must carry",
    "jwt_leeway_seconds": "clock skew allowed on `iat`, `nbf` and `exp`",
    "dev_mode": "a development deployment: accepts the published development `JWT_SECRET`s and "
    "offers demo sign-in on the page; never in production",
    "public_base_url": "base of `statusUrl` and `Location`",
    "csv_neutralize_formulas": "prefix formula-like CSV cells with `'`",
    "pdf_max_rows": "the most rows a PDF may hold: 422 on the planner's estimate, Failed when "
    "the export finds more",
    "worker_concurrency": "reports one worker builds at once (= prefetch)",
    "report_retention_hours": "how long a finished report's file lives",
    "download_url_ttl_seconds": "lifetime of one presigned URL (never past the retention)",
    "cleanup_interval_seconds": "how often the relay's sweep runs",
    "max_active_reports_per_user": "Pending + Processing reports allowed per user before 429",
    "max_reports_per_user_per_minute": "new reports a user may request in any minute before "
    "429 with `Retry-After` (cancelled ones count, idempotent replays do not)",
    "report_row_retention_days": "the sweep deletes a Failed, Cancelled or Expired report's row "
    "this long after it ended (then its id is a 404 and its Idempotency-Key free again)",
    "relay_batch_size": "outbox rows per publish",
    "relay_poll_seconds": "the relay's fallback poll when no NOTIFY wakes it",
    "lease_seconds": "how long a worker's claim lives without renewal",
    "progress_interval_seconds": "how often a worker writes progress and renews its lease",
    "outbox_retention_hours": "when the sweep deletes published outbox rows",
    "incomplete_upload_max_age_hours": "when the sweep aborts an abandoned multipart upload",
    "log_level": "log level",
    "log_format": "`text` (readable) or `json` (one object per line: timestamp, level, "
    "process, logger, event, fields)",
    "metrics_port": "relay and worker serve `/metrics`, `/healthz` and `/readyz` on this port",
    "multipart_part_bytes": "upload part size, the most a worker holds of one file (≥ 5 MiB)",
    "db_connect_timeout_seconds": "how long a process waits for PostgreSQL to connect",
    "api_statement_timeout_ms": "the API's statement timeout (then 503)",
    "db_statement_timeout_ms": "relay and worker statement timeout",
    "db_idle_in_transaction_timeout_ms": "idle-in-transaction limit of every connection",
    "max_attempts": "claims of one report before a transient fault is final",
    "retry_backoff_base_seconds": "first retry and reconnect delay",
    "retry_backoff_cap_seconds": "longest retry and reconnect delay",
    "max_export_seconds": "longest export before it is Failed (`timeout`)",
    "shutdown_grace_seconds": "after SIGTERM, time to finish the reports in hand",
    "stuck_after_seconds": "when a Pending (or dead-lease Processing) report is sent again",
    "metrics_cache_seconds": "the API's `/metrics` reads the database at most once per this "
    "many seconds",
    "dead_letter_max_letters": "the dead-letter queue's length bound: the oldest letters are "
    "dropped past it",
    "dead_letter_max_age_hours": "the dead-letter queue's age bound: older letters are dropped",
    "schedule_tick_seconds": "the longest a relay's scheduler sleeps between looks for due "
    "definitions (a changed definition wakes it at once)",
    "schedule_misfire_grace_seconds": "after downtime, the newest missed instant still runs if "
    "it is less than this late; older ones never do",
    "schedule_pause_after_failures": "Failed runs in a row after which a definition is paused",
    "schedule_min_interval_seconds": "the shortest time a schedule may leave between two runs",
    "sync_max_rows": "the most rows a `sync` definition's content may have (more is a 422)",
    "sync_timeout_seconds": "how long a `sync` definition's content may take (then 504)",
    "report_type_modules": "extra report types: comma-separated modules that each define "
    "`REPORT_TYPE`",
    "webhook_allow_http": "let webhook endpoints use `http` (development and tests only)",
    "webhook_allowed_cidrs": "private networks (comma-separated CIDRs) webhook endpoints may "
    "resolve to; any other non-public address is refused",
    "webhook_timeout_seconds": "how long one webhook attempt may take before it is a failure",
    "webhook_retry_schedule": "seconds before each retry of a failed webhook message "
    "(comma-separated, each ±20 %)",
    "webhook_disable_after_seconds": "a webhook endpoint with nothing but failures for this "
    "long is disabled",
    "webhook_secret_overlap_seconds": "after a secret rotation, how long the old secret keeps "
    "signing beside the new",
    "dispatcher_concurrency": "webhook messages one dispatcher sends at once (threads)",
    "webhook_endpoint_concurrency": "webhook messages of one endpoint in flight at once across "
    "all dispatchers; capped at one below DISPATCHER_CONCURRENCY, so a slow endpoint "
    "never holds every thread",
    "dispatcher_poll_seconds": "the dispatcher's longest sleep when nothing wakes it",
    "delivery_concurrency": "deliveries (email, s3, sftp) one dispatcher sends at once, on "
    "threads apart from the webhooks'",
    "delivery_max_attempts": "attempts a delivery gets before it is Failed",
    "delivery_retry_schedule": "seconds before each retry of a delivery (comma-separated); "
    "empty: 60 doubling up to 3600",
    "delivery_secrets_key": "the Fernet key (urlsafe base64 of 32 bytes) that encrypts "
    "delivery targets' secrets and webhook signing secrets at rest; needed to save or send a "
    "target with a secret, and to save or sign for a webhook endpoint",
    "smtp_url": "the mail server: `smtp://` (STARTTLS when offered), `smtp+starttls://` "
    "(STARTTLS required) or `smtps://`; `user:password@` logs in (only over TLS)",
    "email_from": "the From of delivery emails",
    "email_attachment_max_bytes": "the largest file an email attaches; a bigger one is linked",
    "email_allowed_domains": "comma-separated recipient domains anyone may mail to; others "
    "need `admin` (empty: every domain needs it)",
    "smtp_timeout_seconds": "how long one SMTP conversation may wait on the server",
}

# Where the default is not a value of its own but another setting's or a service's.
DEFAULTS_SHOWN: dict[str, str] = {
    "source_database_url": "`DATABASE_URL`",
    "s3_endpoint_url": "AWS",
    "s3_public_endpoint_url": "`S3_ENDPOINT_URL`",
    "jwt_algorithm": "`RS256` with a public key, else `HS256`",
    "public_base_url": "the request's host",
    "metrics_port": "none (nothing served)",
    "delivery_secrets_key": "none (targets with secrets and webhook endpoints cannot be saved)",
    "delivery_retry_schedule": "60, 120, 240, 480, 960 (doubling, at most 3600)",
}
