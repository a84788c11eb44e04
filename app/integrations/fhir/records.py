"""What a received resource becomes: ledger movements made through the workflows that own
them, as records (an integration's writes are records, stored with the rules they break:
docs/adr/0007-instructions-and-records.md). An administration naming a session is that session's
administration; any other draws from the sender's location and is flagged unless a withdrawal
into it matches. A dispense is its prescription's fill when the identifiers match, else a
dispense flagged as unmatched. Entered in error, whatever it made is reversed in the ledger."""

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog.models import Lot, Product
from app.clinical.sessions import steps
from app.clinical.sessions.models import SessionAdministration, TreatmentSession
from app.clinical.sessions.schemas import AdministrationCreate
from app.clinical.sessions.service import UNDER_WAY, Status
from app.integrations.fhir.mapping import Movement
from app.integrations.fhir.models import FhirResource, FhirSender
from app.integrations.fhir.outcome import FhirRefusal, FhirUnknownReference
from app.integrations.fhir.parsing import ADMINISTRATION
from app.integrations.fhir.resolve import COUNTED_UNITS, References, inventory_quantity
from app.ledger import service as ledger
from app.ledger.models import LedgerEvent
from app.ledger.queries import was_reversed
from app.ledger.schemas import EventCreate
from app.ledger.types import EventType
from app.pharmacy.prescriptions import service as prescriptions
from app.pharmacy.prescriptions.models import Prescription
from app.pharmacy.prescriptions.schemas import FillCreate
from app.registry.models import Patient, Staff


class MappingRule(StrEnum):
    no_matching_withdrawal = "no_matching_withdrawal"
    """An administration outside a session with no withdrawal of its lot into the sender's
    location within ``fhir_withdrawal_window_hours`` before it."""
    no_matching_prescription = "no_matching_prescription"
    """A dispense naming no prescription the pharmacy has."""
    prescription_mismatch = "prescription_mismatch"
    """A dispense naming a prescription of another patient or product."""
    entered_in_error = "entered_in_error"
    """The sender withdrew a resource that had moved stock: its movements were reversed."""
    session_not_under_way = "session_not_under_way"
    """An administration naming a session not under way (charted after its discharge, in an
    aborted session, or before it began): stored without moving stock (the session's holding
    is closed or empty), for a compliance officer to reconcile with the session."""
    status_withdrawn = "status_withdrawn"
    """A resource that moved stock now says it did not happen (not-done, stopped, cancelled,
    declined, on-hold): the movement stays, and a compliance officer decides."""


@dataclass(frozen=True, slots=True)
class Parts:
    """What a movement names, all found."""

    patient: Patient
    performer: Staff
    product: Product
    lot: Lot


def _parts(refs: References) -> Parts:
    assert refs.performer is not None, "movement_of requires a performer"
    assert refs.product is not None, "movement_of requires a medication"
    assert refs.lot is not None, "movement_of requires a lot"
    return Parts(refs.patient, refs.performer, refs.product, refs.lot)


@dataclass(slots=True)
class Made:
    event_ids: list[uuid.UUID]
    staff_ids: list[uuid.UUID]
    broken_rules: list[MappingRule] = field(default_factory=list)
    session_id: uuid.UUID | None = None
    session_administration_ids: list[uuid.UUID] = field(default_factory=list)
    prescription_id: uuid.UUID | None = None
    fill_id: uuid.UUID | None = None


async def move_stock(
    db: AsyncSession,
    movement: Movement,
    refs: References,
    sender: FhirSender,
    context: ledger.Context,
) -> Made:
    parts = _parts(refs)
    facts = movement.facts
    amount_at = facts.at("dosage.dose" if facts.resource_type == ADMINISTRATION else "quantity")
    quantity = inventory_quantity(movement.amount, parts.product, amount_at)
    if facts.resource_type != ADMINISTRATION:
        return await _dispense(db, movement, parts, quantity, sender, context)
    if facts.session_id is not None:
        return await _in_session(db, movement, parts, quantity, context)
    return await _from_location(db, movement, parts, quantity, sender, context)


# Administrations


async def _in_session(
    db: AsyncSession,
    movement: Movement,
    parts: Parts,
    quantity: Decimal,
    context: ledger.Context,
) -> Made:
    facts = movement.facts
    assert facts.session_id is not None
    ts = await db.get(TreatmentSession, facts.session_id)
    if ts is None or ts.registrant_id != parts.patient.registrant_id:
        raise FhirUnknownReference.at("not-found", "no such session at this registrant",
                                      facts.at("context.identifier"))  # fmt: skip
    if ts.patient_id != parts.patient.id:
        raise FhirRefusal.at("business-rule", "the session is another patient's",
                             facts.at("context.identifier"))  # fmt: skip
    if Status(ts.status) not in UNDER_WAY:  # a record is stored, never refused
        return Made([], [parts.performer.id], [MappingRule.session_not_under_way], session_id=ts.id)
    counted = parts.product.inventory_unit in COUNTED_UNITS
    if not counted and facts.ended_at is None:
        raise FhirRefusal.at("required", "an infusion is recorded with its end",
                             facts.at("effectivePeriod.end"))  # fmt: skip
    event_ids = []
    for dose, started, ended in _doses(quantity, counted, movement.occurred_at, facts.ended_at):
        data = AdministrationCreate(lot_id=parts.lot.id, quantity=dose, started_at=started,
                                    ended_at=ended, performed_by=parts.performer.id)  # fmt: skip
        _ts, row = await steps.administer(db, ts.id, data, context)
        event_ids.append(row["id"])
    given = await db.scalars(
        select(SessionAdministration.id).where(SessionAdministration.event_id.in_(event_ids))
    )
    return Made(event_ids, [parts.performer.id], session_id=ts.id,
                session_administration_ids=list(given))  # fmt: skip


def _doses(
    quantity: Decimal, counted: bool, started: datetime, ended: datetime | None
) -> list[tuple[Decimal, datetime, datetime | None]]:
    """An infusion is one administration; a dose of devices is one per device, spread evenly
    over the period given (all at its start without one: the interval rule then judges it)."""
    if not counted:
        return [(quantity, started, ended)]
    devices = int(quantity)
    step = (ended - started) / (devices - 1) if ended and devices > 1 else timedelta(0)
    return [(Decimal(1), started + index * step, None) for index in range(devices)]


async def _from_location(
    db: AsyncSession,
    movement: Movement,
    parts: Parts,
    quantity: Decimal,
    sender: FhirSender,
    context: ledger.Context,
) -> Made:
    event = EventCreate(
        registrant_id=sender.registrant_id, type=EventType.administer,
        location_id=sender.location_id, lot_id=parts.lot.id, quantity=quantity,
        occurred_at=movement.occurred_at, performed_by=parts.performer.id,
        patient_id=parts.patient.id,
    )  # fmt: skip
    row = await ledger.append(db, event, context)
    window = timedelta(hours=context.settings.fhir_withdrawal_window_hours)
    withdrawn = await db.scalar(
        select(LedgerEvent.id).where(
            LedgerEvent.registrant_id == sender.registrant_id,
            LedgerEvent.type == EventType.move, LedgerEvent.to_location_id == sender.location_id,
            LedgerEvent.lot_id == parts.lot.id,
            LedgerEvent.occurred_at.between(movement.occurred_at - window, movement.occurred_at),
            ~was_reversed(LedgerEvent.id),
        ).limit(1)
    )  # fmt: skip
    broken = [] if withdrawn else [MappingRule.no_matching_withdrawal]
    return Made([row["id"]], [parts.performer.id], broken)


# Dispenses


async def _dispense(
    db: AsyncSession,
    movement: Movement,
    parts: Parts,
    quantity: Decimal,
    sender: FhirSender,
    context: ledger.Context,
) -> Made:
    rx = await _prescription(db, sender.registrant_id, movement.facts.prescription_numbers)
    if rx is not None and _same_patient_and_product(rx, parts.patient.id, parts.product):
        data = FillCreate(
            lot_id=parts.lot.id, location_id=sender.location_id, quantity=quantity,
            filled_at=movement.occurred_at, dispensed_by=parts.performer.id,
        )  # fmt: skip
        _rx, made = await prescriptions.fill(db, rx.id, data, context)
        return Made([made.event_id], [parts.performer.id], prescription_id=rx.id, fill_id=made.id)
    event = EventCreate(
        registrant_id=sender.registrant_id, type=EventType.dispense,
        location_id=sender.location_id, lot_id=parts.lot.id, quantity=quantity,
        occurred_at=movement.occurred_at, performed_by=parts.performer.id,
        patient_id=parts.patient.id,
        document_reference=next(iter(movement.facts.prescription_numbers), None),
    )  # fmt: skip
    row = await ledger.append(db, event, context)
    rule = MappingRule.prescription_mismatch if rx else MappingRule.no_matching_prescription
    return Made([row["id"]], [parts.performer.id], [rule])


async def _prescription(
    db: AsyncSession, registrant_id: uuid.UUID, numbers: tuple[str, ...]
) -> Prescription | None:
    """The pharmacy's prescription whose Rx number or e-prescription id is named."""
    if not numbers:
        return None
    return await db.scalar(
        select(Prescription).where(
            Prescription.registrant_id == registrant_id,
            or_(Prescription.rx_number.in_(numbers), Prescription.external_rx_id.in_(numbers)),
        ).order_by(Prescription.created_at).limit(1)
    )  # fmt: skip


def _same_patient_and_product(rx: Prescription, patient_id: uuid.UUID, product: Product) -> bool:
    return rx.patient_id == patient_id and rx.product_id == product.id


# Entered in error


async def reverse(db: AsyncSession, row: FhirResource, context: ledger.Context) -> list[uuid.UUID]:
    """Reverse the movements ``row`` made that nothing reversed yet; returns the reversals."""
    made = [uuid.UUID(event_id) for event_id in row.event_ids]
    reversed_already = set(await db.scalars(
        select(LedgerEvent.reverses_event_id).where(LedgerEvent.reverses_event_id.in_(made))
    ))  # fmt: skip
    reason = f"{row.resource_type} {row.identifier_system}|{row.identifier_value} entered in error"
    reversals = []
    for event_id in made:
        if event_id in reversed_already:
            continue
        event = EventCreate(registrant_id=row.registrant_id, type=EventType.reversal,
                            reverses_event_id=event_id, reason=reason[:2000],
                            occurred_at=context.now)  # fmt: skip
        reversals.append((await ledger.append(db, event, context))["id"])
    return reversals
