"""Request bodies, validated by pydantic models: a bad field is a 400 that names it."""
from __future__ import annotations

from functools import cache
from typing import Annotated, Literal
from zoneinfo import available_timezones

from flask import request
from pydantic import (BaseModel, ConfigDict, Field, StrictInt, StrictStr, ValidationError, field_validator,
                      model_validator)

from ..errors import InvalidRequest
from ..money import MAX_AMOUNT, SUPPORTED_CURRENCIES
from ..periods import DateRange, parse_moment

Amount = Annotated[StrictInt, Field(gt=0, le=MAX_AMOUNT)]


class Body(BaseModel):
    model_config = ConfigDict(extra="forbid", str_strip_whitespace=True)

    @field_validator("*")
    @classmethod
    def no_nul_characters(cls, value):
        # PostgreSQL cannot store or compare text containing NUL: refuse it here, not with a 500
        if isinstance(value, str) and "\x00" in value:
            raise ValueError("must not contain NUL characters")
        return value


def _known_currency(value: str) -> str:
    value = value.lower()
    if value not in SUPPORTED_CURRENCIES:
        raise ValueError(f"{value!r} is not a currency Stripe supports (lowercase ISO 4217, such as usd)")
    return value


class CurrencyField(Body):
    currency: StrictStr

    @field_validator("currency")
    @classmethod
    def known_currency(cls, value: str) -> str:
        return _known_currency(value)


class RegisterBody(Body):
    email: Annotated[StrictStr, Field(min_length=3, max_length=254, pattern=r"^[^@\s]+@[^@\s]+\.[^@\s]+$")]
    password: Annotated[StrictStr, Field(min_length=8, max_length=200)]
    role: Literal["company", "influencer"]
    name: Annotated[StrictStr, Field(min_length=1, max_length=200)]


class LoginBody(Body):
    email: Annotated[StrictStr, Field(min_length=1, max_length=254)]
    password: Annotated[StrictStr, Field(min_length=1, max_length=200)]


class CreatePaymentBody(CurrencyField):
    influencerId: Annotated[StrictStr, Field(min_length=1, max_length=40)]
    amount: Amount
    description: Annotated[StrictStr, Field(max_length=1000)] = ""


class ConfirmPaymentBody(Body):
    paymentMethod: Annotated[StrictStr, Field(min_length=1, max_length=255)]


class RawCardBody(Body):
    """A test card typed into the dashboard's test-mode form (``POST /payments/{id}/test-card``)."""

    number: Annotated[StrictStr, Field(min_length=12, max_length=23, pattern=r"^[0-9][0-9 -]*[0-9]$")]
    expMonth: Annotated[StrictInt, Field(ge=1, le=12)]
    expYear: Annotated[StrictInt, Field(ge=2000, le=2099)]
    cvc: Annotated[StrictStr, Field(pattern=r"^[0-9]{3,4}$")]

    @field_validator("number")
    @classmethod
    def digits_only(cls, value: str) -> str:
        digits = value.replace(" ", "").replace("-", "")
        if not 12 <= len(digits) <= 19:
            raise ValueError("a card number has 12 to 19 digits")
        return digits


class RefundBody(Body):
    amount: Amount | None = None


class PayoutBody(CurrencyField):
    amount: Amount


class EmptyBody(Body):
    pass


def _describe(error: ValidationError, whole: str = "body") -> str:
    parts = []
    for item in error.errors():
        where = ".".join(str(part) for part in item["loc"]) or whole
        message = item["msg"]
        if item["type"] == "extra_forbidden":
            message = "is not a field of this request"
        parts.append(f"{where}: {message}")
    return "; ".join(parts)


def parse(model: type[Body], *, optional: bool = False):
    """The request's JSON body as ``model``; an empty body counts as ``{}`` when ``optional``."""
    raw = request.get_data(cache=True)
    if not raw.strip() and optional:
        data = {}
    else:
        data = request.get_json(force=True, silent=True)
        if data is None:
            raise InvalidRequest("the body must be JSON", code="invalid_json")
    if not isinstance(data, dict):
        raise InvalidRequest("the body must be a JSON object", code="invalid_json")
    try:
        return model.model_validate(data)
    except ValidationError as exc:
        raise InvalidRequest(_describe(exc), code="invalid_request") from exc


# --- query strings (declared for the OpenAPI document; ``pagination`` checks the same bounds) ---


class PageQuery(BaseModel):
    cursor: StrictStr | None = Field(None, description="nextCursor of the previous page")
    limit: Annotated[int, Field(ge=1, le=100, description="items per page")] = 20


class WebhookEventsQuery(PageQuery):
    status: Annotated[StrictStr | None, Field(description="only events in this status, e.g. flagged")] = None


class WalletLinesQuery(PageQuery):
    currency: Annotated[StrictStr | None, Field(description="only this currency (ISO 4217)")] = None


class NotificationsQuery(PageQuery):
    unread: Annotated[Literal["1", "true", "0", "false"] | None, Field(description="1 or true: unread only")] = None


class InfluencerQuery(BaseModel):
    email: Annotated[StrictStr, Field(min_length=1, max_length=254, description="the influencer's exact email")]


class StreamQuery(BaseModel):
    token: StrictStr | None = Field(None, description="a stream token, for clients that cannot send headers")
    lastEventId: StrictStr | None = Field(None, description="resume after this event id (as Last-Event-ID)")


# --- query strings that are validated here (the filters) -----------------------------------


class Query(BaseModel):
    """A query string; unknown parameters are ignored (a cache buster does no harm), empty ones are absent."""

    model_config = ConfigDict(extra="ignore", populate_by_name=True, str_strip_whitespace=True)

    @model_validator(mode="before")
    @classmethod
    def empty_is_absent(cls, data):
        return {key: value for key, value in data.items() if value != ""} if isinstance(data, dict) else data


class PeriodQuery(Query):
    """``?currency=&from=&to=`` of the statement, the payments list and their CSV files.

    ``from`` is inclusive, ``to`` exclusive; a date alone is a whole UTC day, so
    ``from=2024-05-01&to=2024-05-31`` is all of May (``payflow.periods.parse_moment``).
    """

    currency: StrictStr | None = Field(None, description="only this currency (ISO 4217)")
    from_: StrictStr | None = Field(None, alias="from", description="from this date or time on (ISO 8601; a date "
                                                                     "is a whole UTC day)")
    to: StrictStr | None = Field(None, description="before this time, or up to and including this date (ISO 8601)")

    @field_validator("currency")
    @classmethod
    def known_currency(cls, value: str | None) -> str | None:
        return None if value is None else _known_currency(value)

    @field_validator("from_")
    @classmethod
    def start_moment(cls, value: str | None) -> str | None:
        if value is not None:
            parse_moment(value)
        return value

    @field_validator("to")
    @classmethod
    def end_moment(cls, value: str | None) -> str | None:
        if value is not None:
            parse_moment(value, end=True)
        return value

    @model_validator(mode="after")
    def start_before_end(self):
        if self.period.start and self.period.end and self.period.start >= self.period.end:
            raise ValueError("from must be before to")
        return self

    @property
    def period(self) -> DateRange:
        return DateRange(
            parse_moment(self.from_) if self.from_ else None,
            parse_moment(self.to, end=True) if self.to else None,
        )


class PeriodPageQuery(PeriodQuery):
    """``PeriodQuery`` and the page parameters, as a list declares them (``pagination`` checks the page ones)."""

    cursor: StrictStr | None = Field(None, description="nextCursor of the previous page")
    limit: Annotated[int, Field(ge=1, le=100, description="items per page")] = 20


@cache
def _time_zones() -> frozenset[str]:
    return frozenset(available_timezones())


class EarningsQuery(Query):
    period: Literal["day", "month"] = Field("day", description="30 days, or 12 months")
    currency: StrictStr | None = Field(None, description="only this currency; all of the influencer's without it")
    tz: Annotated[StrictStr, Field(max_length=64, description="IANA time zone of the days and months")] = "UTC"

    @field_validator("currency")
    @classmethod
    def known_currency(cls, value: str | None) -> str | None:
        return None if value is None else _known_currency(value)

    @field_validator("tz")
    @classmethod
    def known_time_zone(cls, value: str) -> str:
        # Checked against the list of zones, not by opening one: a key such as "America" names
        # a directory of the zone database, which ZoneInfo() answers with an OSError.
        if value not in _time_zones():
            raise ValueError(f"{value!r} is not an IANA time zone such as Europe/Berlin")
        return value


class QuoteQuery(Query):
    amount: Annotated[int, Field(gt=0, le=MAX_AMOUNT, description="the payment, in minor units")]
    currency: StrictStr = Field(description="lowercase ISO 4217")

    @field_validator("currency")
    @classmethod
    def known_currency(cls, value: str) -> str:
        return _known_currency(value)


def parse_query(model: type[Query]):
    """The request's query string as ``model``; a bad parameter is a 400 that names it."""
    try:
        return model.model_validate(request.args.to_dict())
    except ValidationError as exc:
        raise InvalidRequest(_describe(exc, "query"), code="invalid_request") from exc
