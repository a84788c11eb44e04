"""Integrations configured at a registrant (FHIR senders): the scopes each is granted there,
and the location its FHIR administrations outside a session and its dispenses draw from.
Set by an admin; every version kept."""

import uuid

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.caller import Caller
from app.auth.permissions import IntegrationScope, Permission
from app.auth.principal import Principal
from app.auth.tenancy import get_readable, within_registrants
from app.core.db import flush_unique
from app.core.revisions import keep_version, revise
from app.core.tenancy import invalid, referenced
from app.integrations.fhir import schemas
from app.integrations.fhir.models import FhirSender
from app.integrations.fhir.outcome import FhirSenderNotConfigured
from app.integrations.fhir.parsing import ADMINISTRATION, DISPENSE
from app.registry.enums import LocationKind
from app.registry.models import Location
from app.registry.service import get_registrant

SENDING_SCOPE: dict[str, IntegrationScope] = {
    ADMINISTRATION: IntegrationScope.send_administrations,
    DISPENSE: IntegrationScope.send_dispenses,
}
"""The scope that sending each resource type needs (and a record of it posts under)."""


async def create_sender(
    db: AsyncSession,
    *,
    data: schemas.SenderCreate,
    caller: Caller,
) -> FhirSender:
    await get_registrant(db, data.registrant_id, principal=caller.principal)
    caller.principal.require(Permission.manage_fhir_senders)
    await _stock_location(db, data.registrant_id, data.location_id)
    sender = FhirSender(
        id=uuid.uuid4(), registrant_id=data.registrant_id, subject=data.subject,
        location_id=data.location_id, scopes=[scope.value for scope in data.scopes],
        active=True, version=1, created_at=caller.now, updated_at=caller.now,
    )  # fmt: skip
    db.add(sender)
    detail = "this subject is a FHIR sender at the registrant already"
    await flush_unique(db, pointer="#/subject", detail=detail)
    await keep_version(db, sender, schemas.SenderOut, by=caller.principal.subject, at=caller.now)
    return sender


async def get_sender(db: AsyncSession, sender_id: uuid.UUID, *, principal: Principal) -> FhirSender:
    sender = await get_readable(db, FhirSender, sender_id, principal, what="FHIR sender")
    principal.require(Permission.manage_fhir_senders)
    return sender


async def update_sender(
    db: AsyncSession,
    sender_id: uuid.UUID,
    *,
    data: schemas.SenderUpdate,
    caller: Caller,
) -> FhirSender:
    sender = await get_sender(db, sender_id, principal=caller.principal)
    if data.location_id is not None:
        await _stock_location(db, sender.registrant_id, data.location_id)
        sender.location_id = data.location_id
    if data.scopes is not None:
        sender.scopes = [scope.value for scope in data.scopes]
    if data.active is not None:
        sender.active = data.active
    await revise(db, sender, schemas.SenderOut, by=caller.principal.subject, at=caller.now)
    return sender


def senders_query(principal: Principal, registrant_id: uuid.UUID | None) -> Select[FhirSender]:
    principal.require(Permission.manage_fhir_senders)
    return within_registrants(select(FhirSender), FhirSender.registrant_id, principal,
                              registrant_id)  # fmt: skip


async def integration_scopes(
    db: AsyncSession, principal: Principal
) -> dict[uuid.UUID, frozenset[IntegrationScope]]:
    """The integration's scopes at each registrant its token names where it is configured
    and active (app.edge.deps reads them for every request of an integration)."""
    rows = await db.execute(
        select(FhirSender.registrant_id, FhirSender.scopes).where(
            FhirSender.subject == principal.subject, FhirSender.active,
            FhirSender.registrant_id.in_(principal.registrant_ids),
        )
    )  # fmt: skip
    return {rid: frozenset(map(IntegrationScope, scopes)) for rid, scopes in rows}


async def active_sender(db: AsyncSession, registrant_id: uuid.UUID, subject: str) -> FhirSender:
    """The caller's sender configuration at the registrant, or 403."""
    sender = await db.scalar(
        select(FhirSender).where(FhirSender.registrant_id == registrant_id,
                                 FhirSender.subject == subject, FhirSender.active)
    )  # fmt: skip
    if sender is None:
        raise FhirSenderNotConfigured.at(
            "forbidden", "this integration is not an active FHIR sender at the registrant (an "
            "admin enables it at /v1/integrations/fhir-senders)",
        )  # fmt: skip
    return sender


async def _stock_location(
    db: AsyncSession, registrant_id: uuid.UUID, location_id: uuid.UUID
) -> None:
    location = await referenced(db, Location, location_id, registrant_id=registrant_id,
                                pointer="#/location_id", what="location")  # fmt: skip
    if location.kind == LocationKind.in_use or not location.active:
        raise invalid("#/location_id", "active location that is not a session's holding")
