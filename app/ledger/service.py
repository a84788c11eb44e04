"""Appending to the ledger: the one way stock moves, from any workflow or integration.

One append is a handful of statements in the caller's transaction: load and check references,
weigh the compliance rules (refuse an instruction, flag a record), change the balances by
conditional updates, then take the registrant's chain head (locked until commit), hash the
event onto it and insert the event with its postings.
"""

import uuid
from dataclasses import dataclass
from datetime import datetime, timedelta
from decimal import ROUND_HALF_EVEN, Decimal
from typing import Any

from sqlalchemy import bindparam, insert, select, update
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.catalog.models import Lot, Product
from app.core import outbox
from app.core.clock import Clock
from app.core.config import Settings
from app.core.db import dialect_insert, dialect_name, table_of
from app.core.errors import Conflict
from app.ledger import balances, chain, merkle_store, rules, transfers
from app.ledger.models import (
    GENESIS_HASH,
    ChainHead,
    LedgerEvent,
    Posting,
    WitnessConfirmation,
)
from app.ledger.references import (
    EventReferences,
    Preloaded,
    invalid,
    owned,
    owned_staff,
    preload,
    snapshot,
    staff_of_subject,
)
from app.ledger.schemas import EventCreate
from app.ledger.types import DIRECTIONS, PERMISSION_OF, AdjustDirection, Direction, EventType
from app.registry.models import Location, Patient, Registrant, Staff
from app.registry.service import get_registrant

_MG_QUANTUM = Decimal("0.001")
# Built once: a statement made per call costs more Python than its round trip (its cache key is
# recomputed and every value becomes a bound parameter object).
_INSERT_EVENT = insert(table_of(LedgerEvent))
_INSERT_POSTINGS = insert(table_of(Posting))
_ADVANCE_HEAD = (
    update(table_of(ChainHead))
    .where(ChainHead.registrant_id == bindparam("head_registrant_id"))
    .values(sequence=bindparam("new_sequence"), hash=bindparam("new_hash"))
)


class AlreadyReversed(Conflict):
    slug = "already-reversed"
    title = "Already reversed"
    description = "The event named by reverses_event_id has been reversed already."


@dataclass(frozen=True, slots=True)
class Context:
    """Who appends, when, under which settings."""

    principal: Principal
    now: datetime
    settings: Settings

    @classmethod
    def of(cls, principal: Principal, clock: Clock, settings: Settings) -> "Context":
        return cls(principal=principal, now=clock.now(), settings=settings)


async def append(session: AsyncSession, data: EventCreate, context: Context) -> dict[str, Any]:
    """Append one event; returns its row as a mapping of columns."""
    loaded = await _preload(session, data, context)
    registrant = await get_registrant(session, data.registrant_id, principal=context.principal)
    context.principal.require(PERMISSION_OF[data.type])
    if data.type is EventType.reversal:
        return await _append_reversal(session, data, registrant, context)
    refs = await _references(session, data, registrant, context, loaded.own_staff)
    row = _new_row(data, refs, context)
    changes = _changes(row, DIRECTIONS[data.type], data.adjust_direction)
    return await _write(session, row, changes)


async def _preload(session: AsyncSession, data: EventCreate, context: Context) -> Preloaded:
    """The caller's staff row, and what the checks read by id, in one round trip.

    Nothing is read for a registrant the caller cannot see: get_registrant refuses it next.
    """
    if not context.principal.sees(data.registrant_id):
        return Preloaded(())
    return await preload(
        session,
        registrant_id=data.registrant_id,
        location_id=data.location_id,
        to_location_id=data.to_location_id,
        lot_id=data.lot_id,
        patient_id=data.patient_id,
        subject=context.principal.subject,
    )


async def _references(
    session: AsyncSession,
    data: EventCreate,
    registrant: Registrant,
    context: Context,
    own_staff: Staff | None,
) -> EventReferences:
    rid = registrant.id
    assert data.location_id is not None
    assert data.lot_id is not None
    location = await owned(
        session, Location, data.location_id, registrant_id=rid, pointer="#/location_id"
    )
    to_location = None
    if data.to_location_id is not None:
        to_location = await owned(
            session, Location, data.to_location_id, registrant_id=rid, pointer="#/to_location_id"
        )
    lot = await owned(session, Lot, data.lot_id, registrant_id=rid, pointer="#/lot_id")
    product = await owned(session, Product, lot.product_id, registrant_id=rid, pointer="#/lot_id")
    patient = None
    if data.patient_id is not None:
        patient = await owned(
            session, Patient, data.patient_id, registrant_id=rid, pointer="#/patient_id"
        )
    return EventReferences(
        registrant=registrant, location=location, to_location=to_location, lot=lot,
        product=product, patient=patient,
        performer=await _performer(session, data, rid, context.principal, own_staff),
        witnesses=await owned_staff(session, data.witness_ids, registrant_id=rid,
                                    pointer="#/witness_ids"),
        counter=(
            (await owned_staff(session, [data.count.counted_by], registrant_id=rid,
                               pointer="#/count/counted_by"))[0]
            if data.count is not None else None
        ),
        sent_transfer=(
            await transfers.sent_to(session, data.transfer_event_id, receiver=registrant)
            if data.transfer_event_id is not None else None
        ),
    )  # fmt: skip


async def _performer(
    session: AsyncSession,
    data: EventCreate,
    registrant_id: uuid.UUID,
    principal: Principal,
    own_staff: Staff | None,
) -> Staff | None:
    """Integrations may name the performer; everyone else performs what they write."""
    if principal.is_integration and data.performed_by is not None:
        [staff] = await owned_staff(
            session, [data.performed_by], registrant_id=registrant_id, pointer="#/performed_by"
        )
        return staff
    return own_staff


def is_record(data: EventCreate, context: Context) -> bool:
    """A fact reported after it happened: from an integration, or entered late."""
    late = context.now - data.occurred_at > timedelta(
        hours=context.settings.late_entry_window_hours
    )
    return context.principal.is_integration or late


def _judge(data: EventCreate, refs: EventReferences, context: Context) -> list[str]:
    """The rules this event breaks; raises for an instruction that breaks one unexcused."""
    facts = rules.Facts(
        type=data.type,
        occurred_at=data.occurred_at,
        now=context.now,
        future_skew=timedelta(seconds=context.settings.future_skew_seconds),
        lot_expires_on=refs.lot.expires_on,
        registration_expires_on=refs.registrant.registration_expires_on,
        authorised_schedules=frozenset(refs.registrant.schedules),
        product_schedule=refs.product.schedule,
        performer_id=refs.performer.id if refs.performer else None,
        witness_ids=tuple(data.witness_ids),
        counterparty_dea_number=_counterparty(data, refs).get("dea_number"),
        quantity=data.quantity or Decimal(0),
        transfer_sent_quantity=refs.sent_transfer.quantity if refs.sent_transfer else None,
    )
    broken = rules.broken_rules(facts)
    if broken and not is_record(data, context) and data.override_reason is None:
        first = broken[0]
        raise rules.PROBLEMS[first](
            f"{first.value.replace('_', ' ')}: send override_reason to proceed anyway",
            extra={"broken_rules": [rule.value for rule in broken]},
        )
    return [rule.value for rule in broken]


def _details(data: EventCreate) -> dict[str, Any]:
    found: dict[str, Any] = {}
    if data.adjust_direction is not None:
        found["adjust_direction"] = data.adjust_direction.value
    for name in ("loss", "destruction", "count"):
        value = getattr(data, name)
        if value is not None:
            found[name] = value.model_dump(mode="json")
    return found


def _counterparty(data: EventCreate, refs: EventReferences) -> dict[str, Any]:
    """As given; for a transfer_in not given, the sender as its own event shows it."""
    if data.counterparty is not None:
        return data.counterparty.model_dump(mode="json")
    if refs.sent_transfer is not None:
        return transfers.sender_as_counterparty(refs.sent_transfer)
    return {}


def _new_row(data: EventCreate, refs: EventReferences, context: Context) -> dict[str, Any]:
    assert data.quantity is not None
    counterparty = _counterparty(data, refs) or None
    mg = (data.quantity * refs.product.strength_value).quantize(_MG_QUANTUM, ROUND_HALF_EVEN)
    return {
        "id": uuid.uuid4(),
        "registrant_id": refs.registrant.id,
        "type": data.type.value,
        "location_id": refs.location.id,
        "to_location_id": refs.to_location.id if refs.to_location else None,
        "product_id": refs.product.id,
        "lot_id": refs.lot.id,
        "quantity": data.quantity,
        "mg": mg,
        "occurred_at": data.occurred_at,
        "recorded_at": context.now,
        "performed_by": refs.performer.id if refs.performer else None,
        "witness_ids": [str(w) for w in data.witness_ids],
        "patient_id": data.patient_id,
        "session_id": data.session_id,
        "prescription_id": data.prescription_id,
        "batch_id": data.batch_id,
        "counterparty": counterparty,
        "document_reference": data.document_reference,
        "reason": data.reason,
        "details": _details(data),
        "reverses_event_id": None,
        "transfer_event_id": data.transfer_event_id,
        "is_record": is_record(data, context),
        "broken_rules": _judge(data, refs, context),
        "override_reason": data.override_reason,
        "principal_subject": context.principal.subject,
        "principal_name": context.principal.name,
        "snapshot": snapshot(refs, counterparty),
    }


def _changes(
    row: dict[str, Any], direction: Direction, adjust: AdjustDirection | None
) -> list[balances.Change]:
    def at(location_id: uuid.UUID, sign: int) -> balances.Change:
        return balances.Change(location_id, row["lot_id"], row["product_id"],
                               sign * row["quantity"])  # fmt: skip

    if direction is Direction.adds:
        return [at(row["location_id"], 1)]
    if direction is Direction.removes:
        return [at(row["location_id"], -1)]
    if direction is Direction.moves:
        return [at(row["location_id"], -1), at(row["to_location_id"], 1)]
    if direction is Direction.signed:
        return [at(row["location_id"], 1 if adjust is AdjustDirection.increase else -1)]
    return []


async def _append_reversal(
    session: AsyncSession, data: EventCreate, registrant: Registrant, context: Context
) -> dict[str, Any]:
    assert data.reverses_event_id is not None
    target = await session.get(LedgerEvent, data.reverses_event_id)
    if target is None or target.registrant_id != registrant.id:
        raise invalid("#/reverses_event_id", "ledger event")
    if target.type == EventType.reversal:
        raise invalid("#/reverses_event_id", "reversible event (a reversal is not)")
    if await session.scalar(
        select(LedgerEvent.id).where(LedgerEvent.reverses_event_id == target.id)
    ):
        raise AlreadyReversed(f"event {target.id} has been reversed already")
    postings = (await session.scalars(select(Posting).where(Posting.event_id == target.id))).all()
    row = _reversal_row(target, data, context)
    undo = [balances.Change(p.location_id, p.lot_id, p.product_id, -p.delta) for p in postings]
    return await _write(session, row, undo)


def _reversal_row(target: LedgerEvent, data: EventCreate, context: Context) -> dict[str, Any]:
    copied = ("registrant_id", "location_id", "to_location_id", "product_id", "lot_id",
              "quantity", "mg", "patient_id", "session_id", "prescription_id", "batch_id",
              "snapshot")  # fmt: skip
    return {
        **{name: getattr(target, name) for name in copied},
        "id": uuid.uuid4(),
        "type": EventType.reversal.value,
        "occurred_at": data.occurred_at,
        "recorded_at": context.now,
        "performed_by": None,
        "witness_ids": [],
        "counterparty": None,
        "document_reference": data.document_reference,
        "reason": data.reason,
        "details": {},
        "reverses_event_id": target.id,
        "transfer_event_id": None,
        "is_record": is_record(data, context),
        "broken_rules": [],
        "override_reason": None,
        "principal_subject": context.principal.subject,
        "principal_name": context.principal.name,
    }


async def _write(
    session: AsyncSession, row: dict[str, Any], changes: list[balances.Change]
) -> dict[str, Any]:
    await balances.apply(session, registrant_id=row["registrant_id"], changes=changes)
    head_sequence, head_hash = await _lock_head(session, row["registrant_id"])
    row["sequence"] = head_sequence + 1
    row["prev_hash"] = head_hash
    row["hash"] = chain.link(head_hash, chain.hashed_body(row))
    try:
        await session.execute(_INSERT_EVENT, row)
    except IntegrityError as exc:
        if row["reverses_event_id"] is not None:
            raise AlreadyReversed("the event has been reversed already") from exc
        if row["transfer_event_id"] is not None:
            raise transfers.AlreadyReceived("the transfer has been received already") from exc
        raise
    await _insert_postings(session, row, changes)
    await merkle_store.add_leaf(
        session,
        registrant_id=row["registrant_id"],
        index=row["sequence"] - 1,
        event_hash=row["hash"],
    )
    await session.execute(
        _ADVANCE_HEAD,
        {
            "head_registrant_id": row["registrant_id"],
            "new_sequence": row["sequence"],
            "new_hash": row["hash"],
        },
    )
    await outbox.publish(
        session,
        topic=outbox.LEDGER_EVENT_APPENDED,
        registrant_id=row["registrant_id"],
        payload={"event_id": str(row["id"]), "sequence": row["sequence"], "type": row["type"]},
        now=row["recorded_at"],
    )
    return row


def _lock_head_statement(dialect_insert_: Any) -> Any:
    insert_head = dialect_insert_(ChainHead).values(
        registrant_id=bindparam("head_registrant_id"), sequence=0, hash=GENESIS_HASH
    )
    return insert_head.on_conflict_do_update(
        index_elements=["registrant_id"], set_={"sequence": ChainHead.sequence}
    ).returning(ChainHead.sequence, ChainHead.hash)


_LOCK_HEAD = {"postgresql": _lock_head_statement(pg_insert),
              "sqlite": _lock_head_statement(sqlite_insert)}  # fmt: skip


async def _lock_head(session: AsyncSession, registrant_id: uuid.UUID) -> tuple[int, str]:
    """The registrant's chain head, locked until commit (SQLite: the write lock is held).

    One statement: the genesis head is inserted if there is none; otherwise the head is
    "updated" to itself, which locks it as ``SELECT ... FOR UPDATE`` would and returns it.
    """
    statement = _LOCK_HEAD[dialect_name(session)]
    head = (await session.execute(statement, {"head_registrant_id": registrant_id})).one()
    return int(head[0]), str(head[1])


async def _insert_postings(
    session: AsyncSession, row: dict[str, Any], changes: list[balances.Change]
) -> None:
    if not changes:
        return
    await session.execute(
        _INSERT_POSTINGS,
        [
            {
                "event_id": row["id"],
                "location_id": change.location_id,
                "registrant_id": row["registrant_id"],
                "lot_id": change.lot_id,
                "product_id": change.product_id,
                "delta": change.delta,
                "occurred_at": row["occurred_at"],
            }
            for change in changes
        ],
    )


class NotAWitness(Conflict):
    slug = "not-a-witness"
    title = "Not a witness of this event"
    description = "Only a staff member the event names as witness, by their own token, confirms."


async def confirm_witness(session: AsyncSession, event: LedgerEvent, context: Context) -> None:
    """The calling staff member confirms they witnessed ``event``."""
    staff = await staff_of_subject(
        session, registrant_id=event.registrant_id, subject=context.principal.subject
    )
    if staff is None or str(staff.id) not in event.witness_ids:
        raise NotAWitness("your token does not belong to a witness named by this event")
    if staff.id == event.performed_by:
        raise NotAWitness("the performer cannot witness their own event")
    await session.execute(
        dialect_insert(session)(WitnessConfirmation)
        .values(
            event_id=event.id,
            staff_id=staff.id,
            registrant_id=event.registrant_id,
            subject=context.principal.subject,
            confirmed_at=context.now,
        )
        .on_conflict_do_nothing(index_elements=["event_id", "staff_id"])
    )
