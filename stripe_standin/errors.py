"""Stripe's error shape: ``{"error": {"type", "code", "message", "param"}}`` with Stripe's HTTP status.

Source: https://docs.stripe.com/api/errors (types ``invalid_request_error``, ``card_error``,
``idempotency_error``, ``api_error``) and https://docs.stripe.com/error-codes (codes).
"""
from __future__ import annotations

import logging

from aiohttp import web

from .localstripe_bridge import UserError
from .responses import json_response

log = logging.getLogger(__name__)


class StripeError(Exception):
    """An answer Stripe gives as an error.

    ``saved`` says whether an idempotent request keeps this answer: Stripe saves the result of
    every request that began executing, and not those refused while their parameters were
    validated (https://docs.stripe.com/api/idempotent_requests).
    """

    def __init__(self, status: int, message: str, *, type: str = "invalid_request_error", code: str | None = None,
                 param: str | None = None, saved: bool = True):
        super().__init__(message)
        self.status = status
        self.message = message
        self.type = type
        self.code = code
        self.param = param
        self.saved = saved

    def body(self) -> dict:
        error = {"type": self.type, "message": self.message}
        if self.code:
            error["code"] = self.code
            error["doc_url"] = f"https://stripe.com/docs/error-codes/{self.code.replace('_', '-')}"
        if self.param:
            error["param"] = self.param
        return {"error": error}


def parameter_missing(param: str) -> StripeError:
    return StripeError(400, f"Missing required param: {param}.", code="parameter_missing", param=param, saved=False)


def parameter_unknown(param: str) -> StripeError:
    return StripeError(400, f"Received unknown parameter: {param}", code="parameter_unknown", param=param, saved=False)


def parameter_invalid(param: str, message: str, code: str = "parameter_invalid_string") -> StripeError:
    return StripeError(400, message, code=code, param=param, saved=False)


def resource_missing(kind: str, object_id: str, param: str | None = None) -> StripeError:
    """``No such transfer: 'tr_x'``: 404 for a path id, 400 for an id given as a parameter."""
    return StripeError(400 if param else 404, f"No such {kind}: '{object_id}'", code="resource_missing", param=param,
                       saved=False)


def response_for(exc: BaseException) -> web.Response:
    """The answer for an exception raised while handling a request; never a bare 500 page."""
    if isinstance(exc, StripeError):
        return json_response(exc.body(), status=exc.status)
    if isinstance(exc, UserError):
        return exc.to_response()
    if isinstance(exc, web.HTTPException):
        raise exc
    log.exception("unexpected error", exc_info=exc)
    return json_response({"error": {"type": "api_error", "message": f"The offline Stripe failed: {exc!r}"}}, status=500)


def saved(exc: BaseException) -> bool:
    """Whether an idempotent request keeps the answer to ``exc`` (see ``StripeError``)."""
    if isinstance(exc, StripeError):
        return exc.saved
    if isinstance(exc, UserError):
        return exc.code == 402  # a declined card: the charge was attempted
    return not isinstance(exc, web.HTTPException)
