"""From the outbox to deliveries: one per subscribed endpoint, in the dispatch's transaction.

The outbox hands a message over only once its change has committed, and marks it dispatched
in this same transaction: a rolled-back change makes no delivery, and a dispatch that fails
makes none either (it is handed over again).
"""

import uuid
from collections.abc import Sequence
from datetime import datetime

from sqlalchemy import select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.core import outbox
from app.core.bulk import insert_rows
from app.core.db import table_of
from app.integrations.webhooks import events, payloads
from app.integrations.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint


async def on_message(session: AsyncSession, message: outbox.Message) -> None:
    """The outbox subscriber: a delivery for every enabled endpoint subscribed to it."""
    event_type = events.event_type_of(message)
    if event_type is None or message.registrant_id is None:
        return
    endpoints = await subscribed(session, message.registrant_id, event_type)
    await make_deliveries(session, message, event_type, endpoints, now=message.created_at)


async def subscribed(
    session: AsyncSession, registrant_id: uuid.UUID, event_type: str, *, lock: bool = True
) -> list[WebhookEndpoint]:
    statement = (
        select(WebhookEndpoint)
        .where(WebhookEndpoint.registrant_id == registrant_id, WebhookEndpoint.enabled)
        .order_by(WebhookEndpoint.id)  # one order of row locks for every dispatcher
    )
    if lock:  # NO KEY UPDATE: deliveries and attempts referencing it do not wait on it
        statement = statement.with_for_update(key_share=True)
    found = (await session.scalars(statement)).all()
    return [endpoint for endpoint in found if event_type in endpoint.event_types]


async def make_deliveries(
    session: AsyncSession,
    message: outbox.Message,
    event_type: str,
    endpoints: Sequence[WebhookEndpoint],
    *,
    now: datetime,
) -> int:
    """Number each endpoint's delivery and write them in one statement; returns how many."""
    source = payloads.DataSource(session, message)
    rows = []
    for endpoint in endpoints:
        sequence = await _next_sequence(session, endpoint.id)
        delivery_id = uuid.uuid4()
        body = await envelope_body(source, event_type, endpoint, delivery_id, sequence)
        rows.append({
            "id": delivery_id, "registrant_id": endpoint.registrant_id,
            "endpoint_id": endpoint.id, "outbox_message_id": message.id,
            "event_type": event_type, "sequence": sequence, "body": body,
            "status": DeliveryStatus.pending, "attempt_count": 0, "retry_step": 0,
            "next_attempt_at": now, "created_at": now, "updated_at": now,
        })  # fmt: skip
    await insert_rows(session, table_of(WebhookDelivery), rows)
    return len(rows)


async def envelope_body(
    source: payloads.DataSource,
    event_type: str,
    endpoint: WebhookEndpoint,
    delivery_id: uuid.UUID,
    sequence: int,
) -> str:
    """The envelope of one delivery, with what the endpoint is allowed to receive now."""
    include_patient_data = endpoint.include_patient_data
    fhir = (
        await source.fhir(include_patient_data=include_patient_data)
        if endpoint.include_fhir
        else None
    )
    envelope = payloads.Envelope(
        id=payloads.message_id(delivery_id), type=event_type, time=source.message.created_at,
        registrant_id=endpoint.registrant_id, sequence=sequence,
        data=await source.data(include_patient_data=include_patient_data),
        fhir=fhir,
    )  # fmt: skip
    return payloads.body(envelope.model_dump(mode="json", exclude_none=True))


async def rebuild_bodies(
    session: AsyncSession, endpoint: WebhookEndpoint, ids: Sequence[uuid.UUID]
) -> None:
    """The deliveries ``ids`` of ``endpoint`` with their envelopes as its settings now allow
    (the same id and sequence): what it may no longer receive is never sent, even again."""
    message = outbox.OutboxMessage
    rows = (await session.execute(
        select(WebhookDelivery.id, WebhookDelivery.event_type, WebhookDelivery.sequence,
               message.id, message.registrant_id, message.topic, message.payload,
               message.created_at)
        .join(message, message.id == WebhookDelivery.outbox_message_id)
        .where(WebhookDelivery.endpoint_id == endpoint.id, WebhookDelivery.id.in_(ids))
    )).all()  # fmt: skip
    for delivery_id, event_type, sequence, *fields in rows:
        source = payloads.DataSource(session, outbox.Message(*fields))
        body = await envelope_body(source, event_type, endpoint, delivery_id, sequence)
        await session.execute(
            update(WebhookDelivery).where(WebhookDelivery.id == delivery_id).values(body=body)
        )


async def _next_sequence(session: AsyncSession, endpoint_id: uuid.UUID) -> int:
    return int(
        (
            await session.execute(
                update(WebhookEndpoint)
                .where(WebhookEndpoint.id == endpoint_id)
                .values(last_sequence=WebhookEndpoint.last_sequence + 1)
                .returning(WebhookEndpoint.last_sequence)
            )
        ).scalar_one()
    )
