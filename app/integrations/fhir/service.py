"""Receiving FHIR resources: each stored once per registrant, sender, type and business
identifier (a concurrent duplicate waits for the first and is answered with what it stored),
mapped onto the ledger as a record, its status changed later by conditional update."""

import dataclasses
import hashlib
import uuid
from dataclasses import dataclass
from typing import Any

import orjson
from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.caller import Caller
from app.auth.permissions import IntegrationScope, Permission
from app.auth.principal import Principal
from app.auth.tenancy import get_readable
from app.core.db import dialect_insert
from app.core.errors import NotFound
from app.core.revisions import keep_version, revise
from app.integrations.fhir import posting, records, resolve, senders
from app.integrations.fhir.mapping import (
    ENTERED_IN_ERROR,
    Facts,
    content_digest_source,
    facts_of,
    movement_of,
)
from app.integrations.fhir.models import FhirResource, FhirSender
from app.integrations.fhir.outcome import (
    FhirIdentifierConflict,
    FhirRefusal,
    FhirScopeNotGranted,
)
from app.integrations.fhir.parsing import check_media_type, parse
from app.registry.models import Registrant
from app.registry.service import get_registrant

_KEY = ("registrant_id", "sender", "resource_type", "identifier_system", "identifier_value")


@dataclass(frozen=True, slots=True)
class Received:
    row: FhirResource
    created: bool


@dataclass(frozen=True, slots=True)
class Incoming:
    """A request's resource, validated, and who sent it to which registrant."""

    facts: Facts
    content: dict[str, Any]
    """The resource as sent, without ``id`` and ``meta``."""
    digest: str
    registrant: Registrant
    sender: FhirSender

    def key(self) -> dict[str, Any]:
        return {"registrant_id": self.registrant.id, "sender": self.sender.subject,
                "resource_type": self.facts.resource_type,
                "identifier_system": self.facts.identifier.system,
                "identifier_value": self.facts.identifier.value}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Submission:
    """What a request sent, as received."""

    resource_type: str
    body: bytes
    content_type: str | None
    registrant_id: uuid.UUID | None


async def receive(db: AsyncSession, request: Submission, caller: Caller) -> Received:
    """POST: store and map a resource; a repeat with the same content is answered with what
    was stored, one with other content is refused (a status change is a PUT)."""
    incoming = await _incoming(db, request, caller.principal)
    caller = _mapping_as(incoming, caller)
    existing = await _find(db, incoming)
    if existing is not None:
        return Received(_repeated(existing, incoming), created=False)
    return await _create(db, incoming, caller)


async def update(
    db: AsyncSession, request: Submission, identifier: str, caller: Caller
) -> Received:
    """Conditional PUT by identifier: a status change of a stored resource, or (unknown
    identifier) the resource created as a POST would."""
    incoming = await _incoming(db, request, caller.principal)
    caller = _mapping_as(incoming, caller)
    _check_searched(identifier, incoming.facts)
    row = await _find(db, incoming, lock=True)
    if row is None:
        return await _create(db, incoming, caller)
    if _without_status(row.resource) != _without_status(incoming.content):
        raise FhirIdentifierConflict.at(
            "conflict", "only the status of a stored resource changes; anything else is sent "
            "as a new resource with its own identifier", incoming.facts.resource_type,
        )  # fmt: skip
    if row.status != incoming.facts.status:
        await _change_status(db, row, incoming, caller)
    return Received(row, created=False)


async def get_resource(
    db: AsyncSession, resource_type: str, resource_id: uuid.UUID, *, principal: Principal
) -> FhirResource:
    """A resource the calling integration sent itself (another sender's is not found)."""
    row = await get_readable(db, FhirResource, resource_id, principal,
                             what=f"{resource_type}/{resource_id}")  # fmt: skip
    if row.resource_type != resource_type:
        raise NotFound(f"{resource_type}/{resource_id} not found")
    principal.require(Permission.fhir_records)
    if row.sender != principal.subject:
        raise NotFound(f"{resource_type}/{resource_id} not found")
    if not principal.scoped(IntegrationScope.read_own_records):
        raise FhirScopeNotGranted.at(
            "forbidden", f"reading records back needs the scope {IntegrationScope.read_own_records}"
        )
    return row


def _check_send_scope(sender: FhirSender, resource_type: str) -> None:
    scope = senders.SENDING_SCOPE[resource_type]
    if scope.value not in sender.scopes:
        raise FhirScopeNotGranted.at(
            "forbidden", f"this integration may not send {resource_type} here: its "
            f"configuration does not grant the scope {scope.value}", resource_type,
        )  # fmt: skip


def _mapping_as(incoming: Incoming, caller: Caller) -> Caller:
    """The caller a record's mapping acts in: the integration, holding at the registrant
    what its send scope implies (a session step, a fill), for this record alone."""
    scope, at = senders.SENDING_SCOPE[incoming.facts.resource_type], incoming.registrant.id
    return dataclasses.replace(caller, principal=caller.principal.acting_through(scope, at))


# Receiving


async def _incoming(db: AsyncSession, request: Submission, principal: Principal) -> Incoming:
    registrant = await _registrant(db, request.registrant_id, principal)
    principal.require(Permission.fhir_records)
    sender = await senders.active_sender(db, registrant.id, principal.subject)
    _check_send_scope(sender, request.resource_type)
    check_media_type(request.content_type)
    resource, raw = parse(request.body, request.resource_type)
    content = content_digest_source(raw)
    digest = hashlib.sha256(orjson.dumps(content, option=orjson.OPT_SORT_KEYS)).hexdigest()
    return Incoming(facts_of(resource), content, digest, registrant, sender)


async def _registrant(
    db: AsyncSession, registrant_id: uuid.UUID | None, principal: Principal
) -> Registrant:
    """The one named by ``registrant_id``, else the token's only registrant."""
    if registrant_id is None:
        principal.require(Permission.fhir_records)
        if len(principal.registrant_ids) != 1:
            raise FhirRefusal.at("required", "the token names several registrants: name one "
                                 "with ?registrant_id=")  # fmt: skip
        [registrant_id] = principal.registrant_ids
    return await get_registrant(db, registrant_id, principal=principal)


async def _find(db: AsyncSession, incoming: Incoming, *, lock: bool = False) -> FhirResource | None:
    statement = select(FhirResource).filter_by(**incoming.key())
    if lock:
        statement = statement.with_for_update()
    found: FhirResource | None = await db.scalar(
        statement.execution_options(populate_existing=True)
    )
    return found


def _repeated(existing: FhirResource, incoming: Incoming) -> FhirResource:
    if existing.digest != incoming.digest:
        raise FhirIdentifierConflict.at(
            "conflict", f"this sender already sent {existing.resource_type} "
            f"{incoming.facts.identifier} with other content; change its status with PUT "
            f"/v1/fhir/{existing.resource_type}?identifier={incoming.facts.identifier}",
            f"{existing.resource_type}.identifier",
        )  # fmt: skip
    return existing


async def _create(db: AsyncSession, incoming: Incoming, caller: Caller) -> Received:
    facts = incoming.facts
    refs = await resolve.references(db, incoming.registrant.id, facts, incoming.sender.id)
    movement = movement_of(facts) if facts.moves_stock else None
    row = await _claim(db, incoming, caller)
    if row is None:  # a concurrent request stored it first, and has committed
        existing = await _find(db, incoming)
        assert existing is not None
        return Received(_repeated(existing, incoming), created=False)
    if movement is not None:
        await posting.post(db, row, movement, refs, incoming.sender, caller)
    await keep_version(db, row, posting.shown(row), by=caller.principal.subject, at=caller.now)
    return Received(row, created=True)


async def _claim(db: AsyncSession, incoming: Incoming, caller: Caller) -> FhirResource | None:
    """Insert the row, or nothing if its key is taken. On PostgreSQL a concurrent insert of the
    same key waits for the first transaction: nothing if it commits, the row if it rolls back."""
    values = incoming.key() | {
        "id": uuid.uuid4(), "status": incoming.facts.status, "digest": incoming.digest,
        "resource": incoming.content, "event_ids": [], "reversal_event_ids": [],
        "session_administration_ids": [], "broken_rules": [], "version": 1,
        "created_at": caller.now, "updated_at": caller.now,
    }  # fmt: skip
    statement = (
        dialect_insert(db)(FhirResource).values(**values)
        .on_conflict_do_nothing(index_elements=list(_KEY)).returning(FhirResource.id)
    )  # fmt: skip
    claimed = await db.scalar(statement)
    return None if claimed is None else await db.get(FhirResource, claimed)


# Changing the status


def _check_searched(identifier: str, facts: Facts) -> None:
    system, bar, value = identifier.partition("|")
    if not bar or system != facts.identifier.system or value != facts.identifier.value:
        detail = f"?identifier={identifier} is not the resource's identifier ({facts.identifier})"
        raise FhirRefusal.at("invalid", detail, facts.at("identifier"))


def _without_status(content: dict[str, Any]) -> dict[str, Any]:
    return {key: value for key, value in content.items() if key != "status"}


async def _change_status(
    db: AsyncSession, row: FhirResource, incoming: Incoming, caller: Caller
) -> None:
    facts = incoming.facts
    if row.status == ENTERED_IN_ERROR:
        raise FhirIdentifierConflict.at("business-rule", "a resource entered in error stays so",
                                        facts.at("status"))  # fmt: skip
    if facts.status == ENTERED_IN_ERROR and row.event_ids:
        reversals = await records.reverse(db, row, caller)
        row.reversal_event_ids = [*row.reversal_event_ids, *(str(r) for r in reversals)]
        await posting.flag(db, row, [records.MappingRule.entered_in_error], caller, [],
                           reversals)  # fmt: skip
    elif facts.moves_stock and not row.event_ids:
        refs = await resolve.references(db, row.registrant_id, facts, incoming.sender.id)
        await posting.post(db, row, movement_of(facts), refs, incoming.sender, caller)
    elif row.unposted_because is not None:  # held, and now it says no stock moved
        await posting.release(db, row, caller, f"the sender now says it is {facts.status}: "
                              "no stock moved")  # fmt: skip
    elif row.event_ids and not facts.moves_stock and not row.reversal_event_ids:
        moved = [uuid.UUID(event_id) for event_id in row.event_ids]
        await posting.flag(db, row, [records.MappingRule.status_withdrawn], caller, [], moved)
    row.status, row.resource, row.digest = facts.status, incoming.content, incoming.digest
    await revise(db, row, posting.shown(row), by=caller.principal.subject, at=caller.now)
