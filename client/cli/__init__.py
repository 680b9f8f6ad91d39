"""The `reportbox` command line, built on client.Client (argparse: no dependency beyond httpx)."""

import sys

from client.cli.main import main as run


def main() -> None:
    """The console script's entry point."""
    sys.exit(run())
