"""/v1/integrations/fhir-senders: an admin enables an integration as a FHIR sender at a
registrant and names the location its records draw from."""

import uuid

from fastapi import Depends, Response, status

from app.auth.deps import CurrentPrincipal, Idempotent, current_principal
from app.core.deps import ClockDep, SessionDep
from app.core.pagination import Cursor, Limit, Page, page_of
from app.core.responses import set_location
from app.core.revisions import list_revisions
from app.core.routing import api_router
from app.integrations.fhir import schemas, senders
from app.integrations.fhir.models import FhirSender
from app.registry.schemas import RevisionOut

router = api_router(dependencies=[Depends(current_principal)], tags=["fhir-senders"])
_PATH = "/integrations/fhir-senders"


@router.post(_PATH, status_code=status.HTTP_201_CREATED, dependencies=[Idempotent],
             response_model=schemas.SenderOut)  # fmt: skip
async def create_fhir_sender(
    body: schemas.SenderCreate,
    response: Response,
    session: SessionDep,
    principal: CurrentPrincipal,
    clock: ClockDep,
) -> FhirSender:
    """Enable the integration whose token subject is `subject` to send FHIR to the registrant;
    its administrations outside a session and its dispenses draw from `location_id`."""
    sender = await senders.create_sender(session, data=body, principal=principal, now=clock.now())
    set_location(response, f"/v1{_PATH}/{sender.id}")
    return sender


@router.get(_PATH, response_model=Page[schemas.SenderOut])
async def list_fhir_senders(
    session: SessionDep,
    principal: CurrentPrincipal,
    limit: Limit = 50,
    cursor: Cursor = None,
    registrant_id: uuid.UUID | None = None,
) -> dict[str, object]:
    statement = senders.senders_query(principal, registrant_id)
    return await page_of(session, statement, FhirSender, limit=limit, cursor=cursor)


@router.get(_PATH + "/{sender_id}", response_model=schemas.SenderOut)
async def get_fhir_sender(
    sender_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> FhirSender:
    return await senders.get_sender(session, sender_id, principal=principal)


@router.patch(_PATH + "/{sender_id}", response_model=schemas.SenderOut)
async def update_fhir_sender(
    sender_id: uuid.UUID,
    body: schemas.SenderUpdate,
    session: SessionDep,
    principal: CurrentPrincipal,
    clock: ClockDep,
) -> FhirSender:
    """Change the sender's location, or disable (or enable again) it."""
    return await senders.update_sender(session, sender_id, data=body, principal=principal,
                                       now=clock.now())  # fmt: skip


@router.get(_PATH + "/{sender_id}/history", response_model=list[RevisionOut])
async def fhir_sender_history(
    sender_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> object:
    """Every version of the sender's configuration, oldest first."""
    sender = await senders.get_sender(session, sender_id, principal=principal)
    return await list_revisions(session, entity_type=FhirSender.__tablename__,
                                entity_id=sender.id)  # fmt: skip
