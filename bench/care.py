"""A year of one clinic's in-clinic sessions, made through the services as the API makes them,
with anomalies planted among them.

Mondays and Wednesdays one IV patient and one esketamine patient are treated, Tuesdays and
Thursdays two others (each plan allows two sessions a week). Five nurses take turns, the next
in turn witnessing and confirming the waste; every Friday at close the session lots are
counted, exactly. Planted, each with the fingerprint of the discrepancy that should find it:

- waste its witness never confirmed (``waste_unwitnessed``);
- waste entered three hours after the withdrawal (``waste_late``);
- a vial's remainder neither wasted nor returned, left unresolved at discharge
  (``holding_not_emptied``);
- an esketamine session that gave one device and returned the other
  (``esketamine_dose_unusual``);
- an esketamine Patient Monitoring Form never submitted (``monitoring_form_overdue``);
- a lot expiring mid-year with stock still on hand (``expired_stock_on_hand``);
- three decreases of the book within three weeks, written off by the compliance officer
  (``adjustment_pattern``, on the third);
- in the peer window (the last 30 days) one nurse withdrawing and wasting twice and four times
  what the others do per IV session (``peer_outlier``, both measures).

Session anomalies are planted before the peer window, so they weigh on no comparison.
"""

import dataclasses
import uuid
from collections.abc import Callable
from dataclasses import dataclass, field
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.caller import Caller
from app.auth.permissions import Role
from app.auth.principal import Principal
from app.catalog import service as catalog
from app.catalog.schemas import LotCreate, ProductCreate
from app.clinical import schemas as clinical_schemas
from app.clinical import service as clinical
from app.clinical.sessions import ending, steps
from app.clinical.sessions import schemas as session_schemas
from app.clinical.sessions import service as sessions
from app.core.config import Settings
from app.demo.data import PRESCRIBER_DEA
from app.ledger import service as ledger
from app.ledger.models import Balance
from app.ledger.schemas import EventCreate
from app.reconciliation.peers import like_work
from app.registry import service as registry
from app.registry.schemas import LocationCreate, PatientCreate, StaffCreate, StaffRegistrationCreate
from bench.seed import ADDRESS, LOADER, SUPPLIER, Target

ZONE = ZoneInfo("America/Chicago")
NURSES = 5
IV_PLANTS = ("waste_unwitnessed", "waste_late", "holding_not_emptied")
ESKETAMINE_PLANTS = ("esketamine_dose_unusual", "monitoring_form_overdue")
WRITE_OFF_DAYS = (60, 70, 80)
"""Days of the year on which 0.5 mL of the session vials is written off."""
PLANT_EVERY = 20
"""Every 20th session of a modality (from the 10th) carries the next anomaly in turn."""
IV_DOSE_MG_PER_KG = Decimal("0.5")
SCREENING = dict.fromkeys(
    ("uncontrolled_hypertension", "psychosis_history", "cardiovascular_disease",
     "cerebrovascular_disease", "pregnancy", "active_substance_use_disorder",
     "aneurysmal_vascular_disease_or_avm", "intracerebral_hemorrhage_history",
     "hypersensitivity"),
    False,
)  # fmt: skip
TRIALS = [
    {"treatment_class": "ssri", "agent": "sertraline", "duration_weeks": 8,
     "outcome": "inadequate_response"},
    {"treatment_class": "snri", "agent": "venlafaxine", "duration_weeks": 6,
     "outcome": "inadequate_response"},
]  # fmt: skip
STABLE_NOTE = "alert, oriented, ambulating; escorted home"
OBSERVED = {"sedation": False, "dissociation": True, "respiratory_depression": False,
            "serious_adverse_events": []}  # fmt: skip


@dataclass(frozen=True, slots=True)
class Person:
    staff_id: uuid.UUID
    principal: Principal


@dataclass(frozen=True, slots=True)
class Treated:
    """A patient and the plan their sessions follow."""

    patient_id: uuid.UUID
    plan_id: uuid.UUID


@dataclass
class Clinic:
    settings: Settings
    registrant_id: uuid.UUID
    zone: ZoneInfo
    vault: uuid.UUID
    room: uuid.UUID
    vial_product: uuid.UUID
    vial_lot: uuid.UUID
    device_lot: uuid.UUID
    nurses: list[Person]
    officer: Person
    iv: list[Treated]
    esketamine: list[Treated]
    planted: set[str] = field(default_factory=set)
    """The fingerprints of the discrepancies that should be found."""
    sessions: int = 0

    def at(self, day: date, hour: int) -> datetime:
        return datetime.combine(day, time(hour), self.zone)

    def turn(self) -> tuple[Person, Person]:
        """The next session's nurse, and the nurse after them as witness."""
        nurse = self.nurses[self.sessions % NURSES]
        self.sessions += 1
        return nurse, self.nurses[self.sessions % NURSES]

    def caller(self, person: Person, at: datetime) -> Caller:
        return Caller(person.principal, at + timedelta(minutes=1), self.settings)


def _principal(subject: str, role: Role, registrant_id: uuid.UUID) -> Principal:
    return Principal(subject, subject, frozenset({role}), frozenset({registrant_id}))


async def prepare(
    db: AsyncSession, settings: Settings, target: Target, first_day: date, last_day: date
) -> Clinic:
    """The clinic's room, staff, session products and lots (received at the year's start),
    patients, evaluations and plans; the registrant is REMS-certified."""
    rid = target.registrant_id
    now = datetime.combine(first_day, time(7), ZONE)
    loader = Caller(LOADER, now, settings)
    room = await registry.create_location(
        db, rid, data=LocationCreate(name="Procedure room 1", kind="procedure_room"),
        caller=loader,
    )  # fmt: skip
    prescriber = await _staff(db, rid, "bench-prescriber", "prescriber", loader)
    await registry.add_staff_registration(
        db, rid, prescriber.staff_id, caller=loader,
        data=StaffRegistrationCreate.model_validate({
            "dea_number": PRESCRIBER_DEA, "schedules": ["3", "3N"],
            "expires_on": last_day + timedelta(days=365), "state": "TX"}),
    )  # fmt: skip
    nurses = [await _staff(db, rid, f"bench-nurse-{n}", "nurse", loader) for n in range(NURSES)]
    stocker = Caller(nurses[0].principal, now, settings)
    vials = await _product(db, _injection(rid), loader)
    kits = await _product(db, _esketamine_kit(rid), loader)
    a_year_on = last_day + timedelta(days=365)
    clinic = Clinic(
        settings=settings, registrant_id=rid, zone=ZONE, vault=target.location_id, room=room.id,
        vial_product=vials,
        vial_lot=await _received(db, stocker, target, vials, "SESSION-VIALS", "500", a_year_on),
        device_lot=await _received(db, stocker, target, kits, "SPRAVATO-1", "1000", a_year_on),
        nurses=nurses, officer=await _staff(db, rid, "bench-officer", "compliance_officer", loader),
        iv=[], esketamine=[],
    )  # fmt: skip
    expiring = await _received(db, stocker, target, vials, "EXPIRING-1", "10",
                               first_day + timedelta(days=150))  # fmt: skip
    clinic.planted.add(f"expired_stock_on_hand:{target.location_id}:{expiring}")
    for n in range(2):
        clinic.iv.append(await _treated(db, clinic, prescriber, f"IV-{n}", first_day, last_day,
                                        dose_mg_per_kg=str(IV_DOSE_MG_PER_KG)))  # fmt: skip
        clinic.esketamine.append(await _treated(db, clinic, prescriber, f"ESK-{n}", first_day,
                                                last_day, dose_mg="56"))  # fmt: skip
    return clinic


async def _staff(
    db: AsyncSession, rid: uuid.UUID, subject: str, role: str, loader: Caller
) -> Person:
    data = StaffCreate.model_validate({"name": subject, "role": role, "subject": subject})
    staff = await registry.create_staff(db, rid, data=data, caller=loader)
    token_role = Role(role) if role in ("prescriber", "compliance_officer") else Role.clinician
    return Person(staff.id, Principal(subject, subject, frozenset({token_role}),
                                      frozenset({rid})))  # fmt: skip


def _injection(rid: uuid.UUID) -> ProductCreate:
    return ProductCreate.model_validate({
        "registrant_id": rid, "name": "Ketamine HCl injection 50 mg/mL, 10 mL multi-dose vial",
        "ndc": "0409-2051-10", "substance": "ketamine", "dosage_form": "injection",
        "strength": {"value": "50", "unit": "mg/mL", "basis": "base"},
        "inventory_unit": "mL", "package_size": "10",
    })  # fmt: skip


def _esketamine_kit(rid: uuid.UUID) -> ProductCreate:
    return ProductCreate.model_validate({
        "registrant_id": rid, "name": "Spravato (esketamine) nasal spray 56 mg kit",
        "ndc": "50458-028-02", "substance": "esketamine", "dosage_form": "nasal_spray",
        "strength": {"value": "28", "unit": "mg", "basis": "base"},
        "inventory_unit": "device", "package_size": "2",
    })  # fmt: skip


async def _product(db: AsyncSession, data: ProductCreate, loader: Caller) -> uuid.UUID:
    product, _ = await catalog.create_product(db, data=data, caller=loader)
    return product.id


async def _received(
    db: AsyncSession, caller: Caller, target: Target, product_id: uuid.UUID,
    number: str, quantity: str, expires_on: date,
) -> uuid.UUID:  # fmt: skip
    """A lot of the product, and a receipt of ``quantity`` of it at the vault."""
    data = LotCreate(lot_number=number, expires_on=expires_on)
    loader = dataclasses.replace(caller, principal=LOADER)
    lot = await catalog.create_lot(db, product_id, data=data, caller=loader)
    await ledger.append(db, EventCreate.model_validate({
        "registrant_id": target.registrant_id, "type": "receipt",
        "location_id": target.location_id,
        "lot_id": lot.id, "quantity": quantity, "occurred_at": caller.now - timedelta(minutes=1),
        "counterparty": SUPPLIER, "document_reference": f"INV-{number}",
    }), caller)  # fmt: skip
    return lot.id


async def _treated(
    db: AsyncSession, clinic: Clinic, prescriber: Person, external_id: str, first_day: date,
    last_day: date, **dose: str,
) -> Treated:  # fmt: skip
    """A patient, evaluated a candidate on the year's first day, on a plan of two sessions a
    week for the year."""
    rid, now = clinic.registrant_id, clinic.at(first_day, 7)
    loader = Caller(LOADER, now, clinic.settings)
    patient = await registry.create_patient(db, caller=loader, data=PatientCreate(
        registrant_id=rid, external_id=external_id, given_name="Bench", family_name=external_id,
        date_of_birth=date(1980, 1, 1), sex="female", address=ADDRESS, weight_kg=Decimal(70),
        rems_enrollment_id=f"REMS-{external_id}" if "dose_mg" in dose else None,
    ))  # fmt: skip
    evaluation = await clinical.create_evaluation(
        db, caller=Caller(prescriber.principal, now, clinic.settings),
        data=clinical_schemas.EvaluationCreate.model_validate({
            "registrant_id": rid, "patient_id": patient.id, "evaluated_on": first_day,
            "in_person": True, "prior_treatments": TRIALS, "contraindications": SCREENING,
            "vitals": {"systolic_mmhg": 122, "diastolic_mmhg": 78, "heart_rate_bpm": 72},
            "outcome": "candidate",
        }),
    )  # fmt: skip
    plan = await clinical.create_plan(
        db, caller=Caller(prescriber.principal, now, clinic.settings),
        data=clinical_schemas.TreatmentPlanCreate.model_validate({
            "registrant_id": rid, "patient_id": patient.id, "evaluation_id": evaluation.id,
            "modality": "esketamine_nasal" if "dose_mg" in dose else "iv_infusion",
            "sessions_per_week": 2, "total_sessions": 120, "starts_on": first_day,
            "ends_on": last_day, **dose,
        }),
    )  # fmt: skip
    return Treated(patient.id, plan.id)


async def run_year(
    transaction: Callable[[], Any], clinic: Clinic, first_day: date, last_day: date
) -> None:
    """The year's sessions and Friday counts, a day to a transaction."""
    peer_from = last_day - timedelta(days=clinic.settings.peer_window_days - 1)
    ordinals = {"iv": 0, "esketamine": 0}
    day = first_day + timedelta(days=1)
    while day <= last_day:
        async with transaction() as db:
            if day.weekday() < 4:  # Monday to Thursday
                which = day.weekday() % 2
                plant = _plant(IV_PLANTS, ordinals["iv"], day < peer_from)
                await _infusion(db, clinic, day, clinic.iv[which], plant, day >= peer_from)
                plant = _plant(ESKETAMINE_PLANTS, ordinals["esketamine"], day < peer_from)
                await _esketamine(db, clinic, day, clinic.esketamine[which], plant)
                ordinals = {kind: n + 1 for kind, n in ordinals.items()}
            elif day.weekday() == 4:
                await _counts(db, clinic, clinic.at(day, 18))
            if (day - first_day).days in WRITE_OFF_DAYS:
                last = (day - first_day).days == WRITE_OFF_DAYS[-1]
                await _write_off(db, clinic, clinic.at(day, 17), planted=last)
        day += timedelta(days=1)


def _plant(kinds: tuple[str, ...], ordinal: int, allowed: bool) -> str | None:
    if not allowed or ordinal % PLANT_EVERY != PLANT_EVERY // 2:
        return None
    return kinds[ordinal // PLANT_EVERY % len(kinds)]


async def _open(
    db: AsyncSession, clinic: Clinic, nurse: Person, witness: Person, treated: Treated,
    start: datetime,
) -> uuid.UUID:  # fmt: skip
    data = session_schemas.SessionCreate.model_validate({
        "registrant_id": clinic.registrant_id, "patient_id": treated.patient_id,
        "plan_id": treated.plan_id, "location_id": clinic.room, "scheduled_at": start,
        "staff_ids": [nurse.staff_id, witness.staff_id], "weight_kg": "70",
    })  # fmt: skip
    made = await sessions.create_session(db, data=data, caller=clinic.caller(nurse, start))
    return made.id


async def _infusion(
    db: AsyncSession, clinic: Clinic, day: date, treated: Treated, plant: str | None,
    in_peer_window: bool,
) -> None:  # fmt: skip
    """0.5 mg/kg of 70 kg, 35 mg: 1 mL of 50 mg/mL withdrawn, 0.7 mL infused over 40 minutes,
    0.3 mL wasted and witnessed (the peer outlier withdraws 2 mL and wastes 1.3)."""
    nurse, witness = clinic.turn()
    outlier = in_peer_window and nurse is clinic.nurses[-1]
    start = clinic.at(day, 9)
    sid = await _open(db, clinic, nurse, witness, treated, start)
    act = _Acts(db, clinic, nurse, sid, start)
    await act.vitals(2, "pre_dose")
    await act.withdraw(5, clinic.vial_lot, "2" if outlier else "1")
    await steps.administer(db, sid, session_schemas.AdministrationCreate(
        lot_id=clinic.vial_lot, quantity=Decimal("0.7"), started_at=act.at(10),
        ended_at=act.at(50)), act.caller(10))  # fmt: skip
    await act.vitals(30, "monitoring")
    if plant == "holding_not_emptied":
        clinic.planted.add(f"holding_not_emptied:session:{sid}")
    else:
        entered_after = 180 if plant == "waste_late" else 52
        _ts, event = await steps.waste(db, sid, session_schemas.WasteCreate(
            lot_id=clinic.vial_lot, quantity=Decimal("1.3" if outlier else "0.3"),
            occurred_at=act.at(52), witness_id=witness.staff_id,
            reason="remainder of the vial after the dose"), act.caller(entered_after))  # fmt: skip
        if plant != "waste_unwitnessed":
            await steps.confirm_witness(db, sid, event["id"],
                                        clinic.caller(witness, act.at(entered_after)))  # fmt: skip
        if plant is not None:
            clinic.planted.add(f"{plant}:event:{event['id']}")
    await act.vitals(85, "pre_discharge")
    unresolved = "the vial's remainder is missing" if plant == "holding_not_emptied" else None
    await act.discharge(90, None, unresolved)
    if outlier:
        where = f"{nurse.staff_id}:{clinic.vial_product}:{IV_WORK}"
        clinic.planted |= {f"peer_outlier:{m}:{where}" for m in MEASURES}


MEASURES = ("waste", "withdrawn")
IV_WORK = like_work("iv_infusion", IV_DOSE_MG_PER_KG)
"""The IV plans' work, which peers are compared within."""


async def _esketamine(
    db: AsyncSession, clinic: Clinic, day: date, treated: Treated, plant: str | None
) -> None:
    """56 mg: two devices five minutes apart, blood pressure before, 40 minutes after and
    before discharge, discharged 2 hours 5 minutes after the first device, the Patient
    Monitoring Form submitted the next day."""
    nurse, _witness = clinic.turn()
    start = clinic.at(day, 13)
    sid = await _open(db, clinic, nurse, _witness, treated, start)
    act = _Acts(db, clinic, nurse, sid, start)
    await act.vitals(3, "pre_dose")
    await act.withdraw(6, clinic.device_lot, "2")
    await act.device(10)
    if plant == "esketamine_dose_unusual":
        await steps.return_to_stock(db, sid, session_schemas.ReturnCreate(
            lot_id=clinic.device_lot, quantity=Decimal(1), to_location_id=clinic.vault,
            occurred_at=act.at(12)), act.caller(12))  # fmt: skip
    else:
        await act.device(15)
    for minutes, moment in ((50, "post_dose"), (90, "monitoring"), (128, "pre_discharge")):
        await act.vitals(minutes, moment)
    await act.discharge(135, OBSERVED, None)
    if plant is not None:
        clinic.planted.add(f"{plant}:session:{sid}")
    if plant != "monitoring_form_overdue":
        submission = session_schemas.RemsSubmissionCreate(
            submitted_on=day + timedelta(days=1), reference=f"PMF-{sid.hex[:8]}"
        )
        next_morning = clinic.at(day + timedelta(days=1), 10)
        await ending.record_rems_submission(db, sid, submission,
                                            clinic.caller(nurse, next_morning))  # fmt: skip


@dataclass(frozen=True, slots=True)
class _Acts:
    """One session's steps by one nurse, each ``minutes`` after the session's start."""

    db: AsyncSession
    clinic: Clinic
    nurse: Person
    sid: uuid.UUID
    start: datetime

    def at(self, minutes: float) -> datetime:
        return self.start + timedelta(minutes=minutes)

    def caller(self, minutes: float) -> Caller:
        return self.clinic.caller(self.nurse, self.at(minutes))

    async def vitals(self, minutes: float, moment: str) -> None:
        reading = session_schemas.VitalsCreate.model_validate({
            "measured_at": self.at(minutes), "moment": moment, "systolic_mmhg": 128,
            "diastolic_mmhg": 82, "heart_rate_bpm": 74, "spo2_percent": 98,
        })  # fmt: skip
        await steps.record_vitals(self.db, self.sid, reading, self.caller(minutes))

    async def withdraw(self, minutes: float, lot_id: uuid.UUID, quantity: str) -> None:
        data = session_schemas.WithdrawalCreate(
            lot_id=lot_id, from_location_id=self.clinic.vault, quantity=Decimal(quantity),
            occurred_at=self.at(minutes),
        )  # fmt: skip
        await steps.withdraw(self.db, self.sid, data, self.caller(minutes))

    async def device(self, minutes: float) -> None:
        data = session_schemas.AdministrationCreate(
            lot_id=self.clinic.device_lot, quantity=Decimal(1), started_at=self.at(minutes)
        )
        await steps.administer(self.db, self.sid, data, self.caller(minutes))

    async def discharge(
        self, minutes: float, observations: dict[str, Any] | None, unresolved: str | None
    ) -> None:
        at = self.at(minutes)
        data = session_schemas.DischargeCreate.model_validate({
            "discharged_at": at, "observations": observations, "unresolved_reason": unresolved,
            "clinical_stability": {"stable": True, "assessed_at": at - timedelta(minutes=3),
                                   "note": STABLE_NOTE},
        })  # fmt: skip
        await ending.discharge(self.db, self.sid, data, self.caller(minutes))


async def _write_off(db: AsyncSession, clinic: Clinic, at: datetime, *, planted: bool) -> None:
    """0.5 mL of the session vials taken off the book (the last makes the pattern)."""
    event = await ledger.append(db, EventCreate.model_validate({
        "registrant_id": clinic.registrant_id, "type": "adjust", "adjust_direction": "decrease",
        "location_id": clinic.vault, "lot_id": clinic.vial_lot, "quantity": "0.5",
        "occurred_at": at, "reason": "a vial found cracked",
    }), clinic.caller(clinic.officer, at))  # fmt: skip
    if planted:
        clinic.planted.add(f"adjustment_pattern:event:{event['id']}")


async def _counts(db: AsyncSession, clinic: Clinic, at: datetime) -> None:
    """The session lots counted at the vault, exactly what the ledger holds."""
    counter = clinic.nurses[0]
    for lot_id in (clinic.vial_lot, clinic.device_lot):
        on_hand = await db.scalar(select(Balance.quantity).where(
            Balance.location_id == clinic.vault, Balance.lot_id == lot_id))  # fmt: skip
        count = count_event(clinic.registrant_id, clinic.vault, lot_id, on_hand or Decimal(0), at,
                            counter.staff_id, kind="ad_hoc")  # fmt: skip
        await ledger.append(db, count, clinic.caller(counter, at))


def count_event(
    registrant_id: uuid.UUID, location_id: uuid.UUID, lot_id: uuid.UUID, quantity: Decimal,
    at: datetime, counted_by: uuid.UUID, *, kind: str,
) -> EventCreate:  # fmt: skip
    """A count at close of business, exact, as one inventory of ``kind``."""
    inventory = {"inventory_id": str(uuid.uuid4()), "inventory_kind": kind,
                 "taken_at": "close_of_business", "exactness": "exact",
                 "counted_by": str(counted_by)}  # fmt: skip
    return EventCreate.model_validate({
        "registrant_id": str(registrant_id), "type": "count", "location_id": str(location_id),
        "lot_id": str(lot_id), "quantity": str(quantity), "occurred_at": at.isoformat(),
        "count": inventory,
    })  # fmt: skip
