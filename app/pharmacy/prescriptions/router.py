"""Prescription routes: pharmacists and integrations write; the prescriber's side reads."""

import uuid
from typing import Annotated, cast

from fastapi import Depends, Query, Response, status

from app.auth.principal import Principal
from app.core.clock import Clock
from app.core.pagination import Page, page_of
from app.core.revisions import history
from app.core.schemas import QueryText
from app.edge.audit import audited
from app.edge.deps import (
    ClockDep,
    CurrentCaller,
    CurrentPrincipal,
    IdempotencyRequired,
    Idempotent,
    SessionDep,
    current_principal,
)
from app.edge.pagination import Cursor, Limit
from app.edge.responses import set_location
from app.edge.routing import api_router
from app.pharmacy.prescriptions import schemas, service, views
from app.pharmacy.prescriptions.models import Prescription
from app.registry.schemas import RevisionOut

router = api_router(dependencies=[Depends(current_principal)], tags=["prescriptions"])


async def _out(
    session: SessionDep, principal: Principal, rx: Prescription, clock: Clock
) -> schemas.PrescriptionOut:
    fills = await service.fills_of(session, [rx.id])
    today = await service.pharmacy_today(session, rx, clock.now())
    return await views.prescription_out(session, principal, rx, fills[rx.id], today)


@router.post(
    "/prescriptions",
    status_code=status.HTTP_201_CREATED,
    dependencies=[Idempotent],
    response_model=schemas.PrescriptionOut,
)
@audited("prescription")
async def create_prescription(
    body: schemas.PrescriptionCreate,
    response: Response,
    session: SessionDep,
    caller: CurrentCaller,
    clock: ClockDep,
) -> schemas.PrescriptionOut:
    """Record a prescription the pharmacy received (electronic, written, oral or fax) with the
    1306.05 content and the prescriber as given. Refused: a prescriber whose registration had
    expired on the day of issue or does not cover Schedule III, and a telehealth prescription
    without an in-person evaluation issued after the telemedicine flexibility ended. An
    integration's prescription is a record: stored with what it breaks."""
    rx = await service.create_prescription(session, data=body, caller=caller)
    set_location(response, f"/v1/prescriptions/{rx.id}")
    return await _out(session, caller.principal, rx, clock)


@router.get("/prescriptions", response_model=Page[schemas.PrescriptionListedOut])
@audited("prescription", kind="patient_read")
async def list_prescriptions(
    session: SessionDep,
    principal: CurrentPrincipal,
    limit: Limit = 50,
    cursor: Cursor = None,
    registrant_id: Annotated[
        uuid.UUID | None,
        Query(
            description="A pharmacy's own prescriptions, and those pharmacies linked to this "
            "registrant as their issuer."
        ),
    ] = None,
    patient_id: uuid.UUID | None = None,
    status: schemas.PrescriptionStatus | None = None,
    prescriber_dea_number: QueryText | None = None,
) -> dict[str, object]:
    statement = service.prescriptions_query(
        principal, registrant_id=registrant_id, patient_id=patient_id, status=status,
        prescriber_dea_number=prescriber_dea_number,
    )  # fmt: skip
    page = await page_of(session, statement, Prescription, limit=limit, cursor=cursor)
    found = cast(list[Prescription], page["items"])
    service.shown_to(principal, found)
    return page | {"items": await views.prescriptions_listed(session, principal, found)}


@router.get("/prescriptions/{prescription_id}", response_model=schemas.PrescriptionOut)
@audited("prescription", "prescription_id", kind="patient_read")
async def get_prescription(
    prescription_id: uuid.UUID,
    session: SessionDep,
    principal: CurrentPrincipal,
    clock: ClockDep,
) -> schemas.PrescriptionOut:
    """A prescription with its fills; readable by the pharmacy and by the issuing clinic's
    registrant the pharmacy linked it to."""
    rx = await service.get_prescription(session, prescription_id, principal=principal)
    return await _out(session, principal, rx, clock)


@router.get("/prescriptions/{prescription_id}/history", response_model=list[RevisionOut])
@audited("prescription", "prescription_id", kind="patient_read")
async def prescription_history(
    prescription_id: uuid.UUID,
    session: SessionDep,
    principal: CurrentPrincipal,
) -> object:
    rx = await service.get_prescription(session, prescription_id, principal=principal)
    return await history(session, rx)


@router.patch("/prescriptions/{prescription_id}", response_model=schemas.PrescriptionOut)
@audited("prescription", "prescription_id")
async def link_prescription_issuer(
    prescription_id: uuid.UUID,
    body: schemas.IssuerLink,
    session: SessionDep,
    caller: CurrentCaller,
    clock: ClockDep,
) -> schemas.PrescriptionOut:
    """The pharmacy shares its prescription with the issuing clinic's registrant (which may
    then read it and its fills), moves the link, or removes it (`null`). Every version is
    kept."""
    rx = await service.link_issuer(session, prescription_id, body, caller)
    return await _out(session, caller.principal, rx, clock)


@router.post(
    "/prescriptions/{prescription_id}/cancel",
    dependencies=[Idempotent],
    response_model=schemas.PrescriptionOut,
)
@audited("prescription", "prescription_id")
async def cancel_prescription(
    prescription_id: uuid.UUID,
    body: schemas.CancelCreate,
    session: SessionDep,
    caller: CurrentCaller,
    clock: ClockDep,
) -> schemas.PrescriptionOut:
    """Cancel a prescription (it is kept, with every version): it is not filled again."""
    rx = await service.cancel(session, prescription_id, body, caller)
    return await _out(session, caller.principal, rx, clock)


@router.post(
    "/prescriptions/{prescription_id}/fills",
    status_code=status.HTTP_201_CREATED,
    dependencies=IdempotencyRequired,
    response_model=schemas.PrescriptionOut,
)
@audited("prescription", "prescription_id")
async def fill_prescription(
    prescription_id: uuid.UUID,
    body: schemas.FillCreate,
    response: Response,
    session: SessionDep,
    caller: CurrentCaller,
    clock: ClockDep,
) -> schemas.PrescriptionOut:
    """Dispense a fill (the original, a refill or a partial fill): a ledger `dispense` from
    the lot. Refused, each with its own problem: a cancelled prescription, refills exhausted,
    fills past the total prescribed with refills, a fill more than six months after issue, a
    prescriber registration expired, a lot expired or past its beyond-use date. An early
    refill needs `early_refill_reason`. A fill entered in error is reversed in the ledger
    (`POST /v1/ledger/events`, type `reversal`), and then counts for nothing."""
    rx, made = await service.fill(session, prescription_id, body, caller)
    set_location(response, f"/v1/ledger/events/{made.event_id}")
    return await _out(session, caller.principal, rx, clock)
