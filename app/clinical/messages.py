"""What clinical care announces through the outbox (app.core.outbox).

Topics are stored with each message and delivered to webhooks: never rename one.
"""

SESSION_DISCHARGED = "clinical.session_discharged"
