"""Stripe webhooks: verify and record (``routes``), queue (``inbox``), apply (``handlers``)."""
