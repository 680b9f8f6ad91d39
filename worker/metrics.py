"""The worker's metrics: what it exports, how long that takes, and what it could not finish."""

from __future__ import annotations

from prometheus_client import Counter, Gauge, Histogram

IN_FLIGHT = Gauge("reportbox_worker_exports_in_flight", "Deliveries this worker is handling now.")
EXPORT_SECONDS = Histogram(
    "reportbox_worker_export_duration_seconds",
    "From claim to the end of the export, by format and outcome.",
    ["format", "outcome"],
    buckets=(0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10, 30, 60, 120, 300, 900, 1800, 3600),
)
ROWS = Counter("reportbox_worker_rows_exported", "Rows in completed files, by format.", ["format"])
BYTES = Counter(
    "reportbox_worker_bytes_exported", "Bytes of completed files, by format.", ["format"]
)
RETRIES = Counter("reportbox_worker_retries", "Messages parked in the retry queue.")
DEAD_LETTERS = Counter("reportbox_worker_dead_letters", "Messages sent to the dead-letter queue.")
TAKEOVERS = Counter(
    "reportbox_worker_lease_takeovers", "Reports claimed from a worker whose lease ran out."
)
