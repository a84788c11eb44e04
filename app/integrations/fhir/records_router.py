"""/v1/integrations/fhir-records: the FHIR records integrations sent, as a compliance officer
follows them, and the lot an officer assigns to a record kept unposted for want of one."""

import uuid
from typing import Literal

from fastapi import Depends

from app.core.pagination import Page, page_of
from app.core.schemas import QueryText
from app.edge.deps import (
    CurrentCaller,
    CurrentPrincipal,
    Idempotent,
    SessionDep,
    current_principal,
)
from app.edge.pagination import Cursor, Limit
from app.edge.routing import api_router
from app.integrations.fhir import schemas, settling
from app.integrations.fhir.models import FhirResource

router = api_router(dependencies=[Depends(current_principal)], tags=["fhir-records"])
_PATH = "/integrations/fhir-records"


@router.get(_PATH, response_model=Page[schemas.FhirRecordOut])
async def list_fhir_records(
    session: SessionDep,
    principal: CurrentPrincipal,
    limit: Limit = 50,
    cursor: Cursor = None,
    registrant_id: uuid.UUID | None = None,
    unposted: bool | None = None,
    sender: QueryText | None = None,
    resource_type: Literal["MedicationAdministration", "MedicationDispense"] | None = None,
) -> dict[str, object]:
    """The records integrations sent, newest last; `unposted=true`: those kept unposted, for
    want of their lot or of a mapping of their medication code."""
    filters = settling.RecordFilters(registrant_id, unposted, sender, resource_type)
    page = await page_of(session, settling.records_query(principal, filters), FhirResource,
                         limit=limit, cursor=cursor)  # fmt: skip
    rows: list[FhirResource] = page["items"]  # type: ignore[assignment]
    page["items"] = [settling.record_out(row) for row in rows]
    return page


@router.get(_PATH + "/{resource_id}", response_model=schemas.FhirRecordOut)
async def get_fhir_record(
    resource_id: uuid.UUID, session: SessionDep, principal: CurrentPrincipal
) -> schemas.FhirRecordOut:
    return settling.record_out(await settling.get_record(session, resource_id,
                                                         principal=principal))  # fmt: skip


@router.post(_PATH + "/{resource_id}/lot", dependencies=[Idempotent],
             response_model=schemas.FhirRecordOut)  # fmt: skip
async def assign_fhir_record_lot(
    resource_id: uuid.UUID,
    body: schemas.LotAssignment,
    session: SessionDep,
    caller: CurrentCaller,
) -> schemas.FhirRecordOut:
    """Assign the lot a record kept unposted was given from: it posts now through the ledger,
    as its sender's record at its original time, and its discrepancy is cured. A lot of
    another product is refused (422), as is a record not kept for its lot (409); what the
    ledger refuses of any write (a balance below zero) is refused too."""
    row = await settling.assign_lot(session, resource_id, body, caller=caller)  # fmt: skip
    return settling.record_out(row)
