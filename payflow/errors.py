"""One exception per broken rule; the API turns each into ``{"error": {code, message}}``."""
from __future__ import annotations


class PayflowError(Exception):
    status = 400
    code = "bad_request"

    def __init__(self, message: str, *, code: str | None = None, status: int | None = None, details=None):
        super().__init__(message)
        self.message = message
        if code:
            self.code = code
        if status:
            self.status = status
        self.details = details or {}


class InvalidRequest(PayflowError):
    status, code = 400, "invalid_request"


class Unauthorized(PayflowError):
    status, code = 401, "unauthorized"


class Forbidden(PayflowError):
    status, code = 403, "forbidden"


class NotFound(PayflowError):
    status, code = 404, "not_found"


class Conflict(PayflowError):
    status, code = 409, "conflict"


class InvalidTransition(Conflict):
    code = "invalid_transition"


class Unprocessable(PayflowError):
    status, code = 422, "unprocessable"


class InsufficientFunds(Unprocessable):
    code = "insufficient_funds"


class UnbalancedTransaction(PayflowError):
    """A programming error: the ledger refuses entries that do not sum to zero."""

    status, code = 500, "unbalanced_transaction"


class PaymentDeclined(PayflowError):
    status, code = 402, "card_declined"


class StripeError(PayflowError):
    """Stripe did not do what was asked (the subclasses say whether that is certain)."""

    status, code = 502, "stripe_error"


class StripeRefused(StripeError):
    """Stripe answered and refused (a 4xx other than a declined card): nothing was done there."""


class StripeOutcomeUnknown(StripeError):
    """No definite answer (connection lost, timeout, 5xx, 429 after the library's retries):
    Stripe may or may not have done it. Never a refusal: resolve it by asking again with
    the same idempotency key, by looking the object up, or from its webhook."""

    code = "stripe_outcome_unknown"


class TransactionOpenDuringNetworkCall(RuntimeError):
    """A programming error: a call to Stripe while the database session holds a transaction
    (and on SQLite the write lock, on PostgreSQL row locks and a snapshot) open."""


class NotReady(PayflowError):
    """A Stripe fact arrived before what it depends on (a refund before its payment's
    success, an event before its row is committed): try again later, never drop it."""

    status, code = 409, "not_ready"


class AmountMismatch(PayflowError):
    """Stripe reports an amount or currency that differs from ours: an operator must look."""

    status, code = 422, "amount_mismatch"
