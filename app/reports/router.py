"""Report routes: compliance officers pull a registrant's records, each pull audited."""

import uuid
from collections.abc import Awaitable, Callable
from dataclasses import dataclass
from datetime import UTC, datetime, time, timedelta
from typing import Annotated, Any

from fastapi import Depends, Query, Request, Response
from fastapi.responses import StreamingResponse

from app.auth.permissions import Permission
from app.core.errors import FieldError, InvalidInput, PermissionDenied
from app.core.schemas import Day, Instant, QueryText
from app.edge.audit import audited, note
from app.edge.deps import ClockDep, CurrentPrincipal, SessionDep, SettingsDep, current_principal
from app.edge.routing import api_router
from app.ledger.schemas import CountTime, InventoryKind
from app.reconciliation.workflow import Status
from app.registry.service import local_date
from app.reports import (
    batches,
    dea_forms,
    dispensing,
    inventory,
    perpetual,
    perpetual_text,
    receipts,
    rems,
    trails,
    waste,
)
from app.reports.scope import Scope, check_period, report_scope
from app.reports.streaming import PeriodSource, as_chunks, documented, respond
from app.reports.tabular import Column, Format

router = api_router(dependencies=[Depends(current_principal)], tags=["reports"])

FirstDay = Annotated[Day, Query(alias="from", description="First day, on the registrant's clock")]
LastDay = Annotated[Day, Query(alias="to", description="Last day, inclusive")]
FormatParam = Annotated[Format, Query(alias="format", description="json, jsonl, csv or pdf")]
_PERIOD = {"period": {"type": "object", "properties": {"from": {}, "to": {}}}}
_BY_STATUS = {
    "by_status": {
        "type": "object",
        "description": "The period's discrepancies at each status (cured ones, which a run "
        "closed, apart from those a person resolved)",
        "properties": {status.value: {"type": "integer"} for status in Status},
    }
}
_INSTANT = {
    "as_of": {"type": "string", "format": "date-time"},
    "inventory_kind": {"type": "string"},
    "taken_at": {"type": "string"},
}


@dataclass(frozen=True, slots=True)
class _Period:
    scope: Scope
    start: datetime
    end: datetime
    head: dict[str, Any]


def period_of(report: str) -> Callable[..., Awaitable[_Period]]:
    """The dependency of a report of a period: the registrant (seen by the caller, who may
    pull its reports) and the bounds of its days, the pull noted for the audit log."""

    async def period(
        request: Request,
        session: SessionDep,
        principal: CurrentPrincipal,
        clock: ClockDep,
        registrant_id: uuid.UUID,
        first_day: FirstDay,
        last_day: LastDay,
    ) -> _Period:
        note(request, registrant_id=registrant_id, resource_type="report", resource_id=report,
             report=True)  # fmt: skip
        scope = await report_scope(session, registrant_id, principal, clock.now())
        check_period(first_day, last_day)
        start, end = scope.day_bounds(first_day, last_day)
        days = {"from": first_day.isoformat(), "to": last_day.isoformat()}
        return _Period(scope, start, end, scope.header(report, period=days))

    return period


@router.get(
    "/reports/dispensing-log",
    response_class=StreamingResponse,
    responses=documented(dispensing.COLUMNS, _PERIOD),
)
async def dispensing_log(
    request: Request,
    period: Annotated[_Period, Depends(period_of(dispensing.NAME))],
    fmt: FormatParam = Format.json,
    product_id: uuid.UUID | None = None,
    patient_id: uuid.UUID | None = None,
    staff_id: uuid.UUID | None = None,
    prescriber_dea_number: Annotated[QueryText | None, Query(max_length=9)] = None,
) -> Response:
    """Every dispense and administration of the period (21 CFR 1304.22(c)): substance, form and
    strength, quantity, patient, date, who dispensed or administered, the prescription and
    its prescriber; filters combine."""
    filters = dispensing.Filters(
        product_id=product_id, patient_id=patient_id, staff_id=staff_id,
        prescriber_dea_number=prescriber_dea_number,
    )  # fmt: skip
    query = dispensing.statement(period.scope, period.start, period.end, filters)
    by_database = dispensing.csv_statement(period.scope, period.start, period.end, filters)
    return await respond(
        request,
        fmt,
        period.head,
        dispensing.COLUMNS,
        lambda db: dispensing.rows(db, query, period.scope),
        title=dispensing.TITLE,
        csv_by_database=by_database,
    )


@router.get(
    "/reports/waste-log",
    response_class=StreamingResponse,
    responses=documented(waste.COLUMNS, _PERIOD),
)
async def waste_log(
    request: Request,
    period: Annotated[_Period, Depends(period_of(waste.NAME))],
    fmt: FormatParam = Format.json,
    location_id: uuid.UUID | None = None,
    lot_id: uuid.UUID | None = None,
    product_id: uuid.UUID | None = None,
    staff_id: uuid.UUID | None = None,
) -> Response:
    """Every waste and destruction of the period: who wasted or destroyed it and each witness,
    with when each signed (recorded, or confirmed with their own token); the session and the
    room of a waste; the amount in mg and in the product's unit; a destruction's method,
    place and packages. Filters (`staff_id`: who did it or witnessed it) combine."""
    filters = waste.Filters(location_id=location_id, lot_id=lot_id, product_id=product_id,
                            staff_id=staff_id)  # fmt: skip
    return await respond(request, fmt, period.head, waste.COLUMNS,
                         waste.source(period.scope, period.start, period.end, filters),
                         title=waste.TITLE, signatures=waste.SIGNATURES)  # fmt: skip


@router.get(
    "/reports/perpetual-inventory",
    response_class=StreamingResponse,
    responses=documented(perpetual.COLUMNS, _PERIOD),
)
async def perpetual_inventory(
    request: Request,
    period: Annotated[_Period, Depends(period_of(perpetual.NAME))],
    principal: CurrentPrincipal,
    fmt: FormatParam = Format.json,
    location_id: uuid.UUID | None = None,
    lot_id: uuid.UUID | None = None,
    product_id: uuid.UUID | None = None,
    staff_id: uuid.UUID | None = None,
) -> Response:
    """Per location and lot: the balance when the period starts, every movement in order
    (when, what, who and the witnesses, the patient, prescription or session, the supplier or
    receiver, in and out) with the balance after it, each count where it was taken with the
    ledger's balance and the variance, and the balance when the period ends. Filters combine
    (`staff_id`: the movements and counts they performed or witnessed, at the places they
    did; the balances stay the ledger's). A patient is named for a caller who may read
    patients, else by record number."""
    filters = perpetual.Filters(location_id=location_id, lot_id=lot_id, product_id=product_id,
                                staff_id=staff_id)  # fmt: skip
    report = perpetual.Period(period.scope, period.start, period.end, filters,
                              patients_named=principal.can(Permission.read_patients))  # fmt: skip
    return await respond(request, fmt, period.head, perpetual.COLUMNS, perpetual.source(report),
                         title=perpetual.TITLE, signatures=perpetual.SIGNATURES,
                         csv_by_database=perpetual_text.csv_parts(report))  # fmt: skip


@router.get(
    "/reports/inventory",
    response_class=StreamingResponse,
    responses=documented(inventory.COLUMNS, _INSTANT),
)
@audited("report", resource_id=inventory.NAME, kind="report")
async def inventory_report(
    request: Request,
    session: SessionDep,
    principal: CurrentPrincipal,
    clock: ClockDep,
    settings: SettingsDep,
    registrant_id: uuid.UUID,
    as_of: Annotated[Instant, Query(description="The instant (RFC 3339 with offset)")],
    kind: InventoryKind = InventoryKind.ad_hoc,
    taken_at: CountTime = CountTime.close_of_business,
    fmt: FormatParam = Format.json,
) -> Response:
    """What the ledger held at each location and lot at ``as_of``: each substance, form,
    strength, container size and lot, set beside the physical count nearest that instant
    (21 CFR 1304.11). ``kind`` and ``taken_at`` say which inventory it stands for."""
    scope = await report_scope(session, registrant_id, principal, clock.now())
    if as_of > clock.now():
        detail = "an inventory is of an instant that has passed"
        raise InvalidInput(detail, errors=[FieldError(parameter="as_of", detail=detail)])
    state = scope.registrant.address.get("state")
    options = inventory.Options(
        exact_counts_required=state in settings.inventory_exact_count_states
    )
    found = await inventory.rows(session, scope, as_of, options)
    head = scope.header(inventory.NAME, as_of=scope.local(as_of), inventory_kind=kind.value,
                        taken_at=taken_at.value)  # fmt: skip
    return await respond(
        request,
        fmt,
        head,
        inventory.COLUMNS,
        lambda _db: as_chunks(found),
        title=inventory.TITLE,
        signatures=inventory.SIGNATURES,
    )


@router.get(
    "/reports/discrepancies",
    response_class=StreamingResponse,
    responses=documented(trails.DISCREPANCY_COLUMNS, _PERIOD | _BY_STATUS),
)
async def discrepancies_report(
    request: Request,
    period: Annotated[_Period, Depends(period_of(trails.DISCREPANCIES))],
    session: SessionDep,
    clock: ClockDep,
    status: Status | None = None,
    fmt: FormatParam = Format.json,
) -> Response:
    """The discrepancies first found in the period: each with its history of transitions,
    the DEA's deadlines for a theft or significant loss, and which of them have passed. The
    head counts them by status (``by_status``, whatever ``status`` lists): those a run cured
    apart from those a person resolved."""
    query = trails.discrepancies_statement(period.scope, period.start, period.end, status)
    today = local_date(period.scope.registrant, clock.now())
    counts = await trails.status_counts(session, period.scope, period.start, period.end)
    return await respond(
        request,
        fmt,
        period.head | {"by_status": counts},
        trails.DISCREPANCY_COLUMNS,
        lambda db: trails.discrepancy_rows(db, query, period.scope, today),
        title=trails.DISCREPANCIES_TITLE,
    )


def _period_report(
    path: str,
    name: str,
    title: str,
    columns: list[Column],
    source: PeriodSource,
    doc: str,
    signatures: tuple[str, ...] = (),
) -> None:
    """A report of a period with no parameter of its own: the route, its name (the audit
    log's action) and its OpenAPI description."""

    async def report(
        request: Request,
        period: Annotated[_Period, Depends(period_of(name))],
        fmt: FormatParam = Format.json,
    ) -> Response:
        rows = source(period.scope, period.start, period.end)
        return await respond(request, fmt, period.head, columns, rows, title=title,
                             signatures=signatures)  # fmt: skip

    router.add_api_route(path, report, methods=["GET"], name=f"{name}_report",
                         response_class=StreamingResponse, description=doc,
                         responses=documented(columns, _PERIOD))  # fmt: skip


_period_report(
    "/reports/receipts",
    receipts.NAME,
    receipts.TITLE,
    receipts.COLUMNS,
    receipts.source,
    "Every receipt and transfer in of the period (21 CFR 1304.22(a)(2)): the supplier's name, "
    "address and DEA number, the invoice, what came in and how many containers.",
)
_period_report(
    "/reports/audit-trail",
    trails.AUDIT_TRAIL,
    trails.AUDIT_TRAIL_TITLE,
    trails.AUDIT_COLUMNS,
    trails.audit_source,
    "Every request about the registrant in the period: writes, reads of patient data, report "
    "pulls and refusals, with who, when, what and its parameters. A streamed trail (JSON, "
    "JSON Lines, CSV) holds its own pull, written before it; a PDF does not.",
)


@router.get(
    "/reports/platform-audit-trail",
    response_class=StreamingResponse,
    responses=documented(trails.AUDIT_COLUMNS, _PERIOD),
)
@audited("report", resource_id=trails.PLATFORM_AUDIT_TRAIL, kind="report")
async def platform_audit_trail(
    request: Request,
    principal: CurrentPrincipal,
    clock: ClockDep,
    first_day: FirstDay,
    last_day: LastDay,
    fmt: FormatParam = Format.json,
) -> Response:
    """Every request that touched no registrant in the period (days in UTC): actions on the
    platform itself, and requests naming nothing that exists. For platform admins (an admin
    token naming every registrant); a registrant's own requests are in its audit trail."""
    principal.require(Permission.platform_audit)
    if not principal.all_registrants:
        raise PermissionDenied("the platform's audit trail is for a token naming every registrant")
    check_period(first_day, last_day)
    start = datetime.combine(first_day, time.min, UTC)
    end = datetime.combine(last_day + timedelta(days=1), time.min, UTC)
    head = {"report": trails.PLATFORM_AUDIT_TRAIL, "registrant": trails.PLATFORM,
            "period": {"from": first_day.isoformat(), "to": last_day.isoformat()},
            "generated_at": clock.now().isoformat(), "generated_by": principal.name}  # fmt: skip
    rows = trails.platform_audit_source(start, end)
    return await respond(request, fmt, head, trails.AUDIT_COLUMNS, rows,
                         title=trails.PLATFORM_AUDIT_TRAIL_TITLE)  # fmt: skip


_period_report(
    "/reports/dea-form-41",
    dea_forms.FORM_41,
    dea_forms.FORM_41_TITLE,
    dea_forms.FORM_41_COLUMNS,
    dea_forms.destruction_source,
    "DEA Form 41 data for the period's destructions (21 CFR 1317): per item the NDC (or DEA "
    "code), name, strength, form, package quantity, full and partial packages and total "
    "destroyed; the date, method and place, and the two witnesses.",
    dea_forms.FORM_41_SIGNATURES,
)
_period_report(
    "/reports/rems-monitoring",
    rems.NAME,
    rems.TITLE,
    rems.COLUMNS,
    rems.source,
    "Every esketamine session scheduled in the period with its Spravato REMS Patient "
    "Monitoring Form data and whether the form was submitted within its 7 days.",
)
_period_report(
    "/reports/compounding-batches",
    batches.NAME,
    batches.TITLE,
    batches.COLUMNS,
    batches.source,
    "Every batch compounded in the period: the bulk lots and quantities that went in, the "
    "finished lot and units, mg of base in and out and the yield, who compounded and checked "
    "it, and its beyond-use date.",
)
