"""The baseline of bench/webhook_ingest: a Flask handler that only verifies the signature and answers."""
import os

import stripe
from flask import Flask, jsonify, request

app = Flask(__name__)
SECRET = os.environ["STRIPE_WEBHOOK_SECRET"]


@app.post("/payments/webhook")
def receive():
    payload = request.get_data()
    try:
        stripe.WebhookSignature.verify_header(payload, request.headers.get("Stripe-Signature"), SECRET, 300)
    except stripe.SignatureVerificationError:
        return jsonify({"error": "bad signature"}), 400
    return jsonify({"received": True})
