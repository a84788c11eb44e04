"""Prescriptions a pharmacy receives (it is not an e-prescribing system) and their fills.

The pharmacy owns a prescription and may link it to the issuing clinic's registrant, which may
then read it and its fills; nobody else (docs/tenancy.md). Sharing rests on the owner's
decision alone, never on data the reader wrote (such as a DEA number any registrant can give
its own staff), and every read across registrants is audited at the owner too.

A fill is a ``dispense`` event in the same transaction, with the prescription's row locked
so that concurrent fills are counted one after the other; a fill entered in error is
reversed in the ledger, and from then on counts for nothing.
"""

import uuid
from collections.abc import Iterable
from datetime import date, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import ColumnElement, Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.caller import Caller
from app.auth.permissions import Permission
from app.auth.principal import Principal
from app.auth.tenancy import get_readable
from app.catalog.models import Lot, Product
from app.catalog.substances import DosageForm, Substance
from app.core import outbox
from app.core.db import flush_unique, where_given
from app.core.errors import Conflict, FieldError, InvalidInput, NotFound
from app.core.revisions import keep_version, revise
from app.core.tenancy import InvalidReference, invalid, referenced
from app.ledger import service as ledger
from app.ledger.messages import announce_broken_rules
from app.ledger.queries import was_reversed
from app.ledger.schemas import EventCreate
from app.ledger.types import EventType
from app.pharmacy.messages import PRESCRIPTION_FILLED
from app.pharmacy.prescriptions import rules, schemas
from app.pharmacy.prescriptions.models import Prescription, PrescriptionFill
from app.registry.enums import StaffRole
from app.registry.models import Patient, Registrant
from app.registry.people import acting_staff
from app.registry.service import get_registrant, local_date

Status = schemas.PrescriptionStatus


class PrescriptionNotActive(Conflict):
    slug = "prescription-not-active"
    title = "Prescription not active"
    description = "A cancelled prescription stays cancelled."


# Receiving


async def create_prescription(
    db: AsyncSession, *, data: schemas.PrescriptionCreate, caller: Caller
) -> Prescription:
    principal = caller.principal
    registrant = await get_registrant(db, data.registrant_id, principal=principal)
    principal.require(Permission.pharmacy)
    rid = registrant.id
    await referenced(
        db, Patient, data.patient_id, registrant_id=rid, pointer="#/patient_id", what="patient"
    )
    await _dispensable(db, data.product_id, rid)
    await _check_issuer(db, data.issuer_registrant_id, owner_id=rid)
    if data.issued_on > local_date(registrant, caller.now):
        raise InvalidInput.at("#/issued_on", "a prescription cannot be issued in the future")
    facts = rules.ReceiptFacts(
        telehealth=data.encounter is schemas.Encounter.telehealth_audio_video,
        in_person_evaluation_on=data.in_person_evaluation_on,
        issued_on=data.issued_on,
        flexibility_ends_on=caller.settings.telemedicine_flexibility_ends_on,
        prescriber_expires_on=data.prescriber.dea_expires_on,
        prescriber_schedules=frozenset(data.prescriber.dea_schedules),
    )
    broken = rules.receipt_breaks(facts)
    record = principal.is_integration
    if not record:
        rules.BOOK.refuse_unless_overridden(broken, None)
    rx = Prescription(
        id=uuid.uuid4(), **{name: getattr(data, name) for name in _COPIED},
        prescriber=data.prescriber.model_dump(mode="json"),
        prescriber_dea_number=data.prescriber.dea_number, status=Status.active.value,
        status_reason=None, broken_rules=[rule.value for rule in broken], is_record=record,
        created_by=principal.subject, version=1, created_at=caller.now, updated_at=caller.now,
    )  # fmt: skip
    db.add(rx)
    await flush_unique(db, pointer="#/rx_number",
                       detail="the pharmacy has a prescription with this number")  # fmt: skip
    await keep_version(db, rx, schemas.PrescriptionRecordOut, by=caller.principal.subject,
                       at=caller.now)  # fmt: skip
    await _announce(db, rx, "receipt", broken, caller, record=record)
    return rx


async def _announce(
    db: AsyncSession,
    rx: Prescription,
    step: str,
    broken: list[rules.RxRule],
    caller: Caller,
    *,
    record: bool,
    override_reason: str | None = None,
    event_ids: tuple[uuid.UUID, ...] = (),
    staff_ids: tuple[uuid.UUID, ...] = (),
) -> None:
    """Tell reconciliation what a step broke."""
    await announce_broken_rules(
        db, registrant_id=rx.registrant_id, subject="prescription", subject_id=rx.id, step=step,
        rules=[rule.value for rule in broken], override_reason=override_reason, record=record,
        by=caller.principal.subject, at=caller.now, staff_ids=staff_ids, event_ids=event_ids,
    )  # fmt: skip


_COPIED = tuple(name for name in schemas.PrescriptionCreate.model_fields if name != "prescriber")
"""The fields of a prescription stored as received (values as parsed, not as serialised)."""


async def _dispensable(db: AsyncSession, product_id: uuid.UUID, rid: uuid.UUID) -> Product:
    """A finished product a pharmacy may hand to a patient: not bulk, never esketamine."""
    product = await referenced(
        db, Product, product_id, registrant_id=rid, pointer="#/product_id", what="product"
    )
    if product.substance == Substance.esketamine or product.dosage_form == DosageForm.bulk_powder:
        raise invalid("#/product_id", "product dispensed to patients (esketamine never is)")
    return product


async def _check_issuer(
    db: AsyncSession, issuer_id: uuid.UUID | None, *, owner_id: uuid.UUID
) -> None:
    """A registrant to share with: another one, that exists."""
    if issuer_id is None:
        return
    if issuer_id == owner_id or await db.get(Registrant, issuer_id) is None:
        detail = "no such registrant other than the pharmacy"
        pointer = "#/issuer_registrant_id"
        raise InvalidReference(detail, errors=[FieldError(pointer=pointer, detail=detail)])


# Reading: the pharmacy's own, and the issuing clinic's side


def _readable(principal: Principal, registrant_id: uuid.UUID | None) -> ColumnElement[bool]:
    """Owned by the registrants in view, or linked by its pharmacy to one of them as the
    issuer (``registrant_id`` narrows the view to that one registrant)."""
    if registrant_id is not None:
        principal.ensure_registrant(registrant_id)
        return (Prescription.registrant_id == registrant_id) | (
            Prescription.issuer_registrant_id == registrant_id
        )
    if principal.all_registrants:
        return Prescription.id.is_not(None)
    in_view = principal.registrant_ids
    return Prescription.registrant_id.in_(in_view) | Prescription.issuer_registrant_id.in_(in_view)


async def get_prescription(
    db: AsyncSession, rx_id: uuid.UUID, *, principal: Principal
) -> Prescription:
    rx = await db.scalar(
        select(Prescription).where(Prescription.id == rx_id, _readable(principal, None))
    )
    if rx is None:
        raise NotFound("prescription not found")
    principal.require(Permission.read_prescriptions)
    shown_to(principal, [rx])
    return rx


def shown_to(principal: Principal, shown: Iterable[Prescription]) -> None:
    """Note whose prescriptions were read: the pharmacy's always, and the issuer's when read
    through the link, so a read across registrants is in both audit trails."""
    for rx in shown:
        principal.touches(rx.registrant_id)
        if rx.issuer_registrant_id in principal.registrant_ids:
            principal.touches(rx.issuer_registrant_id)


async def _owned_prescription(
    db: AsyncSession, rx_id: uuid.UUID, *, principal: Principal
) -> Prescription:
    """The pharmacy's own prescription, locked: only its owner changes or fills it."""
    rx = await get_readable(db, Prescription, rx_id, principal, what="prescription", lock=True)
    principal.require(Permission.pharmacy)
    return rx


def prescriptions_query(
    principal: Principal,
    *,
    registrant_id: uuid.UUID | None,
    patient_id: uuid.UUID | None,
    status: Status | None,
    prescriber_dea_number: str | None,
) -> Select[Prescription]:
    principal.require(Permission.read_prescriptions)
    statement = select(Prescription).where(_readable(principal, registrant_id))
    return where_given(
        statement,
        (Prescription.patient_id, patient_id),
        (Prescription.status, status.value if status else None),
        (Prescription.prescriber_dea_number, prescriber_dea_number),
    )


async def fills_of(
    db: AsyncSession, rx_ids: list[uuid.UUID]
) -> dict[uuid.UUID, list[tuple[PrescriptionFill, bool]]]:
    """Each prescription's fills in order, each with whether the ledger reversed it."""
    rows = await db.execute(
        select(PrescriptionFill, was_reversed(PrescriptionFill.event_id))
        .where(PrescriptionFill.prescription_id.in_(rx_ids))
        .order_by(PrescriptionFill.filled_at, PrescriptionFill.created_at)
    )
    found: dict[uuid.UUID, list[tuple[PrescriptionFill, bool]]] = {i: [] for i in rx_ids}
    for fill_row, reversed_ in rows:
        found[fill_row.prescription_id].append((fill_row, bool(reversed_)))
    return found


# Changing


async def link_issuer(
    db: AsyncSession, rx_id: uuid.UUID, data: schemas.IssuerLink, caller: Caller
) -> Prescription:
    """Share the prescription with its issuing clinic's registrant, or stop sharing it."""
    rx = await _owned_prescription(db, rx_id, principal=caller.principal)
    await _check_issuer(db, data.issuer_registrant_id, owner_id=rx.registrant_id)
    if rx.issuer_registrant_id == data.issuer_registrant_id:
        return rx
    rx.issuer_registrant_id = data.issuer_registrant_id
    await _new_version(db, rx, caller)
    return rx


async def cancel(
    db: AsyncSession, rx_id: uuid.UUID, data: schemas.CancelCreate, caller: Caller
) -> Prescription:
    rx = await _owned_prescription(db, rx_id, principal=caller.principal)
    if rx.status != Status.active:
        raise PrescriptionNotActive(f"the prescription is {rx.status}")
    rx.status = Status.cancelled.value
    rx.status_reason = data.reason
    await _new_version(db, rx, caller)
    return rx


async def fill(
    db: AsyncSession, rx_id: uuid.UUID, data: schemas.FillCreate, caller: Caller
) -> tuple[Prescription, PrescriptionFill]:
    principal = caller.principal
    rx = await _owned_prescription(db, rx_id, principal=principal)
    registrant = await get_registrant(db, rx.registrant_id, principal=principal)
    pharmacist = await acting_staff(db, registrant_id=rx.registrant_id, named=data.dispensed_by,
                                    principal=principal, pointer="#/dispensed_by")  # fmt: skip
    if pharmacist.role != StaffRole.pharmacist:
        raise invalid("#/dispensed_by", "active pharmacist")
    lot = await referenced(
        db, Lot, data.lot_id, registrant_id=rx.registrant_id, pointer="#/lot_id", what="lot"
    )
    if lot.product_id != rx.product_id:
        raise invalid("#/lot_id", "lot of the prescribed product")
    facts = await _fill_facts(db, rx, data, registrant, caller)
    broken = rules.fill_breaks(facts)
    if not caller.reports_record(data.filled_at):
        rules.BOOK.refuse_unless_overridden(broken, data.early_refill_reason)
    event = EventCreate(
        registrant_id=rx.registrant_id, type=EventType.dispense, location_id=data.location_id,
        lot_id=lot.id, quantity=data.quantity, occurred_at=data.filled_at,
        performed_by=pharmacist.id, patient_id=rx.patient_id, prescription_id=rx.id,
        document_reference=rx.rx_number,
    )  # fmt: skip
    row = await ledger.append(db, event, caller)
    early = rules.RxRule.early_refill in broken
    made = PrescriptionFill(
        id=uuid.uuid4(), registrant_id=rx.registrant_id, prescription_id=rx.id,
        event_id=row["id"], lot_id=lot.id, quantity=data.quantity, filled_at=data.filled_at,
        refill_number=rules.refill_number(rx.quantity, facts.dispensed_before),
        partial=rules.is_partial(facts), dispensed_by=pharmacist.id,
        early_refill_reason=data.early_refill_reason if early else None,
        broken_rules=[rule.value for rule in broken], created_at=caller.now,
    )  # fmt: skip
    db.add(made)
    await db.flush()
    await _announce(db, rx, f"fill {made.id}", broken, caller,
                    record=caller.reports_record(data.filled_at),
                    override_reason=made.early_refill_reason, event_ids=(made.event_id,),
                    staff_ids=(pharmacist.id,))  # fmt: skip
    await outbox.publish(db, topic=PRESCRIPTION_FILLED, registrant_id=rx.registrant_id,
                         payload=_filled(rx, made), now=caller.now)  # fmt: skip
    return rx, made


def _filled(rx: Prescription, made: PrescriptionFill) -> dict[str, Any]:
    return {"prescription_id": str(rx.id), "fill_id": str(made.id), "event_id": str(made.event_id),
            "patient_id": str(rx.patient_id), "product_id": str(rx.product_id),
            "quantity": str(made.quantity), "refill_number": made.refill_number,
            "partial": made.partial, "filled_at": made.filled_at.isoformat(),
            "broken_rules": made.broken_rules}  # fmt: skip


async def _fill_facts(
    db: AsyncSession,
    rx: Prescription,
    data: schemas.FillCreate,
    registrant: Registrant,
    caller: Caller,
) -> rules.FillFacts:
    """The prescription's fills so far (those not reversed) and this one, on the pharmacy's
    days."""
    live = [f for f, reversed_ in (await fills_of(db, [rx.id]))[rx.id] if not reversed_]
    before = [f for f in live if f.filled_at <= data.filled_at]  # a late entry has later ones
    previous = _previous_filling(before, rx.quantity, registrant)
    return rules.FillFacts(
        cancelled=rx.status == Status.cancelled,
        issued_on=rx.issued_on,
        day=local_date(registrant, data.filled_at),
        quantity=data.quantity,
        prescribed_quantity=rx.quantity,
        refills_authorized=rx.refills_authorized,
        dispensed_before=sum((f.quantity for f in before), Decimal(0)),
        dispensed_later=sum((f.quantity for f in live if f not in before), Decimal(0)),
        previous=previous,
        days_supply=rx.days_supply,
        early_share_percent=caller.settings.early_refill_share_percent,
        prescriber_expires_on=date.fromisoformat(rx.prescriber["dea_expires_on"]),
    )


def _previous_filling(
    before: list[PrescriptionFill], prescribed: Decimal, registrant: Registrant
) -> rules.PreviousFill | None:
    """The first fill of the last filling begun before this fill (only read when this fill
    begins the next filling)."""
    dispensed, start = Decimal(0), None
    for made in before:
        if dispensed % prescribed == 0:
            start = made
        dispensed += made.quantity
    if start is None:
        return None
    return rules.PreviousFill(local_date(registrant, start.filled_at), prescribed)


async def _new_version(db: AsyncSession, rx: Prescription, caller: Caller) -> None:
    """The prescription as changed: its next version, kept with every other."""
    await revise(db, rx, schemas.PrescriptionRecordOut, by=caller.principal.subject,
                 at=caller.now)  # fmt: skip


# Showing


async def pharmacy_today(db: AsyncSession, rx: Prescription, now: datetime) -> date:
    """The day it is where the pharmacy is (read without the caller's tenancy: the
    prescriber's side reads the prescription too)."""
    registrant = await db.get(Registrant, rx.registrant_id)
    assert registrant is not None
    return local_date(registrant, now)
