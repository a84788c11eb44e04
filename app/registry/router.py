"""Registry routes: registrants, their locations and staff, and patients."""

import uuid

from fastapi import Depends, Response, status

from app.core.pagination import Page, page_of
from app.core.revisions import history
from app.core.schemas import QueryText
from app.edge.audit import audited
from app.edge.deps import CurrentCaller, CurrentPrincipal, Idempotent, SessionDep, current_principal
from app.edge.pagination import Cursor, Limit
from app.edge.responses import set_location
from app.edge.routing import api_router
from app.registry import schemas, service
from app.registry.enums import LocationKind, RegistrantKind, StaffRole
from app.registry.models import Location, Patient, Registrant, Staff

router = api_router(dependencies=[Depends(current_principal)])
RegistrantPath = "/registrants/{registrant_id}"


@router.post(
    "/registrants",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Idempotent],
    tags=["registrants"],
    response_model=schemas.RegistrantOut,
)
async def create_registrant(
    body: schemas.RegistrantCreate,
    response: Response,
    session: SessionDep,
    caller: CurrentCaller,
) -> Registrant:
    registrant = await service.create_registrant(session, data=body, caller=caller)
    set_location(response, f"/v1/registrants/{registrant.id}")
    return registrant


@router.get("/registrants", tags=["registrants"], response_model=Page[schemas.RegistrantOut])
async def list_registrants(
    session: SessionDep,
    principal: CurrentPrincipal,
    limit: Limit = 50,
    cursor: Cursor = None,
    kind: RegistrantKind | None = None,
    state: QueryText | None = None,
    dea_number: QueryText | None = None,
) -> dict[str, object]:
    statement = service.registrants_query(principal, kind=kind, state=state, dea_number=dea_number)
    return await page_of(session, statement, Registrant, limit=limit, cursor=cursor)


@router.get(RegistrantPath, tags=["registrants"], response_model=schemas.RegistrantOut)
async def get_registrant(
    registrant_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> Registrant:
    return await service.get_registrant(session, registrant_id, principal=principal)


@router.patch(RegistrantPath, tags=["registrants"], response_model=schemas.RegistrantOut)
async def update_registrant(
    registrant_id: uuid.UUID,
    body: schemas.RegistrantUpdate,
    session: SessionDep,
    caller: CurrentCaller,
) -> Registrant:
    """Renew the registration or change details; the previous version stays in the history."""
    return await service.update_registrant(session, registrant_id, data=body, caller=caller)


@router.get(
    RegistrantPath + "/history", tags=["registrants"], response_model=list[schemas.RevisionOut]
)
async def registrant_history(
    registrant_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> object:
    registrant = await service.get_registrant(session, registrant_id, principal=principal)
    return await history(session, registrant)


@router.post(
    RegistrantPath + "/locations",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Idempotent],
    tags=["locations"],
    response_model=schemas.LocationOut,
)
async def create_location(
    registrant_id: uuid.UUID,
    body: schemas.LocationCreate,
    response: Response,
    session: SessionDep,
    caller: CurrentCaller,
) -> Location:
    location = await service.create_location(session, registrant_id, data=body, caller=caller)
    set_location(response, f"/v1/registrants/{registrant_id}/locations/{location.id}")
    return location


@router.get(
    RegistrantPath + "/locations", tags=["locations"], response_model=Page[schemas.LocationOut]
)
async def list_locations(
    registrant_id: uuid.UUID,
    session: SessionDep,
    principal: CurrentPrincipal,
    limit: Limit = 50,
    cursor: Cursor = None,
    kind: LocationKind | None = None,
    active: bool | None = None,
) -> dict[str, object]:
    statement = service.locations_query(
        registrant_id, principal=principal, kind=kind, active=active
    )
    return await page_of(session, statement, Location, limit=limit, cursor=cursor)


@router.get(
    RegistrantPath + "/locations/{location_id}",
    tags=["locations"],
    response_model=schemas.LocationOut,
)
async def get_location(
    registrant_id: uuid.UUID,
    location_id: uuid.UUID,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> Location:
    return await service.get_location(session, registrant_id, location_id, principal=principal)


@router.patch(
    RegistrantPath + "/locations/{location_id}",
    tags=["locations"],
    response_model=schemas.LocationOut,
)
async def update_location(
    registrant_id: uuid.UUID,
    location_id: uuid.UUID,
    body: schemas.LocationUpdate,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> Location:
    return await service.update_location(
        session, registrant_id, location_id, data=body, principal=principal
    )


@router.post(
    RegistrantPath + "/staff",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Idempotent],
    tags=["staff"],
    response_model=schemas.StaffOut,
)
async def create_staff(
    registrant_id: uuid.UUID,
    body: schemas.StaffCreate,
    response: Response,
    session: SessionDep,
    caller: CurrentCaller,
) -> Staff:
    staff = await service.create_staff(session, registrant_id, data=body, caller=caller)
    set_location(response, f"/v1/registrants/{registrant_id}/staff/{staff.id}")
    return staff


@router.get(RegistrantPath + "/staff", tags=["staff"], response_model=Page[schemas.StaffOut])
async def list_staff(
    registrant_id: uuid.UUID,
    session: SessionDep,
    principal: CurrentPrincipal,
    limit: Limit = 50,
    cursor: Cursor = None,
    role: StaffRole | None = None,
    active: bool | None = None,
    subject: QueryText | None = None,
) -> dict[str, object]:
    statement = service.staff_query(
        registrant_id, principal=principal, role=role, active=active, subject=subject
    )
    return await page_of(session, statement, Staff, limit=limit, cursor=cursor)


StaffPath = RegistrantPath + "/staff/{staff_id}"


@router.get(StaffPath, tags=["staff"], response_model=schemas.StaffOut)
async def get_staff(
    registrant_id: uuid.UUID,
    staff_id: uuid.UUID,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> Staff:
    return await service.get_staff(session, registrant_id, staff_id, principal=principal)


@router.patch(StaffPath, tags=["staff"], response_model=schemas.StaffOut)
async def update_staff(
    registrant_id: uuid.UUID,
    staff_id: uuid.UUID,
    body: schemas.StaffUpdate,
    session: SessionDep,
    caller: CurrentCaller,
) -> Staff:
    return await service.update_staff(session, registrant_id, staff_id, data=body, caller=caller)


@router.get(StaffPath + "/history", tags=["staff"], response_model=list[schemas.RevisionOut])
async def staff_history(
    registrant_id: uuid.UUID,
    staff_id: uuid.UUID,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> object:
    staff = await service.get_staff(session, registrant_id, staff_id, principal=principal)
    return await history(session, staff)


@router.post(
    StaffPath + "/registrations",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Idempotent],
    tags=["staff"],
    response_model=schemas.StaffRegistrationOut,
)
async def add_staff_registration(
    registrant_id: uuid.UUID,
    staff_id: uuid.UUID,
    body: schemas.StaffRegistrationCreate,
    response: Response,
    session: SessionDep,
    caller: CurrentCaller,
) -> object:
    """Record a prescriber's DEA registration or its renewal (earlier ones are kept)."""
    registration = await service.add_staff_registration(
        session, registrant_id, staff_id, data=body, caller=caller
    )
    set_location(
        response,
        f"/v1/registrants/{registrant_id}/staff/{staff_id}/registrations/{registration.id}",
    )
    return registration


@router.get(
    StaffPath + "/registrations",
    tags=["staff"],
    response_model=list[schemas.StaffRegistrationOut],
)
async def list_staff_registrations(
    registrant_id: uuid.UUID,
    staff_id: uuid.UUID,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> object:
    return await service.list_staff_registrations(
        session, registrant_id, staff_id, principal=principal
    )


@router.get(
    StaffPath + "/registrations/{registration_id}",
    tags=["staff"],
    response_model=schemas.StaffRegistrationOut,
)
async def get_staff_registration(
    registrant_id: uuid.UUID,
    staff_id: uuid.UUID,
    registration_id: uuid.UUID,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> object:
    return await service.get_staff_registration(
        session, registrant_id, staff_id, registration_id, principal=principal
    )


@router.post(
    "/patients",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Idempotent],
    tags=["patients"],
    response_model=schemas.PatientOut,
)
@audited("patient")
async def create_patient(
    body: schemas.PatientCreate,
    response: Response,
    session: SessionDep,
    caller: CurrentCaller,
) -> Patient:
    patient = await service.create_patient(session, data=body, caller=caller)
    set_location(response, f"/v1/patients/{patient.id}")
    return patient


@router.get("/patients", tags=["patients"], response_model=Page[schemas.PatientOut])
@audited("patient", kind="patient_read")
async def list_patients(
    session: SessionDep,
    principal: CurrentPrincipal,
    limit: Limit = 50,
    cursor: Cursor = None,
    registrant_id: uuid.UUID | None = None,
    external_id: QueryText | None = None,
) -> dict[str, object]:
    statement = service.patients_query(
        principal, registrant_id=registrant_id, external_id=external_id
    )
    return await page_of(session, statement, Patient, limit=limit, cursor=cursor)


@router.get("/patients/{patient_id}", tags=["patients"], response_model=schemas.PatientOut)
@audited("patient", "patient_id", kind="patient_read")
async def get_patient(
    patient_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> Patient:
    patient = await service.get_patient(session, patient_id, principal=principal)
    return patient


@router.patch("/patients/{patient_id}", tags=["patients"], response_model=schemas.PatientOut)
@audited("patient", "patient_id")
async def update_patient(
    patient_id: uuid.UUID,
    body: schemas.PatientUpdate,
    session: SessionDep,
    caller: CurrentCaller,
) -> Patient:
    patient = await service.update_patient(session, patient_id, data=body, caller=caller)
    return patient


@router.get(
    "/patients/{patient_id}/history", tags=["patients"], response_model=list[schemas.RevisionOut]
)
@audited("patient", "patient_id", kind="patient_read")
async def patient_history(
    patient_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> object:
    patient = await service.get_patient(session, patient_id, principal=principal)
    return await history(session, patient)
