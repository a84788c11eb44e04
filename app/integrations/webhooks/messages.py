"""What webhooks announce through the outbox (app.core.outbox).

Topics are stored with each message and delivered to webhooks: never rename one.
"""

WEBHOOK_ENDPOINT_DISABLED = "webhooks.endpoint_disabled"
