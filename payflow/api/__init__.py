"""HTTP API blueprints and the JSON error shape ``{"error": {"code", "message"}}``."""
from __future__ import annotations

import logging

from flask import Flask, jsonify, request
from flask_jwt_extended.exceptions import JWTExtendedException
from jwt.exceptions import PyJWTError
from werkzeug.exceptions import HTTPException

from ..errors import InvalidRequest, PayflowError
from ..extensions import jwt
from ..stream import routes as stream_routes
from ..webhooks import routes as webhook_routes
from . import admin, auth, openapi, ops, payments, reports, wallet

log = logging.getLogger(__name__)


def error_response(status: int, code: str, message: str, details: dict | None = None):
    body = {"code": code, "message": message}
    if details:
        body.update(details)
    return jsonify({"error": body}), status


def _jwt_error(message: str, code: str = "unauthorized"):
    return error_response(401, code, message)


jwt.unauthorized_loader(lambda reason: _jwt_error(f"authentication required: {reason}"))
jwt.invalid_token_loader(lambda reason: _jwt_error(f"invalid token: {reason}", "invalid_token"))
jwt.expired_token_loader(lambda _header, _payload: _jwt_error("the token has expired", "token_expired"))
jwt.user_lookup_error_loader(lambda _header, _payload: _jwt_error("the account no longer exists", "invalid_token"))
jwt.revoked_token_loader(lambda _header, _payload: _jwt_error("the token has been revoked", "token_revoked"))
jwt.needs_fresh_token_loader(lambda _header, _payload: _jwt_error("a fresh login is needed", "fresh_token_required"))
jwt.token_verification_failed_loader(lambda _header, _payload: _jwt_error("token verification failed", "invalid_token"))


HTTP_CODES = {
    400: "bad_request",
    401: "unauthorized",
    403: "forbidden",
    404: "not_found",
    405: "method_not_allowed",
    413: "payload_too_large",
    415: "unsupported_media_type",
    429: "too_many_requests",
}


def register(app: Flask) -> None:
    for blueprint in (webhook_routes.bp, stream_routes.bp, auth.bp, payments.bp, wallet.bp, reports.bp, ops.bp,
                      openapi.bp, admin.bp):
        app.register_blueprint(blueprint)
    from .. import web  # the dashboard at /; imported here as it builds on these modules

    app.register_blueprint(web.bp)

    @app.before_request
    def _refuse_nul_characters():
        # ids and filters from the URL reach PostgreSQL, which refuses text containing NUL
        if "\x00" in request.path or any("\x00" in key + value for key, value in request.args.items(multi=True)):
            raise InvalidRequest("the URL must not contain NUL characters")

    @app.errorhandler(PayflowError)
    def _domain_error(exc: PayflowError):
        if exc.status >= 500:
            log.error("%s: %s", exc.code, exc.message)
        return error_response(exc.status, exc.code, exc.message, exc.details)

    @app.errorhandler(HTTPException)
    def _http_error(exc: HTTPException):
        code = HTTP_CODES.get(exc.code, "http_error")
        response, status = error_response(exc.code or 500, code, exc.description or exc.name)
        # The exception's own headers matter (Allow on a 405, Retry-After on a 429): keep them.
        for name, value in exc.get_headers():
            if name.lower() != "content-type":
                response.headers[name] = value
        return response, status

    @app.errorhandler(PyJWTError)
    def _jwt_decode_error(exc):
        return _jwt_error(f"invalid token: {exc}", "invalid_token")

    @app.errorhandler(JWTExtendedException)
    def _jwt_extended_error(exc):
        return _jwt_error(str(exc) or "authentication required")

    @app.errorhandler(Exception)
    def _unexpected(exc: Exception):
        log.exception("unhandled error")
        return error_response(500, "internal_error", "something went wrong on our side; it has been logged")
