"""What a session shows: its ledger events, where the withdrawn stock went (in mg), its
administrations and vitals, and for esketamine the Patient Monitoring Form's data."""

import uuid
from collections.abc import Iterable, Sequence
from dataclasses import dataclass
from datetime import datetime
from decimal import Decimal

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.principal import Principal
from app.catalog.models import Lot, Product
from app.catalog.names import Names
from app.clinical.schemas import Modality
from app.clinical.sessions import rules, schemas, service
from app.clinical.sessions.models import SessionAdministration, SessionVitals, TreatmentSession
from app.clinical.sessions.monitoring import monitoring_form
from app.core.quantity import rounded
from app.ledger.models import Balance, LedgerEvent
from app.ledger.queries import confirmations_of, was_reversed, witness_status
from app.ledger.types import EventType
from app.registry.models import Registrant

ZERO = Decimal(0)
_SIDE_OF: dict[EventType, str] = {
    EventType.move: "withdrawn_mg",
    EventType.administer: "administered_mg",
    EventType.waste: "wasted_mg",
    EventType.return_to_stock: "returned_mg",
}
"""Which column of the accounting each of a session's events adds to (its moves are all
withdrawals into the holding)."""


async def holding_on_hand_mg(db: AsyncSession, holding_id: uuid.UUID) -> Decimal:
    """What is in the holding now, in mg, from the ledger's balances."""
    return (await _holdings_on_hand_mg(db, [holding_id])).get(holding_id, ZERO)


async def administrations_of(
    db: AsyncSession, session_id: uuid.UUID, *, reversed_too: bool = True
) -> list[SessionAdministration]:
    """The session's administrations in order; without those the ledger has reversed (given
    in error), unless ``reversed_too``."""
    return (await administrations_of_sessions(db, [session_id], reversed_too=reversed_too))[
        session_id
    ]


async def administrations_of_sessions(
    db: AsyncSession, session_ids: Sequence[uuid.UUID], *, reversed_too: bool = True
) -> dict[uuid.UUID, list[SessionAdministration]]:
    """:func:`administrations_of` for many sessions in one query."""
    statement = (
        select(SessionAdministration)
        .where(SessionAdministration.session_id.in_(session_ids))
        .order_by(SessionAdministration.started_at)
    )
    if not reversed_too:
        statement = statement.where(~was_reversed(SessionAdministration.event_id))
    found: dict[uuid.UUID, list[SessionAdministration]] = {i: [] for i in session_ids}
    for administration in await db.scalars(statement):
        found[administration.session_id].append(administration)
    return found


async def vitals_of(db: AsyncSession, session_id: uuid.UUID) -> list[SessionVitals]:
    return (await vitals_of_sessions(db, [session_id]))[session_id]


async def vitals_of_sessions(
    db: AsyncSession, session_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, list[SessionVitals]]:
    statement = (
        select(SessionVitals)
        .where(SessionVitals.session_id.in_(session_ids))
        .order_by(SessionVitals.measured_at)
    )
    found: dict[uuid.UUID, list[SessionVitals]] = {i: [] for i in session_ids}
    for vitals in await db.scalars(statement):
        found[vitals.session_id].append(vitals)
    return found


async def lot_numbers(db: AsyncSession, lot_ids: set[uuid.UUID]) -> dict[uuid.UUID, str]:
    rows = await db.execute(select(Lot.id, Lot.lot_number).where(Lot.id.in_(lot_ids)))
    return {lot_id: number for lot_id, number in rows}


def reading(vitals: SessionVitals) -> rules.Reading:
    pressure = rules.BloodPressure(vitals.systolic_mmhg, vitals.diastolic_mmhg)
    return rules.Reading(vitals.measured_at, vitals.moment, pressure)


async def session_out(
    db: AsyncSession, ts: TreatmentSession, principal: Principal
) -> schemas.SessionOut:
    """The session as ``principal`` reads it (a patient's name only if it may read patients)."""
    events = list(
        await db.scalars(
            select(LedgerEvent)
            .where(LedgerEvent.session_id == ts.id)
            .order_by(LedgerEvent.sequence)
        )
    )
    confirmed = await confirmations_of(db, [e.id for e in events])
    administrations = await administrations_of(db, ts.id)
    vitals = await vitals_of(db, ts.id)
    on_hand = await holding_on_hand_mg(db, ts.holding_location_id)
    form = None
    if ts.modality == Modality.esketamine_nasal:
        given = await administrations_of(db, ts.id, reversed_too=False)
        registrant = await db.get(Registrant, ts.registrant_id)
        assert registrant is not None
        lots = await lot_numbers(db, {a.lot_id for a in given})
        form = monitoring_form(ts, registrant, given, [reading(v) for v in vitals], lots)
    names = await _names(db, principal, [ts], lots=(e.lot_id for e in events),
                         performers=(e.performed_by for e in events))  # fmt: skip
    return schemas.SessionOut(
        **dict(_listed(ts, names)),
        accounting=accounting(events, on_hand),
        events=[event_out(e, confirmed[e.id], names) for e in events],
        administrations=[schemas.AdministrationOut.model_validate(a) for a in administrations],
        vitals=[schemas.VitalsOut.model_validate(v) for v in vitals],
        monitoring_form=form,
    )


async def sessions_listed(
    db: AsyncSession, principal: Principal, found: Sequence[TreatmentSession]
) -> list[schemas.SessionListedOut]:
    """A page of sessions, each with the names of its room, patient and staff."""
    names = await _names(db, principal, found)
    return [_listed(ts, names) for ts in found]


async def _names(
    db: AsyncSession,
    principal: Principal,
    found: Sequence[TreatmentSession],
    *,
    lots: Iterable[uuid.UUID] = (),
    performers: Iterable[uuid.UUID | None] = (),
) -> Names:
    return await Names.load(
        db, principal, locations=(ts.location_id for ts in found),
        patients=(ts.patient_id for ts in found), lots=lots,
        staff=[*(uuid.UUID(s) for ts in found for s in ts.staff_ids), *performers,
               *(uuid.UUID(e[key]) for ts in found for e in ts.broken_rules
                 for key in _PEOPLE if e.get(key))],
    )  # fmt: skip


_PEOPLE = {"performer_id": "performer", "authorizer_id": "authorizer"}
"""The staff a ``broken_rules`` entry names by id (who took the step, who authorized it), and
where each one's name goes."""


def _listed(ts: TreatmentSession, names: Names) -> schemas.SessionListedOut:
    staff = [names.staff[uuid.UUID(s)] for s in ts.staff_ids if uuid.UUID(s) in names.staff]
    record = schemas.SessionRecordOut.model_validate(ts)
    broken = [_named(entry, names) for entry in record.broken_rules]
    return schemas.SessionListedOut(
        **record.model_dump(exclude={"broken_rules"}), broken_rules=broken,
        room=names.locations.get(ts.location_id), patient=names.patients.get(ts.patient_id),
        staff=staff,
    )  # fmt: skip


def _named(entry: schemas.BrokenRuleOut, names: Names) -> schemas.BrokenRuleOut:
    """The entry with the names of who took the step and who authorized it."""
    named = {name: names.staff.get(staff_id) for key, name in _PEOPLE.items()
             if (staff_id := getattr(entry, key)) is not None}  # fmt: skip
    return entry.model_copy(update=named)


def event_out(
    event: LedgerEvent, confirmed: list[uuid.UUID], names: Names
) -> schemas.SessionEventOut:
    return schemas.SessionEventOut(
        id=event.id, type=event.type, lot_id=event.lot_id, quantity=event.quantity, mg=event.mg,
        occurred_at=event.occurred_at, performed_by=event.performed_by,
        witness_ids=[uuid.UUID(w) for w in event.witness_ids],
        witness_status=witness_status(event.witness_ids, confirmed),
        reverses_event_id=event.reverses_event_id, broken_rules=event.broken_rules,
        lot=names.lots.get(event.lot_id),
        performer=names.staff.get(event.performed_by) if event.performed_by else None,
    )  # fmt: skip


def accounting(events: Sequence[LedgerEvent], on_hand_mg: Decimal) -> schemas.AccountingOut:
    """Withdrawn against administered, wasted, returned and still on hand, in mg; an event
    reversed (and its reversal) counts for nothing."""
    reversed_ids = {e.reverses_event_id for e in events if e.reverses_event_id is not None}
    totals = dict.fromkeys(_SIDE_OF.values(), Decimal(0))
    for event in events:
        side = _SIDE_OF.get(EventType(event.type))
        if side is not None and event.id not in reversed_ids:
            totals[side] += event.mg
    accounted = totals["administered_mg"] + totals["wasted_mg"] + totals["returned_mg"] + on_hand_mg
    return schemas.AccountingOut(
        **totals, on_hand_mg=on_hand_mg, balanced=totals["withdrawn_mg"] == accounted
    )


@dataclass(frozen=True, slots=True)
class DaySession:
    """A session of a day's list, with where what it withdrew went (does it balance?)."""

    session: schemas.SessionListedOut
    accounting: schemas.AccountingOut


async def sessions_between(
    db: AsyncSession,
    principal: Principal,
    registrant_id: uuid.UUID,
    start: datetime,
    end: datetime,
) -> list[DaySession]:
    """The registrant's sessions scheduled from ``start`` up to ``end``, in order, each named
    and accounted for: a handful of queries for the whole list, none per session."""
    found = list(await db.scalars(
        service.sessions_query(principal, registrant_id=registrant_id, patient_id=None,
                               plan_id=None, status=None)
        .where(TreatmentSession.scheduled_at >= start, TreatmentSession.scheduled_at < end)
        .order_by(TreatmentSession.scheduled_at, TreatmentSession.id)
    ))  # fmt: skip
    if not found:
        return []
    events = await db.scalars(
        select(LedgerEvent).where(LedgerEvent.session_id.in_([ts.id for ts in found]))
    )
    by_session: dict[uuid.UUID, list[LedgerEvent]] = {ts.id: [] for ts in found}
    for event in events:
        by_session[event.session_id].append(event)  # type: ignore[index]
    held = await _holdings_on_hand_mg(db, [ts.holding_location_id for ts in found])
    listed = await sessions_listed(db, principal, found)
    return [
        DaySession(shown, accounting(by_session[ts.id], held.get(ts.holding_location_id, ZERO)))
        for ts, shown in zip(found, listed, strict=True)
    ]


async def _holdings_on_hand_mg(
    db: AsyncSession, holding_ids: Sequence[uuid.UUID]
) -> dict[uuid.UUID, Decimal]:
    """:func:`holding_on_hand_mg` of many holdings in one query."""
    rows = await db.execute(
        select(Balance.location_id, Balance.quantity, Product.strength_value)
        .join(Product, Product.id == Balance.product_id)
        .where(Balance.location_id.in_(holding_ids))
    )
    held: dict[uuid.UUID, Decimal] = {}
    for location_id, quantity, strength in rows:
        held[location_id] = held.get(location_id, ZERO) + quantity * strength
    return {location_id: rounded(mg) for location_id, mg in held.items()}
