"""The event types an endpoint subscribes to, and which outbox message each one comes from.

Names are a published contract (receivers switch on them): add, never rename.
"""

from typing import Annotated

from pydantic import AfterValidator, WithJsonSchema

from app.core import outbox
from app.ledger.types import EventType

LEDGER_EVENT_PREFIX = "ledger.event."

FROM_TOPIC: dict[str, str] = {
    outbox.CHECKPOINT_PUBLISHED: "ledger.checkpoint.published",
    outbox.DISCREPANCY_OPENED: "discrepancy.opened",
    outbox.DISCREPANCY_TRANSITIONED: "discrepancy.transitioned",
    outbox.SESSION_DISCHARGED: "session.discharged",
    outbox.PRESCRIPTION_FILLED: "prescription.filled",
    outbox.RECONCILIATION_RUN_FINISHED: "reconciliation.run.finished",
    outbox.WEBHOOK_ENDPOINT_DISABLED: "webhook.endpoint.disabled",
}
"""Every topic but the ledger's, whose type names the kind of event appended."""

ENDPOINT_DISABLED = FROM_TOPIC[outbox.WEBHOOK_ENDPOINT_DISABLED]

EVENT_TYPES: tuple[str, ...] = (
    *(LEDGER_EVENT_PREFIX + kind.value for kind in EventType),
    *FROM_TOPIC.values(),
)

TOPICS: tuple[str, ...] = (outbox.LEDGER_EVENT_APPENDED, *FROM_TOPIC)
"""The outbox topics webhooks subscribe to."""


def event_type_of(message: outbox.Message) -> str | None:
    """The webhook event type of an outbox message; None for one no endpoint can subscribe to."""
    if message.topic == outbox.LEDGER_EVENT_APPENDED:
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
