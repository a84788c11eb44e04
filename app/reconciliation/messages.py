"""What reconciliation announces through the outbox (app.core.outbox).

Topics are stored with each message and delivered to webhooks: never rename one.
"""

DISCREPANCY_OPENED = "reconciliation.discrepancy_opened"
DISCREPANCY_TRANSITIONED = "reconciliation.discrepancy_transitioned"
RECONCILIATION_RUN_FINISHED = "reconciliation.run_finished"
