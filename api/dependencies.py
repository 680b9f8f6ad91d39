"""What the API's services work with, built once by the app factory (api/app.py)."""

from __future__ import annotations

from dataclasses import dataclass

from flask import current_app
from sqlalchemy import Engine
from sqlalchemy.orm import Session, sessionmaker

from api.active_reports import ActiveReports
from api.auth import TokenVerifier
from shared.config import Settings
from shared.storage import Storage

EXTENSION = "reportbox"  # the key of app.extensions that holds them


@dataclass(frozen=True)
class Dependencies:
    settings: Settings
    engine: Engine
    source: Engine  # where report queries read: the API asks its planner for estimates
    sessions: sessionmaker[Session]
    storage: Storage
    tokens: TokenVerifier
    active_reports: ActiveReports  # what /metrics reads from the database, cached


def dependencies() -> Dependencies:
    """The running app's dependencies, for a view to hand to its service function."""
    return current_app.extensions[EXTENSION]
