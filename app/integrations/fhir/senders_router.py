"""/v1/integrations/fhir-senders: an admin enables an integration as a FHIR sender at a
registrant and names the location its records draw from."""

import uuid

from fastapi import Depends, Response, status

from app.core.pagination import Page, page_of
from app.core.revisions import history
from app.edge.deps import (
    CurrentCaller,
    CurrentPrincipal,
    Idempotent,
    SessionDep,
    current_principal,
)
from app.edge.pagination import Cursor, Limit
from app.edge.responses import set_location
from app.edge.routing import api_router
from app.integrations.fhir import schemas, senders, settling
from app.integrations.fhir.models import FhirCodeMapping, FhirSender
from app.registry.schemas import RevisionOut

router = api_router(dependencies=[Depends(current_principal)], tags=["fhir-senders"])
_PATH = "/integrations/fhir-senders"


@router.post(_PATH, status_code=status.HTTP_201_CREATED, dependencies=[Idempotent],
             response_model=schemas.SenderOut)  # fmt: skip
async def create_fhir_sender(
    body: schemas.SenderCreate,
    response: Response,
    session: SessionDep,
    caller: CurrentCaller,
) -> FhirSender:
    """Enable the integration whose token subject is `subject` to send FHIR to the registrant;
    its administrations outside a session and its dispenses draw from `location_id`."""
    sender = await senders.create_sender(session, data=body, caller=caller)
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
    caller: CurrentCaller,
) -> FhirSender:
    """Change the sender's location, or disable (or enable again) it."""
    return await senders.update_sender(session, sender_id, data=body, caller=caller)  # fmt: skip


@router.get(_PATH + "/{sender_id}/history", response_model=list[RevisionOut])
async def fhir_sender_history(
    sender_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> object:
    """Every version of the sender's configuration, oldest first."""
    sender = await senders.get_sender(session, sender_id, principal=principal)
    return await history(session, sender)


@router.post(_PATH + "/{sender_id}/code-mappings", status_code=status.HTTP_201_CREATED,
             dependencies=[Idempotent], response_model=schemas.CodeMappingAnswer,
             responses={200: {"model": schemas.CodeMappingAnswer,
                              "description": "The same mapping, made before."}})  # fmt: skip
async def create_fhir_code_mapping(
    sender_id: uuid.UUID,
    body: schemas.CodeMappingCreate,
    response: Response,
    session: SessionDep,
    caller: CurrentCaller,
) -> schemas.CodeMappingAnswer:
    """Map a code of the sender's own code system (a coding's `system` and `code`) to one of
    the registrant's products: its records naming that code name that product from now on,
    and every record kept unposted for want of it posts now, at its original time (or stays
    kept for its lot, when the lot cannot be told). The same mapping again answers 200; the
    code mapped to another product is refused (409): a mapping is never changed."""
    mapped = await settling.map_code(session, sender_id, body, caller=caller)  # fmt: skip
    if mapped.created:
        set_location(response, f"/v1{_PATH}/{sender_id}/code-mappings/{mapped.mapping.id}")
    else:
        response.status_code = status.HTTP_200_OK
    out = schemas.CodeMappingOut.model_validate(mapped.mapping)
    return schemas.CodeMappingAnswer(
        **out.model_dump(), records=[settling.record_out(r) for r in mapped.records]
    )


@router.get(_PATH + "/{sender_id}/code-mappings", response_model=list[schemas.CodeMappingOut])
async def list_fhir_code_mappings(
    sender_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> list[FhirCodeMapping]:
    """The sender's codes mapped to products, oldest first."""
    return await settling.code_mappings(session, sender_id, principal=principal)


@router.get(_PATH + "/{sender_id}/code-mappings/{mapping_id}",
            response_model=schemas.CodeMappingOut)  # fmt: skip
async def get_fhir_code_mapping(
    sender_id: uuid.UUID, mapping_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> FhirCodeMapping:
    return await settling.code_mapping(session, sender_id, mapping_id, principal=principal)
