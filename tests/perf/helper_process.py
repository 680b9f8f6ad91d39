"""A bench helper server (the webhook receiver, the SMTP sink) as a process of its own, so
its CPU is neither taken from the measuring process nor hidden in it."""

from __future__ import annotations

import contextlib
import subprocess
import sys
from collections.abc import Iterator

from tests.perf.stack import ROOT


@contextlib.contextmanager
def serving(module: str, port: int) -> Iterator[int]:
    """`python -m module port`, once it printed its first line (listening); its pid."""
    process = subprocess.Popen(
        [sys.executable, "-m", module, str(port)], cwd=ROOT, stdout=subprocess.PIPE
    )
    try:
        assert process.stdout is not None
        process.stdout.readline()
        yield process.pid
    finally:
        process.terminate()
        process.wait(10)
