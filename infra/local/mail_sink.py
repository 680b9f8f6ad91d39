"""make run's SMTP sink: every message the dispatcher sends is kept as a file, never sent on.

aiosmtpd (Apache-2.0) serves SMTP on loopback; each message is written whole to
`.run/mail/<time>-<n>.eml`, which any mail program opens. Nothing leaves the machine.
"""

from __future__ import annotations

import contextlib
import itertools
import time
from collections.abc import Iterator
from pathlib import Path
from typing import Any

from aiosmtpd.controller import Controller


class KeepEveryMessage:
    """An aiosmtpd handler that writes each accepted message to a file of its own."""

    def __init__(self, folder: Path) -> None:
        self._folder = folder
        self._numbers = itertools.count(1)

    # aiosmtpd calls handle_<VERB> by name.
    async def handle_DATA(self, _server: Any, _session: Any, envelope: Any) -> str:
        folder = self._folder
        folder.mkdir(parents=True, exist_ok=True)
        name = f"{time.strftime('%Y%m%dT%H%M%S')}-{next(self._numbers)}.eml"
        partial = folder / f".{name}.part"
        partial.write_bytes(envelope.original_content or envelope.content)
        partial.rename(folder / name)  # a reader never sees half a message
        return "250 kept in " + str(folder)


@contextlib.contextmanager
def mail_sink(port: int, folder: Path) -> Iterator[str]:
    """An SMTP server on 127.0.0.1:port keeping messages in `folder`; its SMTP_URL."""
    controller = Controller(KeepEveryMessage(folder), hostname="127.0.0.1", port=port)
    controller.start()
    try:
        yield f"smtp://127.0.0.1:{port}"
    finally:
        controller.stop()
