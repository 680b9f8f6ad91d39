"""Group commit: threads that each have something to record hand it in, and one of them
writes everything handed in so far in one transaction while the others wait for it.

Each caller returns only once its own item is written (or the write failed for it), so
"the attempt is recorded when its thread is done" still holds; but under load one
transaction, one commit and one pooled connection serve many attempts instead of one each.
With no load the first caller writes its own item at once: nothing waits for a batch to fill.
"""

from __future__ import annotations

import threading
from collections.abc import Callable, Sequence
from typing import Generic, TypeVar

Item = TypeVar("Item")


class _Ticket(Generic[Item]):
    def __init__(self, item: Item) -> None:
        self.item = item
        self.done = False
        self.error: BaseException | None = None


class GroupCommit(Generic[Item]):
    def __init__(self, write: Callable[[Sequence[Item]], None]) -> None:
        self._write = write
        self._changed = threading.Condition()
        self._waiting: list[_Ticket[Item]] = []
        self._writing = False

    def record(self, item: Item) -> None:
        """Return once `item` is written; the write's exception if it failed."""
        ticket = _Ticket(item)
        batch: list[_Ticket[Item]] = []
        with self._changed:
            self._waiting.append(ticket)
            while not ticket.done and self._writing:
                self._changed.wait()
            if not ticket.done:
                # Nobody writes now: this thread writes all that waits, its own item included.
                self._writing = True
                batch, self._waiting = self._waiting, []
        if batch:
            self._write_batch(batch)
        if ticket.error is not None:
            raise ticket.error

    def _write_batch(self, batch: list[_Ticket[Item]]) -> None:
        error: BaseException | None = None
        try:
            self._write([ticket.item for ticket in batch])
        except Exception as exc:
            error = exc
        finally:
            with self._changed:
                for ticket in batch:
                    ticket.done, ticket.error = True, error
                self._writing = False
                self._changed.notify_all()
