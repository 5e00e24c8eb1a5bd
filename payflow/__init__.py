"""payflow: escrowed creator payments on Stripe, with a ledger, webhooks and live updates."""
from __future__ import annotations

import os
import re

from flask import Flask

from config import INSTANCE_DIR, BASE_DIR, Config, config_from_environment


def create_app(config: Config | None = None) -> Flask:
    from . import api, cli, json_bodies, logs, metrics, rate_limits, stripe_api
    from .extensions import configure_sqlite, db, jwt, migrate, redis_client

    config = config or config_from_environment()
    app = Flask(__name__, instance_path=str(INSTANCE_DIR))
    app.json = json_bodies.JSONProvider(app)
    app.config.from_object(config)
    app.config["PAYFLOW_ENV"] = config.ENV_NAME
    logs.configure(app.config["LOG_FORMAT"], app.config["LOG_LEVEL"])
    logs.init_app(app)

    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        os.makedirs(app.instance_path, exist_ok=True)
    db.init_app(app)
    migrate.init_app(app, db, directory=str(BASE_DIR / "migrations"), render_as_batch=True)
    jwt.init_app(app)
    redis_client.init_app(app)
    stripe_api.init_app(app)
    if app.config["SQLALCHEMY_DATABASE_URI"].startswith("sqlite"):
        with app.app_context():
            configure_sqlite(db.engine)

    if app.config["FRONTEND_URLS"]:
        from flask_cors import CORS

        # flask-cors reads an origin holding a regex character ("[" of an IPv6 host, "*") as a
        # pattern it matches as a prefix: each origin is given as an exact, escaped pattern.
        exact = [re.compile(re.escape(origin) + r"\Z", re.IGNORECASE) for origin in app.config["FRONTEND_URLS"]]
        CORS(app, origins=exact, supports_credentials=True)

    metrics.init_app(app)
    api.register(app)
    rate_limits.init_app(app)
    cli.register(app)
    return app

