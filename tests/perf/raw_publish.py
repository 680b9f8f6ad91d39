"""The relay drain's reference: raw pika publishing the outbox's bodies, nothing else.

python -m tests.perf.raw_publish reads every outbox body (before the clock starts), then
publishes them persistent and mandatory to the work exchange with publisher confirms,
WINDOW messages in flight at most, on pika's asynchronous SelectConnection: no database,
no Reportbox code on the path. Prints one JSON line: messages, seconds, confirmed.
"""

from __future__ import annotations

import json
import sys
import time

import pika
import psycopg

from shared.broker.topology import ROUTING_KEY
from shared.config import Settings
from shared.db import libpq_url

WINDOW = 1000  # confirms outstanding at most, like a relay batch's worth and then some


def publish_all(settings: Settings, bodies: list[bytes]) -> dict[str, float]:
    properties = pika.BasicProperties(
        delivery_mode=pika.DeliveryMode.Persistent, content_type="application/json"
    )
    state = {"sent": 0, "confirmed": 0, "nacked": 0, "returned": 0, "started": 0.0}
    channel_box: list = []

    def fill_window() -> None:
        channel = channel_box[0]
        while state["sent"] < len(bodies) and state["sent"] - state["confirmed"] < WINDOW:
            channel.basic_publish(
                settings.exchange, ROUTING_KEY, bodies[state["sent"]], properties, mandatory=True
            )
            state["sent"] += 1

    def on_confirm(frame: pika.frame.Method) -> None:
        tag, multiple = frame.method.delivery_tag, frame.method.multiple
        done = tag - state["confirmed"] if multiple else 1
        state["confirmed"] += done
        if isinstance(frame.method, pika.spec.Basic.Nack):
            state["nacked"] += done
        if state["confirmed"] >= len(bodies):
            state["seconds"] = time.perf_counter() - state["started"]
            connection.close()
        else:
            fill_window()

    def on_returned(*_: object) -> None:
        state["returned"] += 1

    def on_confirm_mode(_frame: object) -> None:
        state["started"] = time.perf_counter()
        fill_window()

    def on_channel(channel: pika.channel.Channel) -> None:
        channel_box.append(channel)
        channel.add_on_return_callback(on_returned)
        channel.confirm_delivery(on_confirm, callback=on_confirm_mode)

    connection = pika.SelectConnection(
        pika.URLParameters(settings.rabbitmq_url),
        on_open_callback=lambda conn: conn.channel(on_open_callback=on_channel),
        on_open_error_callback=lambda _conn, error: sys.exit(f"cannot connect: {error}"),
        on_close_callback=lambda conn, _reason: conn.ioloop.stop(),
    )
    connection.ioloop.start()
    return {
        "messages": len(bodies),
        "seconds": round(state.get("seconds", 0.0), 3),
        "confirmed": state["confirmed"] - state["nacked"],
        "returned": state["returned"],
    }


def main() -> None:
    settings = Settings.from_env()
    with psycopg.connect(libpq_url(settings.database_url)) as connection:
        bodies = [
            bytes(row[0]) for row in connection.execute("SELECT body FROM outbox ORDER BY id")
        ]
    print(json.dumps(publish_all(settings, bodies)))


if __name__ == "__main__":
    main()
