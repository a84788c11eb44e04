"""/v1/fhir: MedicationAdministration and MedicationDispense in R4 JSON, from integrations.

The body is read as bytes and parsed by the service, so every refusal (not JSON, not R4, a
field at fault) is an OperationOutcome naming the element; nothing here is FastAPI's own
body validation.
"""

import uuid
from collections.abc import Awaitable, Callable
from datetime import UTC
from typing import Any

import orjson
from fastapi import APIRouter, Depends, Request, Response
from fastapi.responses import JSONResponse
from sqlalchemy.ext.asyncio import AsyncSession

from app.catalog.models import Lot
from app.core.schemas import QueryText
from app.edge.answers import answering
from app.edge.audit import audited, note
from app.edge.deps import (
    CurrentCaller,
    CurrentPrincipal,
    Idempotent,
    SessionDep,
    current_principal,
)
from app.edge.routing import API_PREFIX, UnitOfWorkRoute
from app.integrations.fhir import service
from app.integrations.fhir.models import FhirResource
from app.integrations.fhir.outcome import FHIR_MEDIA_TYPE
from app.integrations.fhir.parsing import ACCEPTED_MEDIA_TYPES, MODELS

LEDGER_EVENT_EXTENSION = "urn:csledger:fhir:ledger-event"
"""An extension of the stored resource naming each ledger event it made."""
LEDGER_REVERSAL_EXTENSION = "urn:csledger:fhir:ledger-reversal"
"""One naming each reversal of those, once it was entered in error."""
UNPOSTED_EXTENSION = "urn:csledger:fhir:unposted"
"""Present while the resource is kept unposted: why, and what would let it post."""
LOT_TOLD_EXTENSION = "urn:csledger:fhir:lot-told"
"""The lot it moved, when the resource did not name it: told by the stock on hand, or
assigned by a compliance officer."""
_TOLD_BY = {"stock_on_hand": "the only lot of the product on hand where it draws from",
            "officer": "assigned by a compliance officer"}  # fmt: skip

_BODY_TYPES = sorted(ACCEPTED_MEDIA_TYPES)


class FhirJson(JSONResponse):
    """What these routes answer, as the document shows it (each builds its own ``Response``)."""

    media_type = FHIR_MEDIA_TYPE


def _resource(resource_type: str) -> dict[str, Any]:
    return {"$ref": f"#/components/schemas/{resource_type}"}


def _stored(resource_type: str) -> dict[str, Any]:
    return {"description": f"The stored {resource_type} (R4 JSON).",
            "content": {FHIR_MEDIA_TYPE: {"schema": _resource(resource_type)}}}  # fmt: skip


def _body(resource_type: str) -> dict[str, Any]:
    media_types = {media_type: {"schema": _resource(resource_type)} for media_type in _BODY_TYPES}
    return {"requestBody": {"required": True, "content": media_types}}


router = APIRouter(
    prefix=API_PREFIX, route_class=UnitOfWorkRoute, dependencies=[Depends(current_principal)],
    tags=["fhir"],
)  # fmt: skip

Endpoint = Callable[..., Awaitable[Response]]


def representation(row: FhirResource, told_lot: str | None = None) -> dict[str, Any]:
    """The stored resource as served: the sender's, with our ``id`` and ``meta`` and
    extensions naming each ledger event it made, the lot when the resource did not name it
    (``told_lot``, its number), or why it is kept unposted."""
    resource = dict(row.resource)
    ours = [{"url": LEDGER_EVENT_EXTENSION, "valueString": e} for e in row.event_ids] + [
        {"url": LEDGER_REVERSAL_EXTENSION, "valueString": e} for e in row.reversal_event_ids
    ]
    if told_lot is not None and row.lot_source in _TOLD_BY:
        told = f"lot {told_lot}: {_TOLD_BY[row.lot_source]}"
        ours.append({"url": LOT_TOLD_EXTENSION, "valueString": told})
    if row.unposted_because is not None:
        kept = f"{row.unposted_because}: {row.unposted_detail}"
        ours.append({"url": UNPOSTED_EXTENSION, "valueString": kept})
    extension = [*resource.pop("extension", []), *ours]
    updated = row.updated_at.astimezone(UTC).isoformat().replace("+00:00", "Z")
    return {
        "resourceType": resource.pop("resourceType"), "id": str(row.id),
        "meta": {"versionId": str(row.version), "lastUpdated": updated},
        **resource, **({"extension": extension} if extension else {}),
    }  # fmt: skip


async def _served(session: AsyncSession, row: FhirResource) -> bytes:
    told = None
    if row.lot_id is not None and row.lot_source in _TOLD_BY:
        lot = await session.get(Lot, row.lot_id)
        told = lot.lot_number if lot is not None else None
    return orjson.dumps(representation(row, told))


async def _answer(request: Request, session: AsyncSession, received: service.Received) -> Response:
    row = received.row
    note(request, registrant_id=row.registrant_id, resource_type=row.resource_type,
         resource_id=row.id)  # fmt: skip
    headers = {"ETag": f'W/"{row.version}"'}
    if received.created:
        headers["Location"] = f"{API_PREFIX}/fhir/{row.resource_type}/{row.id}"
    return Response(await _served(session, row), status_code=201 if received.created
                    else 200, headers=headers, media_type=FHIR_MEDIA_TYPE)  # fmt: skip


def _request(resource_type: str, request: Request, body: bytes, registrant_id: uuid.UUID | None
             ) -> service.Submission:  # fmt: skip
    return service.Submission(resource_type, body, request.headers.get("content-type"),
                           registrant_id)  # fmt: skip


def _create(resource_type: str) -> Endpoint:
    @answering(413, 415, 422)  # the body, read here: too large, not JSON, not R4
    async def create(
        request: Request, session: SessionDep, caller: CurrentCaller,
        registrant_id: uuid.UUID | None = None,
    ) -> Response:  # fmt: skip
        incoming = _request(resource_type, request, await request.body(), registrant_id)
        return await _answer(request, session, await service.receive(session, incoming, caller))

    create.__doc__ = (
        f"Record a {resource_type} (R4 JSON). 201 with the stored resource the first time; the "
        "same identifier and content again from the same sender: 200 with what was stored; "
        "other content under that identifier: 409 (a status change is the conditional PUT). "
        "`registrant_id` may be left out when the token names one registrant."
    )
    return create


def _update(resource_type: str) -> Endpoint:
    @answering(413, 415, 422)
    async def update(
        request: Request, session: SessionDep, caller: CurrentCaller, identifier: QueryText,
        registrant_id: uuid.UUID | None = None,
    ) -> Response:  # fmt: skip
        incoming = _request(resource_type, request, await request.body(), registrant_id)
        received = await service.update(session, incoming, identifier, caller)
        return await _answer(request, session, received)

    update.__doc__ = (
        f"Conditional update of a {resource_type} by `identifier=system|value`: a status "
        "change (`entered-in-error` reverses what it moved in the ledger). An identifier not "
        "stored yet creates the resource (201), as FHIR's conditional update does."
    )
    return update


def _read(resource_type: str) -> Endpoint:
    @audited(resource_type, "resource_id", kind="patient_read")
    async def read(
        resource_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
    ) -> Response:
        row = await service.get_resource(session, resource_type, resource_id,
                                         principal=principal)  # fmt: skip
        return Response(await _served(session, row), media_type=FHIR_MEDIA_TYPE,
                        headers={"ETag": f'W/"{row.version}"'})  # fmt: skip

    read.__doc__ = f"The stored {resource_type}, as the Location of its creation names it."
    return read


for _type in MODELS:
    _path = f"/fhir/{_type}"
    _answers: dict[int | str, dict[str, Any]] = {200: _stored(_type), 201: _stored(_type)}
    router.add_api_route(_path, _create(_type), methods=["POST"], name=f"create_{_type}",
                         status_code=201, dependencies=[Idempotent], responses=_answers,
                         response_class=FhirJson, openapi_extra=_body(_type))  # fmt: skip
    router.add_api_route(_path, _update(_type), methods=["PUT"], name=f"update_{_type}",
                         responses=_answers, response_class=FhirJson,
                         openapi_extra=_body(_type))  # fmt: skip
    router.add_api_route(_path + "/{resource_id}", _read(_type), methods=["GET"],
                         name=f"read_{_type}", responses={200: _stored(_type)},
                         response_class=FhirJson)  # fmt: skip
