"""Deliveries as an administrator sees them, with every attempt; redelivery."""

import uuid
from collections import defaultdict
from collections.abc import Sequence
from datetime import datetime
from typing import Any

from sqlalchemy import Select, or_, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.caller import Caller
from app.auth.permissions import Permission
from app.auth.principal import Principal
from app.auth.tenancy import get_readable, within_registrants
from app.core import outbox
from app.core.db import where_given
from app.core.errors import Conflict
from app.integrations.webhooks import endpoints, events, fanout, payloads
from app.integrations.webhooks.models import (
    DeliveryStatus,
    WebhookAttempt,
    WebhookDelivery,
    WebhookEndpoint,
)

REDELIVERY_PAGE = 500


class EndpointDisabled(Conflict):
    slug = "webhook-endpoint-disabled"
    title = "The webhook endpoint is disabled"


class BeingSent(Conflict):
    slug = "webhook-delivery-in-flight"
    title = "The delivery is being sent"


def listed(
    principal: Principal,
    *,
    registrant_id: uuid.UUID | None,
    endpoint_id: uuid.UUID | None,
    status: str | None,
    event_type: str | None,
) -> Select[WebhookDelivery]:
    principal.require(Permission.manage_webhooks)
    statement = within_registrants(
        select(WebhookDelivery), WebhookDelivery.registrant_id, principal, registrant_id
    )
    return where_given(statement, (WebhookDelivery.endpoint_id, endpoint_id),
                       (WebhookDelivery.status, status),
                       (WebhookDelivery.event_type, event_type))  # fmt: skip


async def get(
    session: AsyncSession, delivery_id: uuid.UUID, *, principal: Principal, lock: bool = False
) -> WebhookDelivery:
    found = await get_readable(session, WebhookDelivery, delivery_id, principal,
                             what="webhook delivery", lock=lock)  # fmt: skip
    principal.require(Permission.manage_webhooks)
    return found


async def shown(session: AsyncSession, found: Sequence[WebhookDelivery]) -> list[dict[str, Any]]:
    """The deliveries with their attempts, oldest attempt first (one query for all)."""
    attempts: dict[uuid.UUID, list[WebhookAttempt]] = defaultdict(list)
    rows = await session.scalars(
        select(WebhookAttempt)
        .where(WebhookAttempt.delivery_id.in_([d.id for d in found]))
        .order_by(WebhookAttempt.attempted_at, WebhookAttempt.id)
    )
    for attempt in rows:
        attempts[attempt.delivery_id].append(attempt)
    return [
        {**_fields(delivery), "message_id": payloads.message_id(delivery.id),
         "attempts": attempts[delivery.id]}
        for delivery in found
    ]  # fmt: skip


def _fields(delivery: WebhookDelivery) -> dict[str, Any]:
    return {
        column.key: getattr(delivery, column.key) for column in WebhookDelivery.__table__.columns
    }


async def redeliver(
    session: AsyncSession, delivery_id: uuid.UUID, caller: Caller
) -> WebhookDelivery:
    """Send one delivery again, from the start of the retry schedule, with the same id and
    the envelope as the endpoint's settings now allow."""
    delivery = await get(session, delivery_id, principal=caller.principal)
    endpoint = await _locked(session, delivery.endpoint_id)
    requeued = await _requeue(session, endpoint, caller.now, WebhookDelivery.id == delivery.id)
    if not requeued:
        raise BeingSent("the delivery is being sent now: ask again once its attempt is recorded")
    await session.refresh(delivery)
    return delivery


async def redeliver_since(
    session: AsyncSession,
    endpoint_id: uuid.UUID,
    since: datetime,
    caller: Caller,
) -> int:
    """Every event of the endpoint's types since ``since`` (no earlier than the endpoint)
    sent again: its deliveries queued from the start of the schedule, and deliveries made for
    the events it missed while disabled. Returns how many are queued."""
    found = await endpoints.get(session, endpoint_id, principal=caller.principal)
    endpoint = await _locked(session, found.id)
    since = max(since, endpoint.created_at)
    requeued = await _requeue(session, endpoint, caller.now, WebhookDelivery.created_at >= since)
    return len(requeued) + await _deliver_missed(session, endpoint, since)


async def _locked(session: AsyncSession, endpoint_id: uuid.UUID) -> WebhookEndpoint:
    """The endpoint, enabled, locked as the outbox dispatch locks it before fanning a
    message out (so a message dispatched meanwhile either has its delivery already or is
    left to the dispatch), and before any of its deliveries (the worker's order)."""
    endpoint = await session.get(WebhookEndpoint, endpoint_id, populate_existing=True,
                                 with_for_update={"key_share": True})  # fmt: skip
    assert endpoint is not None
    if not endpoint.enabled:
        raise EndpointDisabled("the endpoint is disabled: enable it, then ask again")
    return endpoint


async def _requeue(
    session: AsyncSession, endpoint: WebhookEndpoint, now: datetime, which: Any
) -> list[uuid.UUID]:
    """Queue again the endpoint's deliveries ``which`` not being sent right now (their
    attempt would be lost), their envelopes rebuilt; returns their ids."""
    not_in_flight = or_(WebhookDelivery.lease_until.is_(None), WebhookDelivery.lease_until < now)
    ids = list(await session.scalars(
        update(WebhookDelivery)
        .where(WebhookDelivery.endpoint_id == endpoint.id, which, not_in_flight)
        .values(status=DeliveryStatus.pending, retry_step=0, next_attempt_at=now, lease_until=None,
                leased_by=None, updated_at=now)
        .returning(WebhookDelivery.id)
    ))  # fmt: skip
    await fanout.rebuild_bodies(session, endpoint, ids)
    return ids


async def _deliver_missed(session: AsyncSession, endpoint: WebhookEndpoint, since: datetime) -> int:
    """Deliveries for the dispatched messages since ``since`` that the endpoint never got."""
    made, after = 0, 0
    while True:
        page = (await session.execute(_missed(endpoint, since, after))).all()
        for row in page:
            message = outbox.Message(*row)
            event_type = events.event_type_of(message)
            if event_type in endpoint.event_types:
                made += await fanout.make_deliveries(session, message, event_type, [endpoint],
                                                     now=message.created_at)  # fmt: skip
        if len(page) < REDELIVERY_PAGE:
            return made
        after = page[-1].id


def _missed(endpoint: WebhookEndpoint, since: datetime, after: int) -> Select[Any]:
    message = outbox.OutboxMessage
    delivered = select(WebhookDelivery.id).where(
        WebhookDelivery.endpoint_id == endpoint.id,
        WebhookDelivery.outbox_message_id == message.id,
    )
    return (
        select(message.id, message.registrant_id, message.topic, message.payload,
               message.created_at)
        .where(message.registrant_id == endpoint.registrant_id, message.created_at >= since,
               message.topic.in_(events.TOPICS), message.dispatched_at.is_not(None),
               message.id > after, ~delivered.exists())
        .order_by(message.id)
        .limit(REDELIVERY_PAGE)
    )  # fmt: skip
