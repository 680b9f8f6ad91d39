"""Liveness and readiness: the only endpoints that need no token."""

from __future__ import annotations

from flask import Blueprint, Response, current_app, jsonify
from sqlalchemy import text

from shared.db import translate_errors

blueprint = Blueprint("health", __name__)


@blueprint.get("/healthz")
def healthz() -> Response:
    return jsonify({"status": "ok"})


@blueprint.get("/readyz")
def readyz() -> Response:
    deps = current_app.extensions["reportbox"]
    with translate_errors(), deps.engine.connect() as connection:
        connection.execute(text("SELECT 1"))
    return jsonify({"status": "ready"})
