"""Health, readiness and metrics for the platform running payflow."""
from __future__ import annotations

from flask import Blueprint, jsonify
from sqlalchemy import text

from .. import metrics
from ..extensions import db, redis_client
from . import schemas
from .openapi import Raw, operation

bp = Blueprint("ops", __name__)


@bp.get("/healthz")
@operation("Liveness: the process answers", tag="operations", responses={200: schemas.Health})
def healthz():
    return jsonify({"status": "ok"})


@bp.get("/readyz")
@operation("Readiness: the database and Redis answer", tag="operations",
           responses={200: schemas.Readiness, 503: schemas.Readiness})
def readyz():
    checks = {}
    try:
        db.session.execute(text("SELECT 1"))
        checks["database"] = "ok"
    except Exception as exc:  # any failure means not ready; the reason goes to the operator
        db.session.rollback()
        checks["database"] = f"unreachable: {type(exc).__name__}"
    try:
        redis_client.client.ping()
        checks["redis"] = "ok"
    except Exception as exc:
        checks["redis"] = f"unreachable: {type(exc).__name__}"
    ready = all(value == "ok" for value in checks.values())
    return jsonify({"status": "ok" if ready else "unavailable", "checks": checks}), 200 if ready else 503


@bp.get("/metrics")
@operation("Prometheus metrics of every process", tag="operations",
           responses={200: Raw("text/plain", "Prometheus text exposition format")})
def prometheus():
    return metrics.exposition()
