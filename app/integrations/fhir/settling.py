"""A compliance officer's side of the FHIR records: following what integrations sent, and
making a record kept unposted post, by assigning its lot or by mapping the sender's own
medication code to a product (which posts every record kept for want of that mapping).

A record posts as what it is: its sender's record of a dose that happened, at its original
time, through the same workflows as when it arrived (a session's administration, a fill, an
``administer`` or ``dispense`` event). The officer is named in its history, not as its author.
"""

import dataclasses
import uuid
from dataclasses import dataclass
from typing import Any

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.caller import Caller
from app.auth.permissions import Permission, Role
from app.auth.principal import Principal
from app.auth.tenancy import get_readable, within_registrants
from app.catalog.models import Lot, Product
from app.core.db import flush_unique, where_given
from app.core.errors import Conflict, InvalidInput, NotFound
from app.core.revisions import revise
from app.core.tenancy import referenced
from app.integrations.fhir import posting, records, resolve, schemas, senders
from app.integrations.fhir.mapping import RESOURCE_ID_SYSTEM, Facts, facts_of, movement_of
from app.integrations.fhir.models import FhirCodeMapping, FhirResource, FhirSender
from app.integrations.fhir.parsing import MODELS
from app.ledger.balances import InsufficientStock


class NotUnposted(Conflict):
    slug = "fhir-record-not-unposted"
    title = "Record not kept unposted"
    description = (
        "Only a record kept unposted for want of its lot takes a lot: this one has posted, "
        "moves no stock, or waits for its medication code to be mapped first."
    )


class CodeMappedElsewhere(Conflict):
    slug = "fhir-code-mapped"
    title = "Code already mapped"
    description = (
        "The sender's code names another product already; a mapping is never changed, since "
        "records posted under it stay as they were."
    )


# Following the records


@dataclass(frozen=True, slots=True)
class RecordFilters:
    registrant_id: uuid.UUID | None = None
    unposted: bool | None = None
    sender: str | None = None
    resource_type: str | None = None


def records_query(principal: Principal, filters: RecordFilters) -> Select[FhirResource]:
    principal.require(Permission.settle_fhir_records)
    statement = within_registrants(select(FhirResource), FhirResource.registrant_id, principal,
                                   filters.registrant_id)  # fmt: skip
    statement = where_given(statement, (FhirResource.sender, filters.sender),
                            (FhirResource.resource_type, filters.resource_type))  # fmt: skip
    if filters.unposted is not None:
        held = FhirResource.unposted_because.is_not(None)
        statement = statement.where(held if filters.unposted else ~held)
    return statement


async def get_record(
    db: AsyncSession, resource_id: uuid.UUID, *, principal: Principal, lock: bool = False
) -> FhirResource:
    row = await get_readable(db, FhirResource, resource_id, principal, what="FHIR record",
                           lock=lock)  # fmt: skip
    principal.require(Permission.settle_fhir_records)
    return row


def record_out(row: FhirResource) -> schemas.FhirRecordOut:
    medication = stored_facts(row).medication
    return schemas.FhirRecordOut(
        id=row.id, registrant_id=row.registrant_id, sender=row.sender,
        resource_type=row.resource_type,
        identifier=f"{row.identifier_system}|{row.identifier_value}", status=row.status,
        medication_codes=[str(c) for c in medication.codes] if medication else [],
        product_id=row.product_id, lot_id=row.lot_id, lot_source=row.lot_source,
        unposted_because=row.unposted_because, unposted_detail=row.unposted_detail,
        event_ids=[uuid.UUID(e) for e in row.event_ids],
        reversal_event_ids=[uuid.UUID(e) for e in row.reversal_event_ids],
        broken_rules=row.broken_rules, location=f"/v1/fhir/{row.resource_type}/{row.id}",
        version=row.version, created_at=row.created_at, updated_at=row.updated_at,
    )  # fmt: skip


def stored_facts(row: FhirResource) -> Facts:
    """What the stored resource says (it was valid R4 when it arrived, and is kept as sent
    but for its ``id``, given back when it was the business identifier)."""
    resource: dict[str, Any] = dict(row.resource)
    if row.identifier_system == RESOURCE_ID_SYSTEM:
        resource["id"] = row.identifier_value
    return facts_of(MODELS[row.resource_type].model_validate(resource))


# Assigning a lot


async def assign_lot(
    db: AsyncSession,
    resource_id: uuid.UUID,
    data: schemas.LotAssignment,
    *,
    caller: Caller,
) -> FhirResource:
    """Post a record kept for want of its lot, from ``data.lot_id``, at its original time."""
    row = await get_record(db, resource_id, principal=caller.principal, lock=True)
    if row.unposted_because != records.Unposted.lot_not_determined:
        raise NotUnposted(_why_not(row))
    assert row.product_id is not None, "a record kept for its lot names its product"
    lot = await referenced(db, Lot, data.lot_id, registrant_id=row.registrant_id,
                           pointer="#/lot_id", what="lot")  # fmt: skip
    if lot.product_id != row.product_id:
        product = await db.get(Product, row.product_id)
        raise InvalidInput.at("#/lot_id", f"lot {lot.lot_number} is not a lot of "
                            f"{product.name if product else 'the record'}'s product")  # fmt: skip
    officer = caller.principal.subject
    because = f"lot assigned by {officer}" + (f": {data.note}" if data.note else "")
    await _repost(db, row, caller, by=officer, assigned_lot=lot, because=because)
    return row


def _why_not(row: FhirResource) -> str:
    if row.unposted_because == records.Unposted.product_not_mapped:
        return "its medication code names no product yet: map the code first"
    if row.event_ids:
        return "it has posted already"
    return f"it moves no stock ({row.status}) and is not kept unposted"


# Mapping a sender's code


@dataclass(frozen=True, slots=True)
class Mapped:
    mapping: FhirCodeMapping
    created: bool
    records: list[FhirResource]


async def map_code(
    db: AsyncSession,
    sender_id: uuid.UUID,
    data: schemas.CodeMappingCreate,
    *,
    caller: Caller,
) -> Mapped:
    """Map the sender's code to a product (the same mapping again is answered as it stands),
    then post every record kept for want of it."""
    sender = await get_readable(db, FhirSender, sender_id, caller.principal, what="FHIR sender")
    caller.principal.require(Permission.settle_fhir_records)
    product = await referenced(db, Product, data.product_id, registrant_id=sender.registrant_id,
                               pointer="#/product_id", what="product")  # fmt: skip
    mapping, created = await _mapping(db, sender, product, data, caller)
    settled = [row for row in await _kept_for_a_product(db, sender)
               if any(c.system == data.system and c.code == data.code
                      for c in _codes(row))]  # fmt: skip
    officer = caller.principal.subject
    for row in settled:
        because = f"{data.system}|{data.code} mapped to {product.name} by {officer}"
        await _repost(db, row, caller, by=officer, because=because, kept_short=True)
    return Mapped(mapping, created, settled)


async def code_mappings(
    db: AsyncSession, sender_id: uuid.UUID, *, principal: Principal
) -> list[FhirCodeMapping]:
    sender = await get_readable(db, FhirSender, sender_id, principal, what="FHIR sender")
    principal.require(Permission.settle_fhir_records)
    return list(await db.scalars(
        select(FhirCodeMapping).where(FhirCodeMapping.sender_id == sender.id)
        .order_by(FhirCodeMapping.created_at, FhirCodeMapping.id)
    ))  # fmt: skip


async def code_mapping(
    db: AsyncSession, sender_id: uuid.UUID, mapping_id: uuid.UUID, *, principal: Principal
) -> FhirCodeMapping:
    mapping = await get_readable(db, FhirCodeMapping, mapping_id, principal,
                               what="code mapping")  # fmt: skip
    principal.require(Permission.settle_fhir_records)
    if mapping.sender_id != sender_id:
        raise NotFound("code mapping not found")
    return mapping


async def _mapping(
    db: AsyncSession,
    sender: FhirSender,
    product: Product,
    data: schemas.CodeMappingCreate,
    caller: Caller,
) -> tuple[FhirCodeMapping, bool]:
    existing = await db.scalar(select(FhirCodeMapping).filter_by(
        sender_id=sender.id, system=data.system, code=data.code))  # fmt: skip
    if existing is not None:
        if existing.product_id != product.id:
            raise CodeMappedElsewhere(f"{data.system}|{data.code} names another product "
                                      f"({existing.product_id}) for this sender")  # fmt: skip
        return existing, False
    mapping = FhirCodeMapping(
        id=uuid.uuid4(), registrant_id=sender.registrant_id, sender_id=sender.id,
        system=data.system, code=data.code, product_id=product.id,
        created_by=caller.principal.subject, created_at=caller.now,
    )  # fmt: skip
    db.add(mapping)
    await flush_unique(db, pointer="#/code", detail="this code was mapped meanwhile")
    return mapping, True


async def _kept_for_a_product(db: AsyncSession, sender: FhirSender) -> list[FhirResource]:
    return list(await db.scalars(
        select(FhirResource)
        .where(FhirResource.registrant_id == sender.registrant_id,
               FhirResource.sender == sender.subject,
               FhirResource.unposted_because == records.Unposted.product_not_mapped.value)
        .order_by(FhirResource.created_at, FhirResource.id)
        .with_for_update()
    ))  # fmt: skip


def _codes(row: FhirResource) -> tuple[Any, ...]:
    medication = stored_facts(row).medication
    return medication.codes if medication is not None else ()


# Posting at last


async def _repost(
    db: AsyncSession,
    row: FhirResource,
    caller: Caller,
    *,
    by: str,
    because: str,
    assigned_lot: Lot | None = None,
    kept_short: bool = False,
) -> None:
    """Post ``row`` now as its sender's record, at its original time; ``kept_short``: a
    balance too short for it keeps it unposted, for its lot, instead of refusing the request
    (one record among those a mapping settles)."""
    sender = await _sender_of(db, row)
    facts = stored_facts(row)
    as_sender = _as_sender(sender, facts.resource_type, caller)
    refs = await resolve.references(db, row.registrant_id, facts, sender.id)
    movement = movement_of(facts)
    try:
        async with db.begin_nested():
            await posting.post(db, row, movement, refs, sender, as_sender,
                               assigned_lot=assigned_lot, posted_because=because)  # fmt: skip
    except InsufficientStock as short:
        if not kept_short:
            raise
        held = records.Held(records.Unposted.lot_not_determined,
                            f"{short.detail}: assign the lot it was given from")  # fmt: skip
        await posting.hold(db, row, held, as_sender)
    await revise(db, row, posting.shown(row), by=by, at=caller.now)


async def _sender_of(db: AsyncSession, row: FhirResource) -> FhirSender:
    """The configuration the record was sent under (active or not now: it was then)."""
    sender = await db.scalar(select(FhirSender).filter_by(registrant_id=row.registrant_id,
                                                          subject=row.sender))  # fmt: skip
    assert sender is not None, "a stored record's sender is configured at its registrant"
    return sender


def _as_sender(sender: FhirSender, resource_type: str, caller: Caller) -> Caller:
    """The caller a record of ``sender`` posts in: the integration, holding for this record
    what sending it grants (whatever its configuration grants today), and nothing else."""
    scope = senders.SENDING_SCOPE[resource_type]
    rid = sender.registrant_id
    integration = Principal(
        subject=sender.subject, name=sender.subject, roles=frozenset({Role.integration}),
        registrant_ids=frozenset({rid}), scopes={rid: frozenset({scope})},
    ).acting_through(scope, rid)  # fmt: skip
    return dataclasses.replace(caller, principal=integration)
