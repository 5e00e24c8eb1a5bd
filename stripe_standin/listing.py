"""Stripe's list pagination for the stand-in's own resources: newest first, ``limit`` and ``starting_after``."""
from __future__ import annotations

from .errors import parameter_invalid, resource_missing
from .params import Params
from .responses import list_object


def page(url: str, kind: str, newest_first: list[dict], params: Params) -> dict:
    """A list object of up to ``limit`` (1-100, default 10) objects after ``starting_after``.

    Call after reading the resource's own filter parameters; ends the parameters (``done``).
    """
    limit = params.integer("limit") or 10
    if not 1 <= limit <= 100:
        raise parameter_invalid("limit", "Invalid limit: must be between 1 and 100", code="parameter_invalid_integer")
    starting_after = params.string("starting_after")
    params.done()
    start = 0
    if starting_after:
        ids = [obj["id"] for obj in newest_first]
        if starting_after not in ids:
            raise resource_missing(kind, starting_after, "starting_after")
        start = ids.index(starting_after) + 1
    return list_object(url, newest_first[start:start + limit], len(newest_first) > start + limit)
