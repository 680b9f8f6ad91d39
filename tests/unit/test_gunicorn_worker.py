import socket
import threading
from collections import deque
from concurrent.futures import ThreadPoolExecutor

import pytest
from gunicorn.workers.gthread import TConn

from api.gunicorn_worker import MAX_HEAD_BYTES, HeadFirstWorker, head_complete


@pytest.mark.parametrize(
    ("received", "complete"),
    [
        (b"", False),
        (b"GET / HTTP/1.1\r\nHost: x\r\n", False),
        (b"GET / HTTP/1.1\r\nHost: x\r\n\r\n", True),
        (b"POST / HTTP/1.1\r\nContent-Length: 2\r\n\r\n{}", True),
        (b"GET / HTTP/1.1\nHost: x\n\n", True),
        (b"GET / HTTP/1.1\r\nX: " + b"a" * MAX_HEAD_BYTES, True),  # the parser refuses it
    ],
)
def test_a_head_is_whole_at_its_blank_line_or_when_too_long_to_wait_for(received, complete):
    assert head_complete(received) is complete


class Poller:
    def __init__(self):
        self.registered = []

    def register(self, sock, events, callback):
        self.registered.append(sock)

    def unregister(self, sock):
        pass


def test_a_kept_alive_tls_connection_goes_gthreads_own_way():
    # gthread accepts a TLS connection itself (its head is encrypted): a plain TConn, whose
    # next request is handed to a thread as gthread does, never read as a head on the loop.
    worker = HeadFirstWorker.__new__(HeadFirstWorker)
    worker.poller = Poller()
    worker.keepalived_conns = deque()
    worker.pending_conns = deque()
    enqueued = []
    worker.enqueue_req = enqueued.append
    ours, theirs = socket.socketpair()
    with ours, theirs:
        conn = TConn.__new__(TConn)
        conn.sock = ours
        worker.keepalived_conns.append(conn)

        worker.on_client_socket_readable(conn, ours)

    assert enqueued == [conn]
    assert worker.poller.registered == []
    assert list(worker.pending_conns) == []


def test_a_second_quit_signal_during_the_first_does_not_hang_the_worker():
    # Ctrl-C: SIGINT to the process group, then SIGQUIT from the arbiter. The second handler
    # runs on the main thread while the first is inside the pool's shutdown, holding its lock.
    worker = HeadFirstWorker.__new__(HeadFirstWorker)
    worker.tpool = ThreadPoolExecutor(1)
    worker.cfg = type("Cfg", (), {"worker_int": staticmethod(lambda worker: None)})()
    real_shutdown = worker.tpool.shutdown
    exits = []

    def shutdown_hit_by_a_second_signal(wait=True, **kwargs):
        with worker.tpool._shutdown_lock:  # where the signal lands inside the real shutdown
            try:
                worker.handle_quit(3, None)  # SIGQUIT
            except SystemExit:
                exits.append("second")
        real_shutdown(wait=wait, **kwargs)

    worker.tpool.shutdown = shutdown_hit_by_a_second_signal

    def quit_once():
        try:
            worker.handle_quit(2, None)  # SIGINT
        except SystemExit:
            exits.append("first")

    quitting = threading.Thread(target=quit_once, daemon=True)
    quitting.start()
    quitting.join(timeout=10)
    assert not quitting.is_alive(), "the second quit re-entered the pool's shutdown and hung"
    assert exits == ["first"]
