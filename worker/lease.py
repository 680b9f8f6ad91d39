"""Keeps a claim alive while an export runs, on its own thread."""

from __future__ import annotations

import logging
import threading
from types import TracebackType

from shared.db import DatabaseUnavailable
from worker.lifecycle import Claim, Lifecycle

log = logging.getLogger(__name__)


class LeaseKeeper:
    """Renews the lease every third of its length and records rows done so far.

    The export loop reads `lost` between chunks: once set, another worker owns the
    report (or it was cancelled) and this export must stop without completing.
    """

    def __init__(self, lifecycle: Lifecycle, claim: Claim) -> None:
        self._lifecycle = lifecycle
        self._claim = claim
        self._interval = lifecycle.lease_seconds / 3
        self._done = threading.Event()
        self._thread = threading.Thread(
            target=self._run, name=f"lease-{claim.report_id}", daemon=True
        )
        self.rows_processed = 0
        self.lost = threading.Event()

    def _run(self) -> None:
        while not self._done.wait(self._interval):
            try:
                if not self._lifecycle.renew(self._claim, self.rows_processed):
                    log.warning("lease.lost report_id=%s", self._claim.report_id)
                    self.lost.set()
                    return
            except DatabaseUnavailable as exc:
                # The lease may run out; the fenced completion then refuses to write.
                log.warning("lease.renew_failed report_id=%s error=%s", self._claim.report_id, exc)

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
