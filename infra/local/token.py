"""python -m infra.local.token --sub bob --org globex --roles admin: a token for the API that
`make run` serves, signed the way it signs (its development secret unless JWT_SECRET is set).

`python -m api.tokens` alone needs JWT_SECRET in the shell, which `make run` sets only for
the processes it starts; this fills in the same defaults, so the banner's command works as
printed.
"""

from __future__ import annotations

import os

from api import tokens
from infra.local.run import LOCAL_DEFAULTS


def main(argv: list[str] | None = None) -> None:
    for name in ("JWT_SECRET", "DEV_MODE"):
        os.environ.setdefault(name, LOCAL_DEFAULTS[name])
    tokens.main(argv)


if __name__ == "__main__":
    main()
