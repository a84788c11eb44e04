"""Three weeks of activity for the demo, made through the same services as the API.

Stock received by the clinic (ketamine vials, esketamine kits) and by the pharmacy (bulk
hydrochloride), each on an invoice from a registered distributor, and each registrant's
initial inventory taken that day; a prescriber's evaluations and treatment plans (an IV
infusion, an esketamine course); a compounding batch of troches; a loss found at a count; the
sessions and prescriptions of app/demo/care.py; and yesterday's count of the IV vials, short
(app/demo/compliance.py).
Every movement goes through the ledger, so the demo's chains, balances and checkpoints are
real. Each write is done as the staff member who would do it.
"""

import uuid
from datetime import date, datetime, time, timedelta
from decimal import Decimal
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.caller import Caller
from app.auth.permissions import Role
from app.auth.principal import Principal
from app.catalog.models import Lot, Product
from app.clinical import service as clinical
from app.clinical.schemas import EvaluationCreate, TreatmentPlanCreate
from app.core.config import Settings
from app.demo import compliance
from app.demo import data as demo_data
from app.demo.care import load_care
from app.ledger import service as ledger
from app.ledger.schemas import EventCreate
from app.pharmacy import service as pharmacy
from app.pharmacy.schemas import CompoundingBatchCreate
from app.registry.models import Location, Patient, Staff

DISTRIBUTOR = {
    "name": "Gulf Coast Pharmaceutical Distribution",
    "dea_number": demo_data.dea_number("PG", "418273"),
    "address": {"line1": "9100 Kirby Drive", "city": "Houston", "state": "TX",
                "postal_code": "77054"},
}  # fmt: skip
CLINIC_RECEIPTS = {"HB24017A": "250", "HB24071C": "250", "HB24052B": "50", "24E118": "20",
                   "24E207": "30"}  # fmt: skip
"""Per clinic lot, what arrived: 25 and 10 vials (mL), and esketamine devices."""
BULK_RECEIPTS = {"KH2409-118": "50", "KH2411-042": "25"}
"""Per bulk lot, grams of ketamine hydrochloride."""
FIRST_DAY_AGO = 21
"""The registrants' first day of handling controlled substances, three weeks ago: the first
stock arrives at the opening, the initial inventory is taken at the close."""
OPENING = time(9)
TWO_FAILED_TRIALS = [
    {"treatment_class": "ssri", "agent": "sertraline", "duration_weeks": 10,
     "outcome": "inadequate_response"},
    {"treatment_class": "snri", "agent": "venlafaxine", "duration_weeks": 8,
     "outcome": "inadequate_response"},
]  # fmt: skip
CLEAR_SCREENING = dict.fromkeys(
    ("uncontrolled_hypertension", "psychosis_history", "cardiovascular_disease",
     "cerebrovascular_disease", "pregnancy", "active_substance_use_disorder",
     "aneurysmal_vascular_disease_or_avm", "intracerebral_hemorrhage_history",
     "hypersensitivity"),
    False,
)  # fmt: skip


class _Actors:
    """The demo's staff, as principals acting on their own registrant."""

    def __init__(self, clinic_id: uuid.UUID, pharmacy_id: uuid.UUID) -> None:
        self.clinician = _principal("demo-clinic-clinician", Role.clinician, clinic_id)
        self.prescriber = _principal("demo-clinic-prescriber", Role.prescriber, clinic_id)
        self.pharmacist = _principal("demo-pharmacy-pharmacist", Role.pharmacist, pharmacy_id)


def _principal(subject: str, role: Role, registrant_id: uuid.UUID) -> Principal:
    return Principal(subject=subject, name=subject, roles=frozenset({role}),
                     registrant_ids=frozenset({registrant_id}))  # fmt: skip


async def load_activity(
    session: AsyncSession,
    settings: Settings,
    *,
    clinic_id: uuid.UUID,
    pharmacy_id: uuid.UUID,
    now: datetime,
    today: date,
) -> dict[str, int]:
    """Make the activity; returns how many of each thing it made."""
    actors = _Actors(clinic_id, pharmacy_id)
    first_day = today - timedelta(days=FIRST_DAY_AGO)
    received = datetime.combine(first_day, OPENING, ZoneInfo(demo_data.TIMEZONE))
    made = {"receipts": 0, "evaluations": 0, "treatment_plans": 0, "compounding_batches": 0}
    vault = await _location(session, clinic_id, "vault")
    for lot_number, quantity in CLINIC_RECEIPTS.items():
        await _receive(session, settings, actors.clinician, vault, lot_number, quantity, received)
        made["receipts"] += 1
    cabinet = await _location(session, pharmacy_id, "cabinet")
    for lot_number, quantity in BULK_RECEIPTS.items():
        await _receive(session, settings, actors.pharmacist, cabinet, lot_number, quantity,
                       received)  # fmt: skip
        made["receipts"] += 1
    nurse = _principal("demo-clinic-nurse", Role.clinician, clinic_id)
    made["initial_inventory_counts"] = sum([
        await compliance.take_initial_inventory(session, settings, principal=nurse,
                                                day=first_day),
        await compliance.take_initial_inventory(session, settings, principal=actors.pharmacist,
                                                day=first_day),
    ])  # fmt: skip
    made["evaluations"], made["treatment_plans"] = await _plans(
        session, Caller(actors.prescriber, now, settings), clinic_id, today
    )
    await _compound(session, settings, actors.pharmacist, cabinet, now, today)
    made["compounding_batches"] += 1
    await _loss(session, settings, actors.clinician, vault, now - timedelta(days=6))
    made["losses"] = 1
    made |= await load_care(
        session, settings, clinic_id=clinic_id, pharmacy_id=pharmacy_id, today=today
    )
    await compliance.plant_short_count(session, settings, clinic_id=clinic_id, today=today)
    made["short_counts"] = 1
    return made


async def _receive(
    session: AsyncSession,
    settings: Settings,
    principal: Principal,
    location: Location,
    lot_number: str,
    quantity: str,
    at: datetime,
) -> None:
    lot = await _lot(session, location.registrant_id, lot_number)
    event = EventCreate.model_validate({
        "registrant_id": location.registrant_id, "type": "receipt", "location_id": location.id,
        "lot_id": lot.id, "quantity": quantity, "occurred_at": at, "counterparty": DISTRIBUTOR,
        "document_reference": f"INV-{lot_number}",
    })  # fmt: skip
    await ledger.append(session, event, Caller(principal, at, settings))


async def _loss(
    session: AsyncSession, settings: Settings, principal: Principal, vault: Location, at: datetime
) -> None:
    """Half a mL of a 50 mg/mL vial missing at a count: the worker opens its discrepancy, on
    the DEA's clocks, for the compliance officer to investigate."""
    lot = await _lot(session, vault.registrant_id, "HB24071C")
    event = EventCreate.model_validate({
        "registrant_id": vault.registrant_id, "type": "loss", "location_id": vault.id,
        "lot_id": lot.id, "quantity": "0.5", "occurred_at": at,
        "reason": "vial short of its running balance at the end-of-day count",
        "loss": {"discovered_at": at, "kind": "other"},
    })  # fmt: skip
    await ledger.append(session, event, Caller(principal, at, settings))


async def _plans(
    session: AsyncSession, prescriber: Caller, clinic_id: uuid.UUID, today: date
) -> tuple[int, int]:
    """Jordan Avery (REMS-enrolled) on esketamine 56 mg; Daniel Okafor on IV 0.5 mg/kg."""
    patients = {p.external_id: p for p in await session.scalars(
        select(Patient).where(Patient.registrant_id == clinic_id))}  # fmt: skip
    evaluated_on = today - timedelta(days=14)
    courses: list[tuple[str, dict[str, Any]]] = [
        ("HC-1001", {"modality": "esketamine_nasal", "dose_mg": "56"}),
        ("HC-1002", {"modality": "iv_infusion", "dose_mg_per_kg": "0.5"}),
    ]
    for external_id, dose in courses:
        patient = patients[external_id]
        evaluation = await clinical.create_evaluation(
            session, data=_evaluation(clinic_id, patient, evaluated_on), caller=prescriber,
        )  # fmt: skip
        plan = TreatmentPlanCreate.model_validate({
            "registrant_id": clinic_id, "patient_id": patient.id, "evaluation_id": evaluation.id,
            **dose, "sessions_per_week": 2, "total_sessions": 6,
            "starts_on": evaluated_on + timedelta(days=1),
            "ends_on": evaluated_on + timedelta(days=28),
        })  # fmt: skip
        await clinical.create_plan(session, data=plan, caller=prescriber)
    return len(courses), len(courses)


def _evaluation(clinic_id: uuid.UUID, patient: Patient, on: date) -> EvaluationCreate:
    weight = patient.weight_kg or Decimal(70)
    return EvaluationCreate.model_validate({
        "registrant_id": clinic_id, "patient_id": patient.id, "evaluated_on": on,
        "in_person": True, "prior_treatments": TWO_FAILED_TRIALS,
        "contraindications": CLEAR_SCREENING,
        "vitals": {"systolic_mmhg": 124, "diastolic_mmhg": 79, "heart_rate_bpm": 71,
                   "spo2_percent": 98, "weight_kg": str(weight)},
        "outcome": "candidate",
    })  # fmt: skip


async def _compound(
    session: AsyncSession,
    settings: Settings,
    pharmacist: Principal,
    cabinet: Location,
    now: datetime,
    today: date,
) -> None:
    """300 troches of 100 mg ketamine HCl from 30 g of bulk, checked by the demo's user."""
    rid = cabinet.registrant_id
    troche = await session.scalar(
        select(Product).where(Product.registrant_id == rid, Product.compound_code == "KET-TRO-100")
    )
    checker = await session.scalar(
        select(Staff).where(Staff.registrant_id == rid,
                            Staff.subject == demo_data.DEMO_STAFF_SUBJECT)
    )  # fmt: skip
    bulk = await _lot(session, rid, "KH2409-118")
    assert troche is not None
    assert checker is not None
    compounded_at = now - timedelta(days=10)
    batch = CompoundingBatchCreate.model_validate({
        "registrant_id": rid, "location_id": cabinet.id, "product_id": troche.id,
        "lot_number": f"KT{(today - timedelta(days=10)).strftime('%y%m%d')}-01", "units": "300",
        "beyond_use_date": today + timedelta(days=80), "compounded_at": compounded_at,
        "checked_by": checker.id, "ingredients": [{"lot_id": bulk.id, "quantity": "30"}],
    })  # fmt: skip
    await pharmacy.create_batch(
        session, data=batch, caller=Caller(pharmacist, compounded_at, settings)
    )


async def _location(session: AsyncSession, registrant_id: uuid.UUID, kind: str) -> Location:
    location = await session.scalar(
        select(Location).where(Location.registrant_id == registrant_id, Location.kind == kind)
    )
    assert location is not None, kind
    return location


async def _lot(session: AsyncSession, registrant_id: uuid.UUID, lot_number: str) -> Lot:
    lot = await session.scalar(
        select(Lot).where(Lot.registrant_id == registrant_id, Lot.lot_number == lot_number)
    )
    assert lot is not None, lot_number
    return lot
