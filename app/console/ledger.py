"""The ledger: a lot's perpetual inventory at a location, and each event with its proof."""

import uuid
from typing import Annotated, Any
from urllib.parse import urlencode

from fastapi import Query, Request, Response

from app.auth.permissions import Permission
from app.console import ledger_view, overview
from app.console.web import SignedIn, console_router, page
from app.core.schemas import IN_ASCII_DIGITS, Day
from app.edge.audit import audited, note
from app.edge.deps import ClockDep, SessionDep, SettingsDep
from app.ledger import keys

router = console_router()

FirstDay = Annotated[Day | None, Query(alias="from")]
LastDay = Annotated[Day | None, Query(alias="to")]


@router.get("/ledger")
@audited("ledger")
async def ledger(
    request: Request,
    user: SignedIn,
    db: SessionDep,
    clock: ClockDep,
    registrant_id: uuid.UUID | None = None,
    location_id: uuid.UUID | None = None,
    lot_id: uuid.UUID | None = None,
    first_day: FirstDay = None,
    last_day: LastDay = None,
    page_number: Annotated[int, Query(alias="page", ge=1), IN_ASCII_DIGITS] = 1,
) -> Response:
    principal = user.principal
    found = await overview.registrants(db, principal, registrant_id)
    context: dict[str, Any] = {"active": "ledger", **found.context()}
    if found.chosen is None:
        return page(request, "ledger.html", user, context)
    registrant = found.chosen
    choices = await ledger_view.choices(db, principal, registrant)
    location, lot = ledger_view.chosen(choices, location_id, lot_id)
    days = ledger_view.Days.asked(registrant, clock.now(), first_day, last_day)
    context |= {"choices": choices, "location": location, "lot": lot, "days": days,
                "lot_label": ledger_view.lot_label}  # fmt: skip
    if location is not None and lot is not None:
        view = await ledger_view.perpetual_inventory(
            db, principal, registrant, location_id=location.id, lot_id=lot.id, days=days,
            page=page_number, now=clock.now(),
        )  # fmt: skip
        if view.names_patients and principal.can(Permission.read_patients):
            note(request, registrant_id=registrant.id, patient_read=True)
        query = ledger_view.form_values(
            registrant_id=registrant.id,
            location_id=location.id,
            lot_id=lot.id,
            **{"from": days.first, "to": days.last},
        )
        context |= {"view": view, "page_query": lambda n: urlencode(query | {"page": n})}
    return page(request, "ledger.html", user, context)


@router.get("/ledger/events/{event_id}")
@audited("ledger_event", "event_id")
async def ledger_event(
    request: Request,
    event_id: uuid.UUID,
    user: SignedIn,
    db: SessionDep,
    settings: SettingsDep,
) -> Response:
    """Audited as a patient read when it names the event's patient (to one who may read
    patients; another is told it is withheld)."""
    shown = await ledger_view.event_page(db, user.principal, event_id,
                                         keys.published_by_kid(settings))  # fmt: skip
    if shown.shows_patient:
        note(request, registrant_id=shown.registrant.id, patient_read=True)
    base_url = settings.public_url or str(request.base_url)
    context = {
        "active": "ledger", "registrant": shown.registrant, "shown": shown,
        "offline": ledger_view.offline_commands(shown.registrant.id, base_url),
    }  # fmt: skip
    return page(request, "ledger_event.html", user, context)
