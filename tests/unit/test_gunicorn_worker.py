import pytest

from api.gunicorn_worker import MAX_HEAD_BYTES, head_complete


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
