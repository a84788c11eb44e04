"""Taking an inventory: start it (its count sheet made from the ledger at its instant),
count its lots, have it witnessed where required, sign it (its counts then written through
the ledger, in the signature's transaction). docs/domain.md#inventory."""

import uuid
from collections.abc import Sequence
from dataclasses import dataclass
from datetime import timedelta
from decimal import Decimal
from typing import Any

from sqlalchemy import Select, case, func, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.caller import Caller
from app.auth.permissions import Permission
from app.auth.principal import Principal
from app.auth.tenancy import get_readable, within_registrants
from app.catalog.models import Lot, Product
from app.core.errors import InvalidInput
from app.core.outbox import publish
from app.core.quantity import format_quantity
from app.core.revisions import keep_version, revise
from app.core.tenancy import referenced
from app.ledger.inventories import rules, sheet
from app.ledger.inventories.models import Inventory, InventoryEntry
from app.ledger.inventories.schemas import EntryCount, InventoryCreate, InventoryState
from app.ledger.messages import INVENTORY_SIGNED
from app.ledger.models import WitnessConfirmation
from app.ledger.schemas import CountDetails, EventCreate
from app.ledger.service import append_batch
from app.ledger.types import EventType
from app.registry.enums import LocationKind
from app.registry.models import Location, Registrant, Staff
from app.registry.people import acting_staff, staff_of_subject
from app.registry.service import get_registrant

_NONE = Decimal(0)


async def start(session: AsyncSession, data: InventoryCreate, caller: Caller) -> Inventory:
    """An inventory of the registrant's locations as of ``data.as_of``, taken by the caller,
    with a line on its sheet for every lot the ledger held at each location then."""
    principal = caller.principal
    registrant = await get_registrant(session, data.registrant_id, principal=principal)
    principal.require(Permission.counts)
    if data.as_of > caller.now + timedelta(seconds=caller.settings.future_skew_seconds):
        raise InvalidInput.at("#/as_of", "an inventory is of an instant that has passed")
    taker = await _person(session, registrant.id, principal)
    locations = await _locations(session, registrant, data.location_ids)
    inventory = Inventory(
        registrant_id=registrant.id, kind=data.kind.value, as_of=data.as_of,
        taken_at=data.taken_at.value, location_ids=[str(place.id) for place in locations],
        state=InventoryState.open.value,
        exact_required=registrant.address.get("state")
        in caller.settings.inventory_exact_count_states,
        started_by=taker.id, created_by=principal.subject, created_at=caller.now,
        updated_at=caller.now,
    )  # fmt: skip
    session.add(inventory)
    await session.flush()
    await refresh_sheet(session, inventory, [])
    await keep_version(session, inventory, _version(inventory, "started"),
                       by=principal.subject, at=caller.now)  # fmt: skip
    return inventory


async def count(
    session: AsyncSession, inventory_id: uuid.UUID, data: EntryCount, caller: Caller
) -> tuple[Inventory, InventoryEntry]:
    """Record what was found of a lot at a location (again, if counted before: the last
    count stands). A lot the sheet lacks is added, with what the ledger held there."""
    inventory = await _open(session, inventory_id, caller.principal)
    rid = inventory.registrant_id
    counter = await _person(session, rid, caller.principal)
    location = await referenced(session, Location, data.location_id, registrant_id=rid,
                                pointer="#/location_id", what="location")  # fmt: skip
    if str(location.id) not in inventory.location_ids:
        raise InvalidInput.at("#/location_id", "a location this inventory counts")
    lot = await referenced(session, Lot, data.lot_id, registrant_id=rid, pointer="#/lot_id",
                           what="lot")  # fmt: skip
    product = await referenced(session, Product, lot.product_id, registrant_id=rid,
                               pointer="#/lot_id", what="product")  # fmt: skip
    rules.check_exactness(data.exactness, required=exact_required(inventory, product))
    entry = await session.scalar(
        select(InventoryEntry).where(InventoryEntry.inventory_id == inventory.id,
                                     InventoryEntry.location_id == location.id,
                                     InventoryEntry.lot_id == lot.id)
    )  # fmt: skip
    if entry is None:
        held = await sheet.held_at_place(session, (location.id, lot.id), inventory.as_of)
        entry = _entry(inventory, (location.id, lot.id), product.id, held)
        session.add(entry)
    entry.counted, entry.exactness = data.quantity, data.exactness.value
    entry.counted_by, entry.counted_at = counter.id, caller.now
    # A witness attests to the sheet as it stood when they signed: a changed count clears it.
    inventory.witness_id = inventory.witness_subject = inventory.witnessed_at = None
    await revise(session, inventory, _version(inventory, "counted", entry),
                 by=caller.principal.subject, at=caller.now)  # fmt: skip
    return inventory, entry


async def witness(session: AsyncSession, inventory_id: uuid.UUID, caller: Caller) -> Inventory:
    """The caller, a staff member other than whoever took it, co-signs the counted sheet."""
    inventory = await _open(session, inventory_id, caller.principal)
    staff = await staff_of_subject(session, registrant_id=inventory.registrant_id,
                                   subject=caller.principal.subject)  # fmt: skip
    if staff is None or caller.principal.is_integration:
        raise rules.InvalidWitness("your token is not an active staff member's here")
    if staff.id == inventory.started_by:
        raise rules.InvalidWitness("whoever took the inventory does not witness it")
    _all_counted(await refresh_sheet(session, inventory, await entries_of(session, inventory)))
    inventory.witness_id, inventory.witness_subject = staff.id, caller.principal.subject
    inventory.witnessed_at = caller.now
    await revise(session, inventory, _version(inventory, "witnessed"),
                 by=caller.principal.subject, at=caller.now)  # fmt: skip
    return inventory


async def void(
    session: AsyncSession, inventory_id: uuid.UUID, reason: str, caller: Caller
) -> Inventory:
    """Abandon an open inventory started in error, saying why: whoever took it, or a
    compliance officer. It is kept, with every count, and nothing of it reaches the ledger."""
    inventory = await _open(session, inventory_id, caller.principal)
    if not caller.principal.can(Permission.adjust_reverse_resolve):
        voider = await _person(session, inventory.registrant_id, caller.principal)
        if voider.id != inventory.started_by:
            raise rules.NotTheTaker("whoever took the inventory, or a compliance officer, "
                                    "voids it")  # fmt: skip
    inventory.state = InventoryState.voided.value
    inventory.voided_by, inventory.voided_at = caller.principal.subject, caller.now
    inventory.void_reason = reason
    await revise(session, inventory, _version(inventory, "voided"),
                 by=caller.principal.subject, at=caller.now)  # fmt: skip
    return inventory


async def sign(session: AsyncSession, inventory_id: uuid.UUID, caller: Caller) -> Inventory:
    """Whoever took the inventory signs it: every lot counted, witnessed where required; each
    count is then appended to the ledger as a ``count`` event at the inventory's instant, in
    this transaction, for reconciliation to weigh against the ledger (count_variance)."""
    inventory = await _open(session, inventory_id, caller.principal)
    signer = await _person(session, inventory.registrant_id, caller.principal)
    if signer.id != inventory.started_by:
        raise rules.NotTheTaker("the inventory is signed by the staff member who started it")
    entries = await refresh_sheet(session, inventory, await entries_of(session, inventory))
    _all_counted(entries)
    always = caller.settings.inventory_witness_required
    if rules.witness_required(entries, always=always) and inventory.witnessed_at is None:
        raise rules.WitnessRequired("a witness signs this inventory first")
    await _write_counts(session, inventory, entries, caller)
    inventory.state = InventoryState.signed.value
    inventory.signed_by, inventory.signed_at = signer.id, caller.now
    await revise(session, inventory, _version(inventory, "signed"),
                 by=caller.principal.subject, at=caller.now)  # fmt: skip
    await publish(session, topic=INVENTORY_SIGNED, now=caller.now,
                  registrant_id=inventory.registrant_id,
                  payload={"inventory_id": str(inventory.id),
                           "registrant_id": str(inventory.registrant_id),
                           "kind": inventory.kind, "as_of": inventory.as_of.isoformat(),
                           "event_ids": [str(entry.event_id) for entry in entries]})  # fmt: skip
    return inventory


async def _write_counts(
    session: AsyncSession, inventory: Inventory, entries: Sequence[InventoryEntry], caller: Caller
) -> None:
    """One count event per entry, appended through the ledger's one path, as the signer's;
    a witness's signature becomes their confirmation of each."""
    witnesses = [inventory.witness_id] if inventory.witness_id else []
    events = [
        EventCreate(
            registrant_id=inventory.registrant_id, type=EventType.count,
            location_id=entry.location_id, lot_id=entry.lot_id, quantity=entry.counted,
            occurred_at=inventory.as_of, witness_ids=witnesses,
            count=CountDetails(inventory_id=inventory.id, inventory_kind=inventory.kind,
                               taken_at=inventory.taken_at, exactness=entry.exactness,
                               counted_by=entry.counted_by),
        )
        for entry in entries
    ]  # fmt: skip
    if not events:
        return
    written = await append_batch(session, events, caller)
    for entry, row in zip(entries, written, strict=True):
        entry.event_id = row["id"]
    if inventory.witness_id is not None and inventory.witness_subject is not None:
        session.add_all(
            WitnessConfirmation(event_id=row["id"], staff_id=inventory.witness_id,
                                registrant_id=inventory.registrant_id,
                                subject=inventory.witness_subject,
                                confirmed_at=inventory.witnessed_at)
            for row in written
        )  # fmt: skip


async def refresh_sheet(
    session: AsyncSession, inventory: Inventory, entries: Sequence[InventoryEntry]
) -> list[InventoryEntry]:
    """The sheet made good against the ledger at the inventory's instant: a line added for
    each place that held stock then and has none, and what each held read again (an entry
    made late may have changed it)."""
    locations = [uuid.UUID(location) for location in inventory.location_ids]
    held = await sheet.held_at(session, inventory.registrant_id, locations, inventory.as_of)
    found = list(entries)
    for entry in found:
        entry.ledger_quantity = held.pop((entry.location_id, entry.lot_id), (None, _NONE))[1]
    added = [_entry(inventory, place, product, quantity)
             for place, (product, quantity) in held.items()]  # fmt: skip
    session.add_all(added)
    await session.flush()
    return found + added


def _entry(
    inventory: Inventory, place: sheet.Place, product_id: uuid.UUID, held: Decimal
) -> InventoryEntry:
    location, lot = place
    return InventoryEntry(inventory_id=inventory.id, registrant_id=inventory.registrant_id,
                          location_id=location, lot_id=lot, product_id=product_id,
                          ledger_quantity=held)  # fmt: skip


def _version(
    inventory: Inventory, step: str, entry: InventoryEntry | None = None
) -> dict[str, Any]:
    """What a version of an inventory keeps: the step taken, its state and signatures, and
    the line a count set (the sheet's other lines are the versions before)."""
    kept: dict[str, Any] = {
        "step": step, "state": inventory.state, "kind": inventory.kind,
        "as_of": inventory.as_of.isoformat(), "taken_at": inventory.taken_at,
        "location_ids": inventory.location_ids, "started_by": str(inventory.started_by),
        "witness_id": _text(inventory.witness_id), "signed_by": _text(inventory.signed_by),
    }  # fmt: skip
    if inventory.void_reason is not None:
        kept["void_reason"] = inventory.void_reason
    if entry is not None:
        kept["entry"] = {
            "location_id": str(entry.location_id), "lot_id": str(entry.lot_id),
            "ledger_quantity": format_quantity(entry.ledger_quantity),
            "counted": format_quantity(entry.counted) if entry.counted is not None else None,
            "exactness": entry.exactness, "counted_by": _text(entry.counted_by),
        }  # fmt: skip
    return kept


def _text(value: uuid.UUID | None) -> str | None:
    return None if value is None else str(value)


def _all_counted(entries: Sequence[InventoryEntry]) -> None:
    missing = rules.uncounted(entries)
    if missing:
        raise rules.InventoryUncounted(
            f"{len(missing)} lot(s) on the count sheet not yet counted",
            extra={"uncounted": [{"location_id": str(e.location_id), "lot_id": str(e.lot_id)}
                                 for e in missing]},
        )  # fmt: skip


def exact_required(inventory: Inventory, product: Product) -> bool:
    return rules.exact_required(state_requires=inventory.exact_required,
                                schedule=product.schedule,
                                inventory_unit=product.inventory_unit,
                                package_size=product.package_size)  # fmt: skip


async def _open(session: AsyncSession, inventory_id: uuid.UUID, principal: Principal) -> Inventory:
    """The inventory, locked, while it may still change."""
    inventory = await get_readable(session, Inventory, inventory_id, principal,
                                   what="inventory", lock=True)  # fmt: skip
    principal.require(Permission.counts)
    if inventory.state == InventoryState.signed.value:
        raise rules.InventoryNotOpen("the inventory is signed")
    if inventory.state == InventoryState.voided.value:
        raise rules.InventoryVoided(f"the inventory was voided: {inventory.void_reason}")
    return inventory


async def _person(session: AsyncSession, registrant_id: uuid.UUID, principal: Principal) -> Staff:
    """The caller's own staff row: an inventory is taken, counted and signed by people."""
    if principal.is_integration:
        raise rules.NotTheTaker("an inventory is taken, counted and signed by staff members")
    return await acting_staff(session, registrant_id=registrant_id, named=None,
                              principal=principal, pointer="#/")  # fmt: skip


async def storage_locations(session: AsyncSession, registrant: Registrant) -> list[Location]:
    """What an inventory counts unless told otherwise, by name."""
    return await _locations(session, registrant, None)


async def _locations(
    session: AsyncSession, registrant: Registrant, named: Sequence[uuid.UUID] | None
) -> list[Location]:
    """The locations named (each a storage location of the registrant), else every active
    one. A session's holding is counted through its session, never by an inventory."""
    if named is None:
        statement = select(Location).where(
            Location.registrant_id == registrant.id, Location.active,
            Location.kind != LocationKind.in_use.value,
        ).order_by(Location.name)  # fmt: skip
        return list(await session.scalars(statement))
    found = []
    for index, location_id in enumerate(dict.fromkeys(named)):
        pointer = f"#/location_ids/{index}"
        location = await referenced(session, Location, location_id, registrant_id=registrant.id,
                                    pointer=pointer, what="location")  # fmt: skip
        if location.kind == LocationKind.in_use.value:
            raise InvalidInput.at(pointer, "a storage location, not a session's holding")
        found.append(location)
    return found


async def get(session: AsyncSession, inventory_id: uuid.UUID, principal: Principal) -> Inventory:
    inventory = await get_readable(session, Inventory, inventory_id, principal, what="inventory")
    principal.require(Permission.counts)
    return inventory


async def entries_of(session: AsyncSession, inventory: Inventory) -> list[InventoryEntry]:
    statement = select(InventoryEntry).where(InventoryEntry.inventory_id == inventory.id)
    return list(await session.scalars(statement))


def inventories_query(
    principal: Principal, *, registrant_id: uuid.UUID | None, state: InventoryState | None
) -> Select[Inventory]:
    principal.require(Permission.counts)
    statement = within_registrants(select(Inventory), Inventory.registrant_id, principal,
                                   registrant_id)  # fmt: skip
    return statement if state is None else statement.where(Inventory.state == state.value)


@dataclass(frozen=True, slots=True)
class Tally:
    """What a list shows of each inventory's sheet without its lines."""

    uncounted: int = 0
    varied: int = 0
    """Lines counted other than the ledger held."""


async def tallies(session: AsyncSession, ids: Sequence[uuid.UUID]) -> dict[uuid.UUID, Tally]:
    if not ids:
        return {}
    entry = InventoryEntry
    rows = await session.execute(
        select(entry.inventory_id,
               func.count(case((entry.counted.is_(None), 1))),
               func.count(case((entry.counted != entry.ledger_quantity, 1))))
        .where(entry.inventory_id.in_(ids))
        .group_by(entry.inventory_id)
    )  # fmt: skip
    return {inventory_id: Tally(uncounted, varied) for inventory_id, uncounted, varied in rows}


async def products_of(session: AsyncSession, entries: Sequence[InventoryEntry]) -> list[Product]:
    wanted = {entry.product_id for entry in entries}
    if not wanted:
        return []
    return list(await session.scalars(select(Product).where(Product.id.in_(wanted))))
