"""The event types an endpoint subscribes to, and which outbox message each one comes from.

Names are a published contract (receivers switch on them): add, never rename.
"""

from typing import Annotated

from pydantic import AfterValidator, WithJsonSchema

from app.clinical.messages import SESSION_DISCHARGED
from app.core import outbox
from app.integrations.webhooks.messages import WEBHOOK_ENDPOINT_DISABLED
from app.ledger.messages import CHECKPOINT_PUBLISHED, INVENTORY_SIGNED, LEDGER_EVENT_APPENDED
from app.ledger.types import EventType
from app.pharmacy.messages import PRESCRIPTION_FILLED
from app.reconciliation.messages import (
    DISCREPANCY_OPENED,
    DISCREPANCY_TRANSITIONED,
    RECONCILIATION_RUN_FINISHED,
)

LEDGER_EVENT_PREFIX = "ledger.event."

FROM_TOPIC: dict[str, str] = {
    CHECKPOINT_PUBLISHED: "ledger.checkpoint.published",
    DISCREPANCY_OPENED: "discrepancy.opened",
    DISCREPANCY_TRANSITIONED: "discrepancy.transitioned",
    INVENTORY_SIGNED: "inventory.signed",
    SESSION_DISCHARGED: "session.discharged",
    PRESCRIPTION_FILLED: "prescription.filled",
    RECONCILIATION_RUN_FINISHED: "reconciliation.run.finished",
    WEBHOOK_ENDPOINT_DISABLED: "webhook.endpoint.disabled",
}
"""Every topic but the ledger's, whose type names the kind of event appended."""

ENDPOINT_DISABLED = FROM_TOPIC[WEBHOOK_ENDPOINT_DISABLED]

EVENT_TYPES: tuple[str, ...] = (
    *(LEDGER_EVENT_PREFIX + kind.value for kind in EventType),
    *FROM_TOPIC.values(),
)

TOPICS: tuple[str, ...] = (LEDGER_EVENT_APPENDED, *FROM_TOPIC)
"""The outbox topics webhooks subscribe to."""


def event_type_of(message: outbox.Message) -> str | None:
    """The webhook event type of an outbox message; None for one no endpoint can subscribe to."""
    if message.topic == LEDGER_EVENT_APPENDED:
        return LEDGER_EVENT_PREFIX + str(message.payload["type"])
    return FROM_TOPIC.get(message.topic)


def _known(name: str) -> str:
    if name not in EVENT_TYPES:
        raise ValueError(f"unknown event type {name!r}")
    return name


WebhookEventType = Annotated[
    str,
    AfterValidator(_known),
    WithJsonSchema({"type": "string", "enum": list(EVENT_TYPES)}),
]
