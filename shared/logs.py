"""Logging set-up for the three processes: one line per event, stable names, key=value."""

from __future__ import annotations

import logging


def configure_logging(process: str, level: str = "INFO") -> None:
    logging.basicConfig(
        level=level.upper(),
        format=f"%(asctime)s %(levelname)s {process} %(name)s %(message)s",
    )
    # pika logs every reconnect attempt at ERROR with a traceback; our own lines say enough.
    logging.getLogger("pika").setLevel(logging.CRITICAL)
