"""Configuration classes: the only place payflow reads the environment.

``create_app()`` picks a class by ``PAYFLOW_ENV`` (production, development or
test; production when unset, so a deploy that forgets it fails closed). Each
class reads the environment when it is instantiated, never at import, so tests
build a ``TestConfig(...)`` with overrides instead of patching ``os.environ``.
"""
from __future__ import annotations

import ipaddress
import os
import re
import secrets
from pathlib import Path
from urllib.parse import urlsplit

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


def _bool(env, name: str, default: bool) -> bool:
    raw = (env.get(name) or "").strip().lower()
    if not raw:
        return default
    if raw in ("1", "true", "yes", "on"):
        return True
    if raw in ("0", "false", "no", "off"):
        return False
    raise ConfigError(f"{name} must be true or false, got {raw!r}")


def _pem(value: str | None) -> str | None:
    """A PEM key from an environment variable, where line breaks are often written as \\n;
    a value that is not PEM is read as the path of a file holding it."""
    if not value:
        return None
    value = value.replace("\\n", "\n").strip()
    if not value.startswith("-----BEGIN"):
        try:
            return Path(value).read_text().strip()
        except OSError as exc:
            raise ConfigError(f"JWT_PUBLIC_KEY is neither a PEM key nor a readable file: {exc}") from exc
    return value


ASYMMETRIC_ALGORITHMS = {"RS256", "RS384", "RS512", "PS256", "PS384", "PS512", "ES256", "ES384", "ES512", "EdDSA"}


def _list(env, name: str) -> list[str]:
    return [part.strip() for part in env.get(name, "").split(",") if part.strip()]


_DEFAULT_PORTS = {"http": 80, "https": 443}
# A host name as browsers serialise it: dot-separated labels of letters, digits, '-' and '_'
# (IPv4 addresses are of this form too). Nothing else can appear in an Origin header.
_HOST = re.compile(r"[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?(\.[a-z0-9_]([a-z0-9_-]{0,61}[a-z0-9_])?)*")


def normalise_origin(value: str, name: str = "FRONTEND_URL") -> str:
    """The origin a browser would send in its ``Origin`` header for ``value``.

    ``http://LocalHost:3000/`` becomes ``http://localhost:3000``: scheme and host in
    lowercase (an international host in its IDNA form), the default port dropped, a bare
    trailing slash removed (RFC 6454, "serializing an origin"). Anything that is not an
    origin (a path, a query, no scheme, credentials, a wildcard, a host that is not a host
    name or an IP address) raises ``ConfigError`` naming the setting, since a CORS origin
    that never matches fails silently, and one read as a pattern may match any site.
    """
    shown = f"{name} entry {value!r}"
    if "*" in value:
        raise ConfigError(f"{shown}: a wildcard cannot be allowed with credentials; list each origin")
    parts = urlsplit(value)
    scheme = parts.scheme.lower()
    if scheme not in _DEFAULT_PORTS or not parts.netloc:
        raise ConfigError(f"{shown} is not an origin: write scheme://host[:port], such as https://app.example.com")
    if parts.path not in ("", "/") or parts.query or parts.fragment or "?" in value or "#" in value:
        raise ConfigError(f"{shown} is not an origin: it has a path, query or fragment; keep only scheme://host[:port]")
    if parts.username is not None or parts.password is not None:
        raise ConfigError(f"{shown} is not an origin: it has credentials in it")
    try:
        port = parts.port
        host = (parts.hostname or "").encode("idna").decode("ascii").lower()
    except (ValueError, UnicodeError) as exc:
        raise ConfigError(f"{shown} is not an origin: {exc}") from exc
    if not host:
        raise ConfigError(f"{shown} is not an origin: it has no host")
    if ":" in host:
        try:
            ipaddress.IPv6Address(host)
        except ValueError as exc:
            raise ConfigError(f"{shown} is not an origin: {exc}") from exc
        host = f"[{host}]"
    elif not _HOST.fullmatch(host):
        raise ConfigError(f"{shown} is not an origin: {host!r} is not a host name (letters, digits, '-' and '.')")
    if port is not None and port != _DEFAULT_PORTS[scheme]:
        host = f"{host}:{port}"
    return f"{scheme}://{host}"


def normalise_origins(values, name: str = "FRONTEND_URL") -> list[str]:
    origins: list[str] = []
    for value in values:
        origin = normalise_origin(value, name)
        if origin not in origins:
            origins.append(origin)
    return origins


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
        # The marketplace's own access tokens (payflow/marketplace_tokens.py). Kept apart from
        # flask-jwt-extended's JWT_ALGORITHM and JWT_PUBLIC_KEY, which are payflow's own tokens'.
        self.MARKETPLACE_JWT_ISSUER = env.get("JWT_ISSUER") or None
        self.MARKETPLACE_JWT_AUDIENCE = _list(env, "JWT_AUDIENCE") or None
        self.MARKETPLACE_JWT_ALGORITHMS = _list(env, "JWT_ALGORITHM") or ["RS256"]
        self.MARKETPLACE_JWT_PUBLIC_KEY = _pem(env.get("JWT_PUBLIC_KEY"))
        self.MARKETPLACE_JWT_JWKS_URL = env.get("JWT_JWKS_URL") or None
        self.MARKETPLACE_JWT_ROLE_CLAIM = env.get("JWT_ROLE_CLAIM") or "role"
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
        # Rate limits on /auth/login and /auth/register (payflow/rate_limits.py), in the
        # notation of the limits package: "20 per minute;200 per hour".
        self.AUTH_RATE_LIMIT_PER_ADDRESS = env.get("AUTH_RATE_LIMIT_PER_ADDRESS") or "20 per minute;200 per hour"
        self.AUTH_RATE_LIMIT_PER_ACCOUNT = env.get("AUTH_RATE_LIMIT_PER_ACCOUNT") or "5 per minute;30 per hour"
        self.RATELIMIT_ENABLED = _bool(env, "RATE_LIMITS_ENABLED", True)
        self.RATELIMIT_STORAGE_URI = env.get("RATE_LIMIT_STORAGE_URL") or self.REDIS_URL
        self.RATELIMIT_STRATEGY = "moving-window"
        self.RATELIMIT_KEY_PREFIX = "payflow:ratelimit"
        self.RATELIMIT_HEADERS_ENABLED = True
        self.RATELIMIT_HEADER_RETRY_AFTER_VALUE = "delta-seconds"
        self.RATELIMIT_SWALLOW_ERRORS = True
        self.RATELIMIT_IN_MEMORY_FALLBACK_ENABLED = True
        self.TRUSTED_PROXY_HOPS = _int(env, "TRUSTED_PROXY_HOPS", 0)
        # Hash passwords in gevent's thread pool (the web process): scrypt would stall every
        # other request and stream of the process for its ~50 ms otherwise.
        self.PASSWORD_HASHING_IN_THREADS = _bool(env, "PASSWORD_HASHING_IN_THREADS", True)
        # Hosts that share no disk (Heroku dynos, containers) add up each other's figures through
        # Redis (payflow/metrics_store.py); 0 turns it off.
        self.METRICS_PUSH_INTERVAL_SECONDS = _int(env, "METRICS_PUSH_INTERVAL_SECONDS", 15)
        self.METRICS_HOST_ID = env.get("METRICS_HOST_ID") or env.get("DYNO") or None
        self.LOG_FORMAT = (env.get("LOG_FORMAT") or "text").lower()
        self.LOG_LEVEL = (env.get("LOG_LEVEL") or "INFO").upper()

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
        self.validate_marketplace_tokens()
        from limits import parse_many

        for name in ("AUTH_RATE_LIMIT_PER_ADDRESS", "AUTH_RATE_LIMIT_PER_ACCOUNT"):
            try:
                parse_many(getattr(self, name))
            except ValueError as exc:
                raise ConfigError(f"{name} must read like '20 per minute;200 per hour': {exc}") from exc
        if self.LOG_FORMAT not in ("text", "json"):
            raise ConfigError(f"LOG_FORMAT must be text or json, got {self.LOG_FORMAT!r}")
        if not 0 <= self.PLATFORM_FEE_BPS <= 10000:
            raise ConfigError("PLATFORM_FEE_BPS must be between 0 and 10000")
        self.FRONTEND_URLS = normalise_origins(self.FRONTEND_URLS)


    def validate_marketplace_tokens(self) -> None:
        keys = [name for name, value in (("JWT_PUBLIC_KEY", self.MARKETPLACE_JWT_PUBLIC_KEY),
                                         ("JWT_JWKS_URL", self.MARKETPLACE_JWT_JWKS_URL)) if value]
        if self.MARKETPLACE_JWT_ISSUER and len(keys) != 1:
            raise ConfigError("JWT_ISSUER needs exactly one of JWT_PUBLIC_KEY and JWT_JWKS_URL to check the "
                              "marketplace's tokens with")
        if keys and not self.MARKETPLACE_JWT_ISSUER:
            raise ConfigError(f"{keys[0]} is set without JWT_ISSUER: whose tokens should it check?")
        unknown = set(self.MARKETPLACE_JWT_ALGORITHMS) - ASYMMETRIC_ALGORITHMS
        if unknown:
            raise ConfigError(f"JWT_ALGORITHM must be public-key algorithms ({', '.join(sorted(ASYMMETRIC_ALGORITHMS))}),"
                              f" got {', '.join(sorted(unknown))}")
        self.JWT_DECODE_ALGORITHMS = ["HS256"] + (self.MARKETPLACE_JWT_ALGORITHMS if self.MARKETPLACE_JWT_ISSUER else [])


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
