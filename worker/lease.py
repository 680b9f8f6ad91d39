"""Keeps a claim alive while an export runs, on its own thread, and reports progress."""

from __future__ import annotations

import logging
import threading
from types import TracebackType

from shared.db import DatabaseUnavailable
from worker.lifecycle import Claim, LeaseState, Lifecycle

log = logging.getLogger(__name__)


class LeaseKeeper:
    """Every `interval` seconds: renews the lease and writes the rows done so far, in one
    UPDATE, so progress costs nothing per row.

    The export loop reads `lost` and `cancel_requested` between chunks: once `lost` is set,
    another worker owns the report; once `cancel_requested` is set, the client asked to
    stop. Either way the export ends without completing.
    """

    def __init__(self, lifecycle: Lifecycle, claim: Claim, interval: float) -> None:
        self._lifecycle = lifecycle
        self._claim = claim
        self._interval = interval
        self._done = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"lease-{claim.report_id}", daemon=True
        )
        self.rows_processed = 0
        self.rows_total: int | None = None
        self.lost = threading.Event()
        self.cancel_requested = threading.Event()

    def _run(self) -> None:
        while not self._done.wait(self._interval):
            try:
                state = self._lifecycle.renew(self._claim, self.rows_processed, self.rows_total)
            except DatabaseUnavailable as exc:
                # The lease may run out; the fenced completion then refuses to write.
                log.warning("lease.renew_failed report_id=%s error=%s", self._claim.report_id, exc)
                continue
            if state is LeaseState.LOST:
                log.warning("lease.lost report_id=%s", self._claim.report_id)
                self.lost.set()
                return
            if state is LeaseState.CANCEL_REQUESTED and not self.cancel_requested.is_set():
                log.info("lease.cancel_requested report_id=%s", self._claim.report_id)
                self.cancel_requested.set()

    def __enter__(self) -> LeaseKeeper:
        self._thread.start()
        return self

    def __exit__(
        self,
        exc_type: type[BaseException] | None,
        exc: BaseException | None,
        traceback: TracebackType | None,
    ) -> None:
        self._done.set()
        self._thread.join()
