"""The care the demo's patients received, made through the same services as the API.

At the clinic: Daniel Okafor's IV infusions (0.5 mg/kg of 84.5 kg from a 50 mg/mL vial, the
remainder wasted in front of a nurse who confirms) and Jordan Avery's 56 mg esketamine
sessions with every reading the REMS asks for (the latest Patient Monitoring Form not yet
submitted). At the pharmacy: troche prescriptions written over telehealth by the clinic's
prescriber, filled from the compounded lot (one a partial fill). Each step happens at its own
time, done by the staff member who would do it.
"""

import uuid
from dataclasses import dataclass
from datetime import date, datetime, time, timedelta
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.caller import Caller
from app.auth.permissions import Role
from app.auth.principal import Principal
from app.catalog.models import Lot, Product
from app.clinical.models import TreatmentPlan
from app.clinical.sessions import ending as session_ending
from app.clinical.sessions import schemas as session_schemas
from app.clinical.sessions import service as sessions
from app.clinical.sessions import steps as session_steps
from app.core.config import Settings
from app.demo import data as demo_data
from app.pharmacy.prescriptions import schemas as rx_schemas
from app.pharmacy.prescriptions import service as prescriptions
from app.registry.models import Location, Patient, Registrant, Staff

IV_SESSION_DAYS = (12, 9, 5, 2)
ESKETAMINE_SESSION_DAYS = (11, 7, 4)
"""Days before today; never more than the plans' two sessions in a Monday-to-Sunday week."""
UNSUBMITTED_FORMS = 1
"""The latest esketamine session's monitoring form is still due."""


def _principal(subject: str, role: Role, registrant_id: uuid.UUID) -> Principal:
    return Principal(subject=subject, name=subject, roles=frozenset({role}),
                     registrant_ids=frozenset({registrant_id}))  # fmt: skip


@dataclass
class _Clinic:
    """What the clinic's sessions use, and who does them."""

    settings: Settings
    registrant: Registrant
    vault: Location
    room: Location
    staff: dict[str, Staff]
    clinician: Principal
    nurse: Principal

    def at(self, day: date, hour: int, minute: int = 0) -> datetime:
        zone = ZoneInfo(self.registrant.timezone)
        return datetime.combine(day, time(hour, minute), zone)

    def caller(self, principal: Principal, at: datetime) -> Caller:
        return Caller(principal, at + timedelta(minutes=1), self.settings)


async def load_care(
    session: AsyncSession,
    settings: Settings,
    *,
    clinic_id: uuid.UUID,
    pharmacy_id: uuid.UUID,
    today: date,
) -> dict[str, int]:
    clinic = await _clinic(session, settings, clinic_id)
    for days_ago in IV_SESSION_DAYS:
        await _infusion(session, clinic, today - timedelta(days=days_ago))
    for index, days_ago in enumerate(ESKETAMINE_SESSION_DAYS):
        submitted = index < len(ESKETAMINE_SESSION_DAYS) - UNSUBMITTED_FORMS
        await _esketamine(session, clinic, today - timedelta(days=days_ago), submitted)
    prescribed = await _prescriptions(session, settings, pharmacy_id, clinic_id, today)
    return {
        "sessions": len(IV_SESSION_DAYS) + len(ESKETAMINE_SESSION_DAYS),
        "prescriptions": prescribed,
        "fills": prescribed,  # each filled once
    }


async def _clinic(session: AsyncSession, settings: Settings, clinic_id: uuid.UUID) -> _Clinic:
    registrant = await session.get(Registrant, clinic_id)
    assert registrant is not None
    locations = {row.kind: row for row in await session.scalars(
        select(Location).where(Location.registrant_id == clinic_id))}  # fmt: skip
    staff = {row.subject: row for row in await session.scalars(
        select(Staff).where(Staff.registrant_id == clinic_id)) if row.subject}  # fmt: skip
    return _Clinic(
        settings=settings, registrant=registrant, vault=locations["vault"],
        room=locations["procedure_room"], staff=staff,
        clinician=_principal("demo-clinic-clinician", Role.clinician, clinic_id),
        nurse=_principal("demo-clinic-nurse", Role.clinician, clinic_id),
    )  # fmt: skip


async def _open(
    session: AsyncSession, clinic: _Clinic, external_id: str, scheduled_at: datetime,
    **extra: Any,
) -> uuid.UUID:  # fmt: skip
    rid = clinic.registrant.id
    patient = await session.scalar(
        select(Patient).where(Patient.registrant_id == rid, Patient.external_id == external_id)
    )
    assert patient is not None
    plan = await session.scalar(select(TreatmentPlan).where(TreatmentPlan.patient_id == patient.id))
    assert plan is not None
    staff_ids = [clinic.staff[s].id for s in ("demo-clinic-clinician", "demo-clinic-nurse")]
    data = session_schemas.SessionCreate.model_validate({
        "registrant_id": clinic.registrant.id, "patient_id": patient.id, "plan_id": plan.id,
        "location_id": clinic.room.id, "scheduled_at": scheduled_at, "staff_ids": staff_ids,
        **extra,
    })  # fmt: skip
    made = await sessions.create_session(
        session, data=data, caller=clinic.caller(clinic.clinician, scheduled_at)
    )
    return made.id


async def _lot_id(session: AsyncSession, registrant_id: uuid.UUID, lot_number: str) -> uuid.UUID:
    lot_id = await session.scalar(select(Lot.id).where(
        Lot.registrant_id == registrant_id, Lot.lot_number == lot_number))  # fmt: skip
    assert lot_id is not None, lot_number
    return lot_id


async def _infusion(session: AsyncSession, clinic: _Clinic, day: date) -> None:
    """0.5 mg/kg for 84.5 kg is 42.25 mg: 1 mL of 50 mg/mL withdrawn, 0.845 mL infused over
    40 minutes, 0.155 mL wasted in front of the nurse, who confirms."""
    start = clinic.at(day, 13)
    sid = await _open(session, clinic, "HC-1002", start, weight_kg="84.5")
    vial = await _lot_id(session, clinic.registrant.id, "HB24017A")
    steps: list[tuple[str, datetime, dict[str, Any]]] = [
        ("vitals", start + timedelta(minutes=2), _reading("pre_dose", 128, 82, 74)),
        ("withdraw", start + timedelta(minutes=5),
         {"lot_id": vial, "from_location_id": clinic.vault.id, "quantity": "1"}),
        ("administer", start + timedelta(minutes=10),
         {"lot_id": vial, "quantity": "0.845",
          "ended_at": start + timedelta(minutes=50)}),
        ("vitals", start + timedelta(minutes=30), _reading("monitoring", 136, 88, 81)),
        ("waste", start + timedelta(minutes=52),
         {"lot_id": vial, "quantity": "0.155", "witness_id": clinic.staff["demo-clinic-nurse"].id,
          "reason": "remainder of the vial after the dose"}),
        ("vitals", start + timedelta(minutes=85), _reading("pre_discharge", 124, 80, 70)),
    ]  # fmt: skip
    await _run(session, clinic, sid, steps)
    await _discharge(session, clinic, sid, start + timedelta(minutes=90), observations=None)


async def _esketamine(session: AsyncSession, clinic: _Clinic, day: date, submitted: bool) -> None:
    """56 mg: two devices five minutes apart; blood pressure before, about 40 minutes after
    and before discharge; discharged 2 hours 5 minutes after the first device."""
    start = clinic.at(day, 9)
    sid = await _open(session, clinic, "HC-1001", start)
    kit = await _lot_id(session, clinic.registrant.id, "24E118")
    first = start + timedelta(minutes=10)
    steps: list[tuple[str, datetime, dict[str, Any]]] = [
        ("vitals", start + timedelta(minutes=3), _reading("pre_dose", 126, 80, 72)),
        ("withdraw", start + timedelta(minutes=6),
         {"lot_id": kit, "from_location_id": clinic.vault.id, "quantity": "2"}),
        ("administer", first, {"lot_id": kit, "quantity": "1"}),
        ("administer", first + timedelta(minutes=5), {"lot_id": kit, "quantity": "1"}),
        ("vitals", first + timedelta(minutes=40), _reading("post_dose", 138, 88, 80)),
        ("vitals", first + timedelta(minutes=80), _reading("monitoring", 130, 84, 76)),
        ("vitals", first + timedelta(minutes=118), _reading("pre_discharge", 124, 79, 71)),
    ]  # fmt: skip
    await _run(session, clinic, sid, steps)
    discharged_at = first + timedelta(minutes=125)
    observations = {"sedation": False, "dissociation": True, "respiratory_depression": False,
                    "serious_adverse_events": []}  # fmt: skip
    await _discharge(session, clinic, sid, discharged_at, observations=observations)
    if submitted:
        submission = session_schemas.RemsSubmissionCreate(
            submitted_on=day + timedelta(days=1), reference=f"PMF-{day:%y%m%d}"
        )
        later = clinic.at(day + timedelta(days=1), 10)
        await session_ending.record_rems_submission(
            session, sid, submission, clinic.caller(clinic.clinician, later)
        )


def _reading(moment: str, systolic: int, diastolic: int, heart_rate: int) -> dict[str, Any]:
    return {"moment": moment, "systolic_mmhg": systolic, "diastolic_mmhg": diastolic,
            "heart_rate_bpm": heart_rate, "spo2_percent": 98}  # fmt: skip


async def _run(
    session: AsyncSession,
    clinic: _Clinic,
    sid: uuid.UUID,
    steps: list[tuple[str, datetime, dict[str, Any]]],
) -> None:
    for what, at, body in steps:
        caller = clinic.caller(clinic.clinician, at)
        if what == "vitals":
            vitals = session_schemas.VitalsCreate.model_validate(body | {"measured_at": at})
            await session_steps.record_vitals(session, sid, vitals, caller)
        elif what == "withdraw":
            withdrawal = session_schemas.WithdrawalCreate.model_validate(body | {"occurred_at": at})
            await session_steps.withdraw(session, sid, withdrawal, caller)
        elif what == "administer":
            given = session_schemas.AdministrationCreate.model_validate(body | {"started_at": at})
            await session_steps.administer(session, sid, given, caller)
        else:
            waste = session_schemas.WasteCreate.model_validate(body | {"occurred_at": at})
            _ts, row = await session_steps.waste(session, sid, waste, caller)
            await session_steps.confirm_witness(session, sid, row["id"],
                                           clinic.caller(clinic.nurse, at))  # fmt: skip


async def _discharge(
    session: AsyncSession,
    clinic: _Clinic,
    sid: uuid.UUID,
    at: datetime,
    observations: dict[str, Any] | None,
) -> None:
    data = session_schemas.DischargeCreate.model_validate({
        "discharged_at": at, "observations": observations,
        "clinical_stability": {"stable": True, "assessed_at": at - timedelta(minutes=3),
                               "note": "alert, oriented, ambulating; escorted home"},
    })  # fmt: skip
    await session_ending.discharge(session, sid, data, clinic.caller(clinic.clinician, at))


# The pharmacy


async def _prescriptions(
    session: AsyncSession,
    settings: Settings,
    pharmacy_id: uuid.UUID,
    clinic_id: uuid.UUID,
    today: date,
) -> int:
    """Two troche prescriptions from the clinic's prescriber, each filled once: Taylor
    Brooks's original fill, and Priya Nair's first fill, a partial one. The pharmacy links
    each to the clinic, which then reads them and their fills."""
    pharmacist = _principal("demo-pharmacy-pharmacist", Role.pharmacist, pharmacy_id)
    registrant = await session.get(Registrant, pharmacy_id)
    assert registrant is not None
    zone = ZoneInfo(registrant.timezone)
    troche = await session.scalar(select(Product).where(
        Product.registrant_id == pharmacy_id, Product.compound_code == "KET-TRO-100"))  # fmt: skip
    assert troche is not None
    lot = await session.scalar(select(Lot).where(Lot.product_id == troche.id))
    cabinet = await session.scalar(select(Location).where(
        Location.registrant_id == pharmacy_id, Location.kind == "cabinet"))  # fmt: skip
    assert lot is not None
    assert cabinet is not None
    orders = [("LS-5001", "RX-260101", 9, "30", "30"), ("LS-5002", "RX-260102", 3, "20", "10")]
    for external_id, rx_number, days_ago, quantity, filled in orders:
        issued = today - timedelta(days=days_ago)
        at = datetime.combine(issued, time(11), zone)
        caller = Caller(pharmacist, at + timedelta(minutes=1), settings)
        patient = await session.scalar(select(Patient).where(
            Patient.registrant_id == pharmacy_id, Patient.external_id == external_id))  # fmt: skip
        assert patient is not None
        data = rx_schemas.PrescriptionCreate.model_validate({
            "registrant_id": pharmacy_id, "rx_number": rx_number, "transmission": "electronic",
            "external_rx_id": f"SS-{rx_number}", "patient_id": patient.id,
            "product_id": troche.id, "quantity": quantity,
            "directions": "Dissolve one troche under the tongue as directed, at most one a day",
            "issued_on": issued, "refills_authorized": 2, "days_supply": 30,
            "encounter": "telehealth_audio_video",
            "in_person_evaluation_on": issued - timedelta(days=30),
            "prescriber": _prescriber(today), "issuer_registrant_id": clinic_id,
        })  # fmt: skip
        rx = await prescriptions.create_prescription(session, data=data, caller=caller)
        fill = rx_schemas.FillCreate.model_validate({
            "lot_id": lot.id, "location_id": cabinet.id, "quantity": filled, "filled_at": at,
        })  # fmt: skip
        await prescriptions.fill(session, rx.id, fill, caller)
    return len(orders)


def _prescriber(today: date) -> dict[str, Any]:
    """Elena Ramirez as her prescriptions name her: the clinic's address, her own DEA number."""
    (staff, registration), *_ = demo_data.clinic_staff(today)
    assert registration is not None
    return {
        "name": staff.name, "address": demo_data.clinic(today).address.model_dump(),
        "dea_number": registration.dea_number, "dea_schedules": registration.schedules,
        "dea_expires_on": registration.expires_on, "npi": staff.npi,
    }  # fmt: skip
