"""What the pharmacy announces through the outbox (app.core.outbox).

Topics are stored with each message and delivered to webhooks: never rename one.
"""

PRESCRIPTION_FILLED = "pharmacy.prescription_filled"
