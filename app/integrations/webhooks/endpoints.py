"""Webhook endpoints: made, changed, their secrets rotated, disabled; every version kept."""

import logging
import uuid
from datetime import datetime, timedelta

from pydantic import AnyUrl
from sqlalchemy import Select, select, update
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.caller import Caller
from app.auth.permissions import Permission
from app.auth.principal import Principal
from app.auth.tenancy import get_readable, within_registrants
from app.core import outbox
from app.core.changes import apply_changes, sent_changes
from app.core.config import Settings
from app.core.db import where_given
from app.core.errors import InvalidInput
from app.core.revisions import keep_version, revise
from app.integrations.webhooks import addresses, fanout, schemas, signing
from app.integrations.webhooks.messages import WEBHOOK_ENDPOINT_DISABLED
from app.integrations.webhooks.models import DeliveryStatus, WebhookDelivery, WebhookEndpoint
from app.registry.service import get_registrant

log = logging.getLogger("csledger.webhooks")

_REQUIRED = frozenset({"url", "event_types", "enabled", "include_patient_data", "include_fhir"})


async def create(
    session: AsyncSession,
    data: schemas.EndpointCreate,
    caller: Caller,
    *,
    resolver: addresses.Resolver,
) -> tuple[WebhookEndpoint, str]:
    """A new endpoint and its secret (returned only here)."""
    await get_registrant(session, data.registrant_id, principal=caller.principal)
    caller.principal.require(Permission.manage_webhooks)
    url = await _checked_url(data.url, caller.settings, resolver)
    secret = signing.new_secret()
    endpoint = WebhookEndpoint(
        id=uuid.uuid4(), registrant_id=data.registrant_id, url=url,
        description=data.description, event_types=data.event_types, enabled=data.enabled,
        include_patient_data=data.include_patient_data, include_fhir=data.include_fhir,
        secret=secret, last_sequence=0, consecutive_failures=0, version=1,
        created_at=caller.now, updated_at=caller.now,
    )  # fmt: skip
    session.add(endpoint)
    await session.flush()
    await keep_version(
        session, endpoint, schemas.EndpointOut, by=caller.principal.subject, at=caller.now
    )
    return endpoint, secret


async def get(
    session: AsyncSession, endpoint_id: uuid.UUID, *, principal: Principal, lock: bool = False
) -> WebhookEndpoint:
    endpoint = await get_readable(session, WebhookEndpoint, endpoint_id, principal,
                                what="webhook endpoint", lock=lock)  # fmt: skip
    principal.require(Permission.manage_webhooks)
    return endpoint


def listed(
    principal: Principal, *, registrant_id: uuid.UUID | None, enabled: bool | None
) -> Select[WebhookEndpoint]:
    principal.require(Permission.manage_webhooks)
    statement = within_registrants(
        select(WebhookEndpoint), WebhookEndpoint.registrant_id, principal, registrant_id
    )
    return where_given(statement, (WebhookEndpoint.enabled, enabled))


async def change(
    session: AsyncSession,
    endpoint_id: uuid.UUID,
    data: schemas.EndpointUpdate,
    caller: Caller,
    *,
    resolver: addresses.Resolver,
) -> WebhookEndpoint:
    endpoint = await get(session, endpoint_id, principal=caller.principal, lock=True)
    changes = sent_changes(data, required=_REQUIRED)
    if "url" in changes:
        changes["url"] = await _checked_url(data.url, caller.settings, resolver)
    enabling = changes.get("enabled") is True and not endpoint.enabled
    disabling = changes.pop("enabled", None) is False and endpoint.enabled
    contents = (endpoint.include_patient_data, endpoint.include_fhir)
    if not apply_changes(endpoint, changes) and not (enabling or disabling):
        return endpoint
    if contents != (endpoint.include_patient_data, endpoint.include_fhir):
        await _rebuild_pending(session, endpoint)
    if enabling:
        _enable(endpoint)
    if disabling:
        await disable(
            session, endpoint, reason=f"disabled by {caller.principal.name}", now=caller.now
        )
    await _changed(session, endpoint, by=caller.principal.subject, now=caller.now)
    return endpoint


async def rotate_secret(
    session: AsyncSession,
    endpoint_id: uuid.UUID,
    data: schemas.SecretRotation,
    caller: Caller,
) -> tuple[WebhookEndpoint, str]:
    """A new secret (returned only here); the previous one keeps signing for the overlap."""
    endpoint = await get(session, endpoint_id, principal=caller.principal, lock=True)
    hours = (
        caller.settings.webhook_secret_overlap_hours
        if data.overlap_hours is None
        else data.overlap_hours
    )
    secret = signing.new_secret()
    endpoint.previous_secret = endpoint.secret
    endpoint.previous_secret_expires_at = caller.now + timedelta(hours=hours)
    endpoint.secret = secret
    await _changed(session, endpoint, by=caller.principal.subject, now=caller.now)
    return endpoint, secret


def secrets_in_use(endpoint: WebhookEndpoint, now: datetime) -> tuple[str, ...]:
    """The secrets a delivery is signed with now: the current one, and the previous one while
    its overlap lasts."""
    expires = endpoint.previous_secret_expires_at
    if endpoint.previous_secret is not None and expires is not None and now < expires:
        return endpoint.secret, endpoint.previous_secret
    return (endpoint.secret,)


async def disable(
    session: AsyncSession, endpoint: WebhookEndpoint, *, reason: str, now: datetime
) -> None:
    """Stop sending to ``endpoint``: its pending deliveries fail (a redelivery after it is
    enabled again sends what it missed), and a ``webhook.endpoint.disabled`` event says so."""
    endpoint.enabled = False
    endpoint.disabled_at = now
    endpoint.disabled_reason = reason[:500]
    await session.execute(
        update(WebhookDelivery)
        .where(
            WebhookDelivery.endpoint_id == endpoint.id,
            WebhookDelivery.status == DeliveryStatus.pending,
        )
        .values(
            status=DeliveryStatus.failed,
            next_attempt_at=None,
            lease_until=None,
            leased_by=None,
            last_error="endpoint disabled",
            updated_at=now,
        )
    )
    failing_since = endpoint.failing_since
    payload = {
        "endpoint_id": str(endpoint.id), "url": endpoint.url, "reason": endpoint.disabled_reason,
        "consecutive_failures": endpoint.consecutive_failures,
        "failing_since": None if failing_since is None else failing_since.isoformat(),
    }  # fmt: skip
    await outbox.publish(session, topic=WEBHOOK_ENDPOINT_DISABLED,
                         registrant_id=endpoint.registrant_id, payload=payload,
                         now=now)  # fmt: skip


async def record_disabled(
    session: AsyncSession, endpoint: WebhookEndpoint, *, reason: str, now: datetime
) -> None:
    """Disabled by the worker (a run of failures): disabled and a new version kept."""
    await disable(session, endpoint, reason=reason, now=now)
    await _changed(session, endpoint, by="csledger-worker", now=now)


async def _rebuild_pending(session: AsyncSession, endpoint: WebhookEndpoint) -> None:
    """What is still to be sent goes as the endpoint now allows: patient data turned off is
    never sent again, even in a retry."""
    pending = await session.scalars(
        select(WebhookDelivery.id).where(
            WebhookDelivery.endpoint_id == endpoint.id,
            WebhookDelivery.status == DeliveryStatus.pending,
        )
    )
    await fanout.rebuild_bodies(session, endpoint, list(pending))


def _enable(endpoint: WebhookEndpoint) -> None:
    endpoint.enabled = True
    endpoint.disabled_at = None
    endpoint.disabled_reason = None
    endpoint.consecutive_failures = 0
    endpoint.failing_since = None


async def _checked_url(url: AnyUrl | None, settings: Settings, resolver: addresses.Resolver) -> str:
    text = str(url)
    try:
        await addresses.target(
            text, allow_private=settings.webhooks_may_reach_private_networks, resolver=resolver
        )
    except addresses.AddressRefused as exc:
        raise InvalidInput.at("#/url", str(exc)) from exc
    return text


async def _changed(
    session: AsyncSession, endpoint: WebhookEndpoint, *, by: str, now: datetime
) -> None:
    """A new version, kept as the API shows it: the secret never goes into the history."""
    await revise(session, endpoint, schemas.EndpointOut, by=by, at=now)
