"""Logging set-up for the three processes: one line per event, stable names, key=value."""

from __future__ import annotations

import logging
import os


def configure_logging(process: str) -> None:
    logging.basicConfig(
        level=os.environ.get("LOG_LEVEL", "INFO").upper(),
        format=f"%(asctime)s %(levelname)s {process} %(name)s %(message)s",
    )
    # pika logs every reconnect attempt at ERROR with a traceback; our own lines say enough.
    logging.getLogger("pika").setLevel(logging.CRITICAL)
