"""Reading JSON request bodies: a body too deeply nested to parse is malformed, not a crash.

Python's JSON decoder recurses once per level of nesting and raises ``RecursionError`` past the
interpreter's limit; a 1 MiB body of ``[`` is enough. Flask's ``request.get_json(silent=True)``
only turns ``ValueError`` into "not JSON", so every reader of a body (validation, the sign-in
rate limits, the Idempotency-Key fingerprint) would answer 500. Here that case is a ``ValueError``
like any other malformed body.
"""
from __future__ import annotations

import json

from flask.json.provider import DefaultJSONProvider


class TooDeeplyNested(ValueError):
    """The JSON nests deeper than the decoder can follow."""


def loads(text, **kwargs):
    """``json.loads``; raises ``ValueError`` (``TooDeeplyNested`` among them) for anything that is not JSON."""
    try:
        return json.loads(text, **kwargs)
    except RecursionError:
        raise TooDeeplyNested("the JSON is nested too deeply") from None


class JSONProvider(DefaultJSONProvider):
    """Flask's JSON, reading bodies with ``loads`` above."""

    def loads(self, s, **kwargs):
        return loads(s, **kwargs)
