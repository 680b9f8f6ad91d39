"""What the dispatcher's two claim loops share: a pool of sending threads, and a wake-up that
comes at once when a thread finishes or a NOTIFY arrives, never after a fixed sleep.

A loop claims as much as it has free threads for, sends each claim on a thread, and sleeps
until one of: a thread finished (a slot is free), the table's trigger NOTIFYs (something new
or retried), the earliest pending row comes due, or the poll interval passes. A separate
thread LISTENs, so the claiming thread can wait on one Event for all of them.
"""

from __future__ import annotations

import logging
import threading
from collections.abc import Callable, Sequence
from concurrent.futures import Future, ThreadPoolExecutor
from typing import Any

from sqlalchemy import Engine, TextClause

from shared.backoff import compute_backoff
from shared.config import Settings
from shared.db import DatabaseUnavailable, Listener, seconds_until_due

log = logging.getLogger(__name__)

# Something is due but nothing could be claimed (its endpoint is at its limit in another
# dispatcher, whose finish wakes only that one): look again this soon.
BLOCKED_WAIT = 0.25  # seconds
# The listening thread looks up this often to see whether the loop stopped: a stop waits
# for it at most this long.
LISTEN_SLICE = 1.0  # seconds


class Wakeup:
    """An Event set by a NOTIFY on `channel` (from a listening thread) or by `set()`."""

    def __init__(
        self,
        settings: Settings,
        channel: str,
        listener_factory: Callable[[Settings, str], Listener],
        name: str,
    ) -> None:
        self._settings = settings
        self._channel = channel
        self._factory = listener_factory
        self._name = name
        self._event = threading.Event()
        self._closing = threading.Event()
        self._listener: Listener | None = None
        self._thread: threading.Thread | None = None

    def start(self) -> None:
        """LISTEN now (DatabaseUnavailable if it cannot), before the first claim, so a row
        written during that claim wakes the next wait; then keep listening on a thread."""
        if self._thread is not None and self._thread.is_alive():
            return
        self._listener = self._factory(self._settings, self._channel)
        self._thread = threading.Thread(target=self._listen, name=f"{self._name}-listen")
        self._thread.daemon = True
        self._thread.start()

    def _listen(self) -> None:
        failures = 0
        while not self._closing.is_set():
            try:
                if self._listener is None:
                    self._listener = self._factory(self._settings, self._channel)
                    self._event.set()  # a NOTIFY may have been missed while not listening
                if self._listener.wait(LISTEN_SLICE):
                    self._event.set()
                failures = 0
            except DatabaseUnavailable as exc:
                failures += 1
                self._drop_listener()
                delay = compute_backoff(
                    failures,
                    base=self._settings.retry_backoff_base_seconds,
                    cap=self._settings.retry_backoff_cap_seconds,
                )
                log.warning("%s.listen_failed error=%s retry_in=%.1fs", self._name, exc, delay)
                self._closing.wait(delay)
        self._drop_listener()

    def _drop_listener(self) -> None:
        if self._listener is not None:
            self._listener.close()
            self._listener = None

    def set(self) -> None:
        self._event.set()

    def clear(self) -> None:
        self._event.clear()

    def wait(self, seconds: float) -> None:
        if seconds > 0:
            self._event.wait(seconds)

    def close(self) -> None:
        self._closing.set()
        self._event.set()
        if self._thread is not None:
            self._thread.join()
            self._thread = None


class ClaimLoop:
    """run(): claim, send, sleep until woken; DatabaseUnavailable backs off. Subclasses give
    `claim(free)` (the claimed rows) and `send(row)`; `next_due_in` is the statement for the
    seconds until the earliest pending row is due (NULL: none)."""

    name = "loop"

    def __init__(
        self,
        settings: Settings,
        engine: Engine,
        concurrency: int,
        channel: str,
        next_due_in: TextClause,
        listener_factory: Callable[[Settings, str], Listener],
    ) -> None:
        self._settings = settings
        self._engine = engine
        self._next_due_in = next_due_in
        self._concurrency = concurrency
        self._pool = ThreadPoolExecutor(concurrency, self.name)
        self._lock = threading.Lock()
        self._in_flight = 0
        self._stopping = threading.Event()
        self.wakeup = Wakeup(settings, channel, listener_factory, self.name)

    def free_threads(self) -> int:
        with self._lock:
            return self._concurrency - self._in_flight

    def claim(self, free: int) -> Sequence[Any]:
        raise NotImplementedError

    def send(self, row: Any) -> None:
        raise NotImplementedError

    def seconds_until_due(self) -> float:
        return seconds_until_due(
            self._engine, self._next_due_in, self._settings.dispatcher_poll_seconds
        )

    def run_once(self) -> list[Future[None]]:
        """Claim as much as there are free threads for, and send each on a thread."""
        free = self.free_threads()
        if free <= 0:
            return []
        claimed = self.claim(free)
        with self._lock:
            self._in_flight += len(claimed)
        return [self._pool.submit(self._send_then_wake, row) for row in claimed]

    def _send_then_wake(self, row: Any) -> None:
        try:
            self.send(row)
        finally:
            with self._lock:
                self._in_flight -= 1
            self.wakeup.set()  # a slot is free: claim again now, not after a sleep

    def seconds_to_sleep(self, claimed: int) -> float:
        """0 to claim again at once; else how long to wait unless something wakes the loop."""
        free = self.free_threads()
        if claimed and free > 0:
            return 0.0  # the claim may have stopped short (a limit): look again at once
        if free <= 0:
            return self._settings.dispatcher_poll_seconds  # a finishing thread wakes it
        due_in = self.seconds_until_due()
        return BLOCKED_WAIT if due_in <= 0 else due_in

    def run(self) -> None:
        log.info("%s.started concurrency=%d", self.name, self._concurrency)
        failures = 0
        while not self._stopping.is_set():
            try:
                self.wakeup.start()
                # Cleared before the claim: a NOTIFY or a finish during it wakes the wait.
                self.wakeup.clear()
                self.wakeup.wait(self.seconds_to_sleep(len(self.run_once())))
                failures = 0
            except DatabaseUnavailable as exc:
                failures += 1
                delay = compute_backoff(
                    failures,
                    base=self._settings.retry_backoff_base_seconds,
                    cap=self._settings.retry_backoff_cap_seconds,
                )
                log.warning("%s.unavailable error=%s retry_in=%.1fs", self.name, exc, delay)
                self._stopping.wait(delay)
        # The attempts in hand finish (each bounded by its timeout) and are recorded.
        self._pool.shutdown(wait=True)
        self.wakeup.close()
        self.close()
        log.info("%s.stopped", self.name)

    def stop(self) -> None:
        self._stopping.set()
        self.wakeup.set()

    def close(self) -> None:
        """What the loop keeps open besides its listener (kept connections), once stopped."""
