"""Relay and worker ride out a lost PostgreSQL or RabbitMQ connection (through a fault proxy)."""

from __future__ import annotations

import threading
import time
from urllib.parse import urlsplit

from sqlalchemy import make_url

from relay.relay import Relay
from shared.db import make_engine, make_session_factory
from shared.messages import ReportRequested
from shared.models import Report
from shared.storage import Storage
from tests.faultproxy import fault_proxy
from tests.integration.broker_helpers import drain_queue
from tests.integration.helpers import (
    eventually,
    in_thread,
    published,
    via_proxy_amqp,
    via_proxy_database,
)
from worker.exporter import Exporter
from worker.lifecycle import Lifecycle
from worker.worker import Worker


def test_the_relay_publishes_what_was_written_while_rabbitmq_was_unreachable(
    own_queue, sessions, make_report
):
    rabbit = urlsplit(own_queue.rabbitmq_url)
    with fault_proxy(rabbit.hostname, rabbit.port) as proxy:
        settings = own_queue.with_overrides(
            rabbitmq_url=via_proxy_amqp(own_queue.rabbitmq_url, proxy.port)
        )
        relay = Relay(settings, sessions)
        thread = in_thread(relay.run)
        first = make_report().id
        assert eventually(lambda: published(sessions, [first]))

        proxy.cut()
        written_while_down = [make_report().id for _ in range(3)]
        time.sleep(1.5)
        assert not published(sessions, written_while_down)
        proxy.restore()

        assert eventually(lambda: published(sessions, written_while_down))
        relay.stop()
        thread.join(timeout=10)
    assert not thread.is_alive()
    arrived = {ReportRequested.decode(body).report_id for _, body in drain_queue(own_queue)}
    assert set(written_while_down) <= arrived


def test_the_relay_reconnects_after_postgresql_was_cut(own_queue, settings, sessions, make_report):
    database = make_url(settings.database_url)
    with fault_proxy(database.host, database.port) as proxy:
        proxied = own_queue.with_overrides(
            database_url=via_proxy_database(settings.database_url, proxy.port)
        )
        engine = make_engine(proxied)
        relay = Relay(proxied, make_session_factory(engine))
        thread = in_thread(relay.run)
        first = make_report().id
        assert eventually(lambda: published(sessions, [first]))

        proxy.cut()
        written_while_cut = make_report().id  # straight to the database, not through the proxy
        time.sleep(1.5)
        proxy.restore()

        assert eventually(lambda: published(sessions, [written_while_cut]))
        relay.stop()
        thread.join(timeout=10)
        engine.dispose()
    assert not thread.is_alive()


def test_the_worker_reconnects_to_rabbitmq_and_builds_what_arrived_meanwhile(
    own_queue, sessions, engine, make_report
):
    rabbit = urlsplit(own_queue.rabbitmq_url)
    with fault_proxy(rabbit.hostname, rabbit.port) as proxy:
        settings = own_queue.with_overrides(
            rabbitmq_url=via_proxy_amqp(own_queue.rabbitmq_url, proxy.port)
        )
        stopping = threading.Event()
        lifecycle = Lifecycle(engine, settings.lease_seconds, 3600)
        worker = Worker(settings, Exporter(lifecycle, engine, Storage(settings)), stopping)
        thread = in_thread(worker.run)
        time.sleep(1.0)

        proxy.cut()
        report = make_report()
        relay = Relay(own_queue, sessions)  # publishes directly, not through the proxy
        while relay.run_once():
            pass
        relay.close()
        time.sleep(1.0)
        proxy.restore()

        def completed() -> bool:
            with sessions() as session:
                return session.get(Report, report.id).status == "Completed"

        try:
            assert eventually(completed)
        finally:
            worker.stop()
            thread.join(timeout=40)
    assert not thread.is_alive()
