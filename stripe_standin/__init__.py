"""An offline Stripe for payflow's development and tests: localstripe, plus what payflow needs of Stripe.

localstripe (the ``localstripe`` package) imitates Stripe's payments API: PaymentIntents,
charges, refunds, payment methods. It has no Connect, pays out only in EUR on the platform,
never sends ``charge.refunded`` or a payout's outcome, and forgets everything on restart. The
stand-in runs localstripe's application with these added, each in its own module:

- connected accounts and onboarding links that complete in one click (``accounts``,
  ``account_links``), transfers and reversals (``transfers``), per-account balances
  (``balances``) and payouts on connected accounts in every currency with a timed outcome
  (``payouts``, ``scheduler``);
- refunds that send ``charge.refunded`` and can fail afterwards (``refunds``, ``corrections``);
- webhook endpoints with their own secrets and signed delivery of platform and Connect events,
  with retries (``webhook_endpoints``, ``delivery``); an Events API (``events``);
- idempotent requests (``idempotency``) and Stripe's error shape (``errors``, ``params``);
- state kept in one file across restarts (``persistence``).

Hooks under ``/_config/`` do what only Stripe's dashboard or a bank would: complete onboarding,
fail a payout or a refund. ``localstripe_bridge`` is the only module that reaches into
localstripe. Run it with ``python -m stripe_standin`` (flags in ``settings``).
"""
