"""Configuration classes: the only place payflow reads the environment.

``create_app()`` picks a class by ``PAYFLOW_ENV`` (production, development or
test; production when unset, so a deploy that forgets it fails closed). Each
class reads the environment when it is instantiated, never at import, so tests
build a ``TestConfig(...)`` with overrides instead of patching ``os.environ``.
"""
from __future__ import annotations

import os
import secrets
from pathlib import Path

BASE_DIR = Path(__file__).resolve().parent
INSTANCE_DIR = BASE_DIR / "instance"


class ConfigError(RuntimeError):
    """The environment cannot run payflow (a required setting is missing)."""


def normalise_database_url(url: str | None) -> str:
    """Map Heroku-style and plain PostgreSQL URLs onto the psycopg 3 driver."""
    if not url:
        return f"sqlite:///{INSTANCE_DIR / 'payflow.db'}"
    for prefix in ("postgres://", "postgresql://"):
        if url.startswith(prefix):
            return "postgresql+psycopg://" + url[len(prefix):]
    return url


def _int(env, name: str, default: int) -> int:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    try:
        return int(raw)
    except ValueError as exc:
        raise ConfigError(f"{name} must be an integer, got {raw!r}") from exc


_TRUE = {"1", "true", "yes", "on"}
_FALSE = {"0", "false", "no", "off"}


def _bool(env, name: str, default: bool) -> bool:
    raw = env.get(name)
    if raw in (None, ""):
        return default
    if raw.strip().lower() in _TRUE:
        return True
    if raw.strip().lower() in _FALSE:
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _list(env, name: str) -> list[str]:
    return [part.strip() for part in env.get(name, "").split(",") if part.strip()]


class Config:
    ENV_NAME = "production"
    TESTING = False
    DEBUG = False

    def __init__(self, environ=None, **overrides):
        env = os.environ if environ is None else environ
        self.SQLALCHEMY_DATABASE_URI = normalise_database_url(env.get("DATABASE_URL"))
        self.SQLALCHEMY_ENGINE_OPTIONS = {"pool_pre_ping": True}
        self.REDIS_URL = env.get("REDIS_URL") or "redis://localhost:6379/0"
        self.REDIS_MAX_CONNECTIONS = _int(env, "REDIS_MAX_CONNECTIONS", 8)

        self.STRIPE_SECRET_KEY = env.get("STRIPE_SECRET_KEY") or self.default_stripe_key()
        self.STRIPE_API_BASE = env.get("STRIPE_API_BASE") or None
        self.STRIPE_PUBLISHABLE_KEY = env.get("STRIPE_PUBLISHABLE_KEY") or None
        self.STRIPE_WEBHOOK_SECRETS = _list(env, "STRIPE_WEBHOOK_SECRET")
        self.WEBHOOK_TOLERANCE_SECONDS = _int(env, "WEBHOOK_TOLERANCE_SECONDS", 300)
        self.WEBHOOK_RETRY_INTERVALS = [int(x) for x in _list(env, "WEBHOOK_RETRY_INTERVALS")] or [5, 30, 120, 600, 1800]
        self.WEBHOOK_JOB_TIMEOUT_SECONDS = _int(env, "WEBHOOK_JOB_TIMEOUT_SECONDS", 60)
        self.WEBHOOK_SWEEP_INTERVAL_SECONDS = _int(env, "WEBHOOK_SWEEP_INTERVAL_SECONDS", 5)
        self.WEBHOOK_SWEEP_GRACE_SECONDS = _int(env, "WEBHOOK_SWEEP_GRACE_SECONDS", 60)
        self.WEBHOOK_RETENTION_DAYS = max(30, _int(env, "WEBHOOK_RETENTION_DAYS", 30))

        self.JWT_SECRET_KEY = env.get("JWT_SECRET_KEY") or self.default_jwt_secret()
        self.JWT_TOKEN_LOCATION = ["headers", "cookies"]
        self.JWT_ACCESS_TOKEN_EXPIRES = _int(env, "JWT_ACCESS_TOKEN_EXPIRES_SECONDS", 15 * 60)
        self.JWT_REFRESH_TOKEN_EXPIRES = _int(env, "JWT_REFRESH_TOKEN_EXPIRES_SECONDS", 30 * 86400)
        self.FRONTEND_URLS = _list(env, "FRONTEND_URL")
        self.JWT_COOKIE_SECURE = self.secure_cookies()
        # A cross-origin front end only gets the cookie back with SameSite=None (which
        # browsers accept only on Secure cookies); same-origin use keeps Lax.
        self.JWT_COOKIE_SAMESITE = "None" if self.FRONTEND_URLS and self.JWT_COOKIE_SECURE else "Lax"
        self.JWT_COOKIE_CSRF_PROTECT = True
        self.JWT_SESSION_COOKIE = False

        self.PLATFORM_FEE_BPS = _int(env, "PLATFORM_FEE_BPS", 1000)
        self.AUTO_REFUND_DUPLICATE_CAPTURES = _bool(env, "AUTO_REFUND_DUPLICATE_CAPTURES", True)
        self.SSE_HEARTBEAT_SECONDS = _int(env, "SSE_HEARTBEAT_SECONDS", 15)
        self.STREAM_TOKEN_TTL_SECONDS = _int(env, "STREAM_TOKEN_TTL_SECONDS", 60)
        self.STREAM_HISTORY_SIZE = _int(env, "STREAM_HISTORY_SIZE", 1000)
        self.STREAM_HISTORY_SECONDS = _int(env, "STREAM_HISTORY_SECONDS", 86400)
        self.MAX_CONTENT_LENGTH = _int(env, "MAX_REQUEST_BYTES", 1024 * 1024)
        self.PORT = _int(env, "PORT", 5000)

        for key, value in overrides.items():
            setattr(self, key, value)
        self.validate()

    def default_stripe_key(self) -> str | None:
        return None

    def default_jwt_secret(self) -> str | None:
        return None

    def secure_cookies(self) -> bool:
        return True

    def validate(self) -> None:
        if not self.JWT_SECRET_KEY:
            raise ConfigError(
                "JWT_SECRET_KEY is required in production "
                "(or set PAYFLOW_ENV=development for a random per-process key)"
            )
        if not 0 <= self.PLATFORM_FEE_BPS <= 10000:
            raise ConfigError("PLATFORM_FEE_BPS must be between 0 and 10000")


class ProductionConfig(Config):
    pass


class DevelopmentConfig(Config):
    ENV_NAME = "development"
    DEBUG = False

    def default_stripe_key(self) -> str:
        return "sk_test_payflow_development"

    def default_jwt_secret(self) -> str:
        return secrets.token_urlsafe(32)

    def secure_cookies(self) -> bool:
        return False


class TestConfig(DevelopmentConfig):
    ENV_NAME = "test"
    TESTING = True


CONFIG_CLASSES = {
    "production": ProductionConfig,
    "development": DevelopmentConfig,
    "test": TestConfig,
}


def config_from_environment(environ=None) -> Config:
    env = os.environ if environ is None else environ
    name = env.get("PAYFLOW_ENV", "production").lower()
    try:
        config_class = CONFIG_CLASSES[name]
    except KeyError as exc:
        raise ConfigError(f"PAYFLOW_ENV must be one of {sorted(CONFIG_CLASSES)}, got {name!r}") from exc
    return config_class(env)
