"""``GET /openapi.json`` (OpenAPI 3.1) and ``GET /docs`` (Swagger UI, served from the package).

Each view declares its operation next to its route with ``@operation(...)``: a summary,
the pydantic model of its body (the very model ``parse()`` validates with), its query
parameters as a model, and the models of its answers (``payflow.api.schemas``). Who may
call it comes from ``authenticated(...)``, so a role check and its documentation cannot
drift apart. The document is built from Flask's URL map: every registered route appears,
and a route without a declaration is listed by ``undocumented()`` (a test keeps that list
empty). Schemas are pydantic's own JSON Schema (draft 2020-12, which OpenAPI 3.1 uses
as is), gathered under ``components/schemas``.
"""
from __future__ import annotations

import re
from dataclasses import dataclass, field
from typing import Callable

from flask import Blueprint, Flask, current_app, jsonify, render_template, url_for
from pydantic import BaseModel
from pydantic.json_schema import models_json_schema

from . import schemas

API_VERSION = "1.0.0"
# Routes that are not part of the API: the framework's static files.
NOT_API = {"static"}
ERROR_TEXT = {
    400: "The request is malformed or invalid: the message names the field",
    401: "Missing, invalid or expired credentials",
    402: "The card was declined",
    403: "The caller's role may not do this",
    404: "Not found, or not the caller's",
    405: "Method not allowed",
    409: "Not allowed in the current state (or the Idempotency-Key was used with another body)",
    413: "The body is larger than MAX_REQUEST_BYTES",
    422: "A rule of the business forbids it (more than the available balance, an unknown influencer, ...)",
    429: "Too many attempts: wait Retry-After seconds",
    502: "Stripe did not answer; nothing was changed",
    503: "A service payflow needs is unavailable: retry later",
}


@dataclass(frozen=True)
class Raw:
    """An answer that is not JSON (an event stream, Prometheus text, a page)."""

    media_type: str
    description: str


@dataclass(frozen=True)
class Header:
    name: str
    description: str
    required: bool = False
    pattern: str | None = None


IDEMPOTENCY_KEY = Header("Idempotency-Key", "Makes a retried request safe: a repeat with the same key answers what "
                                            "the first answered and moves no money again", pattern=r"^.{1,255}$")


@dataclass
class Operation:
    summary: str
    tag: str
    body: type[BaseModel] | None = None
    body_required: bool = True
    query: type[BaseModel] | None = None
    headers: tuple[Header, ...] = ()
    responses: dict[int, type[BaseModel] | Raw] = field(default_factory=dict)
    errors: tuple[int, ...] = ()
    description: str = ""
    # access: as authenticated() on the view says; user: an access token checked by the view
    # itself; stream: an access token or a stream token; refresh: a refresh token; none: public
    security: str = "access"


def operation(summary: str, *, tag: str, **details) -> Callable:
    """Declare what the view does for ``/openapi.json``; see ``Operation`` for ``details``."""

    def decorator(view):
        view.__openapi__ = Operation(summary=summary, tag=tag, **details)
        return view

    return decorator


def _declaration(view) -> Operation | None:
    return getattr(view, "__openapi__", None)


def _roles(view) -> tuple[str, ...] | None:
    """The roles ``authenticated()`` requires (empty: anyone signed in); None when public."""
    return getattr(view, "__payflow_roles__", None)


def documented_rules(app: Flask):
    for rule in app.url_map.iter_rules():
        if rule.endpoint not in NOT_API:
            yield rule


def undocumented(app: Flask) -> list[str]:
    """Routes that have no ``@operation`` declaration: each is missing from the document."""
    return sorted(f"{sorted(rule.methods - {'HEAD', 'OPTIONS'})} {rule.rule}" for rule in documented_rules(app)
                  if _declaration(app.view_functions[rule.endpoint]) is None)


_CONVERTER = re.compile(r"<(?:[a-z]+:)?([a-zA-Z_][a-zA-Z0-9_]*)>")


def _openapi_path(rule: str) -> str:
    return _CONVERTER.sub(r"{\1}", rule)


SECURITY_SCHEMES = {
    "bearerAuth": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                   "description": "An access token from /auth/login or /auth/register, or one the marketplace "
                                  "issues when JWT_ISSUER is configured"},
    "cookieAuth": {"type": "apiKey", "in": "cookie", "name": "access_token_cookie",
                   "description": "The HttpOnly cookie set at login (browsers)"},
    "csrfHeader": {"type": "apiKey", "in": "header", "name": "X-CSRF-TOKEN",
                   "description": "With the cookie, on requests that change something: the value of the "
                                  "csrf_access_token cookie (double-submit protection)"},
    "refreshBearer": {"type": "http", "scheme": "bearer", "bearerFormat": "JWT",
                      "description": "The refresh token from /auth/login"},
    "refreshCookie": {"type": "apiKey", "in": "cookie", "name": "refresh_token_cookie",
                      "description": "The refresh cookie set at login; send csrf_refresh_token as X-CSRF-TOKEN"},
    "refreshCsrfHeader": {"type": "apiKey", "in": "header", "name": "X-CSRF-TOKEN",
                          "description": "The value of the csrf_refresh_token cookie"},
    "streamToken": {"type": "apiKey", "in": "query", "name": "token",
                    "description": "A short-lived token from POST /payments/stream/token (EventSource cannot "
                                   "set headers)"},
}


def _security(op: Operation, roles, method: str) -> list[dict]:
    kind = op.security
    if kind == "access":  # as authenticated() says: signed in when it guards the view, else public
        kind = "user" if roles is not None else "none"
    if kind == "none":
        return []
    if kind == "refresh":
        return [{"refreshBearer": []}, {"refreshCookie": [], "refreshCsrfHeader": []}]
    writes = method not in ("GET", "HEAD")
    cookie = {"cookieAuth": [], "csrfHeader": []} if writes else {"cookieAuth": []}
    options = [{"bearerAuth": []}, cookie]
    if kind == "stream":
        options.append({"streamToken": []})
    return options


class _Components:
    """Collects the models an operation uses; their JSON Schemas are made in one pass at the end."""

    def __init__(self):
        self.models: dict[tuple[type[BaseModel], str], None] = {}

    def ref(self, model: type[BaseModel], mode: str) -> dict:
        self.models[(model, mode)] = None
        return {"__model__": (model, mode)}

    def resolve(self, document: dict) -> dict:
        refs, definitions = models_json_schema(list(self.models), ref_template="#/components/schemas/{model}")

        def walk(node):
            if isinstance(node, dict):
                if "__model__" in node:
                    return refs[node["__model__"]]
                return {key: walk(value) for key, value in node.items()}
            if isinstance(node, list):
                return [walk(value) for value in node]
            return node

        resolved = walk(document)
        resolved["components"]["schemas"] = definitions.get("$defs", {})
        return resolved


def _query_parameters(model: type[BaseModel]) -> list[dict]:
    schema = model.model_json_schema()
    required = set(schema.get("required", ()))
    parameters = []
    for name, prop in schema.get("properties", {}).items():
        description = prop.pop("description", None)
        prop.pop("title", None)
        if prop.get("default", 0) is None:
            del prop["default"]
        # An absent parameter is how a query string says "none": no null alternative.
        options = [option for option in prop.pop("anyOf", []) if option != {"type": "null"}]
        if len(options) == 1:
            prop.update(options[0])
        elif options:
            prop["anyOf"] = options
        parameter = {"name": name, "in": "query", "required": name in required, "schema": prop}
        if description:
            parameter["description"] = description
        parameters.append(parameter)
    return parameters


def _error(components: _Components, status: int) -> dict:
    return {"description": ERROR_TEXT.get(status, "Error"),
            "content": {"application/json": {"schema": components.ref(schemas.Error, "serialization")}}}


def _operation_object(op: Operation, roles, method: str, path: str, components: _Components, endpoint: str) -> dict:
    description = op.description
    if roles:
        description = (description + "\n\n" if description else "") + f"Roles: {', '.join(roles)}."
    result = {"summary": op.summary, "operationId": f"{endpoint.replace('.', '_')}_{method.lower()}",
              "tags": [op.tag]}
    if description:
        result["description"] = description
    parameters = [{"name": name, "in": "path", "required": True, "schema": {"type": "string", "minLength": 1}}
                  for name in re.findall(r"{([^}]+)}", path)]
    if op.query is not None:
        parameters += _query_parameters(op.query)
    for header in op.headers:
        schema = {"type": "string"}
        if header.pattern:
            schema["pattern"] = header.pattern
        parameters.append({"name": header.name, "in": "header", "required": header.required,
                           "description": header.description, "schema": schema})
    if parameters:
        result["parameters"] = parameters
    if op.body is not None:
        result["requestBody"] = {"required": op.body_required, "content": {
            "application/json": {"schema": components.ref(op.body, "validation")}}}

    responses = {}
    for status, answer in op.responses.items():
        if isinstance(answer, Raw):
            responses[str(status)] = {"description": answer.description,
                                      "content": {answer.media_type: {"schema": {"type": "string"}}}}
        else:
            responses[str(status)] = {"description": (answer.__doc__ or answer.__name__).strip().split("\n")[0],
                                      "content": {"application/json": {"schema": components.ref(answer, "serialization")}}}
    errors = set(op.errors)
    if op.body is not None or op.query is not None:
        errors.add(400)
    if op.body is not None:
        errors.add(413)
    if "{" in path:
        errors.add(404)
    security = _security(op, roles, method)
    if security:
        errors.add(401)
        result["security"] = security
    else:
        result["security"] = []
    if roles:
        errors.add(403)
    for status in sorted(errors):
        responses.setdefault(str(status), _error(components, status))
    if "429" in responses:
        responses["429"]["headers"] = {"Retry-After": {"description": "seconds to wait", "schema": {"type": "integer"}}}
    result["responses"] = responses
    return result


def build(app: Flask) -> dict:
    """The OpenAPI 3.1 document of ``app``: every declared route, with its schemas."""
    components = _Components()
    paths: dict[str, dict] = {}
    for rule in sorted(documented_rules(app), key=lambda r: r.rule):
        view = app.view_functions[rule.endpoint]
        op = _declaration(view)
        if op is None:
            continue
        path = _openapi_path(rule.rule)
        for method in sorted(rule.methods - {"HEAD", "OPTIONS"}):
            paths.setdefault(path, {})[method.lower()] = _operation_object(
                op, _roles(view), method, path, components, rule.endpoint)
    document = {
        "openapi": "3.1.0",
        "info": {
            "title": "payflow",
            "version": API_VERSION,
            "summary": "Escrowed creator payments on Stripe: payments, wallet, payouts, webhooks, live updates",
            "description": "JSON in and out. Amounts are integers in the currency's minor unit. Errors are "
                           "`{\"error\": {\"code\", \"message\"}}`. Lists answer `{\"items\", \"nextCursor\"}` "
                           "and take `?cursor=&limit=`.",
            "license": {"name": "MIT", "identifier": "MIT"},
        },
        "paths": paths,
        "components": {"schemas": {}, "securitySchemes": SECURITY_SCHEMES},
    }
    return components.resolve(document)


bp = Blueprint("openapi", __name__)


@bp.get("/openapi.json")
@operation("This document: OpenAPI 3.1", tag="operations", security="none",
           responses={200: Raw("application/json", "The OpenAPI document")})
def openapi_json():
    document = current_app.extensions.get("payflow_openapi")
    if document is None:
        document = current_app.extensions["payflow_openapi"] = build(current_app)
    return jsonify(document)


def _docs_content_security_policy() -> str:
    # Swagger UI from our own /static (no CDN); it sets inline styles on its elements.
    return "; ".join([
        "default-src 'self'",
        "script-src 'self'",
        "style-src 'self' 'unsafe-inline'",
        "img-src 'self' data:",
        "connect-src 'self'",
        "object-src 'none'",
        "base-uri 'none'",
        "form-action 'self'",
        "frame-ancestors 'none'",
    ])


@bp.get("/docs")
@operation("This API's documentation (Swagger UI)", tag="operations", security="none",
           responses={200: Raw("text/html", "A page rendering /openapi.json")})
def docs():
    response = current_app.make_response(render_template("docs.html", spec_url=url_for("openapi.openapi_json")))
    response.headers["Content-Security-Policy"] = _docs_content_security_policy()
    response.headers["X-Content-Type-Options"] = "nosniff"
    return response
