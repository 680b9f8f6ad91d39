"""Consuming the work queue, acknowledging from any thread, and parking retries."""

from __future__ import annotations

import logging
import threading
import time
import uuid
from collections.abc import Callable
from concurrent.futures import Future, InvalidStateError
from concurrent.futures import TimeoutError as FutureTimeout
from typing import Any

import pika
import pika.exceptions
from pika.adapters.blocking_connection import BlockingChannel, BlockingConnection

from shared.broker.confirms import ConfirmingChannel, Outcome, Settlement
from shared.broker.connection import CONFIRM_TIMEOUT, BrokerUnavailable, connect
from shared.broker.topology import declare_queue, declare_topology, queue_arguments
from shared.config import Settings
from shared.messages import CONTENT_TYPE

log = logging.getLogger(__name__)

RETRIES_HEADER = "x-reportbox-retries"  # how often this message went through the retry queue

# How often an idle consumer asks the broker whether its queue has messages ready. Seen on
# RabbitMQ 3.10: a quorum queue deleted and at once re-declared (by the relay) kept the
# old consumer registered without sending it basic.cancel, and pushed deliveries the
# channel never received. Nothing else tells such a consumer that it is deaf.
STALL_PROBE_SECONDS = 5.0


class Delivery:
    """One received message. ack(), reject() and retry_later() may be called from any thread."""

    def __init__(
        self,
        consumer: Consumer,
        channel: BlockingChannel,
        method: Any,
        properties: Any,
        body: bytes,
    ) -> None:
        self._consumer = consumer
        self._channel = channel
        self.delivery_tag: int = method.delivery_tag
        self.redelivered: bool = method.redelivered
        self.message_id: str | None = properties.message_id
        self.message_type: str | None = properties.type
        self.retries = _retries(properties.headers)
        self.body = body

    def ack(self) -> None:
        self._consumer.call_soon(lambda: self._channel.basic_ack(self.delivery_tag), settles=True)

    def reject(self, *, requeue: bool) -> None:
        self._consumer.call_soon(
            lambda: self._channel.basic_reject(self.delivery_tag, requeue=requeue),
            settles=True,
        )

    def retry_later(self, delay_seconds: float, *, counted: bool = True) -> None:
        """Park a copy in the retry queue for `delay_seconds`, then ack this delivery.

        The copy goes back to the work queue when its time is up, and no prefetch slot is
        held meanwhile. A counted retry carries one more in its retries header; an uncounted
        one (waiting for another worker's lease, not for a fault to pass) carries the same.
        Acked only once the broker confirmed the copy; raises BrokerUnavailable otherwise,
        and this delivery is left unacknowledged.
        """
        retries = self.retries + 1 if counted else self.retries
        self._consumer.publish_retry(self, delay_seconds, retries)
        self.ack()


def _retries(headers: dict[str, Any] | None) -> int:
    value = (headers or {}).get(RETRIES_HEADER, 0)
    return value if isinstance(value, int) and value >= 0 else 0


class _RetrySender:
    """Confirmed publishing into the retry queue on a channel of its own, so a refused
    publish cannot close the consuming channel. Used on the connection's I/O thread only;
    made by the first retry, which declares the retry queue, and made again after a retry
    came back unroutable (the queue was deleted), which declares it again."""

    def __init__(self, connection: BlockingConnection, settings: Settings) -> None:
        self._queue = settings.retry_queue
        channel = connection.channel()
        channel = declare_queue(channel, self._queue, queue_arguments(settings)[self._queue])
        self._unroutable = False
        # A retry's token (its correlation id) tells a returned message apart from the
        # others: two retries of one message may be in flight at once.
        self._channel: ConfirmingChannel[Future[None]] = ConfirmingChannel(
            connection,
            channel,
            self._on_settled,
            self._on_closed,
            timeout=CONFIRM_TIMEOUT,
            key_property="correlation_id",
        )

    @property
    def usable(self) -> bool:
        return self._channel.is_open and not self._unroutable

    def close(self) -> None:
        self._channel.close()

    def publish(self, delivery: Delivery, delay_ms: int, retries: int, done: Future[None]) -> None:
        token = uuid.uuid4().hex
        self._channel.publish(
            "",
            self._queue,
            delivery.body,
            pika.BasicProperties(
                delivery_mode=pika.DeliveryMode.Persistent,
                content_type=CONTENT_TYPE,
                message_id=delivery.message_id,
                type=delivery.message_type,
                correlation_id=token,
                timestamp=int(time.time()),
                expiration=str(delay_ms),
                headers={RETRIES_HEADER: retries},
            ),
            token,
            done,
        )

    def _on_settled(self, settlements: list[Settlement[Future[None]]]) -> None:
        for _token, done, outcome in settlements:
            if outcome is Outcome.CONFIRMED:
                _settle(done)
            elif outcome is Outcome.UNROUTABLE:
                self._unroutable = True
                _settle(done, BrokerUnavailable(f"no queue {self._queue} for the retry"))
            else:
                _settle(done, BrokerUnavailable("the broker refused the retry"))

    def _on_closed(self, reason: Exception, abandoned: list[tuple[str, Future[None]]]) -> None:
        for _token, done in abandoned:
            _settle(done, BrokerUnavailable(f"the retry channel closed: {reason!r}"))


def _settle(done: Future[None], error: BaseException | None = None) -> None:
    """Resolve a retry's future unless something else (a closing consumer) did first."""
    try:
        if error is None:
            done.set_result(None)
        else:
            done.set_exception(error)
    except InvalidStateError:
        pass


class Consumer:
    """Receives from the work queue on one thread and hands each delivery to `on_delivery`.

    `on_delivery` must return quickly (hand the work to another thread); the I/O loop
    keeps heartbeats flowing meanwhile. Acks that arrive after the connection was lost
    are dropped: the broker redelivers those messages, and handlers are idempotent.
    """

    def __init__(
        self,
        settings: Settings,
        prefetch: int,
        on_delivery: Callable[[Delivery], None],
        probe_seconds: float = STALL_PROBE_SECONDS,
    ) -> None:
        self._settings = settings
        self._on_delivery = on_delivery
        self._prefetch = prefetch
        self._probe_seconds = probe_seconds
        # Kept on the I/O thread only: deliveries received and not yet acked or rejected,
        # when the last one arrived, and how many probes in a row found messages waiting.
        self._unsettled = 0
        self._last_delivery = time.monotonic()
        self._next_probe = self._last_delivery + probe_seconds
        self._probe_channel: BlockingChannel | None = None
        self._stalled_probes = 0
        self._stopping = threading.Event()
        self._retry_sender: _RetrySender | None = None
        self._closed = False
        # Retries waiting for a confirm; closing fails them, so no caller waits in vain.
        self._retries_waiting: set[Future[None]] = set()
        self._retries_lock = threading.Lock()
        # Why the broker stopped this consumer while the connection lives on; run() then
        # leaves as if the connection were lost.
        self._dropped: str | None = None
        self._connection = connect(settings)
        try:
            self._channel = declare_topology(self._connection.channel(), settings)
            self._channel.add_on_cancel_callback(self._on_cancelled_by_broker)
            self._channel._impl.add_on_close_callback(self._on_channel_closed)
            self._channel.basic_qos(prefetch_count=prefetch)
            self._consumer_tag = self._channel.basic_consume(settings.work_queue, self._deliver)
        except pika.exceptions.AMQPError as exc:
            self.close()
            raise BrokerUnavailable(f"cannot start consuming: {exc!r}") from exc

    def _deliver(self, channel: BlockingChannel, method: Any, properties: Any, body: bytes) -> None:
        self._unsettled += 1
        self._last_delivery = time.monotonic()
        self._on_delivery(Delivery(self, channel, method, properties, body))

    def _probe_for_stall(self) -> None:
        """On the I/O thread: with room for more and nothing received for a whole probe
        interval, ask the broker how many messages the queue holds ready. Two probes in a
        row that find some mean the broker no longer delivers here: leave as if dropped."""
        now = time.monotonic()
        if now < self._next_probe:
            return
        self._next_probe = now + self._probe_seconds
        if self._unsettled >= self._prefetch or now - self._last_delivery < self._probe_seconds:
            self._stalled_probes = 0
            return
        try:
            if self._probe_channel is None or not self._probe_channel.is_open:
                self._probe_channel = self._connection.channel()
            ready = self._probe_channel.queue_declare(
                self._settings.work_queue, passive=True
            ).method.message_count
        except pika.exceptions.ChannelClosedByBroker as exc:
            self._probe_channel = None
            self._dropped = f"the work queue is gone: {exc!r}"
            log.warning("broker.queue_missing queue=%s", self._settings.work_queue)
            return
        self._stalled_probes = self._stalled_probes + 1 if ready else 0
        if self._stalled_probes >= 2:
            self._dropped = f"{ready} messages wait in the queue and none arrive"
            log.warning(
                "broker.consumer_stalled queue=%s ready=%d", self._settings.work_queue, ready
            )

    def _on_cancelled_by_broker(self, _frame: Any) -> None:
        # basic.cancel from the broker (RabbitMQ's consumer_cancel_notify, which pika asks
        # for): the queue was deleted, or deleted and re-created with other arguments.
        self._dropped = "the broker cancelled the consumer"
        log.warning("broker.consumer_cancelled queue=%s", self._settings.work_queue)

    def _on_channel_closed(self, _channel: Any, reason: Exception) -> None:
        # By the broker: a protocol error (an unknown delivery tag), or a delivery held
        # unacknowledged longer than x-consumer-timeout. Or by close(), which ends run() anyway.
        if isinstance(reason, pika.exceptions.ChannelClosedByBroker):
            self._dropped = f"the broker closed the consumer channel: {reason!r}"
            log.warning(
                "broker.channel_closed queue=%s reason=%r", self._settings.work_queue, reason
            )

    def call_soon(self, callback: Callable[[], None], settles: bool = False) -> None:
        def guarded() -> None:
            if settles:
                self._unsettled -= 1
            try:
                callback()
            except pika.exceptions.AMQPError as exc:
                log.warning("broker.ack_lost error=%r", exc)

        try:
            self._connection.add_callback_threadsafe(guarded)
        except pika.exceptions.AMQPError as exc:
            log.warning("broker.ack_lost error=%r", exc)

    def publish_retry(self, delivery: Delivery, delay_seconds: float, retries: int) -> None:
        """From any thread: publish a delayed copy of `delivery`, its retries header set to
        `retries`, and wait for its confirm."""
        done: Future[None] = Future()
        delay_ms = max(int(delay_seconds * 1000), 1)

        def publish() -> None:  # on the I/O thread
            try:
                if self._closed:
                    raise BrokerUnavailable("the consumer is closed")
                if self._retry_sender is None or not self._retry_sender.usable:
                    if self._retry_sender is not None:
                        self._retry_sender.close()
                    self._retry_sender = _RetrySender(self._connection, self._settings)
                self._retry_sender.publish(delivery, delay_ms, retries, done)
            except (pika.exceptions.AMQPError, BrokerUnavailable) as exc:
                _settle(done, BrokerUnavailable(f"retry publish failed: {exc!r}"))

        with self._retries_lock:
            self._retries_waiting.add(done)
        try:
            self._connection.add_callback_threadsafe(publish)
            done.result(timeout=CONFIRM_TIMEOUT)
        except pika.exceptions.AMQPError as exc:
            raise BrokerUnavailable(f"retry publish failed: {exc!r}") from exc
        except FutureTimeout:
            raise BrokerUnavailable("the retry was not confirmed in time") from None
        finally:
            with self._retries_lock:
                self._retries_waiting.discard(done)

    def run(self) -> None:
        """Serve until stop(); raises BrokerUnavailable when the connection is lost, and
        also when the broker cancels the consumer or closes its channel: the connection then
        lives on but nothing arrives any more, and a new Consumer declares the topology again."""
        try:
            while not self._stopping.is_set():
                self._connection.process_data_events(time_limit=0.5)
                self._probe_for_stall()
                if self._dropped is not None:
                    raise BrokerUnavailable(self._dropped)
        except pika.exceptions.AMQPError as exc:
            raise BrokerUnavailable(f"consumer connection lost: {exc!r}") from exc

    def drain(self, until: Callable[[], bool], timeout: float) -> None:
        """Keep the I/O loop turning (acks, heartbeats) until `until()` or the timeout."""
        deadline = time.monotonic() + timeout
        try:
            while not until() and time.monotonic() < deadline:
                self._connection.process_data_events(time_limit=0.1)
        except pika.exceptions.AMQPError as exc:
            log.warning("broker.drain_lost error=%r", exc)

    def cancel(self) -> None:
        """Stop receiving; prefetched deliveries not yet handed over go back to the queue."""
        try:
            self._channel.basic_cancel(self._consumer_tag)
        except pika.exceptions.AMQPError as exc:
            log.warning("broker.cancel_failed error=%r", exc)

    def stop(self) -> None:
        self._stopping.set()

    def close(self) -> None:
        self._closed = True
        self._retry_sender = None
        with self._retries_lock:
            waiting, self._retries_waiting = self._retries_waiting, set()
        for done in waiting:
            _settle(done, BrokerUnavailable("the consumer connection was closed"))
        try:
            if self._connection.is_open:
                self._connection.close()
        except pika.exceptions.AMQPError:
            pass
