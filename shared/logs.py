"""Logging for the three processes: one line per event, a stable event name, key=value fields.

Call sites write `log.info("export.started report_id=%s attempt=%d", ...)`. With
LOG_FORMAT=json the same line becomes one JSON object: the first word is the `event`, each
`key=value` a field. Fields bound with `log_context(report_id=...)` join every line written
inside that block, in this thread and in threads started with `context_thread`, so
`grep <report_id>` over the three logs tells a report's whole story.

Secrets never reach a line: bearer tokens, JWTs and presigned-URL signatures are redacted
in the formatter, whatever a call site (or a library) wrote.
"""

from __future__ import annotations

import contextlib
import contextvars
import json
import logging
import re
import threading
from collections.abc import Callable, Iterator, Mapping
from datetime import UTC, datetime
from types import MappingProxyType
from typing import Any

LOG_FORMATS = ("text", "json")

_NO_FIELDS: Mapping[str, Any] = MappingProxyType({})
_context: contextvars.ContextVar[Mapping[str, Any]] = contextvars.ContextVar(
    "reportbox_log_context", default=_NO_FIELDS
)

# What must never be written: the token after "Bearer", anything shaped like a JWT, and the
# query-string credentials of a presigned URL (SigV4 and SigV2).
_SECRETS = [
    (re.compile(r"(?i)(bearer\s+)[A-Za-z0-9._~+/=-]+"), r"\1[redacted]"),
    (re.compile(r"eyJ[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]{5,}\.[A-Za-z0-9_-]*"), "[redacted-jwt]"),
    (
        re.compile(
            r"(?i)((?:X-Amz-(?:Signature|Credential|Security-Token)|Signature|AWSAccessKeyId)=)"
            r"[^&\s\"']+"
        ),
        r"\1[redacted]",
    ),
]
_FIELD = re.compile(r"\s(?=[A-Za-z_][A-Za-z0-9_.]*=)")


def redact(text: str) -> str:
    for pattern, replacement in _SECRETS:
        text = pattern.sub(replacement, text)
    return text


@contextlib.contextmanager
def log_context(**fields: Any) -> Iterator[None]:
    """Add fields to every line logged inside the block (this thread and its context)."""
    token = _context.set({**_context.get(), **fields})
    try:
        yield
    finally:
        _context.reset(token)


def context_thread(target: Callable[[], None], name: str) -> threading.Thread:
    """A daemon thread that logs with the fields bound where it was created."""
    context = contextvars.copy_context()
    return threading.Thread(target=lambda: context.run(target), name=name, daemon=True)


def event_fields(message: str) -> tuple[str, dict[str, str]]:
    """ "export.started report_id=1 type=sessions" → ("export.started", {...}).

    A value runs until the next ` key=`, so a message with spaces stays whole.
    """
    head, *pairs = _FIELD.split(message)
    fields = {}
    for pair in pairs:
        key, _, value = pair.partition("=")
        fields[key] = value
    return head, fields


class TextFormatter(logging.Formatter):
    def __init__(self, process: str) -> None:
        super().__init__(f"%(asctime)s %(levelname)s {process} %(name)s %(message)s")

    def format(self, record: logging.LogRecord) -> str:
        line = super().format(record)
        message = record.getMessage()
        extra = "".join(
            f" {key}={value}" for key, value in _context.get().items() if f"{key}=" not in message
        )
        return redact(line.replace(message, message + extra, 1) if extra else line)


class JsonFormatter(logging.Formatter):
    def __init__(self, process: str) -> None:
        super().__init__()
        self._process = process

    def format(self, record: logging.LogRecord) -> str:
        event, fields = event_fields(record.getMessage())
        line: dict[str, Any] = {
            "timestamp": datetime.fromtimestamp(record.created, UTC).isoformat(
                timespec="milliseconds"
            ),
            "level": record.levelname,
            "process": self._process,
            "logger": record.name,
            "event": event,
            **{key: str(value) for key, value in _context.get().items()},
            **fields,
        }
        if record.exc_info:
            line["exception"] = self.formatException(record.exc_info)
        return redact(json.dumps(line, ensure_ascii=False))


def formatter_for(process: str, log_format: str = "text") -> logging.Formatter:
    return JsonFormatter(process) if log_format == "json" else TextFormatter(process)


def configure_logging(process: str, level: str = "INFO", log_format: str = "text") -> None:
    handler = logging.StreamHandler()
    handler.setFormatter(formatter_for(process, log_format))
    root = logging.getLogger()
    root.handlers[:] = [handler]
    root.setLevel(level.upper())
    # pika logs every reconnect attempt at ERROR with a traceback; our own lines say enough.
    logging.getLogger("pika").setLevel(logging.CRITICAL)
