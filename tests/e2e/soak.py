"""A longer run of "two relays, two workers, nothing lost": requests keep coming while relays
and workers are killed (SIGKILL) and restarted at random, and optionally while the lines to
PostgreSQL, RabbitMQ or S3 are cut for a moment. At the end the checker's figures are printed;
the exit status is 1 if any report was lost, duplicated, unexpected, missing or stuck.

    python -m tests.e2e.soak --reports 3000 [--cuts] [--seed 7]

Uses the same services as the tests (TEST_DATABASE_URL, TEST_RABBITMQ_URL,
TEST_S3_ENDPOINT_URL, or this machine's, or a SeaweedFS started for the run).
"""

from __future__ import annotations

import argparse
import contextlib
import logging
import random
import secrets
import sys
import tempfile
import threading
import time
from pathlib import Path

from shared.config import Settings
from tests.e2e.faultstack import FaultStack, fault_stack
from tests.services import postgres_server, rabbitmq_server, s3_server

log = logging.getLogger("soak")


def parse(argv: list[str] | None) -> argparse.Namespace:
    parser = argparse.ArgumentParser(prog="python -m tests.e2e.soak", description=__doc__)
    parser.add_argument("--reports", type=int, default=3000, help="requests to make")
    parser.add_argument("--relays", type=int, default=2)
    parser.add_argument("--workers", type=int, default=2)
    parser.add_argument("--kill-every", type=float, default=3.0, help="mean seconds between kills")
    parser.add_argument("--cuts", action="store_true", help="also cut a service now and then")
    parser.add_argument("--seed", type=int, default=None)
    parser.add_argument("--log-dir", type=Path, default=None, help="keep the processes' logs here")
    return parser.parse_args(argv)


class Chaos:
    """Kills a random relay or worker every so often and starts a new one in its place."""

    def __init__(self, stack: FaultStack, args: argparse.Namespace, rng: random.Random) -> None:
        self._stack = stack
        self._args = args
        self._rng = rng
        self._stopping = threading.Event()
        self.kills = 0
        self.cuts = 0
        self.relays = [stack.start_relay() for _ in range(args.relays)]
        self.workers = [stack.start_worker() for _ in range(args.workers)]

    def run(self) -> None:
        while not self._stopping.wait(self._rng.expovariate(1 / self._args.kill_every)):
            if self._args.cuts and self._rng.random() < 0.25:
                self._cut()
            else:
                self._kill()

    def _kill(self) -> None:
        group, start = self._rng.choice(
            [(self.relays, self._stack.start_relay), (self.workers, self._stack.start_worker)]
        )
        victim = group.pop(self._rng.randrange(len(group)))
        self._stack.kill(victim)
        group.append(start())
        self.kills += 1
        log.info("soak.killed %s (kills=%d)", victim.name, self.kills)

    def _cut(self) -> None:
        service = self._rng.choice(sorted(self._stack.proxies))
        seconds = self._rng.uniform(0.5, 3.0)
        self._stack.proxies[service].cut()
        self._stopping.wait(seconds)
        self._stack.proxies[service].restore()
        self.cuts += 1
        log.info("soak.cut %s for %.1fs (cuts=%d)", service, seconds, self.cuts)

    def stop(self) -> None:
        self._stopping.set()


def soak(stack: FaultStack, args: argparse.Namespace, rng: random.Random) -> bool:
    stack.start_api()
    chaos = Chaos(stack, args, rng)
    chaos_thread = threading.Thread(target=chaos.run, name="chaos", daemon=True)
    chaos_thread.start()
    started = time.monotonic()
    answers = []
    for offset in range(0, args.reports, 100):  # waves, so the kills fall all along the run
        answers += stack.submit(min(100, args.reports - offset))
    refused = [answer.status for answer in answers if answer.status != 202]
    ids = [answer.body["reportId"] for answer in answers if answer.status == 202]
    log.info("soak.submitted accepted=%d refused=%d", len(ids), len(refused))
    try:
        stack.wait_terminal(ids, timeout=max(300.0, args.reports / 5))
    except AssertionError as exc:
        log.error("soak.not_terminal %s", exc)
    chaos.stop()
    chaos_thread.join(timeout=10)
    figures = stack.check(ids)
    print(
        f"soak: {args.reports} requests, {len(refused)} refused, {chaos.kills} kills, "
        f"{chaos.cuts} cuts, {time.monotonic() - started:.0f} s\nsoak: {figures}",
        flush=True,
    )
    return figures.ok and not refused


def main(argv: list[str] | None = None) -> None:
    args = parse(argv)
    logging.basicConfig(level=logging.INFO, format="%(asctime)s %(name)s %(message)s")
    logging.getLogger("pika").setLevel(logging.WARNING)
    seed = args.seed if args.seed is not None else secrets.randbelow(2**32)
    rng = random.Random(seed)
    log.info("soak.seed %d", seed)
    with contextlib.ExitStack() as cleanup:
        log_dir = args.log_dir or Path(cleanup.enter_context(tempfile.TemporaryDirectory()))
        postgres_url = cleanup.enter_context(postgres_server())
        rabbitmq_url = cleanup.enter_context(rabbitmq_server())
        endpoint, access_key, secret_key = cleanup.enter_context(s3_server())
        base = Settings(
            rabbitmq_url=rabbitmq_url,
            s3_endpoint_url=endpoint,
            aws_access_key_id=access_key,
            aws_secret_access_key=secret_key,
            jwt_secret=secrets.token_hex(32),
            # The safety net takes part: a message dead-lettered after too many kills of
            # its worker is replaced within a minute.
            stuck_after_seconds=30,
            cleanup_interval_seconds=5,
        )
        stack = cleanup.enter_context(fault_stack(base, postgres_url, log_dir))
        ok = soak(stack, args, rng)
    sys.exit(0 if ok else 1)


if __name__ == "__main__":
    main()
