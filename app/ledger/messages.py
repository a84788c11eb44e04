"""What the ledger announces through the outbox (app.core.outbox), and the message of the
workflows built on it when one of their steps broke rules.

Topics and payloads are stored with each message and delivered to webhooks: never rename one.
"""

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy.ext.asyncio import AsyncSession

from app.core.outbox import publish

LEDGER_EVENT_APPENDED = "ledger.event_appended"
CHECKPOINT_PUBLISHED = "ledger.checkpoint_published"
INVENTORY_SIGNED = "ledger.inventory_signed"
"""An inventory was signed (app.ledger.inventories): its counts are on the ledger."""
RULES_BROKEN = "workflow.rules_broken"
"""A workflow step (a session's, a prescription's or a fill's) broke rules: overridden, or
stored as a record. Reconciliation opens its discrepancy.

Declared here, below the workflows that publish it (clinical, pharmacy, the FHIR
integration), as every movement they make is the ledger's, and above them is reconciliation,
which subscribes (docs/adr/0007-instructions-and-records.md)."""


async def announce_broken_rules(
    session: AsyncSession,
    *,
    registrant_id: uuid.UUID,
    subject: str,
    subject_id: uuid.UUID,
    step: str,
    rules: Sequence[str],
    override_reason: str | None,
    record: bool,
    by: str,
    at: datetime,
    staff_ids: Sequence[object] = (),
    event_ids: Sequence[uuid.UUID] = (),
    authorized_by: str | None = None,
) -> None:
    """Tell reconciliation that a workflow step broke ``rules`` (overridden, or a record):
    one message in the step's transaction, carrying ids, never patient data. ``by`` took the
    step; ``authorized_by`` authorized its override, when someone else did."""
    if not rules:
        return
    payload = {
        "subject": subject, "subject_id": str(subject_id), "step": step, "rules": list(rules),
        "override_reason": override_reason, "record": record, "by": by, "at": at.isoformat(),
        "staff_ids": [str(s) for s in staff_ids], "event_ids": [str(e) for e in event_ids],
    }  # fmt: skip
    if authorized_by not in (None, by):
        payload["authorized_by"] = authorized_by
    await publish(session, topic=RULES_BROKEN, registrant_id=registrant_id, payload=payload,
                  now=at)  # fmt: skip
