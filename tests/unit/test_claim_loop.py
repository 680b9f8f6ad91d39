"""The dispatcher's claim loop wakes the moment a sending thread finishes, not after a sleep."""

from __future__ import annotations

import threading
import time

from dispatcher.loop import ClaimLoop
from shared.config import Settings


class QuietListener:
    """A LISTEN that never hears anything (only the loop's own wake-ups count here)."""

    def wait(self, timeout_seconds: float) -> bool:
        time.sleep(min(timeout_seconds, 0.05))
        return False

    def close(self) -> None:
        pass


class OneThreadLoop(ClaimLoop):
    """One thread, three rows due; each send holds its thread until released."""

    name = "test"

    def __init__(self, settings: Settings) -> None:
        super().__init__(settings, None, 1, "test", None, lambda *_: QuietListener())  # type: ignore[arg-type]
        self.due = [1, 2, 3]
        self.claimed_at: list[float] = []
        self.finished_at: list[float] = []
        self.release = threading.Semaphore(0)

    def claim(self, free: int) -> list[int]:
        taken, self.due = self.due[:free], self.due[free:]
        if taken:
            self.claimed_at.append(time.monotonic())
        return taken

    def send(self, row: int) -> None:
        self.release.acquire(timeout=10)
        self.finished_at.append(time.monotonic())
        if not self.due and len(self.finished_at) == 3:
            self.stop()

    def seconds_until_due(self) -> float:
        return 0.0 if self.due else 10.0


def test_a_finished_send_wakes_the_next_claim_at_once():
    # A long poll, and the one thread busy: only a finishing send can wake the loop in time.
    loop = OneThreadLoop(Settings(dispatcher_poll_seconds=30.0))
    running = threading.Thread(target=loop.run)
    running.start()
    for _ in range(3):
        time.sleep(0.1)  # the loop is asleep, its one thread busy
        loop.release.release()
    running.join(10)
    assert not running.is_alive()
    assert len(loop.claimed_at) == 3
    for finished, next_claim in zip(loop.finished_at, loop.claimed_at[1:], strict=False):
        assert next_claim - finished < 2.0  # woken by the finish, not by the 30 s poll
