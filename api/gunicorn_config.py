"""gunicorn -c python:api.gunicorn_config 'api.app:create_app()': checks the configuration
once, in the master, before any worker starts.

Without it, a bad setting fails inside every worker's boot with a traceback, and gunicorn
ends with "Worker failed to boot". Here it is one line naming the variable, and exit code 2.
"""

from __future__ import annotations

from typing import Any

from shared.config import ConfigError, exit_on_config_error, settings_or_exit


def on_starting(server: Any) -> None:
    settings = settings_or_exit()
    try:
        settings.token_key()  # the API cannot verify a single token without it
        from api.auth import TokenVerifier

        TokenVerifier(settings)
    except ConfigError as error:
        exit_on_config_error(error)
