"""Reading Stripe's form-encoded parameters, with Stripe's answers to bad ones.

Stripe's clients send ``amount=5000&metadata[payment_id]=p1&enabled_events[0]=*``; localstripe's
``unflatten_data`` turns that into nested dicts and lists, and ``Params`` checks each value the
way Stripe does (``Missing required param``, ``Invalid integer``, ``Received unknown parameter``).
Every parameter a handler does not read is refused once it calls ``done()``.
"""
from __future__ import annotations

import re

from aiohttp import web

from .errors import StripeError, parameter_invalid, parameter_missing, parameter_unknown
from .localstripe_bridge import get_post_data, unflatten_data

CURRENCY = re.compile(r"^[a-z]{3}$")
# https://docs.stripe.com/api/metadata
METADATA_KEYS = 50
METADATA_KEY_LENGTH = 40
METADATA_VALUE_LENGTH = 500


async def from_request(request: web.Request) -> Params:
    """The body of a POST, or the query string of any other request."""
    if request.method == "POST":
        data = await get_post_data(request)
    else:
        data = unflatten_data(request.query)
    return Params(dict(data or {}))


class Params:
    def __init__(self, data: dict):
        self._data = data
        self._read: set[str] = set()

    def has(self, name: str) -> bool:
        return name in self._data

    def _take(self, name: str, required: bool):
        self._read.add(name)
        value = self._data.get(name)
        if value is None and required:
            raise parameter_missing(name)
        return value

    def raw(self, name: str):
        """The value as sent (a string, or a dict or list for bracketed names), for checks of its own."""
        return self._take(name, False)

    def string(self, name: str, *, required: bool = False, choices: tuple[str, ...] | None = None,
               max_length: int = 5000) -> str | None:
        value = self._take(name, required)
        if value is None:
            return None
        if not isinstance(value, str):
            raise parameter_invalid(name, f"Invalid string: {name} must be a string.")
        if value == "" and required:
            raise parameter_invalid(name, f"You passed an empty string for '{name}'. We assume empty values are an "
                                          f"attempt to unset a parameter; however '{name}' cannot be unset.",
                                    code="parameter_invalid_empty")
        if len(value) > max_length:
            raise parameter_invalid(name, f"Invalid string: {name} must be at most {max_length} characters.")
        if choices is not None and value not in choices:
            raise parameter_invalid(name, f"Invalid {name}: must be one of {', '.join(choices)}")
        return value

    def integer(self, name: str, *, required: bool = False, minimum: int | None = None) -> int | None:
        value = self._take(name, required)
        if value is None:
            return None
        if isinstance(value, bool) or not isinstance(value, (int, str)) or not re.fullmatch(r"-?\d+", str(value)):
            raise parameter_invalid(name, f"Invalid integer: {value}", code="parameter_invalid_integer")
        number = int(value)
        if minimum is not None and number < minimum:
            raise parameter_invalid(name, f"Invalid {name}: must be at least {minimum}",
                                    code="parameter_invalid_integer")
        return number

    def amount(self, name: str = "amount", *, required: bool = True) -> int | None:
        """A positive amount in the currency's minor unit (https://docs.stripe.com/currencies)."""
        value = self.integer(name, required=required)
        if value is not None and value <= 0:
            raise StripeError(400, "This value must be greater than or equal to 1.", code="parameter_invalid_integer",
                              param=name, saved=False)
        return value

    def boolean(self, name: str) -> bool | None:
        value = self._take(name, False)
        if value is None or isinstance(value, bool):
            return value
        if isinstance(value, str) and value.lower() in ("true", "false"):
            return value.lower() == "true"
        raise parameter_invalid(name, f"Invalid boolean: {value}", code="parameter_invalid_boolean")

    def currency(self, name: str = "currency", *, required: bool = True) -> str | None:
        value = self.string(name, required=required)
        if value is None:
            return None
        if not CURRENCY.match(value.lower()):
            raise parameter_invalid(name, f"Invalid currency: {value}. Stripe currently supports these currencies: "
                                          "see https://stripe.com/docs/currencies")
        return value.lower()

    def mapping(self, name: str) -> dict | None:
        value = self._take(name, False)
        if value is None or value == "":
            return None
        if not isinstance(value, dict):
            raise parameter_invalid(name, f"Invalid object: {name} must be a hash.", code="parameter_invalid_object")
        return value

    def string_list(self, name: str, *, required: bool = False) -> list[str] | None:
        value = self._take(name, required)
        if value is None:
            return None
        if isinstance(value, str):
            value = [value]
        if not isinstance(value, list) or not all(isinstance(item, str) for item in value):
            raise parameter_invalid(name, f"Invalid array: {name} must be a list of strings.",
                                    code="parameter_invalid_array")
        if required and not value:
            raise parameter_missing(name)
        return value

    def metadata(self, name: str = "metadata") -> dict[str, str] | None:
        """Metadata to set: a value of ``""`` unsets its key on update (https://docs.stripe.com/api/metadata)."""
        value = self.mapping(name)
        if value is None:
            return None
        if len(value) > METADATA_KEYS:
            raise parameter_invalid(name, f"Invalid {name}: at most {METADATA_KEYS} keys are allowed.")
        for key, item in value.items():
            if not isinstance(item, str):
                raise parameter_invalid(f"{name}[{key}]", f"Invalid {name}[{key}]: values must be strings.")
            if len(key) > METADATA_KEY_LENGTH:
                raise parameter_invalid(f"{name}[{key}]",
                                        f"Metadata keys can have up to {METADATA_KEY_LENGTH} characters.")
            if len(item) > METADATA_VALUE_LENGTH:
                raise parameter_invalid(f"{name}[{key}]",
                                        f"Metadata values can have up to {METADATA_VALUE_LENGTH} characters.")
        return value

    def no_expand(self) -> None:
        """The stand-in's own resources never expand: refuse rather than answer ids where objects were asked for."""
        if self._take("expand", False):
            raise parameter_invalid("expand", "The offline Stripe does not expand this resource's fields.")

    def done(self) -> None:
        for name in self._data:
            if name not in self._read:
                raise parameter_unknown(name)


def merge_metadata(current: dict, update: dict | None) -> dict:
    """Stripe's metadata update: keys given are set, keys given as ``""`` are removed, others stay."""
    merged = dict(current)
    for key, value in (update or {}).items():
        if value == "":
            merged.pop(key, None)
        else:
            merged[key] = value
    return merged
