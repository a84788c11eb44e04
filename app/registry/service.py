"""Rules of the registry. Services flush, never commit; the request commits at the edge."""

import uuid
from datetime import date, datetime
from typing import Any
from zoneinfo import ZoneInfo

from sqlalchemy import Select, select
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.caller import Caller
from app.auth.permissions import Permission
from app.auth.principal import Principal
from app.auth.tenancy import get_readable, within_registrants
from app.core.changes import apply_changes, sent_changes
from app.core.db import flush_unique, held, where_given
from app.core.errors import InvalidInput, NotFound
from app.core.revisions import keep_version, revise
from app.core.tenancy import find
from app.registry import schemas
from app.registry.enums import RemsCertificationStatus
from app.registry.models import Location, Patient, Registrant, Staff, StaffRegistration


def _json_ready(changes: dict[str, Any]) -> dict[str, Any]:
    if changes.get("holidays") is not None:
        changes["holidays"] = [day.isoformat() for day in changes["holidays"]]
    return changes


# Registrants


async def create_registrant(
    session: AsyncSession,
    *,
    data: schemas.RegistrantCreate,
    caller: Caller,
) -> Registrant:
    caller.principal.require(Permission.manage_registrants)
    registrant = Registrant(
        id=uuid.uuid4(),
        **_json_ready(data.model_dump()),
        state=data.address.state,
        version=1,
        created_at=caller.now,
        updated_at=caller.now,
    )
    session.add(registrant)
    await flush_unique(
        session, pointer="#/dea_number", detail="a registrant with this DEA number exists"
    )
    await keep_version(
        session, registrant, schemas.RegistrantOut, by=caller.principal.subject, at=caller.now
    )
    return registrant


async def get_registrant(
    session: AsyncSession, registrant_id: uuid.UUID, *, principal: Principal
) -> Registrant:
    principal.ensure_registrant(registrant_id)
    registrant = held(session, Registrant, registrant_id) or await session.get(
        Registrant, registrant_id
    )
    if registrant is None:
        raise NotFound("registrant not found")
    return registrant


class NoSuchRegistrant(LookupError):
    """No registrant has the id a command was given."""

    def __init__(self, registrant_id: uuid.UUID) -> None:
        super().__init__(f"no registrant {registrant_id}")


async def find_registrant(session: AsyncSession, registrant_id: uuid.UUID) -> Registrant:
    """The registrant, for work outside a request (a command): no principal to scope it, and
    :class:`NoSuchRegistrant` rather than a 404 when there is none."""
    registrant = await session.get(Registrant, registrant_id)
    if registrant is None:
        raise NoSuchRegistrant(registrant_id)
    return registrant


def local_date(registrant: Registrant, instant: datetime) -> date:
    """The day ``instant`` falls on where the registrant is: the day its staff mean."""
    return instant.astimezone(ZoneInfo(registrant.timezone)).date()


def holidays_of(registrant: Registrant) -> frozenset[date]:
    """The days the registrant is closed besides weekends: not business days."""
    return frozenset(date.fromisoformat(day) for day in registrant.holidays)


def registrants_query(
    principal: Principal, *, kind: str | None, state: str | None, dea_number: str | None
) -> Select[Registrant]:
    statement = within_registrants(select(Registrant), Registrant.id, principal, None)
    return where_given(
        statement,
        (Registrant.kind, kind),
        (Registrant.state, state and state.upper()),
        (Registrant.dea_number, dea_number and dea_number.upper()),
    )


_REGISTRANT_REQUIRED = frozenset(
    {"name", "schedules", "registration_expires_on", "address", "timezone", "holidays"}
    | {"rems_certification_status"}
)


def _check_rems_certification(registrant: Registrant, changes: dict[str, Any]) -> None:
    """The rule RegistrantCreate checks, on the registrant as it would be after the change."""
    status = changes.get("rems_certification_status", registrant.rems_certification_status)
    certification_id = changes.get("rems_certification_id", registrant.rems_certification_id)
    if status == RemsCertificationStatus.certified and not certification_id:
        raise InvalidInput.at("#/rems_certification_id", schemas.REMS_NEEDS_ID)


async def update_registrant(
    session: AsyncSession,
    registrant_id: uuid.UUID,
    *,
    data: schemas.RegistrantUpdate,
    caller: Caller,
) -> Registrant:
    """A renewal (new expiry, schedules) or a change of details; every version is kept."""
    registrant = await get_registrant(session, registrant_id, principal=caller.principal)
    caller.principal.require(Permission.manage_registrants)
    changes = _json_ready(sent_changes(data, required=_REGISTRANT_REQUIRED))
    _check_rems_certification(registrant, changes)
    if "address" in changes:
        changes["state"] = changes["address"]["state"]
    if apply_changes(registrant, changes):
        await revise(
            session, registrant, schemas.RegistrantOut, by=caller.principal.subject, at=caller.now
        )
    return registrant


# Locations


async def create_location(
    session: AsyncSession,
    registrant_id: uuid.UUID,
    *,
    data: schemas.LocationCreate,
    caller: Caller,
) -> Location:
    await get_registrant(session, registrant_id, principal=caller.principal)
    caller.principal.require(Permission.manage_locations_staff)
    location = Location(
        id=uuid.uuid4(),
        registrant_id=registrant_id,
        **data.model_dump(),
        active=True,
        created_at=caller.now,
    )
    session.add(location)
    await flush_unique(session, pointer="#/name", detail="a location with this name exists")
    return location


async def get_location(
    session: AsyncSession,
    registrant_id: uuid.UUID,
    location_id: uuid.UUID,
    *,
    principal: Principal,
) -> Location:
    principal.ensure_registrant(registrant_id)
    location = await find(session, Location, location_id, (registrant_id,))
    if location is None:
        raise NotFound("location not found")
    return location


def locations_query(
    registrant_id: uuid.UUID, *, principal: Principal, kind: str | None, active: bool | None
) -> Select[Location]:
    principal.ensure_registrant(registrant_id)
    statement = select(Location).where(Location.registrant_id == registrant_id)
    return where_given(statement, (Location.kind, kind), (Location.active, active))


async def update_location(
    session: AsyncSession,
    registrant_id: uuid.UUID,
    location_id: uuid.UUID,
    *,
    data: schemas.LocationUpdate,
    principal: Principal,
) -> Location:
    location = await get_location(session, registrant_id, location_id, principal=principal)
    principal.require(Permission.manage_locations_staff)
    if location.session_id is not None:
        raise InvalidInput.at("#", "a session's holding changes only with its session")
    apply_changes(location, sent_changes(data, required=frozenset({"name", "active"})))
    await flush_unique(session, pointer="#/name", detail="a location with this name exists")
    return location


# Staff


async def create_staff(
    session: AsyncSession,
    registrant_id: uuid.UUID,
    *,
    data: schemas.StaffCreate,
    caller: Caller,
) -> Staff:
    await get_registrant(session, registrant_id, principal=caller.principal)
    caller.principal.require(Permission.manage_locations_staff)
    staff = Staff(
        id=uuid.uuid4(),
        registrant_id=registrant_id,
        **data.model_dump(),
        version=1,
        created_at=caller.now,
        updated_at=caller.now,
    )
    session.add(staff)
    await flush_unique(
        session, pointer="#/subject", detail="a staff member already has this token subject"
    )
    await keep_version(session, staff, schemas.StaffOut, by=caller.principal.subject, at=caller.now)
    return staff


async def get_staff(
    session: AsyncSession,
    registrant_id: uuid.UUID,
    staff_id: uuid.UUID,
    *,
    principal: Principal,
) -> Staff:
    principal.ensure_registrant(registrant_id)
    staff = await find(session, Staff, staff_id, (registrant_id,))
    if staff is None:
        raise NotFound("staff member not found")
    return staff


def staff_query(
    registrant_id: uuid.UUID,
    *,
    principal: Principal,
    role: str | None,
    active: bool | None,
    subject: str | None,
) -> Select[Staff]:
    principal.ensure_registrant(registrant_id)
    statement = select(Staff).where(Staff.registrant_id == registrant_id)
    return where_given(
        statement, (Staff.role, role), (Staff.active, active), (Staff.subject, subject)
    )


async def update_staff(
    session: AsyncSession,
    registrant_id: uuid.UUID,
    staff_id: uuid.UUID,
    *,
    data: schemas.StaffUpdate,
    caller: Caller,
) -> Staff:
    staff = await get_staff(session, registrant_id, staff_id, principal=caller.principal)
    caller.principal.require(Permission.manage_locations_staff)
    changes = sent_changes(data, required=frozenset({"name", "role", "active"}))
    if apply_changes(staff, changes):
        await flush_unique(
            session, pointer="#/subject", detail="a staff member already has this token subject"
        )
        await revise(session, staff, schemas.StaffOut, by=caller.principal.subject, at=caller.now)
    return staff


async def add_staff_registration(
    session: AsyncSession,
    registrant_id: uuid.UUID,
    staff_id: uuid.UUID,
    *,
    data: schemas.StaffRegistrationCreate,
    caller: Caller,
) -> StaffRegistration:
    """A prescriber's DEA registration, or its renewal: a new row, the old ones kept."""
    await get_staff(session, registrant_id, staff_id, principal=caller.principal)
    caller.principal.require(Permission.manage_locations_staff)
    registration = StaffRegistration(
        id=uuid.uuid4(),
        registrant_id=registrant_id,
        staff_id=staff_id,
        **data.model_dump(),
        created_at=caller.now,
        created_by=caller.principal.subject,
    )
    session.add(registration)
    await session.flush()
    return registration


async def list_staff_registrations(
    session: AsyncSession,
    registrant_id: uuid.UUID,
    staff_id: uuid.UUID,
    *,
    principal: Principal,
) -> list[StaffRegistration]:
    await get_staff(session, registrant_id, staff_id, principal=principal)
    statement = (
        select(StaffRegistration)
        .where(StaffRegistration.staff_id == staff_id)
        .order_by(StaffRegistration.created_at, StaffRegistration.id)
    )
    return list((await session.scalars(statement)).all())


async def get_staff_registration(
    session: AsyncSession,
    registrant_id: uuid.UUID,
    staff_id: uuid.UUID,
    registration_id: uuid.UUID,
    *,
    principal: Principal,
) -> StaffRegistration:
    await get_staff(session, registrant_id, staff_id, principal=principal)
    registration = await session.get(StaffRegistration, registration_id)
    if registration is None or registration.staff_id != staff_id:
        raise NotFound("registration not found")
    return registration


# Patients


async def create_patient(
    session: AsyncSession,
    *,
    data: schemas.PatientCreate,
    caller: Caller,
) -> Patient:
    await get_registrant(session, data.registrant_id, principal=caller.principal)
    caller.principal.require(Permission.patients)
    patient = Patient(
        id=uuid.uuid4(),
        **data.model_dump(),
        version=1,
        created_at=caller.now,
        updated_at=caller.now,
    )
    session.add(patient)
    await flush_unique(
        session, pointer="#/external_id", detail="a patient with this external id exists"
    )
    await keep_version(
        session, patient, schemas.PatientOut, by=caller.principal.subject, at=caller.now
    )
    return patient


async def get_patient(
    session: AsyncSession, patient_id: uuid.UUID, *, principal: Principal
) -> Patient:
    patient = await get_readable(session, Patient, patient_id, principal, what="patient")
    principal.require(Permission.read_patients)
    return patient


def patients_query(
    principal: Principal, *, registrant_id: uuid.UUID | None, external_id: str | None
) -> Select[Patient]:
    statement = within_registrants(select(Patient), Patient.registrant_id, principal, registrant_id)
    principal.require(Permission.read_patients)
    return where_given(statement, (Patient.external_id, external_id))


async def update_patient(
    session: AsyncSession,
    patient_id: uuid.UUID,
    *,
    data: schemas.PatientUpdate,
    caller: Caller,
) -> Patient:
    patient = await get_patient(session, patient_id, principal=caller.principal)
    caller.principal.require(Permission.patients)
    changes = sent_changes(
        data, required=frozenset({"given_name", "family_name", "date_of_birth", "sex", "address"})
    )
    if apply_changes(patient, changes):
        await revise(
            session, patient, schemas.PatientOut, by=caller.principal.subject, at=caller.now
        )
    return patient
