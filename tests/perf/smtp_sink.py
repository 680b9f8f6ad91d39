"""The email bench's SMTP sink, a process of its own: accepts every message and throws it
away, doing as little as SMTP allows (a thread per connection, DATA read in large blocks
up to its ending dot line), so what is measured is the sender, not the sink.

aiosmtpd (infra/local/mail_sink.py, which keeps every message as a file) needs a whole core
for about ten 1 MiB messages a second on this machine, and ran in the process that measures.
`python -m tests.perf.smtp_sink PORT` prints "listening", then serves until terminated.
"""

from __future__ import annotations

import socket
import socketserver
import sys

END_OF_DATA = b"\r\n.\r\n"
BLOCK = 256 * 1024


class Session(socketserver.BaseRequestHandler):
    def handle(self) -> None:
        connection: socket.socket = self.request
        connection.sendall(b"220 sink ESMTP\r\n")
        pending = b""
        while True:
            while b"\r\n" not in pending:
                block = connection.recv(BLOCK)
                if not block:
                    return
                pending += block
            line, pending = pending.split(b"\r\n", 1)
            verb = line[:4].upper()
            if verb in (b"EHLO", b"HELO"):
                connection.sendall(b"250-sink\r\n250 8BITMIME\r\n")
            elif verb == b"DATA":
                connection.sendall(b"354 go on\r\n")
                pending = self._skip_data(connection, pending)
                if pending is None:
                    return
                connection.sendall(b"250 thrown away\r\n")
            elif verb == b"QUIT":
                connection.sendall(b"221 bye\r\n")
                return
            else:  # MAIL, RCPT, RSET, NOOP
                connection.sendall(b"250 ok\r\n")

    @staticmethod
    def _skip_data(connection: socket.socket, pending: bytes) -> bytes | None:
        """Read up to the end of DATA; what came after it (None: the client left)."""
        tail = b"\r\n" + pending  # DATA's own line end precedes a message that is just "."
        while END_OF_DATA not in tail:
            block = connection.recv(BLOCK)
            if not block:
                return None
            tail = tail[-(len(END_OF_DATA) - 1) :] + block
        return tail.split(END_OF_DATA, 1)[1]


class Server(socketserver.ThreadingTCPServer):
    daemon_threads = True
    allow_reuse_address = True
    request_queue_size = 128


if __name__ == "__main__":
    server = Server(("127.0.0.1", int(sys.argv[1])), Session)
    print("listening", flush=True)
    server.serve_forever()
