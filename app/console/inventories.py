"""Taking an inventory at a tablet: the registrant's inventories and a form to start one; the
count sheet, counted lot by lot (the ledger's quantity and the variance shown once a lot is
counted), witnessed from the witness's own session, signed by whoever took it, or voided;
its history, and its record. Every write goes through the service the API's routes call."""

import uuid
from typing import Any

from fastapi import Request, Response
from sqlalchemy.ext.asyncio import AsyncSession

from app.auth.permissions import Permission
from app.console import inventory_forms as forms
from app.console import overview
from app.console.web import (
    Acting,
    ConsoleUser,
    CsrfChecked,
    SignedIn,
    console_router,
    page,
    see_other,
)
from app.core.config import Settings
from app.core.errors import AppError
from app.edge.audit import audited
from app.edge.deps import ClockDep, SessionDep, SettingsDep
from app.ledger.inventories import service, views
from app.ledger.inventories.schemas import EntryOut, InventoryState, InventoryWithSheet
from app.ledger.schemas import CountExactness, CountTime, InventoryKind
from app.registry.people import staff_of_subject
from app.registry.service import get_registrant
from app.reports import inventory_record
from app.reports.tabular import Format

router = console_router()

LISTED = 100
"""Inventories a registrant's page lists: every open one first, then the latest closed."""
ROW_REFUSALS = (409, 422)
"""A count refused for what it said (a malformed number, an estimate where exact is required,
a signed inventory): answered beside its row. Tenancy and roles are answered with a page."""


@router.get("/inventories")
async def inventories(
    request: Request,
    user: SignedIn,
    db: SessionDep,
    clock: ClockDep,
    settings: SettingsDep,
    registrant_id: uuid.UUID | None = None,
) -> Response:
    user.principal.require(Permission.counts)
    found = await overview.registrants(db, user.principal, registrant_id)
    context: dict[str, Any] = {"active": "inventories", **found.context()}
    chosen = found.chosen
    if chosen is not None:
        context |= {
            "inventories": await views.open_first(db, user.principal, chosen.id, settings,
                                                  limit=LISTED),
            "locations": await service.storage_locations(db, chosen),
            "kinds": list(InventoryKind), "times": list(CountTime),
            "now": forms.local_now(clock.now(), chosen.timezone),
        }  # fmt: skip
    return page(request, "inventories.html", user, context)


@router.post("/inventories", dependencies=[CsrfChecked])
@audited("inventory")
async def start(
    request: Request,
    user: SignedIn,
    caller: Acting,
    db: SessionDep,
) -> Response:
    form = await request.form()
    registrant_id = forms.registrant_of(form)
    registrant = await get_registrant(db, registrant_id, principal=user.principal)
    body = forms.inventory_to_start(form, registrant.id, registrant.timezone, caller.now)
    inventory = await service.start(db, body, caller)
    return see_other(f"/console/inventories/{inventory.id}")


@router.get("/inventories/{inventory_id}")
async def sheet(
    request: Request,
    inventory_id: uuid.UUID,
    user: SignedIn,
    db: SessionDep,
    settings: SettingsDep,
) -> Response:
    context = await _sheet_context(db, user, inventory_id, settings)
    return page(request, "inventory.html", user, context)


@router.post("/inventories/{inventory_id}/counts", dependencies=[CsrfChecked])
@audited("inventory", "inventory_id")
async def count(
    request: Request,
    inventory_id: uuid.UUID,
    user: SignedIn,
    caller: Acting,
    db: SessionDep,
    settings: SettingsDep,
) -> Response:
    """A lot counted: with htmx, its row answered with the ledger's quantity and the variance;
    without, the sheet again at that row. Refused for what it said: the row, with why, and
    nothing written."""
    form = await request.form()
    place = forms.place_of(form)
    try:
        data = forms.lot_counted(form)
        async with db.begin_nested():  # whatever a refused count began is not kept
            await service.count(db, inventory_id, data, caller)
    except AppError as refused:
        if refused.status not in ROW_REFUSALS:
            raise
        request.state.problem_type = refused.type_uri()
        return await _line_refused(request, db, user, inventory_id, settings, place, refused,
                                   entered=str(form.get("quantity") or ""))  # fmt: skip
    if not request.headers.get("HX-Request"):
        return see_other(f"/console/inventories/{inventory_id}#{forms.anchor(*place)}")
    context = await _sheet_context(db, user, inventory_id, settings)
    context["line"] = _line_at(context["inventory"], place)  # a lot counted is on the sheet
    return page(request, "inventory_line.html", user, context)


@router.post("/inventories/{inventory_id}/witness", dependencies=[CsrfChecked])
@audited("inventory", "inventory_id")
async def witness(
    inventory_id: uuid.UUID,
    caller: Acting,
    db: SessionDep,
) -> Response:
    await service.witness(db, inventory_id, caller)
    return see_other(f"/console/inventories/{inventory_id}")


@router.post("/inventories/{inventory_id}/sign", dependencies=[CsrfChecked])
@audited("inventory", "inventory_id")
async def sign(
    inventory_id: uuid.UUID,
    caller: Acting,
    db: SessionDep,
) -> Response:
    await service.sign(db, inventory_id, caller)
    return see_other(f"/console/inventories/{inventory_id}")


@router.post("/inventories/{inventory_id}/void", dependencies=[CsrfChecked])
@audited("inventory", "inventory_id")
async def void(
    request: Request, inventory_id: uuid.UUID, caller: Acting, db: SessionDep
) -> Response:
    reason = forms.void_reason(await request.form())
    await service.void(db, inventory_id, reason, caller)
    return see_other(f"/console/inventories/{inventory_id}")


@router.get("/inventories/{inventory_id}/record.pdf")
@audited("report", resource_id=inventory_record.FORM, kind="report")
async def record_pdf(
    request: Request, inventory_id: uuid.UUID, user: SignedIn, db: SessionDep, clock: ClockDep
) -> Response:
    return await inventory_record.respond_record(request, db, user.principal, clock.now(),
                                                 inventory_id, Format.pdf)  # fmt: skip


@router.get("/inventories/{inventory_id}/record.json")
@audited("report", resource_id=inventory_record.FORM, kind="report")
async def record_json(
    request: Request, inventory_id: uuid.UUID, user: SignedIn, db: SessionDep, clock: ClockDep
) -> Response:
    return await inventory_record.respond_record(request, db, user.principal, clock.now(),
                                                 inventory_id, Format.json)  # fmt: skip


async def _sheet_context(
    db: AsyncSession, user: ConsoleUser, inventory_id: uuid.UUID, settings: Settings
) -> dict[str, Any]:
    """What the count sheet shows: the inventory and its lines by location, its history,
    and which steps the person signed in may take."""
    principal = user.principal
    found = await service.get(db, inventory_id, principal)
    inventory = await views.with_sheet(db, principal, found, settings)
    registrant = await get_registrant(db, found.registrant_id, principal=principal)
    me = await staff_of_subject(db, registrant_id=registrant.id, subject=principal.subject)
    still_open = inventory.state is InventoryState.open
    taker = me is not None and me.id == inventory.started_by
    return {
        "active": "inventories", "registrant": registrant, "inventory": inventory,
        "by_location": _by_location(inventory), "steps": await views.steps(db, principal, found),
        "may_count": still_open, "may_sign": still_open and taker,
        "may_witness": still_open and me is not None and not taker
                       and inventory.witnessed_at is None,
        "may_void": still_open and (taker or principal.can(Permission.adjust_reverse_resolve)),
        "exactness": list(CountExactness), "refusal": None,
    }  # fmt: skip


def _by_location(inventory: InventoryWithSheet) -> list[tuple[str, list[EntryOut]]]:
    """The sheet's lines, grouped by location in the sheet's order."""
    groups: dict[str, list[EntryOut]] = {}
    for line in inventory.entries:
        groups.setdefault(line.location.name if line.location else "", []).append(line)
    return list(groups.items())


def _line_at(inventory: InventoryWithSheet, place: tuple[uuid.UUID, uuid.UUID]) -> EntryOut | None:
    return next((e for e in inventory.entries if (e.location_id, e.lot_id) == place), None)


async def _line_refused(
    request: Request,
    db: AsyncSession,
    user: ConsoleUser,
    inventory_id: uuid.UUID,
    settings: Settings,
    place: tuple[uuid.UUID, uuid.UUID],
    refused: AppError,
    *,
    entered: str,
) -> Response:
    """The row refused, with why and what was entered: alone for htmx, else in its sheet."""
    context = await _sheet_context(db, user, inventory_id, settings)
    context["line"] = _line_at(context["inventory"], place)
    if context["line"] is None:  # a lot this sheet does not list: no row to answer beside
        raise refused
    context["refusal"] = {"place": place, "detail": refused.detail, "entered": entered}
    if request.headers.get("HX-Request"):
        return page(request, "inventory_line.html", user, context, status_code=refused.status)
    return page(request, "inventory.html", user, context, status_code=refused.status)
