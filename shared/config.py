"""Settings: read once from the environment, then passed down explicitly."""

from __future__ import annotations

import os
from collections.abc import Mapping
from dataclasses import dataclass, replace


class ConfigError(ValueError):
    """An environment variable is missing or malformed."""


DEFAULT_DATABASE_URL = "postgresql+psycopg://postgres@127.0.0.1:5432/reportbox"
DEFAULT_RABBITMQ_URL = "amqp://guest:guest@127.0.0.1:5672/%2F"


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
    jwt_algorithm: str = "HS256"
    jwt_issuer: str = "reportbox"
    jwt_audience: str = "reportbox-api"

    public_base_url: str | None = None
    worker_concurrency: int = 2
    report_retention_hours: float = 24.0
    download_url_ttl_seconds: int = 900
    cleanup_interval_seconds: float = 60.0
    max_active_reports_per_user: int = 10

    relay_batch_size: int = 500
    relay_poll_seconds: float = 1.0
    lease_seconds: int = 60
    db_connect_timeout_seconds: int = 5
    api_statement_timeout_ms: int = 5000

    @property
    def dead_letter_exchange(self) -> str:
        return f"{self.exchange}.dead"

    @property
    def dead_letter_queue(self) -> str:
        return f"{self.work_queue}.dead"

    @property
    def presign_endpoint_url(self) -> str | None:
        return self.s3_public_endpoint_url or self.s3_endpoint_url

    def with_overrides(self, **changes: object) -> Settings:
        return replace(self, **changes)

    @classmethod
    def from_env(cls, environ: Mapping[str, str] | None = None) -> Settings:
        env = os.environ if environ is None else environ
        reader = _Reader(env)
        database_url = reader.text("DATABASE_URL", DEFAULT_DATABASE_URL)
        settings = cls(
            database_url=database_url,
            source_database_url=reader.text("SOURCE_DATABASE_URL", database_url),
            rabbitmq_url=reader.text("RABBITMQ_URL", DEFAULT_RABBITMQ_URL),
            exchange=reader.text("RABBITMQ_EXCHANGE", cls.exchange),
            work_queue=reader.text("RABBITMQ_QUEUE", cls.work_queue),
            s3_endpoint_url=reader.optional("S3_ENDPOINT_URL"),
            s3_public_endpoint_url=reader.optional("S3_PUBLIC_ENDPOINT_URL"),
            s3_bucket=reader.text("S3_BUCKET", cls.s3_bucket),
            aws_access_key_id=reader.optional("AWS_ACCESS_KEY_ID"),
            aws_secret_access_key=reader.optional("AWS_SECRET_ACCESS_KEY"),
            aws_region=reader.text("AWS_REGION", cls.aws_region),
            jwt_secret=reader.optional("JWT_SECRET"),
            jwt_public_key=reader.optional("JWT_PUBLIC_KEY"),
            jwt_algorithm=reader.text("JWT_ALGORITHM", cls.jwt_algorithm),
            jwt_issuer=reader.text("JWT_ISSUER", cls.jwt_issuer),
            jwt_audience=reader.text("JWT_AUDIENCE", cls.jwt_audience),
            public_base_url=reader.optional("PUBLIC_BASE_URL"),
            worker_concurrency=reader.integer("WORKER_CONCURRENCY", cls.worker_concurrency),
            report_retention_hours=reader.number(
                "REPORT_RETENTION_HOURS", cls.report_retention_hours
            ),
            download_url_ttl_seconds=reader.integer(
                "DOWNLOAD_URL_TTL_SECONDS", cls.download_url_ttl_seconds
            ),
            cleanup_interval_seconds=reader.number(
                "CLEANUP_INTERVAL_SECONDS", cls.cleanup_interval_seconds
            ),
            max_active_reports_per_user=reader.integer(
                "MAX_ACTIVE_REPORTS_PER_USER", cls.max_active_reports_per_user
            ),
            relay_batch_size=reader.integer("RELAY_BATCH_SIZE", cls.relay_batch_size),
            lease_seconds=reader.integer("WORKER_LEASE_SECONDS", cls.lease_seconds),
        )
        settings.validate()
        return settings

    def validate(self) -> None:
        if self.jwt_secret and self.jwt_public_key:
            raise ConfigError("set JWT_SECRET or JWT_PUBLIC_KEY, not both")
        if self.worker_concurrency < 1:
            raise ConfigError("WORKER_CONCURRENCY must be at least 1")
        if self.multipart_part_bytes < 5 * 1024 * 1024:
            raise ConfigError("multipart parts must be at least 5 MiB (an S3 rule)")


class _Reader:
    def __init__(self, env: Mapping[str, str]) -> None:
        self._env = env

    def optional(self, name: str) -> str | None:
        value = self._env.get(name, "").strip()
        return value or None

    def text(self, name: str, default: str) -> str:
        return self.optional(name) or default

    def integer(self, name: str, default: int) -> int:
        raw = self.optional(name)
        if raw is None:
            return default
        try:
            return int(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a whole number, got {raw!r}") from None

    def number(self, name: str, default: float) -> float:
        raw = self.optional(name)
        if raw is None:
            return default
        try:
            return float(raw)
        except ValueError:
            raise ConfigError(f"{name} must be a number, got {raw!r}") from None
