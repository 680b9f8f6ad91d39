"""Keeps a claim alive while an export runs, on its own thread, and reports progress."""

from __future__ import annotations

import logging
import threading
import time
from types import TracebackType

from shared.db import DatabaseUnavailable
from shared.logs import context_thread
from worker.interrupt import Interrupt, StopReason
from worker.lifecycle import Claim, LeaseState, Lifecycle

log = logging.getLogger(__name__)


class LeaseKeeper:
    """Every `interval` seconds: renews the lease and writes the rows done so far, in one
    UPDATE, so progress costs nothing per row.

    It is also the export's watchdog: a lost lease (another worker owns the report), a
    requested cancel, or the deadline passing interrupts the export, its running query
    included. The export then ends without completing.
    """

    def __init__(
        self,
        lifecycle: Lifecycle,
        claim: Claim,
        interval: float,
        interrupt: Interrupt,
        deadline: float,  # time.monotonic() value
    ) -> None:
        self._lifecycle = lifecycle
        self._claim = claim
        self._interval = interval
        self._interrupt = interrupt
        self._deadline = deadline
        self._done = threading.Event()
        self._thread = context_thread(self._run, name=f"lease-{claim.report_id}")
        self.rows_processed = 0
        self.rows_total: int | None = None

    def _run(self) -> None:
        while not self._done.wait(min(self._interval, self._until_deadline())):
            if self._until_deadline() <= 0:
                log.warning("lease.deadline_passed report_id=%s", self._claim.report_id)
                self._interrupt.request(StopReason.DEADLINE)
                return
            try:
                state = self._lifecycle.renew(self._claim, self.rows_processed, self.rows_total)
            except DatabaseUnavailable as exc:
                # The lease may run out; the fenced completion then refuses to write.
                log.warning("lease.renew_failed report_id=%s error=%s", self._claim.report_id, exc)
                continue
            log.info(
                "export.progress report_id=%s rows_processed=%d rows_total=%s",
                self._claim.report_id,
                self.rows_processed,
                self.rows_total,
            )
            if state is LeaseState.LOST:
                log.warning("lease.lost report_id=%s", self._claim.report_id)
                self._interrupt.request(StopReason.CLAIM_LOST)
                return
            if state is LeaseState.CANCEL_REQUESTED:
                log.info("lease.cancel_requested report_id=%s", self._claim.report_id)
                self._interrupt.request(StopReason.CANCEL_REQUESTED)
                return

    def _until_deadline(self) -> float:
        return max(self._deadline - time.monotonic(), 0.0)

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
