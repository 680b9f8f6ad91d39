"""Why an export must stop, decided once, from any thread, and the running query cut short.

The export thread checks between chunks, but a query can run for minutes before its first
chunk (an aggregation, a filter that matches little of a long range). So whoever decides
(the lease keeper on a lost lease or a cancel, the worker on hand-back, the deadline) also
cancels the query on the server; the export thread then gets QueryCanceled and asks why.
"""

from __future__ import annotations

import enum
import logging
import threading
from collections.abc import Callable

log = logging.getLogger(__name__)


class StopReason(enum.Enum):
    CLAIM_LOST = "claim-lost"  # another worker took the report over
    CANCEL_REQUESTED = "cancel-requested"  # the client cancelled it
    HANDED_BACK = "handed-back"  # this worker is shutting down
    DEADLINE = "deadline"  # the export ran past its maximum time


class Interrupt:
    """The first reason given wins; later ones change nothing."""

    def __init__(self) -> None:
        self._lock = threading.Lock()
        self._reason: StopReason | None = None
        self._cancel_query: Callable[[], None] | None = None

    @property
    def reason(self) -> StopReason | None:
        return self._reason

    def request(self, reason: StopReason) -> None:
        with self._lock:
            if self._reason is not None:
                return
            self._reason = reason
            # Under the lock: once detach() returned, the connection may serve another
            # export, and a cancel sent then would cut that one's query instead.
            if self._cancel_query is not None:
                try:
                    self._cancel_query()
                except Exception as exc:  # the chunk check still stops the export
                    log.warning("export.query_cancel_failed reason=%s error=%s", reason, exc)

    def attach(self, cancel_query: Callable[[], None]) -> None:
        """While attached, a request also cancels the query running on that connection.

        A reason given before attach() is the caller's to check before it starts a query.
        """
        with self._lock:
            self._cancel_query = cancel_query

    def detach(self) -> None:
        with self._lock:
            self._cancel_query = None
