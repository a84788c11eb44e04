"""The forms a person fills in or files, one at a time: DEA Form 106 for a theft or
significant loss, an esketamine session's Spravato REMS Patient Monitoring Form, the record
of an inventory, and a patient's administration record."""

import uuid
from enum import StrEnum
from typing import Annotated, Any

import orjson
from fastapi import Depends, Query, Request, Response
from fastapi.responses import StreamingResponse

from app.auth.permissions import Permission
from app.clinical.sessions.service import get_session
from app.core.errors import FieldError, InvalidInput
from app.core.schemas import Day
from app.edge.audit import audited, note
from app.edge.deps import ClockDep, CurrentPrincipal, SessionDep, current_principal
from app.edge.routing import api_router
from app.reconciliation.service import get_discrepancy
from app.registry.service import get_patient
from app.reports import administration, dea_forms, inventory_record, rems
from app.reports.router import FormatParam
from app.reports.scope import check_period, report_scope
from app.reports.streaming import as_chunks, documented, documented_form, respond
from app.reports.tabular import Format

router = api_router(dependencies=[Depends(current_principal)], tags=["reports"])


class FormFormat(StrEnum):
    json = "json"
    pdf = "pdf"


_MONITORING_FORM: dict[str, Any] = {
    "healthcare_setting": {"type": "string"},
    "setting_rems_certification_id": {"type": ["string", "null"]},
    "patient_name": {"type": "string"}, "patient_date_of_birth": {"type": "string"},
    "rems_enrollment_id": {"type": ["string", "null"]},
    **{column.name: {"title": column.title, "description": column.description}
       for column in rems.COLUMNS if column.name not in ("patient_id", "patient_name")},
}  # fmt: skip


@router.get(
    "/reports/rems-monitoring-form",
    response_class=StreamingResponse,
    responses=documented_form(_MONITORING_FORM),
)
@audited("report", resource_id=rems.FORM, kind="report")
async def rems_monitoring_form(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    clock: ClockDep,
    session_id: uuid.UUID,
    fmt: Annotated[FormFormat, Query(alias="format", description="json or pdf")] = FormFormat.json,
) -> Response:
    """The Spravato REMS Patient Monitoring Form of one esketamine session, with every field
    the REMS form asks (the setting and its certification, the patient and their REMS ID, the
    dose and lots, the times, the three blood pressures, sedation, dissociation, respiratory
    depression, serious adverse events), what it still lacks and when it is due; printed, with
    a line for the healthcare provider to sign. Clinicians, prescribers and compliance
    officers."""
    ts = await get_session(session, session_id, principal=principal)
    scope = await report_scope(session, ts.registrant_id, principal, clock.now(),
                               permission=Permission.read_sessions)  # fmt: skip
    head = scope.header(rems.FORM, **await rems.form_fields(session, ts, scope))
    if fmt is FormFormat.json:
        return Response(orjson.dumps(head), media_type="application/json")
    return await respond(request, Format.pdf, head, [], lambda _db: as_chunks([]),
                         title=rems.FORM_TITLE, signatures=rems.FORM_SIGNATURES,
                         labels=rems.FORM_LABELS)  # fmt: skip


_FORM_106: dict[str, Any] = {
    name: {"type": "string"} for name in ("discrepancy_id", "date_of_discovery", "type_of_loss",
                                          "notice_due_on", "form_106_due_on", "summary")
}  # fmt: skip


@router.get(
    "/reports/dea-form-106",
    response_class=StreamingResponse,
    responses=documented(dea_forms.FORM_106_COLUMNS, _FORM_106),
)
@audited("report", resource_id=dea_forms.FORM_106, kind="report")
async def dea_form_106(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    clock: ClockDep,
    discrepancy_id: uuid.UUID,
    fmt: FormatParam = Format.json,
) -> Response:
    """DEA Form 106 data for a theft or significant loss (21 CFR 1301.76(b)): the registrant,
    the date of discovery, the type of loss and, per item, the NDC (or DEA code), name,
    strength, form and quantity lost; with the notice and filing dates."""
    discrepancy = await get_discrepancy(session, discrepancy_id, principal=principal)
    scope = await report_scope(session, discrepancy.registrant_id, principal, clock.now())
    fields, lost = await dea_forms.form_106(session, discrepancy, scope)
    head = scope.header(dea_forms.FORM_106, **fields)
    return await respond(
        request,
        fmt,
        head,
        dea_forms.FORM_106_COLUMNS,
        lambda _db: as_chunks(lost),
        title=dea_forms.FORM_106_TITLE,
        signatures=dea_forms.FORM_106_SIGNATURES,
    )


_INVENTORY_RECORD: dict[str, Any] = {
    "inventory_id": {"type": "string"}, "inventory_kind": {"type": "string"},
    "date": {"type": "string", "format": "date"}, "taken_at": {"type": "string"},
    "as_of": {"type": "string", "format": "date-time"},
    "locations": {"type": "array", "items": {"type": "string"}}, "state": {"type": "string"},
    "taken_by": {"type": ["string", "null"]}, "signed_at": {"type": ["string", "null"]},
    "witnessed_by": {"type": ["string", "null"]}, "witnessed_at": {"type": ["string", "null"]},
    "exact_counts_required": {"type": "boolean"},
}  # fmt: skip


@router.get(
    "/reports/inventory-record",
    response_class=StreamingResponse,
    responses=documented(inventory_record.COLUMNS, _INVENTORY_RECORD),
)
@audited("report", resource_id=inventory_record.FORM, kind="report")
async def inventory_record_form(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    clock: ClockDep,
    inventory_id: uuid.UUID,
    fmt: FormatParam = Format.json,
) -> Response:
    """The record of one inventory (21 CFR 1304.11): its date, opening or close of business,
    who took it and who witnessed it, and each lot at each location with the substance, NDC,
    form, strength, container size, lot and expiry, what was counted (exact or estimated),
    the containers, what the ledger held and the variance; printed with lines to sign. Whoever
    may take inventories (pharmacists, clinicians, compliance officers)."""
    return await inventory_record.respond_record(
        request, session, principal, clock.now(), inventory_id, fmt
    )


_PATIENT: dict[str, Any] = {
    "period": {"type": "object", "properties": {"from": {}, "to": {}},
               "description": "the days the sessions were scheduled on, if given"},
    **{key: {"type": ["string", "null"]} for key in ("patient_id", "patient_name",
       "patient_record_number", "patient_date_of_birth", "rems_enrollment_id")},
}  # fmt: skip
FromDay = Annotated[Day | None, Query(alias="from", description="First day, if a period")]
ToDay = Annotated[Day | None, Query(alias="to", description="Last day, inclusive")]


@router.get(
    "/reports/administration-record",
    response_class=StreamingResponse,
    responses=documented(administration.COLUMNS, _PATIENT),
)
@audited("patient", kind="patient_read")
async def administration_record(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    clock: ClockDep,
    patient_id: uuid.UUID,
    first_day: FromDay = None,
    last_day: ToDay = None,
    fmt: FormatParam = Format.json,
) -> Response:
    """A patient's administration record: each session (of the period's days, if given) with
    its plan and prescriber, the dose prescribed, expected and given (in mg and mg/kg), the
    route, each administration's product, lot and times and who gave it, the vital signs,
    the waste and its witness, the discharge and its assessment, and an esketamine
    session's monitoring form status. Printed, each session is a record of its own. For
    callers who may read patients and sessions (clinicians, prescribers); the read is
    audited as a read of the patient."""
    note(request, resource_id=patient_id)
    patient = await get_patient(session, patient_id, principal=principal)
    scope = await report_scope(session, patient.registrant_id, principal, clock.now(),
                               permission=Permission.read_sessions)  # fmt: skip
    start = end = None
    about: dict[str, Any] = {}
    if first_day is not None or last_day is not None:
        if first_day is None or last_day is None:
            detail = "a period has a first and a last day"
            name = "from" if first_day is None else "to"
            raise InvalidInput(detail, errors=[FieldError(parameter=name, detail=detail)])
        check_period(first_day, last_day)
        start, end = scope.day_bounds(first_day, last_day)
        about["period"] = {"from": first_day.isoformat(), "to": last_day.isoformat()}
    head = scope.header(administration.NAME, **about, **administration.head_fields(patient))
    return await respond(request, fmt, head, administration.COLUMNS,
                         administration.source(scope, patient.id, start, end),
                         title=administration.TITLE, signatures=administration.SIGNATURES,
                         records=administration.RECORD)  # fmt: skip
