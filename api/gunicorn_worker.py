"""gunicorn's threaded worker, except that a connection gets a thread only once its request
head (the request line and the headers) has arrived whole.

gthread hands a connection to a thread as soon as its first byte arrives, and the thread then
blocks until the rest trickles in: a client sending a byte a second holds a thread for as
long as it likes, and enough of them hold every thread, health probes queued behind them.
Here the head is read on the worker's event loop, without blocking, and a head not whole
within HEAD_SECONDS closes the connection. The body (64 KiB at most) is still read by the
thread.

It reaches into gthread's internals (TConn, the poller, pending_conns), which is why
pyproject.toml keeps gunicorn within one major version.
"""

from __future__ import annotations

import selectors
import socket
import time
from functools import partial
from typing import Any

from gunicorn.http import RequestParser
from gunicorn.uwsgi.parser import UWSGIParser
from gunicorn.workers.gthread import TConn, ThreadWorker

HEAD_SECONDS = 10.0  # for the whole request head, from the first wait for it
MAX_HEAD_BYTES = 64 * 1024  # beyond gunicorn's limits anyway: its parser answers 400
HEAD_ENDS = (b"\r\n\r\n", b"\n\n")


def head_complete(received: bytes) -> bool:
    """Whether a request head is whole, or too long to wait for (the parser refuses it)."""
    return len(received) > MAX_HEAD_BYTES or any(end in received for end in HEAD_ENDS)


class HeadConn(TConn):
    """gthread's connection, with the bytes of its request head read before a thread has it."""

    head: bytes = b""


class HeadFirstWorker(ThreadWorker):
    _quitting = False

    def handle_quit(self, sig: int, frame: Any) -> None:
        """Quit once, however many quit signals come.

        Ctrl-C sends SIGINT to the whole process group, then the arbiter sends each worker
        SIGQUIT. gthread's handler shuts its thread pool down inside the signal handler; a
        second signal landing in that shutdown re-enters it and waits for ever on the pool's
        own (not re-entrant) lock, and the worker outlives the arbiter as an orphan holding
        the port. The first quit is already on its way out, so later ones return.
        """
        if self._quitting:
            return
        self._quitting = True
        super().handle_quit(sig, frame)

    def accept(self, listener: socket.socket) -> None:
        if self.cfg.is_ssl:  # the head is encrypted: gthread's own way
            super().accept(listener)
            return
        try:
            client_socket, client_address = listener.accept()
        except (BlockingIOError, InterruptedError, ConnectionAbortedError):
            return
        self.nr_conns += 1
        self._await_head(HeadConn(self.cfg, client_socket, client_address, listener.getsockname()))

    def on_client_socket_readable(self, conn: TConn, client: socket.socket) -> None:
        """A kept-alive connection's next request: its head is awaited the same way (a TLS
        connection, accepted by gthread itself, goes gthread's own way as it did at first)."""
        if not isinstance(conn, HeadConn):
            super().on_client_socket_readable(conn, client)
            return
        self.poller.unregister(client)
        self.keepalived_conns.remove(conn)
        self._await_head(conn)

    def _await_head(self, conn: HeadConn) -> None:
        conn.sock.setblocking(False)
        conn.head = b""
        # murder_pending() closes a connection whose head did not arrive by then.
        conn.timeout = time.monotonic() + HEAD_SECONDS
        self.pending_conns.append(conn)
        self.poller.register(conn.sock, selectors.EVENT_READ, partial(self._read_head, conn))

    def _read_head(self, conn: HeadConn, client: socket.socket) -> None:
        try:
            chunk = conn.sock.recv(65536)
        except (BlockingIOError, InterruptedError):
            return
        except OSError:
            chunk = b""
        conn.head += chunk
        if chunk and not head_complete(conn.head):
            return
        self.poller.unregister(client)
        self.pending_conns.remove(conn)
        if not chunk:  # the client left
            self.nr_conns -= 1
            conn.close()
            return
        conn.data_ready = True
        self.enqueue_req(conn)

    def handle(self, conn: TConn) -> Any:
        if isinstance(conn, HeadConn) and conn.head:
            head, conn.head = conn.head, b""
            conn.sock.setblocking(True)
            conn.init()
            # A plain socket's parser is HTTP/1's (HTTP/2 is negotiated only over TLS).
            if not isinstance(conn.parser, RequestParser | UWSGIParser):
                raise RuntimeError(f"no HTTP/1 parser to hand the request head: {conn.parser!r}")
            conn.parser.unreader.unread(head)  # read again by the parser, before the socket
        return super().handle(conn)
