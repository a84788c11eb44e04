"""The demo data: a REMS-certified ketamine clinic and a compounding pharmacy in Texas.

People, addresses and identifiers are fictional; DEA numbers and NPIs are computed so that their
check digits are valid. The Spravato kit NDCs are the labelled ones
(docs/domain.md#esketamine-devices-kits-and-doses); the other NDCs are illustrative. Dates
follow "today", so registrations and lots are always current.
"""

import uuid
from datetime import date, timedelta
from typing import Any

from app.catalog.schemas import LotCreate, ProductCreate
from app.core.identifiers import NPI_PREFIX, dea_check_digit, luhn_valid
from app.registry.schemas import (
    PatientCreate,
    RegistrantCreate,
    StaffCreate,
    StaffRegistrationCreate,
)


def dea_number(prefix: str, serial: str) -> str:
    """Two letters, six digits and the check digit those six digits call for."""
    return f"{prefix}{serial}{dea_check_digit(serial)}"


def npi(first_nine: str) -> str:
    """Nine digits and the Luhn check digit computed over 80840 + those nine."""
    return next(first_nine + d for d in "0123456789" if luhn_valid(NPI_PREFIX + first_nine + d))


# First letter F (clinic) / B (pharmacy) / F (practitioner), second the initial of the name.
CLINIC_DEA = dea_number("FH", "482931")
PHARMACY_DEA = dea_number("BL", "730164")
PRESCRIBER_DEA = dea_number("FR", "215873")
TIMEZONE = "America/Chicago"
"""Both demo registrants are in Central Texas."""

DEMO_STAFF_SUBJECT = "demo-staff"


def _months_later(today: date, months: int) -> date:
    """The last day of the month ``months`` after today's (how expiry dates are printed)."""
    index = today.year * 12 + today.month - 1 + months + 1
    return date(index // 12, index % 12 + 1, 1) - timedelta(days=1)


def _address(line1: str, city: str, postal_code: str) -> dict[str, str]:
    return {"line1": line1, "city": city, "state": "TX", "postal_code": postal_code}


def clinic(today: date) -> RegistrantCreate:
    return RegistrantCreate.model_validate(
        {
            "name": "Hill Country Ketamine Clinic",
            "kind": "clinic",
            "dea_number": CLINIC_DEA,
            "schedules": ["3N", "4"],
            "registration_expires_on": _months_later(today, 30),
            "address": _address("2400 Ranch Road 620 S, Suite 110", "Lakeway", "78734"),
            "timezone": TIMEZONE,
            "holidays": [date(today.year, 7, 4), date(today.year, 12, 25)],
            "rems_certification_id": "HCS-TX-0048213",
            "rems_certification_status": "certified",
        }
    )


def pharmacy(today: date) -> RegistrantCreate:
    return RegistrantCreate.model_validate(
        {
            "name": "Lone Star Compounding Pharmacy",
            "kind": "pharmacy",
            "dea_number": PHARMACY_DEA,
            "schedules": ["2", "2N", "3", "3N", "4", "5"],
            "registration_expires_on": _months_later(today, 20),
            "address": _address("815 West 6th Street", "Austin", "78703"),
            "timezone": TIMEZONE,
            "holidays": [date(today.year, 1, 1), date(today.year, 12, 25)],
            "npi": npi("184752930"),
            "ncpdp": "4531872",
        }
    )


CLINIC_LOCATIONS = [
    ("Main vault", "vault"),
    ("Medication room cabinet", "cabinet"),
    ("Procedure room 1", "procedure_room"),
]
PHARMACY_LOCATIONS = [("C-III vault", "vault"), ("Compounding cabinet", "cabinet")]


def _staff(name: str, role: str, subject: str, **extra: str) -> StaffCreate:
    return StaffCreate.model_validate({"name": name, "role": role, "subject": subject, **extra})


def clinic_staff(today: date) -> list[tuple[StaffCreate, StaffRegistrationCreate | None]]:
    registration = StaffRegistrationCreate.model_validate(
        {
            "dea_number": PRESCRIBER_DEA,
            "schedules": ["2", "2N", "3", "3N", "4", "5"],
            "expires_on": _months_later(today, 26),
            "state": "TX",
        }
    )
    prescriber = _staff(
        "Elena Ramirez, MD",
        "prescriber",
        "demo-clinic-prescriber",
        npi=npi("162938475"),
        state_license="TX-MD-R4821",
    )
    return [
        (prescriber, registration),
        (_staff("Marcus Hale, RN", "clinician", "demo-clinic-clinician"), None),
        (_staff("Grace Kim, RN", "nurse", "demo-clinic-nurse"), None),
        (_staff("Owen Patel", "compliance_officer", "demo-clinic-compliance"), None),
        # The person trying the demo: the staff token printed by ``make run`` carries this subject.
        (_staff("Demo User", "clinician", DEMO_STAFF_SUBJECT), None),
    ]


def pharmacy_staff() -> list[tuple[StaffCreate, StaffRegistrationCreate | None]]:
    pharmacist = _staff(
        "Nadia Brooks, PharmD",
        "pharmacist",
        "demo-pharmacy-pharmacist",
        npi=npi("150627384"),
        state_license="TX-RPH-58231",
    )
    return [
        (pharmacist, None),
        (_staff("Luis Ortega, CPhT", "pharmacy_technician", "demo-pharmacy-technician"), None),
        (_staff("Hannah Wu", "compliance_officer", "demo-pharmacy-compliance"), None),
        (_staff("Demo User", "pharmacist", DEMO_STAFF_SUBJECT), None),
    ]


def _patients(registrant_id: uuid.UUID, address: dict[str, str], rows: str) -> list[PatientCreate]:
    """Patients from ``external_id given family date_of_birth sex weight_kg [rems_id]`` rows."""
    patients = []
    for row in rows.strip().splitlines():
        external_id, given, family, born, sex, weight, *rems = row.split()
        data = {
            "registrant_id": registrant_id,
            "external_id": external_id,
            "given_name": given,
            "family_name": family,
            "date_of_birth": born,
            "sex": sex,
            "address": address,
            "weight_kg": None if weight == "-" else weight,
            "rems_enrollment_id": rems[0] if rems else None,
        }
        patients.append(PatientCreate.model_validate(data))
    return patients


def clinic_patients(clinic_id: uuid.UUID) -> list[PatientCreate]:
    # Jordan Avery is enrolled in the Spravato REMS; the others have IV ketamine (dose by weight).
    return _patients(
        clinic_id,
        _address("1207 Barton Hills Drive", "Austin", "78704"),
        """
        HC-1001 Jordan Avery 1984-05-17 female 64.2 SPR-PT-7730019
        HC-1002 Daniel Okafor 1977-11-02 male 84.5
        HC-1003 Maria Chen 1991-02-23 female 58.9
        """,
    )


def pharmacy_patients(pharmacy_id: uuid.UUID) -> list[PatientCreate]:
    return _patients(
        pharmacy_id,
        _address("44 Rainey Street, Apt 9", "Austin", "78701"),
        """
        LS-5001 Taylor Brooks 1988-08-30 male -
        LS-5002 Priya Nair 1979-03-14 female -
        """,
    )


Stock = list[tuple[ProductCreate, list[LotCreate]]]


def _product(registrant_id: uuid.UUID, **fields: Any) -> ProductCreate:
    return ProductCreate.model_validate({"registrant_id": registrant_id, **fields})


def _lot(number: str, expires_on: date) -> LotCreate:
    return LotCreate(lot_number=number, expires_on=expires_on)


def _injection(clinic_id: uuid.UUID, ndc: str, mg_per_ml: str, vial_ml: str) -> ProductCreate:
    return _product(
        clinic_id,
        name=f"Ketamine HCl injection {mg_per_ml} mg/mL, {vial_ml} mL multi-dose vial",
        ndc=ndc,
        substance="ketamine",
        dosage_form="injection",
        strength={"value": mg_per_ml, "unit": "mg/mL", "basis": "base"},
        inventory_unit="mL",
        package_size=vial_ml,
    )


def _esketamine_kit(clinic_id: uuid.UUID, ndc: str, devices: int) -> ProductCreate:
    return _product(
        clinic_id,
        name=f"Spravato (esketamine) nasal spray {28 * devices} mg kit, {devices} x 28 mg devices",
        ndc=ndc,
        substance="esketamine",
        dosage_form="nasal_spray",
        strength={"value": "28", "unit": "mg", "basis": "base"},
        inventory_unit="device",
        package_size=str(devices),
    )


def clinic_stock(clinic_id: uuid.UUID, today: date) -> Stock:
    return [
        (
            _injection(clinic_id, "0409-2051-05", "50", "10"),
            [
                _lot("HB24017A", _months_later(today, 14)),
                _lot("HB24071C", _months_later(today, 20)),
            ],
        ),
        (
            _injection(clinic_id, "0409-2053-10", "100", "5"),
            [_lot("HB24052B", _months_later(today, 16))],
        ),
        (_esketamine_kit(clinic_id, "50458-028-02", 2), [_lot("24E118", _months_later(today, 12))]),
        (_esketamine_kit(clinic_id, "50458-028-03", 3), [_lot("24E207", _months_later(today, 13))]),
    ]


BULK_NDC = "51927-4512-01"


def _compound(
    pharmacy_id: uuid.UUID, code: str, form: str, mg: str, vehicle: dict[str, str]
) -> ProductCreate:
    """A 503A compound: its code, and per finished unit the bulk salt plus one vehicle."""
    active = {"name": "Ketamine hydrochloride USP", "ndc": BULK_NDC, "quantity": mg, "unit": "mg"}
    label = "troche" if form == "troche" else "rapid-dissolve tablet"
    return _product(
        pharmacy_id,
        name=f"Ketamine HCl {mg} mg {label} (compounded)",
        compound_code=code,
        ingredients=[active, vehicle],
        substance="ketamine",
        dosage_form=form,
        # Weighed as the hydrochloride, so the label's mg are salt mg.
        strength={"value": mg, "unit": "mg", "basis": "salt"},
        inventory_unit="each",
        package_size="30",
    )


def pharmacy_stock(pharmacy_id: uuid.UUID, today: date) -> Stock:
    bulk = _product(
        pharmacy_id,
        name="Ketamine hydrochloride USP, bulk powder, 25 g",
        ndc=BULK_NDC,
        substance="ketamine",
        dosage_form="bulk_powder",
        strength={"value": "1000", "unit": "mg/g", "basis": "salt"},
        inventory_unit="g",
        package_size="25",
    )
    troche_base = {"name": "Troche base (polyethylene glycol)", "quantity": "1.9", "unit": "g"}
    rdt_base = {"name": "Rapid-dissolve tablet base", "quantity": "150", "unit": "mg"}
    # Compounds get their lots from compounding batches, which trace them to the bulk lots.
    bulk_lots = [
        _lot("KH2409-118", _months_later(today, 24)),
        _lot("KH2411-042", _months_later(today, 28)),
    ]
    return [
        (bulk, bulk_lots),
        (_compound(pharmacy_id, "KET-TRO-100", "troche", "100", troche_base), []),
        (_compound(pharmacy_id, "KET-RDT-50", "rapid_dissolve_tablet", "50", rdt_base), []),
    ]
