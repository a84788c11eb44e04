"""What a received resource becomes: ledger movements made through the workflows that own
them, as records (an integration's writes are records, stored with the rules they break:
docs/adr/0007-instructions-and-records.md). An administration naming a session is that session's
administration; any other draws from the sender's location and is flagged unless a withdrawal
into it matches. A dispense is its prescription's fill when the identifiers match, else a
dispense flagged as unmatched. Entered in error, whatever it made is reversed in the ledger.

A record is never lost for want of a detail: one whose product or lot cannot be told is kept
unposted (:class:`Held`) until a compliance officer maps the sender's code or assigns the lot;
a lot the resource does not name is told by the stock on hand when exactly one lot of the
product is there."""

import uuid
from dataclasses import dataclass, field
from datetime import datetime, timedelta
from decimal import Decimal
from enum import StrEnum

from sqlalchemy import or_, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.caller import Caller
from app.catalog.models import Lot, Product
from app.clinical.sessions import steps
from app.clinical.sessions.models import SessionAdministration, TreatmentSession
from app.clinical.sessions.schemas import AdministrationCreate
from app.clinical.sessions.service import UNDER_WAY, Status
from app.core.tenancy import find
from app.integrations.fhir.mapping import Facts, Movement
from app.integrations.fhir.models import FhirResource, FhirSender
from app.integrations.fhir.outcome import FhirRefusal, FhirUnknownReference
from app.integrations.fhir.parsing import ADMINISTRATION
from app.integrations.fhir.resolve import COUNTED_UNITS, References, inventory_quantity
from app.ledger import service as ledger
from app.ledger.models import Balance, LedgerEvent
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


class Unposted(StrEnum):
    """Why a record that says stock moved has not moved it (yet)."""

    lot_not_determined = "lot_not_determined"
    """It names no lot and more (or fewer) than one lot of its product is on hand where it
    draws from, or it names a lot its product does not have."""
    product_not_mapped = "product_not_mapped"
    """Its medication codes name no product of the registrant, directly or by the sender's
    code mappings."""


class LotSource(StrEnum):
    """Who told the lot a record moved."""

    resource = "resource"
    stock_on_hand = "stock_on_hand"
    """The resource named none; the only lot of its product on hand there was taken."""
    officer = "officer"


@dataclass(frozen=True, slots=True)
class Held:
    """A record kept unposted, and why, in words an officer acts on."""

    because: Unposted
    detail: str


@dataclass(frozen=True, slots=True)
class Parts:
    """What a movement names, all found."""

    patient: Patient
    performer: Staff
    product: Product
    lot: Lot


@dataclass(slots=True)
class Made:
    event_ids: list[uuid.UUID]
    staff_ids: list[uuid.UUID]
    broken_rules: list[MappingRule] = field(default_factory=list)
    session_id: uuid.UUID | None = None
    session_administration_ids: list[uuid.UUID] = field(default_factory=list)
    prescription_id: uuid.UUID | None = None
    fill_id: uuid.UUID | None = None
    lot: Lot | None = None
    lot_source: LotSource | None = None


async def move_stock(
    db: AsyncSession,
    movement: Movement,
    refs: References,
    sender: FhirSender,
    caller: Caller,
    *,
    assigned_lot: Lot | None = None,
) -> Made | Held:
    """The record's movements, or why it is kept unposted. ``assigned_lot``: the lot a
    compliance officer assigned to a record held for want of one."""
    facts = movement.facts
    assert refs.performer is not None, "movement_of requires a performer"
    if refs.product is None:
        assert movement.medication.codes, "movement_of requires a medication"
        return Held(Unposted.product_not_mapped, f"no product here has the code "
                    f"{movement.medication}: map it to one of the registrant's products at "
                    f"/v1/integrations/fhir-senders/{sender.id}/code-mappings")  # fmt: skip
    ts = await _session_of(db, facts, refs.patient)
    if ts is not None and Status(ts.status) not in UNDER_WAY:  # a record: stored, never refused
        return Made([], [refs.performer.id], [MappingRule.session_not_under_way], session_id=ts.id)
    source = ts.holding_location_id if ts is not None else sender.location_id
    told = await _lot(db, movement, refs.product, source, assigned_lot)
    if isinstance(told, Held):
        return told
    lot, lot_source = told
    parts = Parts(refs.patient, refs.performer, refs.product, lot)
    amount_at = facts.at("dosage.dose" if facts.resource_type == ADMINISTRATION else "quantity")
    quantity = inventory_quantity(movement.amount, parts.product, amount_at)
    if facts.resource_type != ADMINISTRATION:
        made = await _dispense(db, movement, parts, quantity, sender, caller)
    elif ts is not None:
        made = await _in_session(db, movement, parts, quantity, ts, caller)
    else:
        made = await _from_location(db, movement, parts, quantity, sender, caller)
    made.lot, made.lot_source = lot, lot_source
    return made


async def _lot(
    db: AsyncSession,
    movement: Movement,
    product: Product,
    location_id: uuid.UUID,
    assigned: Lot | None,
) -> tuple[Lot, LotSource] | Held:
    """The lot the record moved: the one assigned, else the one it names, else the only lot
    of the product on hand where it draws from; never a guess between several."""
    if assigned is not None:
        return assigned, LotSource.officer
    if movement.lot_number is not None:
        number = movement.lot_number
        named = await db.scalar(
            select(Lot).where(Lot.product_id == product.id, Lot.lot_number == number)
        )
        if named is None:
            return Held(Unposted.lot_not_determined, f"{product.name} has no lot {number} "
                        "here: assign the lot it was given from")  # fmt: skip
        return named, LotSource.resource
    on_hand = list(await db.scalars(
        select(Lot).join(Balance, Balance.lot_id == Lot.id)
        .where(Balance.location_id == location_id, Balance.product_id == product.id,
               Balance.quantity > 0)
        .order_by(Lot.lot_number)
    ))  # fmt: skip
    if len(on_hand) == 1:
        return on_hand[0], LotSource.stock_on_hand
    which = ("no lot of it is on hand" if not on_hand else
             f"lots {', '.join(lot.lot_number for lot in on_hand)} are on hand")  # fmt: skip
    return Held(Unposted.lot_not_determined, f"the record names no lot of {product.name} and "
                f"{which} where it draws from: assign the lot it was given from")  # fmt: skip


# Administrations


async def _session_of(db: AsyncSession, facts: Facts, patient: Patient) -> TreatmentSession | None:
    """The session an administration names, the patient's at the registrant; else None."""
    if facts.resource_type != ADMINISTRATION or facts.session_id is None:
        return None
    ts = await find(db, TreatmentSession, facts.session_id, (patient.registrant_id,))
    if ts is None:
        raise FhirUnknownReference.at("not-found", "no such session at this registrant",
                                      facts.at("context.identifier"))  # fmt: skip
    if ts.patient_id != patient.id:
        raise FhirRefusal.at("business-rule", "the session is another patient's",
                             facts.at("context.identifier"))  # fmt: skip
    return ts


async def _in_session(
    db: AsyncSession,
    movement: Movement,
    parts: Parts,
    quantity: Decimal,
    ts: TreatmentSession,
    caller: Caller,
) -> Made:
    facts = movement.facts
    counted = parts.product.inventory_unit in COUNTED_UNITS
    if not counted and facts.ended_at is None:
        raise FhirRefusal.at("required", "an infusion is recorded with its end",
                             facts.at("effectivePeriod.end"))  # fmt: skip
    event_ids = []
    for dose, started, ended in _doses(quantity, counted, movement.occurred_at, facts.ended_at):
        data = AdministrationCreate(lot_id=parts.lot.id, quantity=dose, started_at=started,
                                    ended_at=ended, performed_by=parts.performer.id)  # fmt: skip
        _ts, row = await steps.administer(db, ts.id, data, caller)
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
    caller: Caller,
) -> Made:
    event = EventCreate(
        registrant_id=sender.registrant_id, type=EventType.administer,
        location_id=sender.location_id, lot_id=parts.lot.id, quantity=quantity,
        occurred_at=movement.occurred_at, performed_by=parts.performer.id,
        patient_id=parts.patient.id,
    )  # fmt: skip
    row = await ledger.append(db, event, caller)
    window = timedelta(hours=caller.settings.fhir_withdrawal_window_hours)
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
    caller: Caller,
) -> Made:
    rx = await _prescription(db, sender.registrant_id, movement.facts.prescription_numbers)
    if rx is not None and _same_patient_and_product(rx, parts.patient.id, parts.product):
        data = FillCreate(
            lot_id=parts.lot.id, location_id=sender.location_id, quantity=quantity,
            filled_at=movement.occurred_at, dispensed_by=parts.performer.id,
        )  # fmt: skip
        _rx, made = await prescriptions.fill(db, rx.id, data, caller)
        return Made([made.event_id], [parts.performer.id], prescription_id=rx.id, fill_id=made.id)
    event = EventCreate(
        registrant_id=sender.registrant_id, type=EventType.dispense,
        location_id=sender.location_id, lot_id=parts.lot.id, quantity=quantity,
        occurred_at=movement.occurred_at, performed_by=parts.performer.id,
        patient_id=parts.patient.id,
        document_reference=next(iter(movement.facts.prescription_numbers), None),
    )  # fmt: skip
    row = await ledger.append(db, event, caller)
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


async def reverse(db: AsyncSession, row: FhirResource, caller: Caller) -> list[uuid.UUID]:
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
                            occurred_at=caller.now)  # fmt: skip
        reversals.append((await ledger.append(db, event, caller))["id"])
    return reversals
